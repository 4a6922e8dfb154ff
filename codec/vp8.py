"""The VP8 model (`cifar-vp8`): WebP's lossy coder with nic's header and a learned post-filter.

A CVAE trained on 3,500 small photos cannot match a classical coder's rate for small colour
images. This model does not try: libwebp codes the image at its own size (codec/classical.py
`vp8_body`, without the 27 bytes nic's header makes redundant), and the decoder runs a small
convolutional filter trained on WebP's decodes of the training photos (`nic train --task vp8`,
codec/train/filter.py), which takes out part of the coding error. The encoder has the filter,
so it keeps it only for images it improves: the quality byte says which (docs/FORMAT.md).

Quality byte: level 1-8 (the card's `webp_qualities` give libwebp's quality for each), plus
FILTER_OFF when the decoder must show VP8's decode as it is. Levels 9-14 are the colour exact
and max-error files every colour model writes (codec/colour.py).
"""

import numpy as np

from .classical import decode_vp8_body, vp8_body
from .errors import NicFormatError
from .fidelity import psnr_per_image
from .format import Header, pack
from .runtime import Model

__all__ = ["FILTER_OFF", "is_vp8", "webp_qualities", "coded", "vp8_files",
           "decode_vp8_files", "level_of"]

FILTER_OFF = 64  # added to the level in the quality byte: decode without the post-filter
# Above this many pixels the filter is not run (it keeps 32 float channels per pixel: a
# 12-megapixel photo would need gigabytes); such files are VP8's decode as it is.
MAX_FILTERED_PIXELS = 1 << 20


def is_vp8(net: Model) -> bool:
    return net.card.get("kind") == "vp8"


def webp_qualities(net: Model) -> dict[int, int]:
    """Level -> libwebp quality (0-100), from the card."""
    return {int(level): quality for level, quality in net.card["webp_qualities"].items()}


def coded(rgb: np.ndarray, quality: int) -> tuple[bytes, np.ndarray]:
    """(body, VP8's decode) of one RGB uint8 image at libwebp `quality`."""
    body = vp8_body(rgb, quality)
    if body is None:  # a libwebp that writes another layout: nic cannot store it
        raise NicFormatError("libwebp wrote a WebP layout nic does not store (not a plain VP8 "
                             "key frame)")
    return body, decode_vp8_body(body, rgb.shape[1], rgb.shape[0])


def _psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    return float(psnr_per_image(original[None], decoded[None])[0])


def post_filter(net: Model, images: list) -> list:
    """The model's filter on each image (one call per image size); images too large for it
    come back unchanged."""
    out = list(images)
    sizes = {image.shape for image in images if image.shape[0] * image.shape[1]
             <= MAX_FILTERED_PIXELS}
    for shape in sizes:
        rows = [i for i, image in enumerate(images) if image.shape == shape]
        for i, image in zip(rows, net.filter(np.stack([images[i] for i in rows]))):
            out[i] = image
    return out


def vp8_files(net: Model, rgbs: list, level: int | None) -> list[dict]:
    """Each RGB image coded at its own size: auto climbs the levels from the default until the
    decode reaches the card's PSNR floor (the last level is kept either way); an explicit
    level is obeyed. Returns, per image, the file (`data`), its `level`, whether auto
    `escalated`, and its `psnr` (dB) against the image."""
    qualities = webp_qualities(net)
    start = level or net.default_quality
    rungs = [start] if level else [q for q in sorted(qualities) if q >= start]
    floor = net.card.get("fidelity", {}).get("psnr_floor_db", -np.inf)
    results = [None] * len(rgbs)
    for rung in rungs:
        rows = [i for i, result in enumerate(results) if result is None]
        if not rows:
            break
        bodies, plain = zip(*(coded(rgbs[i], qualities[rung]) for i in rows))
        filtered = post_filter(net, list(plain))
        for i, body, p, f in zip(rows, bodies, plain, filtered):
            # the encoder has the filter: it keeps it only where it comes closer to the image
            plain_db, filtered_db = _psnr(rgbs[i], p), _psnr(rgbs[i], f)
            on, psnr = filtered_db > plain_db, max(plain_db, filtered_db)
            if psnr < floor and rung != rungs[-1]:
                continue
            height, width = rgbs[i].shape[:2]
            header = Header(net.model_id, rung if on else rung + FILTER_OFF, width, height,
                            channels=3)
            results[i] = {"data": pack(header, body), "level": rung, "escalated": rung != start,
                          "psnr": psnr, "floor": floor}
    return results


def decode_vp8_files(net: Model, files: list[tuple[Header, bytes]]) -> list[np.ndarray]:
    """The RGB images of this model's (header, payload) pairs, filtered as each file says."""
    plain, filter_on = [], []
    for header, payload in files:
        level, on = level_of(header.quality)
        if level not in webp_qualities(net):
            raise NicFormatError(f"model {net.name!r} has no level {level}")
        plain.append(decode_vp8_body(payload, header.width, header.height))
        filter_on.append(on)
    rows = [i for i, on in enumerate(filter_on) if on]
    filtered = post_filter(net, [plain[i] for i in rows])
    for i, image in zip(rows, filtered):
        plain[i] = image
    return plain


def level_of(quality_byte: int) -> tuple[int, bool]:
    """(level, filter on) of a quality byte."""
    return (quality_byte - FILTER_OFF, False) if quality_byte > FILTER_OFF else (quality_byte, True)
