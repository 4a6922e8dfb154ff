"""The Python API: encode images to .nic bytes and decode them back.

    data = codec.encode(image)                    # numpy uint8 (H, W) / (H, W, C) or a PIL image
    data = codec.encode(image, max_error=2)       # every pixel within +-2 grey levels
    data = codec.encode(image, lossless=True)     # bit-exact
    pixels = codec.decode(data)                   # numpy uint8 (H, W), original size and polarity

Quality levels 1-8 code only the latent (a few bytes); 9-14 add the residual layer
(codec/residual.py) with max_error 16, 8, 4, 2, 1 and 0 (lossless). The batch forms run the networks
once over many images, so per-image Python overhead stays small.
"""

from collections.abc import Iterable, Sequence

import numpy as np

from .entropy import decode_symbols, encode_symbols
from .errors import NicError, NicFormatError
from .format import Header, pack, unpack
from .images import Geometry, prepare, restore, to_grey
from .residual import SIZE, pixel_check
from .runtime import Model, load_model, load_model_by_id

__all__ = ["QUALITY_LEVELS", "encode", "decode", "encode_batch", "decode_batch", "inspect"]

LOSSY_LEVELS = (1, 2, 3, 4, 5, 6, 7, 8)  # 1: smallest files; 8: best latent-only quality
RESIDUAL_LEVELS = {9: 16, 10: 8, 11: 4, 12: 2, 13: 1, 14: 0}  # quality level -> max_error
QUALITY_LEVELS = LOSSY_LEVELS + tuple(RESIDUAL_LEVELS)
RESIDUAL_MODE = 128  # header quality byte 128 + k: the residual layer with max_error k
MAX_ERROR_LIMIT = 127


def encode(image, *, model: str = "mnist", quality: int | None = None,
           max_error: int | None = None, lossless: bool = False) -> bytes:
    """Compress one image into the bytes of a .nic file.

    Args:
        image: numpy uint8 array (H, W) or (H, W, C), or a PIL image, any size and mode.
        model: name of an installed model (see `nic models`).
        quality: one of QUALITY_LEVELS; None picks the model's default.
        max_error: code every pixel within +-max_error grey levels (needs a 28x28 image).
        lossless: bit-exact, the same as max_error=0.
    Returns:
        The complete .nic file.
    """
    return encode_batch([image], model=model, quality=quality, max_error=max_error,
                        lossless=lossless)[0]


def decode(data: bytes) -> np.ndarray:
    """Decompress the bytes of a .nic file into uint8 pixels (H, W) at the original size.

    Raises:
        NicFormatError: the bytes are not a valid .nic file, or (residual modes) the decoded
            pixels fail the file's pixel check.
        NicModelError: the file needs a model that is not installed.
    """
    return decode_batch([data])[0]


def encode_batch(images: Iterable, *, model: str = "mnist", quality: int | None = None,
                 max_error: int | None = None, lossless: bool = False) -> list[bytes]:
    """Compress many images at once; returns a list of .nic files (bytes)."""
    net = load_model(model)
    max_error = _max_error(quality, max_error, lossless)
    if max_error is not None:
        quality = _residual_model(net).base_quality
    elif quality is None:
        quality = net.default_quality
    table = _level_table(net, quality)
    prepared = [prepare(to_grey(image), net.input_size) for image in images]
    if not prepared:
        return []
    model_images = np.stack([model_image for model_image, _ in prepared])
    symbols = table.quantize(net.encode_latents(model_images))
    payloads = [encode_symbols(row, table) for row in symbols]
    if max_error is None:
        headers = [_header(net, quality, geometry) for _, geometry in prepared]
    else:
        payloads = _add_residuals(net, model_images, prepared, symbols, payloads, max_error)
        headers = [_header(net, RESIDUAL_MODE + max_error, g) for _, g in prepared]
    return [pack(header, payload) for header, payload in zip(headers, payloads)]


def _max_error(quality, max_error, lossless) -> int | None:
    """The residual layer's max_error asked for, or None for a latent-only file."""
    if lossless:
        return 0
    if max_error is not None:
        if isinstance(max_error, bool) or not 0 <= int(max_error) <= MAX_ERROR_LIMIT:
            raise NicError(f"max_error must be between 0 and {MAX_ERROR_LIMIT}, got {max_error}")
        return int(max_error)
    return RESIDUAL_LEVELS.get(quality)


