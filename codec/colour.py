"""Colour images: the stage between pixels and the colour (RGB) model.

The grey models read one channel; the colour model (`cifar`, 32x32 RGB) reads three. Any image
given to it is brought to RGB (a grey one by repeating its channel, so a grey image works too),
fitted whole into the model's 32x32 field, and drawn back at its own size after decoding. The
file says it is colour (format version 4, docs/FORMAT.md), so decoding needs no flags.
"""

import numpy as np
from PIL import Image

from .errors import NicInputError
from .images import _checked_array, _to_255, to_grey

__all__ = ["to_rgb", "prepare_rgb", "restore_rgb"]


def to_rgb(image) -> np.ndarray:
    """Any PIL image or numpy array that to_grey accepts -> RGB uint8 (H, W, 3).
    Alpha is dropped (the image as drawn on black); grey is repeated into three channels."""
    if isinstance(image, Image.Image):
        if image.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LAB", "HSV", "PA"):
            return np.asarray(image.convert("RGBA").convert("RGB")).copy()
        image = to_grey(image)
    array = _checked_array(np.asarray(image))
    if array.ndim == 3 and array.shape[2] >= 3:
        return np.rint(_to_255(array[:, :, :3])).astype(np.uint8)
    return np.repeat(to_grey(array)[:, :, None], 3, axis=2)


def prepare_rgb(rgb: np.ndarray, side: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> the model's (side, side, 3): the whole image, area-averaged when
    shrinking, bicubic when enlarging (the decoder draws it back at (W, H))."""
    return _resized(rgb, (side, side))


def restore_rgb(model_image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Decoded (side, side, 3) uint8 -> (height, width, 3) at the original size."""
    return _resized(model_image, (width, height))


def _resized(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = rgb.shape[:2]
    if (width, height) == size:
        return np.array(rgb, copy=True)
    shrinking = size[0] <= width and size[1] <= height
    resample = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize(size, resample)).copy()


# --- colour lossless and max-error: three grey planes, each coded by codec/lossless.py, ------
# --- or the whole image by libwebp or libjxl ------------------------------------------------

# How the three planes derive from R, G, B. Lossless uses WebP's "subtract green": G, and R and
# B as differences from G (offset by 128, modulo 256, so exactly invertible), which removes most
# of what the channels share. With a max error each channel is coded on its own, so that every
# channel, not only G, stays within the bound.
PLANES_RGB, PLANES_SUBTRACT_GREEN = 0, 1
# Or no planes: the RGB image (binned per channel for a max error) as one JPEG XL body, whose
# colour transforms see all three channels at once (the byte is the grey JPEG XL mode's number).
# It wins on nearly every CIFAR-10 image; WebP, tried the same way, won 1 in 300 (0.02 % of the
# bytes) at three times JPEG XL's time, and per-plane WebP and JPEG XL never won.
WHOLE_JXL = 3
# Or the RGB bytes as they are (bins, for a max error), row-major: what a noise image gets, so a
# colour file never exceeds its raw pixels by more than its header and this byte.
WHOLE_STORED = 4


def exact_rgb(image) -> np.ndarray | None:
    """The RGB uint8 (H, W, 3) pixels of an opaque 8-bit colour image, or None for anything
    else (grey images go to the grey coder, which refuses what neither can keep)."""
    from .lossless import _pil_pixels

    if isinstance(image, Image.Image):
        try:
            image = _pil_pixels(image)
        except NicInputError:  # the grey path names the problem
            return None
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] not in (3, 4) or 0 in image.shape[:2]:
        return None
    if image.shape[2] == 4 and (image[:, :, 3] != 255).any():
        return None
    rgb = image[:, :, :3]
    grey = (rgb[:, :, 0] == rgb[:, :, 1]).all() and (rgb[:, :, 0] == rgb[:, :, 2]).all()
    return None if grey else np.ascontiguousarray(rgb)


def colour_payload(rgb: np.ndarray, max_error: int) -> bytes:
    """The smallest of: a plane transform byte, then each plane as a varint length and a
    version-3 payload; WHOLE_JXL and a JPEG XL body of the whole image; WHOLE_STORED and the
    pixels (or bins) as they are."""
    from .adaptive import quantise
    from .format import _encode_varint
    from .lossless import MODE_JXL, classical_payloads, exact_payload

    transform = PLANES_SUBTRACT_GREEN if max_error == 0 else PLANES_RGB
    out = bytearray([transform])
    for plane in _planes(rgb, transform):
        payload = exact_payload(plane, max_error, classical=False)
        out += _encode_varint(len(payload)) + payload
    bins = quantise(rgb, max_error)[0]
    whole = classical_payloads(bins, (MODE_JXL,))
    stored = bytes([WHOLE_STORED]) + bins.astype(np.uint8).tobytes()
    return min([bytes(out)] + whole + [stored], key=len)


def decode_colour_payload(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    """Inverse of colour_payload: RGB uint8 (height, width, 3), or NicFormatError."""
    from .errors import NicFormatError
    from .format import MAX_PAYLOAD_V3, _decode_varint
    from .lossless import decode_classical, decode_exact_payload

    view = memoryview(payload)
    if view and view[0] == WHOLE_JXL:
        return decode_classical(WHOLE_JXL, bytes(view[1:]), width, height, 3, max_error)
    if view and view[0] == WHOLE_STORED:
        return _stored(view[1:], width, height, max_error)
    if not view or view[0] not in (PLANES_RGB, PLANES_SUBTRACT_GREEN):
        raise NicFormatError("colour residual payload has no known plane transform")
    transform, pos, planes = view[0], 1, []
    for _ in range(3):
        size, pos = _decode_varint(view, pos, "plane length", MAX_PAYLOAD_V3)
        if pos + size > len(view):
            raise NicFormatError("colour residual payload ends inside a plane")
        planes.append(decode_exact_payload(bytes(view[pos : pos + size]), width, height, max_error))
        pos += size
    if pos != len(view):
        raise NicFormatError("colour residual payload has bytes after its third plane")
    return _unplanes(planes, transform)


def _stored(body: memoryview, width: int, height: int, max_error: int) -> np.ndarray:
    from .adaptive import dequantise, quantise
    from .errors import NicFormatError

    if len(body) != width * height * 3:
        raise NicFormatError(f"stored colour payload has {len(body)} bytes, not {width * height * 3}")
    bins = np.frombuffer(body, np.uint8).reshape(height, width, 3)
    if bins.max() > quantise(np.uint8(255), max_error)[1]:
        raise NicFormatError(f"stored colour payload has a bin over the top for max error {max_error}")
    return dequantise(bins, max_error)


def _planes(rgb: np.ndarray, transform: int) -> list[np.ndarray]:
    r, g, b = (rgb[:, :, i].astype(np.int16) for i in range(3))
    if transform == PLANES_RGB:
        return [rgb[:, :, i].copy() for i in range(3)]
    return [g.astype(np.uint8), ((r - g + 128) % 256).astype(np.uint8),
            ((b - g + 128) % 256).astype(np.uint8)]


def _unplanes(planes: list[np.ndarray], transform: int) -> np.ndarray:
    if transform == PLANES_RGB:
        return np.stack(planes, axis=2)
    g, dr, db = (p.astype(np.int16) for p in planes)
    return np.stack([(dr + g - 128) % 256, g, (db + g - 128) % 256], axis=2).astype(np.uint8)
