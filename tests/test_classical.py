"""The WebP and JPEG XL exact modes (codec/classical.py): libwebp's and libjxl's bitstreams in
nic's container, exact at any size, within the bound for a max error, refused when damaged."""

import numpy as np
import pytest
from PIL import Image

import codec
from codec.adaptive import quantise
from codec.colour import WHOLE_JXL
from codec.format import Header, pack
from codec.lossless import MODE_JXL, MODE_WEBP, classical_payloads

SHAPES = [(1, 1), (3, 7), (300, 5), (5, 300), (28, 28)]
MODES = {"webp": MODE_WEBP, "jxl": MODE_JXL}


def _grey(shape, seed=0):
    """A ramp with noise: neither flat nor random, so every coder has something to do."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(shape[0]) * 5, np.arange(shape[1]) * 3)
    return np.clip(ramp % 256 + rng.integers(-3, 4, shape), 0, 255).astype(np.uint8)


def _rgb(shape, seed=0):
    """Three different channels, so the image is colour."""
    return np.dstack([_grey(shape, seed), _grey(shape, seed + 1)[::-1],
                      255 - _grey(shape, seed + 2)])


def _file(image: np.ndarray, payload: bytes, max_error: int) -> bytes:
    """A version-3 (grey) or version-4 (RGB) exact file holding `payload`."""
    height, width = image.shape[:2]
    colour = image.ndim == 3
    return pack(Header(9, 128 + max_error, width, height, channels=3 if colour else 1,
                       version=None if colour else 3), payload)


def _payload(image, mode, max_error=0):
    q, _ = quantise(image, max_error)
    (payload,) = classical_payloads(q, (mode,))
    return payload


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_round_trips_grey_exactly(shape, mode):
    image = _grey(shape)
    data = _file(image, _payload(image, MODES[mode]), 0)
    np.testing.assert_array_equal(codec.decode(data), image)
    assert codec.inspect(data)["coding"] == mode


@pytest.mark.parametrize("shape", SHAPES)
def test_the_whole_image_jpeg_xl_body_round_trips_colour_exactly(shape):
    image = _rgb(shape)
    payload = _payload(image, MODE_JXL)
    assert payload[0] == WHOLE_JXL  # a colour payload's first byte: the whole image, JPEG XL
    data = _file(image, payload, 0)
    np.testing.assert_array_equal(codec.decode(data), image)
    assert codec.inspect(data)["coding"] == "colour whole: jxl"


@pytest.mark.parametrize("max_error", [1, 4])
@pytest.mark.parametrize("mode", MODES)
def test_each_mode_keeps_the_max_error(mode, max_error):
    image = _grey((30, 41), seed=3)
    decoded = codec.decode(_file(image, _payload(image, MODES[mode], max_error), max_error))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).max() <= max_error
    rgb = _rgb((30, 41), seed=3)
    decoded = codec.decode(_file(rgb, _payload(rgb, MODE_JXL, max_error), max_error))
    assert np.abs(decoded.astype(int) - rgb.astype(int)).max() <= max_error


def test_the_encoder_keeps_webp_for_typeset_text_and_jpeg_xl_for_a_photo():
    pytest.importorskip("skimage")
    from skimage import data as photos

    from codec.bench.grey_sets import build_group

    text = build_group("text", 1)[0]
    photo = np.ascontiguousarray(photos.camera()[100:196, 200:328])
    for image, mode in ((text, "webp"), (photo, "jxl")):
        encoded = codec.encode(image, lossless=True)
        assert codec.inspect(encoded)["coding"] == mode
        np.testing.assert_array_equal(codec.decode(encoded), image)


def test_colour_lossless_takes_the_whole_image_body_where_it_wins():
    pytest.importorskip("skimage")
    from skimage import data as photos

    photo = np.ascontiguousarray(photos.astronaut()[:64, :96])
    encoded = codec.encode(photo, lossless=True)
    assert codec.inspect(encoded)["coding"] == "colour whole: jxl"
    np.testing.assert_array_equal(codec.decode(encoded), photo)


@pytest.mark.parametrize(
    ("mode", "damage", "message"),
    [("webp", lambda body: body[: len(body) // 2], "not a valid VP8L bitstream"),
     ("webp", lambda body: b"", "not a valid VP8L bitstream"),
     ("jxl", lambda body: body[: len(body) // 2], "not a valid codestream"),
     ("jxl", lambda body: b"\x00" * 9, "codes 1x1 pixels, not 30x20")],
)
def test_a_damaged_body_is_refused_in_one_line(mode, damage, message):
    image = _grey((20, 30))
    payload = _payload(image, MODES[mode])
    data = _file(image, payload[:1] + damage(payload[1:]), 0)
    with pytest.raises(codec.NicFormatError, match=message) as info:
        codec.decode(data)
    assert "\n" not in str(info.value)


def test_a_jpeg_xl_body_of_another_size_is_refused_before_decoding():
    body = _payload(_grey((7, 3)), MODE_JXL)
    with pytest.raises(codec.NicFormatError, match="codes 3x7 pixels, not 7x3"):
        codec.decode(_file(_grey((3, 7)), body, 0))
    with pytest.raises(codec.NicFormatError, match="not 3x7x3 8-bit"):
        codec.decode(_file(_rgb((7, 3)), body, 0))
    # A flat 4096x4096 image is a codestream of a few KB: refused from its size header alone.
    from imagecodecs import jpegxl_encode

    huge = bytes([MODE_JXL]) + jpegxl_encode(np.zeros((4096, 4096), np.uint8), lossless=True,
                                             effort=1)[2:]
    assert len(huge) < 4096
    with pytest.raises(codec.NicFormatError, match="codes 4096x4096 pixels, not 1x1"):
        codec.decode(_file(np.zeros((1, 1), np.uint8), huge, 0))


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (300, 5), (28, 28), (97, 61)])
@pytest.mark.parametrize("max_error", [0, 1, 8])
def test_colour_noise_never_costs_more_than_raw_pixels_and_16_bytes(shape, max_error):
    """Noise gets the stored colour form: its header and one byte over the raw pixels (or bins),
    never more than 16 bytes over, as for a grey file."""
    noise = np.random.default_rng(11).integers(0, 256, shape + (3,), dtype=np.uint8)
    data = codec.encode(noise, max_error=max_error) if max_error else \
        codec.encode(noise, lossless=True)
    assert len(data) <= noise.size + 16
    decoded = codec.decode(data)
    assert np.abs(decoded.astype(int) - noise.astype(int)).max() <= max_error


def test_a_pillow_grey_webp_body_decodes_like_pillow_decodes_the_webp_file(tmp_path):
    """The rebuilt RIFF wrapper is the file libwebp wrote: Pillow reads both the same."""
    image = _grey((13, 17))
    path = tmp_path / "same.webp"
    Image.fromarray(image).save(path, lossless=True, quality=100, method=6, exact=True)
    np.testing.assert_array_equal(np.asarray(Image.open(path).convert("L")),
                                  codec.decode(_file(image, _payload(image, MODE_WEBP), 0)))
