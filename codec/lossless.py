"""Lossless and max-error files at the image's own size (format version 3, docs/FORMAT.md).

A version-3 residual payload starts with a mode byte; the encoder writes every mode that applies
and keeps the smallest file, so no mode ever makes a file bigger than another would:

    0  STORED    the pixels as they are, row-major: never more than raw pixels + a few bytes
    1  ADAPTIVE  codec/adaptive.py: interlaced passes under a per-pixel Laplace that adapts

(28x28 images may also be coded by the MNIST-tuned residual layer, codec/residual.py, in the
older version-1 layout, when that is smaller.) Neither mode runs the network, so decoding a
version-3 file needs no model.

Only grey 8-bit pixels can be coded exactly: colour, alpha and 16-bit inputs are refused here
with one line (a grey image stored as RGB with R = G = B, or with an opaque alpha, is grey).
"""

import numpy as np
from PIL import Image

from .adaptive import decode_adaptive, dequantise, encode_adaptive, quantise
from .errors import NicFormatError, NicInputError

__all__ = ["MODE_STORED", "MODE_ADAPTIVE", "MODE_NAMES", "exact_grey", "exact_payload",
           "decode_exact_payload"]

MODE_STORED, MODE_ADAPTIVE = 0, 1
MODE_NAMES = {MODE_STORED: "stored", MODE_ADAPTIVE: "adaptive"}


def exact_grey(image) -> np.ndarray:
    """The grey uint8 (H, W) pixels of an image that holds nothing else, or NicInputError.

    Lossless means every channel and bit back: colour, transparency and 16-bit depth would be
    dropped by a grey coder, so they are refused rather than reported as lossless.
    """
    if isinstance(image, Image.Image):
        image = _pil_pixels(image)
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or 0 in image.shape[:2]:
        raise NicInputError("lossless and max_error modes need a non-empty (H, W) or (H, W, C) "
                            "image array")
    if image.dtype != np.uint8:
        raise NicInputError(f"lossless and max_error modes code 8-bit grey; this image is "
                            f"{image.dtype} (convert it to 8 bits first)")
    if image.ndim == 2:
        return image.copy()
    channels = image.shape[2]
    if channels in (2, 4) and (image[:, :, -1] != 255).any():
        raise NicInputError("lossless and max_error modes code grey without transparency; "
                            "this image has an alpha channel that is not opaque")
    if channels in (3, 4) and ((image[:, :, 0] != image[:, :, 1]) |
                               (image[:, :, 0] != image[:, :, 2])).any():
        raise NicInputError("lossless and max_error modes code grey images; this one is in "
                            "colour (colour lossless is not supported yet)")
    if channels not in (1, 2, 3, 4):
        raise NicInputError(f"cannot read an image with {channels} channels")
    return image[:, :, 0].copy()


def _pil_pixels(image: Image.Image) -> np.ndarray:
    """A PIL image's pixels without any lossy conversion (16-bit stays 16-bit, and is refused)."""
    if image.mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(image)
    if image.mode == "1":
        return np.asarray(image.convert("L"))
    if image.mode == "P":
        return np.asarray(image.convert("RGBA" if "transparency" in image.info else "RGB"))
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        raise NicInputError(f"lossless and max_error modes code 8-bit grey; this image is "
                            f"mode {image.mode} (convert it to 8 bits first)")
    raise NicInputError(f"lossless and max_error modes code grey; this image is mode {image.mode}")


def exact_payload(pixels: np.ndarray, max_error: int) -> bytes:
    """The smallest version-3 residual payload of grey uint8 pixels within +-max_error."""
    stored = bytes([MODE_STORED]) + np.ascontiguousarray(pixels, np.uint8).tobytes()
    q, top = quantise(pixels, max_error)
    adaptive = bytes([MODE_ADAPTIVE]) + encode_adaptive(q, top)
    return min((adaptive, stored), key=len)


def decode_exact_payload(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    """Inverse of exact_payload: grey uint8 (height, width), or NicFormatError."""
    if not payload:
        raise NicFormatError("residual payload has no mode byte")
    mode, body = payload[0], payload[1:]
    if mode == MODE_STORED:
        if len(body) != width * height:
            raise NicFormatError(f"stored payload holds {len(body)} bytes for "
                                 f"{width}x{height} pixels")
        return np.frombuffer(body, np.uint8).reshape(height, width).copy()
    if mode == MODE_ADAPTIVE:
        _, top = quantise(np.zeros(1, np.uint8), max_error)
        return dequantise(decode_adaptive(body, (height, width), top), max_error)
    raise NicFormatError(f"unknown residual mode {mode} (this nic knows modes 0 to 1)")
