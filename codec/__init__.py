"""nic: a neural image codec for small grey images.

    import codec
    data = codec.encode(pixels)        # bytes of a .nic file
    pixels = codec.decode(data)        # uint8 (H, W)
    codec.write_archive(images, "set.nicpack", labels=y)   # many images in one file
    images = codec.open_archive("set.nicpack")             # a sequence of uint8 (H, W)

Encoding and decoding run exported LiteRT models; TensorFlow is needed only to train.
Importing codec registers the NIC format with Pillow; the codec itself (numpy, LiteRT,
constriction) loads on first use, so the `nic` command can tune numpy before it starts.
"""

from . import pillow_plugin  # noqa: F401  registers the NIC format with Pillow
from .errors import NicError, NicFormatError, NicInputError, NicModelError

__all__ = [
    "QUALITY_LEVELS",
    "encode",
    "decode",
    "encode_batch",
    "encode_detailed",
    "decode_batch",
    "inspect",
    "denoise",
    "open_archive",
    "write_archive",
    "NicError",
    "NicFormatError",
    "NicInputError",
    "NicModelError",
]
__version__ = "0.1.0"

_API = {"QUALITY_LEVELS", "encode", "decode", "encode_batch", "encode_detailed", "decode_batch",
        "inspect", "denoise"}
_ARCHIVE = {"open_archive", "write_archive"}


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in _ARCHIVE:
        from . import archive

        return getattr(archive, name)
    raise AttributeError(f"module 'codec' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _API | _ARCHIVE)
