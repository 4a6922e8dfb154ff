"""Lossless and max-error files at the image's own size (format version 3, docs/FORMAT.md).

A version-3 residual payload starts with a mode byte; the encoder writes every mode that applies
and keeps the smallest file, so no mode ever makes a file bigger than another would:

    0      STORED    the pixels as they are, row-major: never more than raw pixels + a few bytes
    1      ADAPTIVE  codec/adaptive.py: interlaced passes under a per-pixel Laplace that adapts
    2      WEBP      libwebp's lossless coder (VP8L) inside nic's container (codec/classical.py)
    3      JXL       libjxl's lossless coder (a JPEG XL codestream) inside nic's container
    16+r   GUIDED    codec/guided.py (28x28): around the network's x_hat, rounded with offset r
    32+r   GUIDED    the same, with a check of the decoded pixels (x_hat was close to a rounding
                     edge under every r, so another runtime might round it otherwise); still
                     decoded, no longer written: such an image takes a network-free mode

Modes 2 and 3 are not nic's own coders: they are libwebp's and libjxl's, whose bitstreams nic
stores without the headers its container makes redundant. They win where those libraries beat
the adaptive coder (WebP on typeset text, JPEG XL on photos), so where they are tried a nic file
is never bigger than libwebp's .webp file (nic's header is smaller than the 25 bytes it leaves
out) and at most its header and check, less 2 bytes, bigger than libjxl's codestream at the
efforts codec/classical.py tries. Stored, adaptive, WebP and JPEG XL run no network, so they
decode without the model.

To stay fast the encoder does not code every mode: a 28x28 image with a guided model is coded
guided, and adaptive, WebP and JPEG XL are tried only when the guided file is not small (an
image unlike the model's data). Models without guided tables still use the MNIST-tuned residual
layer (codec/residual.py, version-1 layout) for 28x28 images when it is smaller.

Only grey 8-bit pixels can be coded exactly: colour, alpha and 16-bit inputs are refused here
with one line (a grey image stored as RGB with R = G = B, or with an opaque alpha, is grey).
"""

import numpy as np
from PIL import Image

import constriction

from .adaptive import decode_adaptive, dequantise, encode_adaptive, quantise
from .classical import decode_jxl_body, decode_webp_body, jxl_body, webp_body
from .entropy import FAMILY, stream_words
from .errors import NicFormatError, NicInputError
from .guided import OFFSETS, robust_rounding, x_hat_at
from .residual import pixel_check

__all__ = ["MODE_STORED", "MODE_ADAPTIVE", "MODE_WEBP", "MODE_JXL", "MODE_GUIDED",
           "MODE_GUIDED_CHECKED", "mode_name", "exact_grey", "exact_payload", "classical_payloads",
           "decode_classical", "decode_exact_payload", "guided_payloads", "decode_guided",
           "is_guided"]

MODE_STORED, MODE_ADAPTIVE, MODE_WEBP, MODE_JXL = 0, 1, 2, 3
MODE_GUIDED, MODE_GUIDED_CHECKED = 16, 32
_NAMES = {MODE_STORED: "stored", MODE_ADAPTIVE: "adaptive", MODE_WEBP: "webp", MODE_JXL: "jxl"}
_CLASSICAL = {MODE_WEBP: (webp_body, decode_webp_body), MODE_JXL: (jxl_body, decode_jxl_body)}
# Adaptive, WebP and JPEG XL are tried beside a guided file only above this many bits per pixel:
# below it the guided coder wins on everything measured, and coding them too would halve the speed.
ADAPTIVE_WORTH_BPP = 3.0
_CHUNK = 128  # images per vectorised guided pass: bounds the (images, pixels, 256) arrays


def mode_name(mode: int) -> str:
    """stored, adaptive, webp, jxl, guided or unknown: how a version-3 payload is coded."""
    return "guided" if is_guided(mode) else _NAMES.get(mode, "unknown")


def is_guided(mode: int) -> bool:
    return MODE_GUIDED <= mode < MODE_GUIDED_CHECKED + OFFSETS


def exact_grey(image) -> np.ndarray:
    """The grey uint8 (H, W) pixels of an image that holds nothing else, or NicInputError.

    Lossless means every channel and bit back: colour, transparency and 16-bit depth would be
    dropped by a grey coder, so they are refused rather than reported as lossless.
    """
    if isinstance(image, Image.Image):
        image = _pil_pixels(image)
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or 0 in image.shape[:2]:
        raise NicInputError("lossless and max-error coding needs a non-empty (H, W) or (H, W, C) "
                            "image array")
    if image.dtype != np.uint8:
        raise NicInputError(f"lossless and max-error coding takes 8-bit grey or RGB; this image is "
                            f"{image.dtype}, which it would not keep (convert it to 8 bits "
                            "first)")
    if image.ndim == 2:
        return image.copy()
    channels = image.shape[2]
    if channels in (2, 4) and (image[:, :, -1] != 255).any():
        raise NicInputError("lossless and max-error coding takes grey or RGB without "
                            "transparency; this image has an alpha channel that is not opaque, "
                            "which it would not keep")
    if channels in (3, 4) and ((image[:, :, 0] != image[:, :, 1]) |
                               (image[:, :, 0] != image[:, :, 2])).any():
        raise NicInputError("lossless and max-error coding takes this colour image only as 8-bit "
                            "RGB without transparency")
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
        raise NicInputError(f"lossless and max-error coding takes 8-bit grey or RGB; this image is "
                            f"mode {image.mode}, which it would not keep (convert it to 8 bits "
                            "first)")
    raise NicInputError(f"lossless and max-error coding takes 8-bit grey or RGB; this image is "
                        f"mode {image.mode}")


