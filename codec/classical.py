"""Bodies made by classical coders: lossless for nic's exact payloads, lossy VP8 for the
`cifar-vp8` model (docs/FORMAT.md).

Two well-kept libraries code some images better than nic's own adaptive coder: libwebp's
lossless coder (VP8L, through Pillow) on typeset text and digits, libjxl's modular coder
(JPEG XL, through imagecodecs) on photos. nic keeps their bitstreams inside its own container
and leaves out what the container already says:

* WebP: the VP8L bitstream without the 20-byte RIFF/VP8L chunk headers and without its 5-byte
  image header (signature, width, height, alpha and version bits): the decoder rebuilds all 25
  bytes from the width and height in nic's header.
* JPEG XL: the codestream without its 2-byte signature `FF 0A` (the codestream's own size
  header stays: it is bit-packed with what follows). libjxl is run at a few efforts and the
  shortest codestream is kept; efforts change only the encoder's search, so any libjxl decodes it.

* WebP lossy (codec/vp8.py): the VP8 key frame without the 20-byte RIFF/VP8 chunk headers and
  without the 7 bytes after its 3-byte frame tag (start code, width, height): 27 bytes of a
  32x32 image's 93 at WebP's smallest quality.

The lossless coders code 8-bit grey (H, W) or RGB (H, W, 3) images exactly; the caller passes the binned image
q for a max error (codec/adaptive.py `quantise`). Every body is decoded back before it is
offered, so an encoder's surprise (an unexpected header) costs the mode, never the pixels.
"""

import io
import struct

import numpy as np
from PIL import Image

from .errors import NicFormatError

__all__ = ["JXL_EFFORTS", "JXL_SMALL_EFFORTS", "webp_body", "decode_webp_body", "jxl_body",
           "decode_jxl_body", "vp8_body", "decode_vp8_body"]

# libwebp's strongest lossless search (method 6). exact keeps every value (it matters only under
# alpha). On large images method 6 takes seconds (3.2 s on a 512x512 photo, method 4: 0.1 s, 2 %
# bigger) where WebP seldom wins anyway (JPEG XL won all 14 whole photos): above
# _WEBP_QUICK_PIXELS the quicker search is used, so a 512x512 photo codes in well under 2 s.
_WEBP_OPTIONS = {"lossless": True, "quality": 100, "method": 6, "exact": True}
_WEBP_QUICK_PIXELS, _WEBP_QUICK_METHOD = 65536, 4
# imagecodecs' default effort is 5; 7 and 9 win on larger images (measured on the lossless bench
# groups: photos 2 % smaller than effort 5 alone). On small images the best effort varies from
# image to image and each costs a millisecond or two, so all from 2 to 9 are tried (CIFAR-10 in
# colour: 0.2 % smaller than 5, 7 and 9 alone).
JXL_EFFORTS = (5, 7, 9)
JXL_SMALL_EFFORTS = (2, 3, 4, 5, 6, 7, 8, 9)
_SMALL_PIXELS = 4096
_JXL_SIGNATURE = b"\xff\x0a"
_RIFF_HEADERS = 20  # "RIFF", size, "WEBP", "VP8L", chunk size


def webp_body(pixels: np.ndarray) -> bytes | None:
    """The VP8L bitstream of uint8 grey or RGB pixels without its 25 rebuildable bytes, or None
    if libwebp wrote a header this module would not rebuild."""
    options = dict(_WEBP_OPTIONS)
    if pixels.shape[0] * pixels.shape[1] > _WEBP_QUICK_PIXELS:
        options["method"] = _WEBP_QUICK_METHOD
    stream = _webp_chunk(pixels, b"VP8L", options)
    height, width = pixels.shape[:2]
    if stream is None or stream[:5] != _vp8l_header(width, height):
        return None
    body = stream[5:]
    return body if _same(decode_webp_body(body, width, height, _channels(pixels)), pixels) else None


def decode_webp_body(body: bytes, width: int, height: int, channels: int) -> np.ndarray:
    """Inverse of webp_body: uint8 (height, width) or (height, width, 3), or NicFormatError."""
    pixels = _decode_riff(b"VP8L", _vp8l_header(width, height) + body,
                          "WebP payload is not a valid VP8L bitstream")
    return _shaped(pixels if channels == 3 else pixels[:, :, 0], width, height, "WebP")


def _vp8l_header(width: int, height: int) -> bytes:
    """Signature 0x2F, then width - 1 and height - 1 in 14 bits each, alpha and version 0."""
    return b"\x2f" + struct.pack("<I", (width - 1) | (height - 1) << 14)


_VP8_TAG, _VP8_START = 3, b"\x9d\x01\x2a"  # frame tag bytes; a key frame's start code
# libwebp's strongest lossy search; its time is nothing next to the post-filter's.
_VP8_METHOD = 6


def vp8_body(rgb: np.ndarray, quality: int) -> bytes | None:
    """The VP8 key frame that libwebp codes an RGB uint8 (H, W, 3) image into at `quality`
    (0-100), without the 27 bytes decode_vp8_body rebuilds, or None if libwebp wrote a layout
    this module would not rebuild."""
    frame = _webp_chunk(rgb, b"VP8 ", {"quality": quality, "method": _VP8_METHOD})
    height, width = rgb.shape[:2]
    if frame is None or frame[_VP8_TAG : _VP8_TAG + 7] != _vp8_sizes(width, height) \
            or frame[0] & 1:
        return None  # not a key frame of this size without scaling
    return frame[:_VP8_TAG] + frame[_VP8_TAG + 7 :]


