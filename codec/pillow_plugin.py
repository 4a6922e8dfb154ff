"""Pillow plugin: after `import codec`, Image.open("x.nic") decodes and im.save("y.nic") encodes.

Modelled on Pillow's QoiImagePlugin: `_accept` checks the magic, `_open` reads the header into
size and mode, and a Python decoder runs the codec when the pixels are needed. Saving passes
`quality=` and `model=` through to `codec.encode`, so the bytes are exactly codec.encode's.
"""

from PIL import Image, ImageFile

from .errors import NicError, NicFormatError
from .format import EXTENSION, MAGIC, MAX_PAYLOAD_V4, MIME_TYPE, unpack

__all__ = ["NicImageFile"]

_MAX_FILE = MAX_PAYLOAD_V4 + 64  # the largest valid file, with room for every header field


def _accept(prefix: bytes) -> bool:
    return prefix[: len(MAGIC)] == MAGIC


class NicImageFile(ImageFile.ImageFile):
    format = "NIC"
    format_description = "nic neural image codec"

    def _open(self) -> None:
        data = self.fp.read(_MAX_FILE + 1)
        try:
            header, _ = unpack(data)
        except NicFormatError as error:
            raise SyntaxError(f"not a valid .nic file: {error}") from None
        self._size = (header.width, header.height)
        self._mode = "RGB" if header.channels == 3 else "L"
        self.info["nic_quality"] = header.quality
        self.info["nic_model_id"] = header.model_id
        self.tile = [ImageFile._Tile("nic", (0, 0, *self._size), 0)]


class _NicDecoder(ImageFile.PyDecoder):
    _pulls_fd = True

    def decode(self, buffer) -> tuple[int, int]:
        from .api import decode

        self.fd.seek(0)
        try:
            pixels = decode(self.fd.read(_MAX_FILE + 1))
        except NicError as error:
            raise OSError(f"cannot decode .nic data: {error}") from None
        self.set_as_raw(pixels.tobytes())
        return -1, 0


def _save(image: Image.Image, fp, filename) -> None:
    from .api import encode

    options = image.encoderinfo
    fp.write(encode(image, model=options.get("model", "auto"), quality=options.get("quality"),
                    max_error=options.get("max_error"), lossless=options.get("lossless", False),
                    strict=options.get("strict", False)))


Image.register_open(NicImageFile.format, NicImageFile, _accept)
Image.register_decoder("nic", _NicDecoder)
Image.register_save(NicImageFile.format, _save)
Image.register_extension(NicImageFile.format, EXTENSION)
Image.register_mime(NicImageFile.format, MIME_TYPE)
