"""nic: a neural image codec for small grey images.

    import codec
    data = codec.encode(pixels)        # bytes of a .nic file
    pixels = codec.decode(data)        # uint8 (H, W)

Encoding and decoding run exported LiteRT models; TensorFlow is needed only to train.
"""

from .api import QUALITY_LEVELS, decode, decode_batch, encode, encode_batch, inspect
from .errors import NicError, NicFormatError, NicInputError, NicModelError
from . import pillow_plugin  # noqa: F401  registers the NIC format with Pillow

__all__ = [
    "QUALITY_LEVELS",
    "encode",
    "decode",
    "encode_batch",
    "decode_batch",
    "inspect",
    "NicError",
    "NicFormatError",
    "NicInputError",
    "NicModelError",
]
__version__ = "0.1.0"