def _webp_chunk(pixels: np.ndarray, kind: bytes, options: dict) -> bytes | None:
    """The bitstream of the one `kind` chunk of the WebP file libwebp writes, or None."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, np.uint8)).save(buffer, "WEBP", **options)
    data = buffer.getvalue()
    if data[12:16] != kind:
        return None
    (size,) = struct.unpack("<I", data[16:20])
    return data[_RIFF_HEADERS : _RIFF_HEADERS + size]


def decode_vp8_body(body: bytes, width: int, height: int) -> np.ndarray:
    """Inverse of vp8_body: the decoded RGB uint8 (height, width, 3), or NicFormatError."""
    frame = body[:_VP8_TAG] + _vp8_sizes(width, height) + body[_VP8_TAG:]
    pixels = _decode_riff(b"VP8 ", frame, "VP8 payload is not a valid WebP key frame")
    return _shaped(pixels, width, height, "VP8")


def _decode_riff(kind: bytes, stream: bytes, invalid: str) -> np.ndarray:
    """RGB pixels of a WebP bitstream wrapped in the RIFF container it was taken out of."""
    chunk = kind + struct.pack("<I", len(stream)) + stream + b"\0" * (len(stream) % 2)
    riff = b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
    try:
        with Image.open(io.BytesIO(riff), formats=["WEBP"]) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, EOFError):
        raise NicFormatError(invalid) from None


def _vp8_sizes(width: int, height: int) -> bytes:
    """A key frame's start code, then width and height in 14 bits each (scale bits 0)."""
    return _VP8_START + struct.pack("<HH", width, height)


def jxl_body(pixels: np.ndarray) -> bytes | None:
    """The shortest JPEG XL lossless codestream of the efforts tried, without its signature
    (None if libjxl wrote something else, such as a container)."""
    from imagecodecs import jpegxl_encode

    image = np.ascontiguousarray(pixels, np.uint8)
    height, width = pixels.shape[:2]
    efforts = JXL_SMALL_EFFORTS if height * width <= _SMALL_PIXELS else JXL_EFFORTS
    best = min((jpegxl_encode(image, lossless=True, effort=effort, numthreads=1)
                for effort in efforts), key=len)
    if best[:2] != _JXL_SIGNATURE:
        return None
    body = best[2:]
    return body if _same(decode_jxl_body(body, width, height, _channels(pixels)), pixels) else None


def decode_jxl_body(body: bytes, width: int, height: int, channels: int) -> np.ndarray:
    """Inverse of jxl_body: uint8 (height, width) or (height, width, 3), or NicFormatError."""
    from imagecodecs import JpegxlError, jpegxl_decode

    claimed = _jxl_size(body)  # checked first, so a tiny body cannot make a huge image
    if claimed != (width, height):
        raise NicFormatError(f"JPEG XL payload codes {claimed[0]}x{claimed[1]} pixels, "
                             f"not {width}x{height}")
    try:
        pixels = jpegxl_decode(_JXL_SIGNATURE + body, numthreads=1)
    except (JpegxlError, ValueError, RuntimeError):
        raise NicFormatError("JPEG XL payload is not a valid codestream") from None
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    expected = (height, width) if channels == 1 else (height, width, 3)
    if pixels.dtype != np.uint8 or pixels.shape != expected:
        raise NicFormatError(f"JPEG XL payload codes a {pixels.shape} {pixels.dtype} image, "
                             f"not {width}x{height}x{channels} 8-bit")
    return pixels


# SizeHeader distributions (ISO/IEC 18181-1): a 2-bit selector, then 9, 13, 18 or 30 bits, plus 1.
_JXL_SIZE_BITS = (9, 13, 18, 30)
# Aspect ratios 1-7 give the width from the height: width = height * num // den.
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


def _jxl_size(body: bytes) -> tuple[int, int]:
    """(width, height) from the SizeHeader that starts a codestream after its signature."""
    bits = _BitReader(body)
    small = bits.read(1)

    def side() -> int:
        return (bits.read(5) + 1) * 8 if small else bits.read(_JXL_SIZE_BITS[bits.read(2)]) + 1

    height = side()
    ratio = bits.read(3)
    if ratio == 0:
        return side(), height
    num, den = _JXL_RATIOS[ratio]
    return height * num // den, height


class _BitReader:
    """Bits of a byte string, least significant bit of each byte first (JPEG XL's order)."""

    def __init__(self, data: bytes):
        head = data[:16]  # a SizeHeader takes at most 68 bits
        self.value, self.length, self.pos = int.from_bytes(head, "little"), 8 * len(head), 0

    def read(self, count: int) -> int:
        if self.pos + count > self.length:
            raise NicFormatError("JPEG XL payload is not a valid codestream")
        out = (self.value >> self.pos) & ((1 << count) - 1)
        self.pos += count
        return out


def _shaped(pixels: np.ndarray, width: int, height: int, name: str) -> np.ndarray:
    if pixels.shape[:2] != (height, width):
        raise NicFormatError(f"{name} payload codes {pixels.shape[1]}x{pixels.shape[0]} pixels, "
                             f"not {width}x{height}")
    return np.ascontiguousarray(pixels)


def _channels(pixels: np.ndarray) -> int:
    return 3 if pixels.ndim == 3 else 1


def _same(decoded: np.ndarray, pixels: np.ndarray) -> bool:
    return decoded.shape == pixels.shape and np.array_equal(decoded, pixels)
