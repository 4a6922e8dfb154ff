"""The Python API: encode images to .nic bytes and decode them back.

    data = codec.encode(image)            # numpy uint8 (H, W) / (H, W, C) or a PIL image
    pixels = codec.decode(data)           # numpy uint8 (H, W), original size and polarity

The batch forms run the networks once over many images, so per-image Python overhead stays small.
"""

from collections.abc import Iterable, Sequence

import numpy as np

from .entropy import decode_symbols, encode_symbols
from .errors import NicError, NicFormatError
from .format import Header, pack, unpack
from .images import Geometry, prepare, restore, to_grey
from .runtime import Model, load_model, load_model_by_id

__all__ = ["QUALITY_LEVELS", "encode", "decode", "encode_batch", "decode_batch", "inspect"]

QUALITY_LEVELS = (1, 2, 3, 4, 5, 6, 7, 8)  # 1: smallest files; 8: best lossy quality


def encode(image, *, model: str = "mnist", quality: int | None = None) -> bytes:
    """Compress one image into the bytes of a .nic file.

    Args:
        image: numpy uint8 array (H, W) or (H, W, C), or a PIL image, any size and mode.
        model: name of an installed model (see `nic models`).
        quality: one of QUALITY_LEVELS; None picks the model's default.
    Returns:
        The complete .nic file.
    """
    return encode_batch([image], model=model, quality=quality)[0]


def decode(data: bytes) -> np.ndarray:
    """Decompress the bytes of a .nic file into uint8 pixels (H, W) at the original size.

    Raises:
        NicFormatError: the bytes are not a valid .nic file.
        NicModelError: the file needs a model that is not installed.
    """
    return decode_batch([data])[0]


def encode_batch(images: Iterable, *, model: str = "mnist", quality: int | None = None):
    """Compress many images at once; returns a list of .nic files (bytes)."""
    net = load_model(model)
    quality = net.default_quality if quality is None else quality
    table = _level_table(net, quality)
    prepared = [prepare(to_grey(image), net.input_size) for image in images]
    if not prepared:
        return []
    model_images = np.stack([model_image for model_image, _ in prepared])
    symbols = table.quantize(net.encode_latents(model_images))
    return [
        pack(_header(net, quality, geometry), encode_symbols(row, table))
        for row, (_, geometry) in zip(symbols, prepared)
    ]


def decode_batch(files: Sequence[bytes]) -> list[np.ndarray]:
    """Decompress many .nic files at once; returns uint8 arrays at their original sizes."""
    parsed = [unpack(data) for data in files]
    latents, nets = [], []
    for header, payload in parsed:
        net = load_model_by_id(header.model_id)
        table = _level_table(net, header.quality, error=NicFormatError)
        latents.append(table.dequantize(decode_symbols(payload, table)[None])[0])
        nets.append(net)
    decoded = [None] * len(parsed)
    for net in {id(n): n for n in nets}.values():  # one decoder run per model in the batch
        rows = [i for i, n in enumerate(nets) if n is net]
        images = net.decode_latents(np.stack([latents[i] for i in rows]))
        for i, image in zip(rows, images):
            header = parsed[i][0]
            decoded[i] = restore(image, Geometry(header.width, header.height, header.inverted))
    return decoded


def inspect(data: bytes) -> dict:
    """What a .nic file holds, without decoding the image."""
    header, payload = unpack(data)
    net = load_model_by_id(header.model_id)
    return {
        "format_version": header.version,
        "model": net.name,
        "model_id": header.model_id,
        "quality": header.quality,
        "width": header.width,
        "height": header.height,
        "inverted": header.inverted,
        "file_bytes": len(data),
        "header_bytes": len(data) - len(payload),  # header and check
        "payload_bytes": len(payload),
    }


def _level_table(net: Model, quality: int, error: type = NicError):
    if quality not in QUALITY_LEVELS or quality not in net.tables.levels:
        levels = ", ".join(map(str, QUALITY_LEVELS))
        raise error(f"quality {quality} is not a level of model {net.name!r} ({levels})")
    return net.tables[quality]


def _header(net: Model, quality: int, geometry: Geometry) -> Header:
    """The header of one file; its geometry is the decoded image's (2x the input for SR)."""
    scale = 28 // net.input_size
    return Header(
        model_id=net.model_id, quality=int(quality), width=geometry.width * scale,
        height=geometry.height * scale, inverted=geometry.inverted,
    )
