"""Lossless and max-error files of any grey image, by contract: exact at the image's own size,
never much bigger than its raw pixels, and honest about what they cannot hold."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import codec
from codec.api import _residual_files
from codec.format import unpack
from codec.runtime import load_model

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SIZES = [(1, 1), (3, 7), (64, 64), (300, 200)]
# samples/digit_3.png as drawn until 2026-12-05 (tests/files/digit_3.old-sample.png), lossless,
# written by the version-1 residual layer before version 3.
OLD_LOSSLESS_FILE = bytes.fromhex(
    "894e100180d40206dee71a785eb1fcaf38f98731f62ed4dc08273e59b8a10137eb668ec5bd9484c309ae1e490f"
    "3229342af121cc5ade30754773c702c8e9699c82e4a315c0e3764f433027c9e88e46920ad080c8d480c47e029f"
    "8d88ec7cae5a20889e4137607ebc3f07028046bf7fb9475506b5a31685c86c935afc070e274dbc533c192d3040"
    "8768b7a9ce6d237c0af3e1ea4128b8da6fe27ee6eaa6b8e0d8b87cb78e74e19cb5e0ac2e3d284d2bb3581a8855"
    "aa948a3d35114c372acfbd5e6923ca8c6f8984d67c8f7cc9916e43efe4f0b0f6199a1821e196699f2629a35ff1"
    "d70c11eb1ce1e26ddbe5b8250dc45066e555826354b7ad11fbcc7ac221845b8f62756326530f647224ef96d499"
    "49798cd5adbe86945dc3a1bc19f9f51ce2e1a40196518f5f71ef15a70975e3f36d5b961627ac2664913987d1fd"
    "8cd1339be8600d1ebb5ecbaafecb56d9e11b1c206fb01a66007758e601839a871558"
)


def _images(shape):
    """Noise, a smooth ramp with a little noise, and a photo crop, all of one size."""
    rng = np.random.default_rng(shape)
    height, width = shape
    ramp = np.add.outer(np.arange(height) * 3, np.arange(width) * 2) % 256
    smooth = np.clip(ramp + rng.integers(-2, 3, shape), 0, 255).astype(np.uint8)
    photo = np.asarray(Image.open(SAMPLES / "digit_8.png").convert("L").resize((width, height)))
    return {"noise": rng.integers(0, 256, shape, dtype=np.uint8), "smooth": smooth, "photo": photo}


@pytest.mark.parametrize("shape", SIZES)
def test_lossless_is_bit_exact_at_any_size(shape):
    for name, image in _images(shape).items():
        data = codec.encode(image, lossless=True)
        np.testing.assert_array_equal(codec.decode(data), image, err_msg=name)
        assert codec.inspect(data)["mode"] == "lossless"


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("max_error", [1, 2, 4, 8])
def test_max_error_holds_at_any_size(shape, max_error):
    for name, image in _images(shape).items():
        decoded = codec.decode(codec.encode(image, max_error=max_error))
        assert decoded.shape == image.shape
        assert np.abs(decoded.astype(int) - image.astype(int)).max() <= max_error, name


@pytest.mark.parametrize("shape", SIZES + [(1, 2000), (513, 257)])
@pytest.mark.parametrize("max_error", [0, 1, 8])
def test_noise_never_costs_more_than_raw_pixels_plus_16_bytes(shape, max_error):
    noise = np.random.default_rng(7).integers(0, 256, shape, dtype=np.uint8)
    assert len(codec.encode(noise, max_error=max_error)) <= noise.size + 16


def test_smooth_images_compress_well_and_better_with_a_looser_bound():
    image = _images((64, 64))["smooth"]
    sizes = [len(codec.encode(image, max_error=k)) for k in (0, 1, 2, 4)]
    assert sizes[0] < image.size / 2  # under 4 bits per pixel (the +-2 noise alone is 2.3)
    assert sizes == sorted(sizes, reverse=True)


def test_mnist_files_are_never_bigger_than_the_residual_layer_alone(mnist_test):
    images = mnist_test[:40]
    files = codec.encode_batch(images, lossless=True)
    residual_only = _residual_files(load_model("mnist"), list(images), 0)
    assert all(len(f) <= len(r) for f, r in zip(files, residual_only))
    np.testing.assert_array_equal(np.stack(codec.decode_batch(files)), images)


def test_files_written_before_version_3_still_decode():
    header, _ = unpack(OLD_LOSSLESS_FILE)
    assert (header.version, header.quality) == (1, 128)
    expected = np.asarray(Image.open(Path(__file__).parent / "files" / "digit_3.old-sample.png"))
    np.testing.assert_array_equal(codec.decode(OLD_LOSSLESS_FILE), expected)
    assert codec.inspect(OLD_LOSSLESS_FILE)["coding"] == "residual"


def test_grey_stored_as_rgb_or_with_opaque_alpha_is_grey():
    grey = _images((20, 30))["photo"]
    for pixels in (np.dstack([grey] * 3), np.dstack([grey, np.full_like(grey, 255)])):
        np.testing.assert_array_equal(codec.decode(codec.encode(pixels, lossless=True)), grey)


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        (np.dstack([np.zeros((9, 9), np.uint8), np.ones((9, 9), np.uint8) * 9,
                    np.zeros((9, 9), np.uint8), np.full((9, 9), 7, np.uint8)]), "alpha"),
        (np.dstack([np.zeros((9, 9), np.uint8), np.full((9, 9), 128, np.uint8)]), "alpha"),
        (np.full((9, 9), 1000, np.uint16), "8-bit grey"),
        (np.full((9, 9), 0.5, np.float32), "8-bit grey"),
    ],
)
def test_alpha_and_16_bit_are_refused_in_one_line(pixels, message):
    for options in ({"lossless": True}, {"max_error": 2}):
        with pytest.raises(codec.NicInputError, match=message) as info:
            codec.encode(pixels, **options)
        assert "\n" not in str(info.value)


def test_a_16_bit_png_file_is_refused(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(path)
    with pytest.raises(codec.NicInputError, match="8-bit grey"):
        codec.encode(path, lossless=True)


def test_a_grey_png_file_round_trips_exactly(tmp_path):
    image = _images((37, 53))["smooth"]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    path = tmp_path / "grey.png"
    path.write_bytes(buffer.getvalue())
    np.testing.assert_array_equal(codec.decode(codec.encode(path, lossless=True)), image)


@pytest.mark.parametrize(
    ("payload", "message"),
    [(b"\x07", "unknown residual mode 7"), (b"\x00\x01\x02", "stored payload holds 2 bytes"),
     (b"", "no mode byte"), (b"\x01\x09", "no valid scale step")],
)
def test_bad_version_3_payloads_raise_format_errors(payload, message):
    from codec.format import Header, pack

    data = pack(Header(1, 128, width=3, height=1, version=3), payload)
    with pytest.raises(codec.NicFormatError, match=message):
        codec.decode(data)


def test_lossless_bench_is_exact_and_reproducible(tmp_path):
    pytest.importorskip("sklearn")
    from codec.bench import run_lossless_bench
    from codec.bench.grey_sets import build_group

    result = run_lossless_bench(limit=3, out=tmp_path, groups=["uci-digits", "typeset"])
    assert (tmp_path / "lossless.json").is_file()
    assert all(row["exact"] for row in result["results"])
    assert {row["codec"] for row in result["results"]} >= {"nic", "png"}
    np.testing.assert_array_equal(build_group("typeset", 3)[2], build_group("typeset", 3)[2])


# MNIST test image 0, lossless, guided (mode 16: plain rounding of x_hat), written by this coder
# with model id 9 (now installed as mnist-v2, superseded by id 15).
GUIDED_FILE = bytes.fromhex(
    "894e30098063101fd38126d06cba1ade3fa2291f9c96c907c6c3f3399da837209487f14cc59e72d335b9ef2286"
    "75ea5cdc6f2cb32a0482ac85f080f844f19e1595c54ce390ccb16e1ee4a284de9f81262a38066a9af4868aac30"
    "93ac5dbe6b4e1a1e000fbd4b2597d88c5f"
)


def test_guided_files_keep_decoding(mnist_test):
    np.testing.assert_array_equal(codec.decode(GUIDED_FILE), mnist_test[0])
    info = codec.inspect(GUIDED_FILE)
    assert info["coding"] == "guided" and info["model_id"] == 9
    assert codec.encode(mnist_test[0], lossless=True, model="mnist-v2") == GUIDED_FILE


def test_mnist_lossless_is_guided_and_small(mnist_test):
    files = codec.encode_batch(mnist_test[:200], lossless=True)
    codings = [codec.inspect(f)["coding"] for f in files]
    # Guided, but for the odd image whose x_hat no rounding keeps safe from another runtime:
    # those take a network-free mode, which decodes everywhere.
    assert codings.count("guided") >= 196 and "stored" not in codings
    assert 8 * np.mean([len(f) for f in files]) / 784 <= 1.30
    np.testing.assert_array_equal(np.stack(codec.decode_batch(files)), mnist_test[:200])


def test_guided_rounding_survives_a_runtime_difference_within_the_margin():
    """Network outputs that move by less than EPSILON give the same x_hat under the chosen r."""
    from codec.guided import EPSILON, robust_rounding, x_hat_at

    rng = np.random.default_rng(3)
    floats = rng.random((300, 28, 28)).astype(np.float32) ** 3  # mostly dark, like digits
    floats[:, :8] = 0.0  # a saturated background
    rounding = robust_rounding(floats)
    ok = rounding >= 0
    assert ok.mean() > 0.5
    for move in (EPSILON * 0.99 / 255, -EPSILON * 0.99 / 255):
        moved = floats.astype(np.float64) + move
        np.testing.assert_array_equal(x_hat_at(moved[ok], rounding[ok]),
                                      x_hat_at(floats[ok], rounding[ok]))


def test_guided_cuts_decode_back_exactly_when_inside_the_coder_interval():
    """The trim search skips, without decoding, every cut outside the range coder's final
    interval: such a cut must never decode back, and one inside always must."""
    import constriction
    from codec.entropy import FAMILY, cut_candidates, stream_words
    from codec.guided import _final_interval, _inside

    t1, t2 = load_model("mnist").residual.guided.tables[2]
    rng = np.random.default_rng(5)
    outcomes = []
    for count in rng.integers(1, 200, 30):  # rows of the guided tables, values drawn from them
        rows = t1[rng.integers(0, len(t1), count)].astype(np.float64)
        rows += t2[rng.integers(0, len(t2), count)]
        values = np.array([rng.choice(256, p=row / row.sum()) for row in rows], np.int32)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(values, FAMILY, rows)
        full = encoder.get_compressed().astype(">u4").tobytes()
        interval = _final_interval(encoder, full)
        for length in range(len(full) + 1):
            for candidate in cut_candidates(full, length):
                decoder = constriction.stream.queue.RangeDecoder(stream_words(candidate))
                try:
                    back = np.array_equal(decoder.decode(FAMILY, rows), values)
                except AssertionError:
                    back = False
                assert back == _inside(candidate, interval)
                outcomes.append(back)
    assert len(outcomes) > 1000 and 30 <= sum(outcomes) < len(outcomes) / 2


def _with_mode(data: bytes, payload: bytes) -> bytes:
    from codec.format import pack

    header, _ = unpack(data)
    return pack(header, payload)


def test_a_guided_pixel_check_catches_other_pixels():
    _, payload = unpack(GUIDED_FILE)
    r = payload[0] - 16
    image = codec.decode(GUIDED_FILE)
    from codec.residual import pixel_check

    checked = _with_mode(GUIDED_FILE, bytes([32 + r]) + pixel_check(image) + payload[1:])
    np.testing.assert_array_equal(codec.decode(checked), image)
    assert codec.inspect(checked)["coding"] == "guided"
    wrong = _with_mode(GUIDED_FILE, bytes([32 + r]) + b"\x00\x00" + payload[1:])
    with pytest.raises(codec.NicFormatError, match="pixel check failed"):
        codec.decode(wrong)


def test_bad_guided_payloads_raise_format_errors():
    from codec.format import Header, pack

    with pytest.raises(codec.NicFormatError, match="28x28 image only"):
        codec.decode(pack(Header(9, 128, width=3, height=1, version=3), b"\x10\x00"))
    with pytest.raises(codec.NicFormatError, match="too short"):
        codec.decode(_with_mode(GUIDED_FILE, b"\x20\x00"))
    for cut in (1, 5, 40):  # a damaged stream decodes to some pixels or is refused, never crashes
        _, payload = unpack(GUIDED_FILE)
        try:
            codec.decode(_with_mode(GUIDED_FILE, payload[:cut]))
        except codec.NicFormatError:
            pass


def test_near_lossless_mnist_sizes_stay_below_the_residual_layer(mnist_test):
    limits = {1: 103, 2: 92, 4: 80, 8: 67}  # mean bytes of the version-1 residual layer
    for k, limit in limits.items():
        files = codec.encode_batch(mnist_test[:100], max_error=k)
        assert np.mean([len(f) for f in files]) <= limit


@pytest.mark.parametrize("max_error", [0, 3])
def test_the_adaptive_coder_round_trips_an_image_coded_in_slices(max_error):
    """Past _SLICE pixels a pass is coded slice by slice (a decoder's memory stays bounded);
    the stream is the same one coder's, so every pixel comes back within max_error."""
    from codec.adaptive import _SLICE, decode_adaptive, dequantise, encode_adaptive, quantise

    rows = np.linspace(0, 255, 700)[:, None] + np.random.default_rng(2).normal(0, 9, (700, 400))
    image = np.clip(rows, 0, 255).astype(np.uint8)
    assert image.size > _SLICE
    q, top = quantise(image, max_error)
    back = dequantise(decode_adaptive(encode_adaptive(q, top), q.shape, top), max_error)
    assert np.abs(back.astype(int) - image).max() <= max_error
