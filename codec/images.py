"""From any user image to the model's 28x28 grey square, and back.

The model was trained on MNIST: a light object on a dark background, 28x28, uint8. This module
bridges that convention and what users bring:

* ``read_image`` opens anything Pillow reads (first frame, EXIF orientation applied, large images
  reduced while reading; ``read_sized`` also gives the original size, which the file records)
  and refuses everything else with a one-line ``NicInputError``, including images over the one
  size limit nic has everywhere: ``MAX_PIXELS`` pixels and ``MAX_SIDE`` a side (format.py).
* ``to_grey`` turns any PIL image or numpy array into grey uint8.
* ``prepare`` fixes the polarity (dark-on-light images are inverted) and fits the image into
  28x28 keeping its aspect ratio; ``restore`` undoes both, using the same content box.

Decisions:

* Polarity: the median of the outermost frame (2 pixels wide, 1 for images under 8 pixels) is
  the background; if it is light (> 127) the image is inverted.
* Transparency: pixels are composited over the background that contrasts with the visible ink:
  over white unless the opaque pixels are light on average, then over black. A plain "over white"
  rule would erase a white digit drawn on a transparent canvas. A fully transparent image
  becomes white.
* Resampling: BOX (exact area average, no ringing; MNIST itself was made by anti-aliased
  downscaling) when shrinking, BICUBIC when enlarging.
"""

import math
import re
import stat
import struct
import warnings
import zlib
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from .errors import NicInputError
from .format import MAX_PIXELS, MAX_SIDE

__all__ = [
    "MODEL_SIZE",
    "READ_LIMIT",
    "Geometry",
    "content_box",
    "read_image",
    "read_pixels",
    "read_sized",
    "check_size",
    "has_colour",
    "to_grey",
    "prepare",
    "restore",
    "save_png_bytes",
    "image_suffixes",
]

MODEL_SIZE = 28
# Longest side kept by read_image: the model sees 28 pixels, so more only costs memory. The
# file records the original size, so decoding gives the original size back.
READ_LIMIT = 2048

