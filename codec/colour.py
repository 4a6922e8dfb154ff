"""Colour images: the stage between pixels and the colour (RGB) model.

The grey models read one channel; the colour model (`cifar`, 32x32 RGB) reads three. Any image
given to it is brought to RGB (a grey one by repeating its channel, so a grey image works too),
fitted whole into the model's 32x32 field, and drawn back at its own size after decoding. The
file says it is colour (format version 4, docs/FORMAT.md), so decoding needs no flags.
"""

import numpy as np
from PIL import Image

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