def exact_payload(pixels: np.ndarray, max_error: int, guided: bytes | None = None,
                  classical: bool = True) -> bytes:
    """The smallest version-3 residual payload of grey uint8 pixels within +-max_error, given
    the guided payload if there is one (the other coders then run only when they may win).
    `classical=False` leaves out WebP and JPEG XL (colour planes: they never won there)."""
    candidates = [bytes([MODE_STORED]) + np.ascontiguousarray(pixels, np.uint8).tobytes()]
    if guided is not None:
        candidates.append(guided)
    if guided is None or 8 * len(guided) > ADAPTIVE_WORTH_BPP * pixels.size:
        q, top = quantise(pixels, max_error)
        candidates.append(bytes([MODE_ADAPTIVE]) + encode_adaptive(q, top))
        if classical:
            candidates += classical_payloads(q, tuple(_CLASSICAL))
    return min(candidates, key=len)


def classical_payloads(q: np.ndarray, modes: tuple[int, ...]) -> list[bytes]:
    """Mode byte and body of q (grey or RGB, values 0..255) in each of `modes` (MODE_WEBP,
    MODE_JXL) whose library made a body (one may decline; codec/classical.py)."""
    q8 = q.astype(np.uint8)
    bodies = [(mode, _CLASSICAL[mode][0](q8)) for mode in modes]
    return [bytes([mode]) + body for mode, body in bodies if body is not None]


def decode_classical(mode: int, body: bytes, width: int, height: int, channels: int,
                     max_error: int) -> np.ndarray:
    """The pixels of a WebP or JPEG XL body of q: dequantised, within max_error."""
    return dequantise(_CLASSICAL[mode][1](body, width, height, channels), max_error)


def guided_payloads(net, images: np.ndarray, max_error: int) -> list[bytes | None]:
    """Guided payloads (mode, one stream: latent then pixels) of 28x28 images; None for an
    image whose x_hat no rounding keeps safe from another runtime's float differences (a file
    for it would need the pixel check of modes 32-47 and could be refused elsewhere: the
    network-free modes decode everywhere, for a few bytes more).

    `net` is a codec Model (or anything with its encode_latents, decode_floats, tables and
    residual): the cross-runtime tool passes one whose networks are the Keras originals.
    """
    guided, table = net.residual.guided, net.tables[net.residual.base_quality]
    payloads = []
    for start in range(0, len(images), _CHUNK):
        part = images[start : start + _CHUNK]
        symbols = table.quantize(net.encode_latents(part))
        floats = net.decode_floats(table.dequantize(symbols))
        rounding = robust_rounding(floats)
        x_hat = x_hat_at(floats, np.maximum(rounding, 0))
        streams = guided.encode(symbols, table.probabilities, part, x_hat, max_error)
        payloads += [bytes([MODE_GUIDED + r]) + stream if r >= 0 else None
                     for r, stream in zip(rounding, streams)]
    return payloads


def decode_guided(net, payloads: list[bytes], max_errors: list[int]) -> list[np.ndarray]:
    """Inverse of guided_payloads for many files of one model: 28x28 uint8 images."""
    guided, table = net.residual.guided, net.tables[net.residual.base_quality]
    heads = [_guided_head(payload) for payload in payloads]
    decoders, latents = [], []
    for rounding, check, stream in heads:
        decoder = constriction.stream.queue.RangeDecoder(stream_words(stream))
        latents.append(_decoded(lambda: decoder.decode(FAMILY, table.probabilities)))
        decoders.append(decoder)
    floats = net.decode_floats(table.dequantize(np.stack(latents)))
    x_hat = x_hat_at(floats, np.array([rounding for rounding, _, _ in heads]))
    out = [None] * len(payloads)
    for k in sorted(set(max_errors)):  # one vectorised run per max error
        rows = [i for i, e in enumerate(max_errors) if e == k]
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            pixels = _decoded(lambda: guided.decode_passes(
                [decoders[i] for i in chunk], x_hat[chunk], k))
            for i, image in zip(chunk, pixels):
                out[i] = image
    for (_, check, _), image in zip(heads, out):
        if check is not None and pixel_check(image) != check:
            raise NicFormatError("pixel check failed: this decoder's network output differs "
                                 "from the encoder's, so the file cannot be decoded exactly here")
    return out


def _guided_head(payload: bytes) -> tuple[int, bytes | None, bytes]:
    """(rounding r, pixel check or None, stream) of a guided payload."""
    mode = payload[0]
    if mode >= MODE_GUIDED_CHECKED:
        if len(payload) < 3:
            raise NicFormatError("guided payload is too short for its pixel check")
        return mode - MODE_GUIDED_CHECKED, payload[1:3], payload[3:]
    return mode - MODE_GUIDED, None, payload[1:]


def _decoded(run):
    """run(), with constriction's complaints about a stream as NicFormatError."""
    try:
        return run()
    except (AssertionError, ValueError):
        raise NicFormatError("guided payload is not a valid range-coded stream") from None


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
    if mode in _CLASSICAL:
        return decode_classical(mode, body, width, height, 1, max_error)
    if is_guided(mode):
        raise NicFormatError("a guided payload decodes only with its model")  # api routes it
    raise NicFormatError(f"unknown residual mode {mode} (this nic knows modes 0 to 3, 16 to 47)")