# ITU-R 601-2 luma, the weights Pillow's own RGB -> L conversion uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Pillow modes whose numpy view to_grey understands directly; all others are converted first.
_FLAT_MODES = {"L", "LA", "RGB", "RGBA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
# The transpositions ImageOps.exif_transpose applies, per EXIF orientation value.
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# What Pillow raises on damaged or truncated data, beyond UnidentifiedImageError.
_DECODE_ERRORS = (OSError, SyntaxError, EOFError, ValueError, struct.error, zlib.error)


@dataclass(frozen=True)
class Geometry:
    """What restore needs to turn a decoded 28x28 back into the user's image."""

    width: int  # original width in pixels
    height: int  # original height
    inverted: bool  # original was dark on light: the model image is 255 - grey
    # (left, top, side): the square of the original that the 28x28 field covers (normalise.py);
    # None: the whole image fitted into the field by content_box.
    placement: tuple[int, int, int] | None = None
    # (paper, ink): the grey levels that model values 0 and 255 stand for; None: 0 and 255, or
    # 255 and 0 when inverted.
    levels: tuple[int, int] | None = None

    @property
    def normalised(self) -> bool:
        """Placed or levelled by normalise: a picture brought to MNIST's convention, not a
        28x28 image taken as it is."""
        return self.placement is not None or self.levels is not None

    def __post_init__(self):
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise NicInputError(f"geometry {name} must be a positive integer, got {value!r}")
        if self.placement is not None and self.placement[2] < 1:
            raise NicInputError(f"placement side must be positive, got {self.placement[2]}")


def content_box(width: int, height: int, size: int = MODEL_SIZE) -> tuple[int, int, int, int]:
    """The (left, top, right, bottom) box a width x height image occupies in the size² square.

    The one source of truth for prepare and restore: the longer side becomes 28, the other keeps
    the aspect ratio (at least 1 pixel), and the box is centred.
    """
    longest = max(width, height)
    # Integer rounding, so the box never depends on float quirks.
    w = max(1, (width * size + longest // 2) // longest)
    h = max(1, (height * size + longest // 2) // longest)
    left, top = (size - w) // 2, (size - h) // 2
    return left, top, left + w, top + h


def read_image(path) -> tuple[np.ndarray, list[str]]:
    """Open any image Pillow reads, as grey; see read_pixels."""
    pixels, notes = read_pixels(path)
    return to_grey(pixels), notes


def read_pixels(path) -> tuple[np.ndarray, list[str]]:
    """Open any image Pillow reads (a path or a binary file object), keeping colour and alpha.

    Args:
        path: str or Path of the image file.

    Returns:
        (uint8 (H, W) or (H, W, C) pixels, notes): the notes are one line each for the user
        (extra frames dropped). Images over READ_LIMIT a side are reduced while reading.

    Raises:
        NicInputError: missing, a directory, empty, unreadable, not an image, damaged or truncated,
            or over the size limit (MAX_PIXELS, MAX_SIDE).
    """
    pixels, notes, _ = read_sized(path)
    return pixels, notes


def check_size(width: int, height: int, name="the image") -> None:
    """Refuse an image over nic's one size limit (reading, encoding and decoding alike)."""
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise NicInputError(f"{name} is {width}x{height} pixels, {_OVER_LIMIT}")


_OVER_LIMIT = (f"over nic's limit of {MAX_PIXELS:,} pixels (4096x4096) and {MAX_SIDE:,} a side: "
               "reduce it first")


def read_sized(path) -> tuple[np.ndarray, list[str], tuple[int, int]]:
    """read_pixels, plus the image's (width, height) as displayed, before any reduction."""
    if isinstance(path, (bytes, bytearray, memoryview)):  # an image file's bytes, not a path
        source, path = BytesIO(bytes(path)), "the input"
    elif hasattr(path, "read"):  # a file object: named in messages as "the input"
        source, path = BytesIO(path.read()), "the input"
    else:
        source = path = Path(path)
        _check_readable(path)
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; we refuse the whole band.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image, notes, size = _decode(source, path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise NicInputError(_bomb_message(path, error)) from None
        except PermissionError:
            raise NicInputError(f"cannot read {path}: permission denied") from None
        except UnidentifiedImageError:
            raise NicInputError(f"{path} is not an image Pillow can read") from None
        except NicInputError:
            raise
        except _DECODE_ERRORS as error:
            raise NicInputError(f"{path} is damaged or truncated ({error})") from None
    return np.asarray(image).copy(), notes, size


def _check_readable(path: Path) -> None:
    """Refuse paths that cannot hold an image, with a clearer message than Pillow's."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NicInputError(f"no such file: {path}") from None
    except OSError as error:
        raise NicInputError(f"cannot read {path}: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise NicInputError(f"{path} is a directory")
    if info.st_size == 0:
        raise NicInputError(f"{path} is empty")


def _decode(source, path) -> tuple[Image.Image, list[str], tuple[int, int]]:
    """Load the first frame, reduced to READ_LIMIT and upright, in a flat mode; with its
    original size as displayed."""
    notes = []
    with Image.open(source) as image:
        check_size(*image.size, path)  # before any pixel is decoded
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            notes.append(f"{path} has {frames} frames; encoding the first")
            image.seek(0)
        orientation = _orientation(image)
        size = image.size
        if max(size) > READ_LIMIT:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale straight into grey; a no-op for others.
            image.draft("L", _fit(size, READ_LIMIT))
        image.load()
        flat = _shrink(_flatten(image), READ_LIMIT)
    if orientation in _ORIENT:
        flat = flat.transpose(_ORIENT[orientation])
    return flat, notes, _oriented(size, orientation)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright); a broken EXIF block must not reject the image."""
    try:
        return int(image.getexif().get(ExifTags.Base.Orientation, 1))
    except (OSError, SyntaxError, ValueError, TypeError, struct.error):
        return 1


def _oriented(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The size as displayed: orientations 5 to 8 swap width and height."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _fit(size: tuple[int, int], limit: int) -> tuple[int, int]:
    """The size with its longer side scaled down to limit."""
    scale = limit / max(size)
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _shrink(image: Image.Image, limit: int) -> Image.Image:
    """Reduce by an integer factor (a cheap box filter) until the longer side is <= limit."""
    factor = math.ceil(max(image.size) / limit)
    if factor <= 1:
        return image
    if image.mode.startswith("I;16"):
        # Pillow cannot reduce 16-bit images; convert to grey first (the rare, costly path).
        image = Image.fromarray(to_grey(image))
    return image.reduce(factor)


def _bomb_message(path: Path, error: Exception) -> str:
    """One line naming the pixel count (parsed from Pillow's message) and nic's limit."""
    numbers = re.findall(r"\d+", str(error))
    pixels = f"{int(numbers[0]):,} pixels" if numbers else "too many pixels"
    return f"{path} has {pixels}, {_OVER_LIMIT}"


def has_colour(image, share: float = 0.01) -> bool:
    """True if a PIL image or array shows colour: more than `share` of its pixels have channels
    that differ clearly (by over 60). A grey JPEG's chroma noise and a photo's tint of paper
    (channels within ~30) do not count; share=0: any such pixel, a red pen mark on a page."""
    if isinstance(image, Image.Image):
        if image.mode in ("1", "L", "LA", "La", "I", "F") or image.mode.startswith("I;16"):
            return False
        image = np.asarray(_flatten(image).convert("RGB"))
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] < 3:
        return False
    rgb = _to_255(_checked_array(image)[:, :, :3])
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float(np.mean(spread > 60)) > share


def is_transparent(image) -> bool:
    """True if a PIL image or array has an alpha channel (or a transparent colour) that is
    not opaque everywhere: to_grey flattens it, and the flattening is what a lossy file keeps."""
    if isinstance(image, Image.Image):
        if image.mode not in _ALPHA_MODES and "transparency" not in image.info:
            return False
        image = np.asarray(_flatten(image))
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] not in (2, 4):
        return False
    return bool(_to_255(_checked_array(image)[:, :, -1]).min() < 255)


def to_grey(image) -> np.ndarray:
    """Any PIL image or numpy array -> grey uint8 (H, W).

    Arrays may be (H, W), (H, W, 1), (H, W, 2) grey+alpha, (H, W, 3) RGB or (H, W, 4) RGBA, of
    bool (-> 0/255), integer or float dtype. uint8 is kept, uint16 is divided by 257; other
    integers are clipped at 0 and scaled from the smallest of 8, 16, 32 or 64 bits holding their
    maximum. Floats are taken as [0, 1] if their finite maximum is <= 1, else [0, 255]; they are
    clipped, NaN -> 0.

    Raises:
        NicInputError: another shape or dtype (complex, object, 0-d, 4-d, empty).
    """
    if isinstance(image, Image.Image):
        return _array_to_grey(np.asarray(_flatten(image)))
    return _array_to_grey(image)


def _flatten(image: Image.Image) -> Image.Image:
    """Convert to a mode whose numpy view to_grey understands, keeping alpha if there is any."""
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if image.mode in _FLAT_MODES and not (has_alpha and image.mode in ("L", "RGB")):
        return image
    if image.mode in ("1", "L", "La"):
        return image.convert("LA" if has_alpha else "L")
    return image.convert("RGBA" if has_alpha else "RGB")


def _array_to_grey(array) -> np.ndarray:
    """The array half of to_grey: check, scale to [0, 255], drop colour and alpha."""
    array = _checked_array(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == np.uint8 and array.ndim == 2:
        return np.array(array, copy=True)  # writable and independent of a PIL buffer
    values = _to_255(array)
    if values.ndim == 2:
        return _round(values)
    channels = values.shape[2]
    grey = values[:, :, 0] if channels == 2 else values[:, :, :3] @ _LUMA
    if channels in (2, 4):
        grey = _composite(grey, values[:, :, -1] / np.float32(255))
    return _round(grey)


def _checked_array(array) -> np.ndarray:
    """Refuse shapes and dtypes to_grey cannot interpret, in one clear line."""
    if not isinstance(array, np.ndarray):
        raise NicInputError(f"expected a PIL image or numpy array, got {type(array).__name__}")
    kind = array.dtype.kind
    if kind not in "buif":
        raise NicInputError(f"cannot read an image from a {array.dtype} array")
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 2, 3, 4))
    if not shape_ok:
        raise NicInputError(f"expected an (H, W) or (H, W, 1|2|3|4) array, got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise NicInputError(f"the image is empty (shape {array.shape})")
    return array


def _to_255(array: np.ndarray) -> np.ndarray:
    """Any bool, integer or float array -> float32 in [0, 255]."""
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(np.float32) * np.float32(255)
    if kind in "iu":
        return _int_to_255(array)
    values = array.astype(np.float32)
    values[np.isnan(values)] = 0
    finite = values[np.isfinite(values)]
    if finite.size and finite.max() <= 1:
        values *= np.float32(255)
    return np.clip(values, 0, 255)


def _int_to_255(array: np.ndarray) -> np.ndarray:
    """Scale integers by their bit depth: the dtype's for uint8/uint16, else the data's."""
    if array.dtype in (np.uint8, np.uint16):
        bits = array.dtype.itemsize * 8
    else:
        # int64 is what np.array([[0, 255]]) gives, and Pillow's "I" usually holds 16-bit data:
        # the container says little, so take the smallest usual depth that holds the maximum.
        array = np.maximum(array, 0)
        top = int(array.max())
        bits = next(b for b in (8, 16, 32, 64) if top < 2**b)
    wide = np.float64 if bits > 16 else np.float32  # float32 cannot hold 32-bit values exactly
    return (array.astype(wide) * (255 / (2**bits - 1))).astype(np.float32)


def _composite(grey: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Flatten alpha over the background that contrasts with the visible ink (see module doc)."""
    weight = float(alpha.sum(dtype=np.float64))
    ink = float((grey * alpha).sum(dtype=np.float64)) / weight if weight > 0 else 0.0
    background = np.float32(0 if ink > 127.5 else 255)
    return grey * alpha + background * (1 - alpha)


def _round(values: np.ndarray) -> np.ndarray:
    """Float [0, 255] -> uint8, rounding to nearest."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def prepare(grey: np.ndarray, size: int = MODEL_SIZE) -> tuple[np.ndarray, Geometry]:
    """Grey uint8 (H, W) -> (model image uint8 (size, size), Geometry).

    Dark-on-light images are inverted, then the image is fitted into the content box and centred
    on a black (background) canvas. A 28x28 image keeps every pixel (inverted or not).
    """
    _check_grey(grey, "prepare")
    height, width = grey.shape
    inverted = bool(np.median(_border(grey)) > 127)
    model = 255 - grey if inverted else grey.copy()
    if (width, height) != (size, size):
        left, top, right, bottom = content_box(width, height, size)
        canvas = np.zeros((size, size), dtype=np.uint8)
        canvas[top:bottom, left:right] = _resize(model, (right - left, bottom - top))
        model = canvas
    return model, Geometry(width, height, inverted)


def _border(grey: np.ndarray) -> np.ndarray:
    """The outermost frame of pixels: 2 wide, 1 for images under 8 pixels, all if thinner."""
    height, width = grey.shape
    t = 1 if min(height, width) < 8 else 2
    if height <= 2 * t or width <= 2 * t:
        return grey.ravel()
    sides = (grey[:t], grey[-t:], grey[t:-t, :t], grey[t:-t, -t:])
    return np.concatenate([side.ravel() for side in sides])


def restore(model_image: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Decoded uint8 (28, 28) -> uint8 (height, width) in the original polarity."""
    _check_grey(model_image, "restore")
    if model_image.shape != (MODEL_SIZE, MODEL_SIZE):
        shape = model_image.shape
        raise NicInputError(f"restore expects a {MODEL_SIZE}x{MODEL_SIZE} image, got shape {shape}")
    check_size(geometry.width, geometry.height)
    if geometry.placement is None:
        left, top, right, bottom = content_box(geometry.width, geometry.height)
        out = _resize(model_image[top:bottom, left:right], (geometry.width, geometry.height))
    else:
        out = _unplace(model_image, geometry)
    if geometry.levels is not None:
        paper, ink = geometry.levels
        return _round(paper + (ink - paper) * (out.astype(np.float32) / np.float32(255)))
    return 255 - out if geometry.inverted else out


def _unplace(model_image: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Draw the 28x28 field over the placement square of a background (0) canvas."""
    left, top, side = geometry.placement
    width, height = geometry.width, geometry.height
    out = np.zeros((height, width), dtype=np.uint8)
    # The part of the square inside the image, in image and in field coordinates.
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + side), min(height, top + side)
    if x0 >= x1 or y0 >= y1:
        return out
    scale = MODEL_SIZE / side
    box = ((x0 - left) * scale, (y0 - top) * scale, (x1 - left) * scale, (y1 - top) * scale)
    resample = Image.Resampling.BOX if side <= MODEL_SIZE else Image.Resampling.BICUBIC
    field = Image.fromarray(np.ascontiguousarray(model_image))
    out[y0:y1, x0:x1] = np.asarray(field.resize((x1 - x0, y1 - y0), resample, box=box))
    return out


def _resize(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize grey uint8 to size = (width, height): BOX to shrink, BICUBIC to enlarge."""
    height, width = grey.shape
    if (width, height) == size:
        return np.array(grey, copy=True)
    shrinking = size[0] <= width and size[1] <= height
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    image = Image.fromarray(np.ascontiguousarray(grey))
    return np.asarray(image.resize(size, resample)).copy()


def _check_grey(grey, caller: str) -> None:
    """Refuse anything but a non-empty 2-D uint8 array."""
    ok = isinstance(grey, np.ndarray) and grey.dtype == np.uint8 and grey.ndim == 2 and grey.size
    if not ok:
        what = f"{grey.dtype} {grey.shape}" if isinstance(grey, np.ndarray) else type(grey).__name__
        raise NicInputError(f"{caller} expects a grey uint8 (H, W) array (see to_grey), got {what}")


def save_png_bytes(pixels: np.ndarray) -> bytes:
    """Decoded pixels, grey uint8 (H, W) or RGB uint8 (H, W, 3), -> PNG bytes (mode L or RGB):
    an archive or a batch may hold both."""
    if isinstance(pixels, np.ndarray) and pixels.ndim == 3:
        if pixels.dtype != np.uint8 or pixels.shape[2] != 3 or not pixels.size:
            raise NicInputError(f"save_png_bytes expects RGB uint8 (H, W, 3), got {pixels.dtype} "
                                f"{pixels.shape}")
    else:
        _check_grey(pixels, "save_png_bytes")
    buffer = BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_suffixes() -> set[str]:
    """File endings Pillow opens (lower case, with the dot): what a folder of images holds."""
    Image.init()
    return {suffix.lower() for suffix in Image.registered_extensions()}
