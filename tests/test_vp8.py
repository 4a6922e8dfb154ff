"""The VP8 model (`cifar-vp8`): WebP's lossy frame in nic's container, with a post-filter the
encoder keeps only where it helps. Real libwebp, real filter, real files."""

import io

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import codec
from codec.classical import decode_vp8_body, vp8_body
from codec.cli import app
from codec.data import load_dataset
from codec.fidelity import psnr_per_image
from codec.format import Header, pack, unpack
from codec.vp8 import FILTER_OFF

MODEL = "cifar-vp8"


@pytest.fixture(scope="module")
def photos():
    return load_dataset("cifar")[2][:16]


def _webp(image: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "WEBP", quality=quality, method=6)
    return buffer.getvalue(), np.asarray(Image.open(buffer).convert("RGB"))


@pytest.mark.parametrize("quality", [0, 50, 100])
def test_the_stored_frame_decodes_as_libwebps_own_file(photos, quality):
    for image in photos[:4]:
        webp, expected = _webp(image, quality)
        body = vp8_body(image, quality)
        assert len(body) == len(webp) - 27
        assert np.array_equal(decode_vp8_body(body, 32, 32), expected)


def _levels() -> dict[int, int]:
    from codec.runtime import load_model
    from codec.vp8 import webp_qualities

    return webp_qualities(load_model(MODEL))


@pytest.mark.filterwarnings("ignore::codec.errors.NicFidelityWarning")
def test_every_level_is_smaller_than_webp_and_never_worse_than_its_decode(photos):
    for level, quality in _levels().items():
        files = codec.encode_batch(list(photos), model=MODEL, quality=level)
        decoded = np.stack(codec.decode_batch(files))
        webps, plain = zip(*(_webp(image, quality) for image in photos))
        assert decoded.shape == photos.shape
        assert all(len(f) < len(w) for f, w in zip(files, webps)), level
        # the encoder keeps the filter only where it brings the image closer
        assert (psnr_per_image(photos, decoded) >= psnr_per_image(photos, np.stack(plain))).all()


def test_the_filter_gains_on_the_smallest_level(photos):
    files = codec.encode_batch(list(photos), model=MODEL, quality=1)
    decoded = np.stack(codec.decode_batch(files))
    plain = np.stack([_webp(image, 0)[1] for image in photos])
    gain = np.mean(psnr_per_image(photos, decoded) - psnr_per_image(photos, plain))
    assert gain > 0.2
    assert sum(unpack(f)[0].quality == 1 for f in files) > len(files) // 2  # filter on


def test_the_quality_byte_turns_the_filter_off(photos):
    data = codec.encode(photos[0], model=MODEL, quality=1)
    header, payload = unpack(data)
    assert header.quality == 1  # this photo is filtered
    off = pack(Header(header.model_id, 1 + FILTER_OFF, 32, 32, channels=3), payload)
    assert np.array_equal(codec.decode(off), _webp(photos[0], 0)[1])
    assert not np.array_equal(codec.decode(data), codec.decode(off))
    assert codec.inspect(off)["quality"] == 1
    assert codec.inspect(off)["coding"] == "vp8, post-filter off"


def test_a_photo_keeps_its_own_size_and_colour(tmp_path):
    from skimage import data

    photo = data.chelsea()[::3, ::3]  # 100x151, not square
    path = tmp_path / "cat.png"
    Image.fromarray(photo).save(path)
    run = CliRunner().invoke(app, ["encode", str(path), "--model", MODEL,
                                   "-o", str(tmp_path / "cat.nic")])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(app, ["decode", str(tmp_path / "cat.nic"), "-o",
                                   str(tmp_path / "back.png")])
    assert run.exit_code == 0, run.output
    decoded = np.asarray(Image.open(tmp_path / "back.png"))
    assert decoded.shape == photo.shape
    assert psnr_per_image(photo[None], decoded[None])[0] > 24
    info = codec.inspect(tmp_path / "cat.nic")
    assert (info["model"], info["quality"], info["mode"]) == (MODEL, 3, "lossy")


def test_auto_never_chooses_it(photos):
    assert codec.inspect(codec.encode(photos[0]))["model"] == "cifar"


def test_a_file_under_the_floor_warns_and_strict_refuses():
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    with pytest.warns(codec.errors.NicFidelityWarning, match="differs from the input"):
        codec.encode(noise, model=MODEL, quality=1)
    with pytest.raises(codec.errors.NicFidelityError):
        codec.encode(noise, model=MODEL, quality=1, strict=True)


def test_auto_climbs_to_keep_a_hard_image():
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), np.uint8)
    [result] = codec.encode_detailed([noise], model=MODEL)
    assert result.quality > 3 and result.escalated


def test_lossless_with_it_is_exact(photos):
    assert np.array_equal(codec.decode(codec.encode(photos[2], model=MODEL, lossless=True)),
                          photos[2])


@pytest.mark.parametrize("kept", [2, 20, 0.5])
def test_a_cut_frame_is_refused(photos, kept):
    header, payload = unpack(codec.encode(photos[3], model=MODEL, quality=4))
    cut = payload[: kept if isinstance(kept, int) else int(len(payload) * kept)]
    with pytest.raises(codec.errors.NicFormatError, match="not a valid WebP key frame"):
        codec.decode(pack(header, cut))