def _add_residuals(net, model_images, prepared, symbols, payloads, max_error) -> list[bytes]:
    """Latent payloads -> latent + residual + pixel check, for 28x28 images only."""
    residual = _residual_model(net)
    for _, geometry in prepared:
        if (geometry.width, geometry.height) != (SIZE, SIZE):
            raise NicError(
                f"max_error and lossless modes code 28x28 images; this one is "
                f"{geometry.width}x{geometry.height}"
            )
    table = net.tables[residual.base_quality]
    x_hats = net.decode_latents(table.dequantize(symbols))
    coded = []
    for image, x_hat, latent in zip(model_images, x_hats, payloads):
        body, decoded = residual.encode(image, x_hat, max_error)
        coded.append(bytes([len(latent)]) + latent + body + pixel_check(decoded))
    return coded


def decode_batch(files: Sequence[bytes]) -> list[np.ndarray]:
    """Decompress many .nic files at once; returns uint8 arrays at their original sizes."""
    parsed = [unpack(data) for data in files]
    latents, nets, residuals = [], [], []
    for header, payload in parsed:
        net = load_model_by_id(header.model_id)
        quality, latent_payload, residual_part = _split(net, header, payload)
        table = _level_table(net, quality, error=NicFormatError)
        latents.append(table.dequantize(decode_symbols(latent_payload, table)[None])[0])
        nets.append(net)
        residuals.append(residual_part)
    decoded = [None] * len(parsed)
    for net in {id(n): n for n in nets}.values():  # one decoder run per model in the batch
        rows = [i for i, n in enumerate(nets) if n is net]
        images = net.decode_latents(np.stack([latents[i] for i in rows]))
        for i, image in zip(rows, images):
            header = parsed[i][0]
            if residuals[i] is not None:
                image = _decode_residual(net, header, image, residuals[i])
            decoded[i] = restore(image, Geometry(header.width, header.height, header.inverted))
    return decoded


def _split(net: Model, header: Header, payload: bytes):
    """(lossy quality, latent payload, residual body + pixel check or None) of one file."""
    if header.quality < RESIDUAL_MODE:
        return header.quality, payload, None
    residual = _residual_model(net, error=NicFormatError)
    if (header.width, header.height) != (SIZE, SIZE):
        raise NicFormatError("a residual-mode file must be 28x28")
    if len(payload) < 3 or payload[0] + 3 > len(payload):
        raise NicFormatError("residual-mode payload is too short")
    end = 1 + payload[0]
    return residual.base_quality, payload[1:end], payload[end:]


def _decode_residual(net: Model, header: Header, x_hat: np.ndarray, part: bytes) -> np.ndarray:
    # The file's CRC already passed, so a residual that does not decode, or decodes to pixels
    # that fail their check, means this decoder's x_hat differs from the encoder's.
    mismatch = ("pixel check failed: this decoder's network output differs from the encoder's, "
                "so the residual cannot be decoded exactly here")
    try:
        pixels = net.residual.decode(part[:-2], x_hat, header.quality - RESIDUAL_MODE)
    except NicFormatError:
        raise NicFormatError(mismatch) from None
    if pixel_check(pixels) != part[-2:]:
        raise NicFormatError(mismatch)
    return pixels


def inspect(data: bytes) -> dict:
    """What a .nic file holds, without decoding the image."""
    header, payload = unpack(data)
    net = load_model_by_id(header.model_id)
    residual = header.quality >= RESIDUAL_MODE
    max_error = header.quality - RESIDUAL_MODE if residual else None
    mode = "lossy" if not residual else ("lossless" if max_error == 0 else "near-lossless")
    return {
        "format_version": header.version,
        "model": net.name,
        "model_id": header.model_id,
        "mode": mode,
        "quality": _level_of(header.quality),
        "max_error": max_error,
        "width": header.width,
        "height": header.height,
        "inverted": header.inverted,
        "file_bytes": len(data),
        "header_bytes": len(data) - len(payload),  # header and check
        "payload_bytes": len(payload),
    }


def _level_of(quality_byte: int) -> int | None:
    if quality_byte < RESIDUAL_MODE:
        return quality_byte
    by_error = {k: level for level, k in RESIDUAL_LEVELS.items()}
    return by_error.get(quality_byte - RESIDUAL_MODE)


def _residual_model(net: Model, error: type = NicError):
    if net.residual is None:
        raise error(f"model {net.name!r} has no residual layer (lossless and max_error modes)")
    return net.residual


def _level_table(net: Model, quality: int, error: type = NicError):
    if quality not in LOSSY_LEVELS or quality not in net.tables.levels:
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
