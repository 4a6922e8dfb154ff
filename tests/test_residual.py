"""The residual layer: bit-exact lossless, guaranteed max_error, and decoder mismatches caught."""

import numpy as np
import pytest

import codec
from codec.residual import pixel_check
from codec.runtime import load_model

N_IMAGES = 150


@pytest.fixture(scope="module")
def sample(mnist_test):
    return mnist_test[:N_IMAGES]


def test_lossless_is_bit_exact_and_small(sample):
    files = codec.encode_batch(sample, lossless=True)
    np.testing.assert_array_equal(np.stack(codec.decode_batch(files)), sample)
    bits_per_pixel = 8 * np.mean([len(f) for f in files]) / (28 * 28)
    assert bits_per_pixel <= 1.5
    assert codec.inspect(files[0])["mode"] == "lossless"


@pytest.mark.parametrize("max_error", [1, 2, 4, 8, 16])
def test_max_error_holds_on_every_pixel(sample, max_error):
    decoded = np.stack(codec.decode_batch(codec.encode_batch(sample, max_error=max_error)))
    assert np.abs(decoded.astype(int) - sample.astype(int)).max() <= max_error


def test_files_shrink_as_max_error_grows(sample):
    sizes = [np.mean([len(f) for f in codec.encode_batch(sample, max_error=k)])
             for k in (0, 1, 2, 4, 8, 16)]
    assert sizes == sorted(sizes, reverse=True)


def test_quality_levels_cover_lossy_to_lossless(sample):
    assert codec.QUALITY_LEVELS == tuple(range(1, 15))
    top = codec.encode(sample[0], quality=14)
    np.testing.assert_array_equal(codec.decode(top), sample[0])
    assert codec.inspect(codec.encode(sample[0], quality=11))["max_error"] == 4


def test_dark_on_light_lossless_round_trip(sample):
    paper = 255 - sample[3]
    np.testing.assert_array_equal(codec.decode(codec.encode(paper, lossless=True)), paper)


def test_a_negative_max_error_is_refused(sample):
    with pytest.raises(codec.NicError, match="max_error"):
        codec.encode(sample[0], max_error=-1)


def test_a_decoder_with_different_network_output_is_caught(sample):
    """Decoding with an x_hat one grey level off gives other pixels: the pixel check sees it."""
    net = load_model("mnist")
    residual = net.residual
    x_hat = sample[4] // 2 + 40  # any reconstruction will do for the coder's contract
    body, decoded = residual.encode(sample[4], x_hat.astype(np.uint8), 0)
    np.testing.assert_array_equal(residual.decode(body, x_hat.astype(np.uint8), 0), sample[4])
    shifted = np.clip(x_hat.astype(int) + 1, 0, 255).astype(np.uint8)
    try:
        other = residual.decode(body, shifted, 0)
    except codec.NicFormatError:
        return
    assert pixel_check(other) != pixel_check(decoded)


def test_keras_encoder_and_litert_decoder_agree(sample):
    pytest.importorskip("keras")
    import sys

    from conftest import REPO

    sys.path.insert(0, str(REPO / "tools"))
    from cross_runtime import keras_encode

    for image, data in zip(sample[:60], keras_encode(sample[:60], 0)):
        np.testing.assert_array_equal(codec.decode(data), image)
