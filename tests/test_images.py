"""codec.images by contract: real files written by Pillow's own encoders, no mocks.

Every format a user may bring must read into grey uint8; everything else must be refused with a
one-line NicInputError; prepare and restore must agree on the content box for any size.
"""

import ast
import sys
import warnings
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFile, features

from codec.errors import NicInputError
from codec.images import (
    MODEL_SIZE,
    READ_LIMIT,
    Geometry,
    content_box,
    prepare,
    read_image,
    read_sized,
    restore,
    save_png_bytes,
    to_grey,
)

IMAGES_PY = Path(__file__).resolve().parents[1] / "codec" / "images.py"


def _digit(width: int = 40, height: int = 40, ink: int = 255, paper: int = 0) -> np.ndarray:
    """A digit-like ring (a "0") of ink on paper, grey uint8 (height, width)."""
    image = Image.new("L", (width, height), paper)
    box = (width // 4, height // 6, width - width // 4, height - height // 6)
    ImageDraw.Draw(image).ellipse(box, outline=ink, width=max(1, min(width, height) // 10))
    return np.asarray(image).copy()


def _save(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


# --- read_image: every format reads into grey uint8 ---------------------------------------


def test_png_16_bit_is_scaled_by_257(tmp_path):
    values = (np.arange(30 * 20, dtype=np.uint16).reshape(20, 30) * 109).astype(np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I;16")
    grey, notes = read_image(path)
    assert notes == []
    np.testing.assert_array_equal(grey, np.rint(values / 257).astype(np.uint8))


def test_palette_png_with_transparency_is_flattened_over_white(tmp_path):
    ink = np.zeros((20, 20), dtype=np.uint8)  # palette index 0: transparent
    ink[5:15, 8:12] = 1  # palette index 1: black ink
    image = Image.frombytes("P", (20, 20), ink.tobytes())
    image.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    path = _save(image, tmp_path / "palette.png", transparency=0)
    grey, _ = read_image(path)
    assert grey.dtype == np.uint8 and grey.shape == (20, 20)
    assert (grey[ink == 0] == 255).all()  # transparent red becomes white paper, not red's grey
    assert (grey[ink == 1] == 0).all()


def test_rgba_png_white_ink_on_transparent_keeps_the_ink(tmp_path):
    rgba = np.zeros((30, 30, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # white everywhere, but only the stroke is opaque
    rgba[..., 3] = _digit(30, 30)
    path = _save(Image.fromarray(rgba), tmp_path / "rgba.png")
    grey, _ = read_image(path)
    np.testing.assert_array_equal(grey, _digit(30, 30))  # over black: ink survives
    model, geometry = prepare(grey)
    assert not geometry.inverted and model.max() > 200


def test_fully_transparent_png_reads_as_white(tmp_path):
    path = _save(Image.new("RGBA", (10, 12), (0, 0, 0, 0)), tmp_path / "clear.png")
    grey, _ = read_image(path)
    assert grey.shape == (12, 10) and (grey == 255).all()
    model, geometry = prepare(grey)
    assert geometry.inverted and (model == 0).all()


def test_cmyk_jpeg(tmp_path):
    image = Image.new("CMYK", (40, 30), (0, 0, 0, 0))  # no ink: white paper
    image.paste((0, 0, 0, 255), (10, 10, 30, 20))  # full black ink
    path = _save(image, tmp_path / "cmyk.jpg", quality=95)
    grey, _ = read_image(path)
    assert grey.shape == (30, 40)
    assert grey[0:5].mean() > 240 and grey[12:18, 12:28].mean() < 15


def test_one_bit_png(tmp_path):
    bits = _digit(24, 24) > 127
    path = _save(Image.fromarray(bits), tmp_path / "bits.png")
    assert Image.open(path).mode == "1"
    grey, _ = read_image(path)
    np.testing.assert_array_equal(grey, np.where(bits, 255, 0).astype(np.uint8))


def test_float_tiff_in_unit_range(tmp_path):
    values = np.linspace(0, 1, 20 * 30, dtype=np.float32).reshape(20, 30)
    path = _save(Image.fromarray(values), tmp_path / "f.tif")
    assert Image.open(path).mode == "F"
    grey, _ = read_image(path)
    np.testing.assert_array_equal(grey, np.rint(values * 255).astype(np.uint8))


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_lossless_webp(tmp_path):
    digit = _digit(32, 24)
    path = _save(Image.fromarray(digit), tmp_path / "d.webp", lossless=True)
    grey, _ = read_image(path)
    np.testing.assert_array_equal(grey, digit)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif(tmp_path):
    digit = _digit(48, 48)
    path = _save(Image.fromarray(digit).convert("RGB"), tmp_path / "d.avif", quality=90)
    grey, _ = read_image(path)
    assert grey.shape == (48, 48)
    assert np.abs(grey.astype(int) - digit).mean() < 12


def test_animated_gif_encodes_the_first_frame_with_a_warning(tmp_path):
    frames = [Image.fromarray(_digit(20, 20, ink=v)) for v in (255, 100, 50)]
    path = _save(frames[0], tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    grey, notes = read_image(path)
    assert notes == [f"{path} has 3 frames; encoding the first"]
    np.testing.assert_array_equal(grey, _digit(20, 20, ink=255))


def test_multi_page_tiff_warns(tmp_path):
    pages = [Image.fromarray(_digit(20, 16)), Image.new("L", (20, 16), 128)]
    path = _save(pages[0], tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    grey, notes = read_image(path)
    assert notes == [f"{path} has 2 frames; encoding the first"]
    np.testing.assert_array_equal(grey, _digit(20, 16))


def test_jpeg_exif_orientation_6_is_applied(tmp_path):
    stored = np.zeros((40, 60), dtype=np.uint8)
    stored[:12, :12] = 255  # marker at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = _save(Image.fromarray(stored), tmp_path / "rot.jpg", exif=exif, quality=95)
    grey, _ = read_image(path)
    assert grey.shape == (60, 40)  # width and height swapped
    assert grey[:12, -12:].mean() > 200  # the marker is now top-right
    assert grey[:12, :12].mean() < 50


def test_large_png_is_reduced_while_reading(tmp_path):
    image = Image.new("L", (4800, 3200), 0)
    ImageDraw.Draw(image).ellipse((1200, 400, 3600, 2800), outline=255, width=240)
    path = _save(image, tmp_path / "large.png", compress_level=1)
    del image
    grey, notes, size = read_sized(path)
    assert grey.dtype == np.uint8 and max(grey.shape) <= READ_LIMIT
    assert grey.shape == (1067, 1600)  # reduced by 3, aspect ratio kept
    assert size == (4800, 3200) and notes == []  # the file records the original size
    assert grey[533, 800] < 10 and grey.max() == 255  # the ring, not a blur
    model, geometry = prepare(grey)
    assert model.shape == (MODEL_SIZE, MODEL_SIZE) and not geometry.inverted


def test_large_jpeg_is_drafted_while_reading(tmp_path):
    image = Image.new("RGB", (4200, 2800), (255, 255, 255))
    path = _save(image, tmp_path / "large.jpg", quality=80)
    del image
    grey, notes, size = read_sized(path)
    assert max(grey.shape) <= READ_LIMIT and grey.shape[1] / grey.shape[0] == pytest.approx(1.5)
    assert grey.min() > 240 and size == (4200, 2800)


def test_dark_digit_on_white_paper_jpeg_is_inverted_and_restored(tmp_path):
    paper = _digit(200, 200, ink=20, paper=245)
    path = _save(Image.fromarray(paper).convert("RGB"), tmp_path / "paper.jpg", quality=90)
    grey, notes = read_image(path)
    assert notes == [] and grey.shape == (200, 200)
    model, geometry = prepare(grey)
    assert geometry == Geometry(200, 200, True)
    assert model[:2].max() < 30 and model.max() > 180  # light digit on dark, like MNIST
    back = restore(model, geometry)
    assert back.shape == (200, 200) and back.dtype == np.uint8
    assert back[:10].mean() > 200  # light paper again
    assert np.abs(back.astype(int) - grey).mean() < 20


# --- read_image: refusals ------------------------------------------------------------------


def _refused(path) -> str:
    with pytest.raises(NicInputError) as caught:
        read_image(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_path_is_refused(tmp_path):
    assert _refused(tmp_path / "nope.png") == f"no such file: {tmp_path / 'nope.png'}"
    assert _refused(str(tmp_path / "nope.png")).startswith("no such file")


def test_directory_is_refused(tmp_path):
    assert _refused(tmp_path) == f"{tmp_path} is a directory"


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert _refused(path) == f"{path} is empty"


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image at all\n")
    assert _refused(path) == f"{path} is not an image Pillow can read"


def test_truncated_png_is_refused_without_global_side_effects(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (100, 100), dtype=np.uint8)
    data = save_png_bytes(noise)
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    assert "damaged or truncated" in _refused(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("side", [40, 100], ids=["warning band", "error band"])
def test_decompression_bomb_is_refused(tmp_path, monkeypatch, side):
    path = _save(Image.new("L", (side, side)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    filters = list(warnings.filters)
    message = _refused(path)
    # Pillow warns between its limit and twice that, and errors beyond: one message for both,
    # quoting nic's own limit
    assert f"has {side * side:,} pixels, over nic's limit of 16,777,216 pixels" in message
    assert warnings.filters == filters  # the "error" filter did not leak out


def test_grey_png_with_transparent_colour(tmp_path):
    digit = _digit(20, 20, ink=0, paper=255)
    path = _save(Image.fromarray(digit), tmp_path / "trns.png", transparency=255)
    grey, _ = read_image(path)  # the paper is transparent, the ink black: over white
    np.testing.assert_array_equal(grey, digit)


# --- to_grey on arrays and PIL modes -------------------------------------------------------


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.array([[False, True]]), [[0, 255]]),
        (np.array([[0, 257, 65535]], dtype=np.uint16), [[0, 1, 255]]),
        (np.array([[0, 128, 255]]), [[0, 128, 255]]),  # int64 holding 8-bit values
        (np.array([[-5, 65535]], dtype=np.int32), [[0, 255]]),  # 16-bit values in int32
        (np.array([[0, 2**32 - 1]], dtype=np.uint32), [[0, 255]]),
        (np.array([[0.0, 0.5, 1.0]]), [[0, 128, 255]]),  # [0, 1] floats
        (np.array([[0.0, 100.0, 300.0]], dtype=np.float32), [[0, 100, 255]]),  # [0, 255], clipped
        (np.array([[np.nan, -1.0, 1.0]]), [[0, 0, 255]]),
        (np.array([[np.inf, -np.inf, 0.5]]), [[255, 0, 128]]),
        (np.full((1, 2, 1), 7, dtype=np.uint8), [[7, 7]]),
        (np.full((1, 2, 3), 90, dtype=np.uint8), [[90, 90]]),
        (np.array([[[255, 0, 0]]], dtype=np.uint8), [[76]]),  # ITU-R 601-2 luma, as Pillow
    ],
)
def test_to_grey_arrays(array, expected):
    grey = to_grey(array)
    assert grey.dtype == np.uint8
    np.testing.assert_array_equal(grey, np.array(expected, dtype=np.uint8))


def test_to_grey_rgba_arrays():
    black_ink = np.zeros((2, 2, 4), dtype=np.uint8)
    black_ink[0, 0, 3] = 255  # one opaque black pixel, the rest transparent
    np.testing.assert_array_equal(to_grey(black_ink), [[0, 255], [255, 255]])
    assert (to_grey(np.zeros((3, 3, 4), dtype=np.uint8)) == 255).all()  # fully transparent
    half = np.array([[[200, 200, 200, 128]]], dtype=np.uint8)
    assert to_grey(half)[0, 0] == 100  # light ink: composited over black


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4), dtype=np.complex64),
        np.empty((4, 4), dtype=object),
        np.array(5, dtype=np.uint8),
        np.zeros(4, dtype=np.uint8),
        np.zeros((2, 4, 4, 3), dtype=np.uint8),
        np.zeros((0, 5), dtype=np.uint8),
        np.zeros((5, 5, 5), dtype=np.uint8),
        np.array([["a"]]),
    ],
    ids=["complex", "object", "0-d", "1-d", "4-d", "empty", "5 channels", "str"],
)
def test_to_grey_refuses_other_arrays(array):
    with pytest.raises(NicInputError) as caught:
        to_grey(array)
    assert "\n" not in str(caught.value)


def test_to_grey_refuses_non_images():
    with pytest.raises(NicInputError, match="got list"):
        to_grey([[0, 1]])


@pytest.mark.parametrize(
    "image, value",
    [
        (Image.new("I;16", (3, 2), 65535), 255),
        (Image.new("I", (3, 2), 257 * 10), 10),
        (Image.new("F", (3, 2), 0.5), 128),
        (Image.new("F", (3, 2), 77.0), 77),
        (Image.new("CMYK", (3, 2), (0, 0, 0, 0)), 255),
        (Image.new("LA", (3, 2), (40, 255)), 40),
        (Image.new("1", (3, 2), 1), 255),
        (Image.new("RGB", (3, 2), (9, 9, 9)), 9),
        (Image.new("P", (3, 2), 0), 0),
    ],
    ids=lambda v: v.mode if isinstance(v, Image.Image) else str(v),
)
def test_to_grey_pil_modes(image, value):
    grey = to_grey(image)
    assert grey.shape == (2, 3) and grey.dtype == np.uint8
    assert (grey == value).all()


# --- prepare and restore -------------------------------------------------------------------


def test_28x28_passes_through_bit_for_bit():
    digit = np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)
    digit[:2] = digit[-2:] = digit[:, :2] = digit[:, -2:] = 0  # MNIST: dark border
    model, geometry = prepare(digit)
    assert geometry == Geometry(28, 28, False)
    np.testing.assert_array_equal(model, digit)
    np.testing.assert_array_equal(restore(model, geometry), digit)
    assert model is not digit


def test_inverted_28x28_restores_bit_for_bit():
    paper = 255 - _digit(28, 28)
    model, geometry = prepare(paper)
    assert geometry.inverted
    np.testing.assert_array_equal(model, _digit(28, 28))
    np.testing.assert_array_equal(restore(model, geometry), paper)


@pytest.mark.parametrize(
    "width, height, box",
    [
        (56, 28, (0, 7, 28, 21)),
        (28, 280, (12, 0, 15, 28)),
        (1000, 1, (0, 13, 28, 14)),
        (1, 1000, (13, 0, 14, 28)),
        (1, 1, (0, 0, 28, 28)),
        (14, 14, (0, 0, 28, 28)),
    ],
)
def test_aspect_ratio_is_kept(width, height, box):
    assert content_box(width, height) == box
    grey = np.full((height, width), 200, dtype=np.uint8)  # light border: inverted
    model, geometry = prepare(grey)
    assert geometry == Geometry(width, height, True)
    left, top, right, bottom = box
    outside = np.ones((MODEL_SIZE, MODEL_SIZE), dtype=bool)
    outside[top:bottom, left:right] = False
    assert (model[outside] == 0).all()  # the margin is background
    back = restore(model, geometry)
    assert back.shape == (height, width) and back.dtype == np.uint8
    assert np.median(back) == 200


def test_content_is_centred_and_kept_light():
    wide = np.zeros((28, 56), dtype=np.uint8)
    wide[10:18, 20:36] = 255  # a bright bar in the middle of a dark image
    model, geometry = prepare(wide)
    assert not geometry.inverted
    assert model[14, 14] == 255 and model[:7].max() == 0 and model[21:].max() == 0


@pytest.mark.parametrize("ink, paper, inverted", [(255, 0, False), (0, 255, True), (30, 220, True)])
def test_polarity_follows_the_border(ink, paper, inverted):
    model, geometry = prepare(_digit(50, 40, ink=ink, paper=paper))
    assert geometry.inverted is inverted
    assert model[0, 0] == 0 and model.max() > 150  # light ink on the dark margin


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_any_size_round_trips_in_shape(width, height, seed):
    grey = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    model, geometry = prepare(grey)
    assert model.shape == (MODEL_SIZE, MODEL_SIZE) and model.dtype == np.uint8
    assert (geometry.width, geometry.height) == (width, height)
    back = restore(model, geometry)
    assert back.shape == (height, width) and back.dtype == np.uint8


@given(st.integers(1, 100_000), st.integers(1, 100_000))
def test_content_box_fits_and_is_centred(width, height):
    left, top, right, bottom = content_box(width, height)
    w, h = right - left, bottom - top
    assert 0 <= left < right <= MODEL_SIZE and 0 <= top < bottom <= MODEL_SIZE
    assert max(w, h) == MODEL_SIZE and min(w, h) >= 1
    assert left == (MODEL_SIZE - w) // 2 and top == (MODEL_SIZE - h) // 2


def test_prepare_and_restore_refuse_bad_input():
    with pytest.raises(NicInputError, match="to_grey"):
        prepare(np.zeros((28, 28), dtype=np.float32))
    with pytest.raises(NicInputError):
        prepare(np.zeros((28, 28, 3), dtype=np.uint8))
    with pytest.raises(NicInputError, match="28x28"):
        restore(np.zeros((14, 14), dtype=np.uint8), Geometry(14, 14, False))
    with pytest.raises(NicInputError):
        Geometry(0, 5, False)
    with pytest.raises(NicInputError, match="pixels"):
        restore(np.zeros((28, 28), dtype=np.uint8), Geometry(10**6, 10**6, False))


def test_save_png_bytes_round_trips():
    digit = _digit(31, 17)
    data = save_png_bytes(digit)
    with Image.open(BytesIO(data)) as image:
        assert image.format == "PNG" and image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image), digit)


def test_imports_stay_light():
    """The CLI imports this module: only numpy, PIL and the standard library are allowed."""
    tree = ast.parse(IMAGES_PY.read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names)
    assert third_party <= {"numpy", "PIL"}
