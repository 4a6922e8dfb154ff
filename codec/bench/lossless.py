"""`nic bench --task lossless`: nic's lossless files against PNG, WebP and JPEG XL lossless on grey
images unlike MNIST (grey_sets.py: other handwriting, CIFAR-10 crops, photo crops, typeset
digits and text, whole photos).

Every codec codes every image of a group; a group's figure is its total bytes over its total
pixels (bits per pixel), whole files as stored, each decoded and compared pixel for pixel. The
classical codecs are codecs.py's registry entries, so their settings are the rate-distortion
bench's (PNG optimize, WebP method 6, libjxl default effort, one thread each).
"""

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ..api import decode_batch, encode_batch, inspect
from ..errors import NicError
from ..files import write_atomic
from .codecs import CODECS
from .grey_sets import GROUPS, build_sets

__all__ = ["ANCHORS", "run_lossless_bench", "print_lossless_report"]

ANCHORS = ("png", "webp-lossless", "jpegxl-lossless")


def run_lossless_bench(limit: int | None = None, out: Path | None = None, seed: int = 0,
                       groups=None) -> dict:
    """Bench lossless coding on every grey group; writes lossless.json into `out`.

    Args:
        limit: images per group (default 200; the photos group holds what scikit-image ships).
        out: output folder [default: bench-out/lossless].
        seed: the set builder's seed: the same seed builds the same pixels.
        groups: names from grey_sets.GROUPS (default: all).
    """
    count = 200 if limit is None else limit
    if count < 1:
        raise NicError(f"--limit must be at least 1, not {count}")
    sets = build_sets(count, seed, groups or list(GROUPS))
    anchors = [CODECS[name]("lossless") for name in ANCHORS]
    anchors = [c for c in anchors if not c.unavailable()]
    rows = []
    for group, images in sets.items():
        rows.append(_measure(group, "nic", images, _nic_encode, _nic_decode))
        for codec in anchors:
            rows.append(_measure(group, codec.name, images,
                                 lambda ims, c=codec: c.encode(ims, None),
                                 lambda files, c=codec: [c.decode([f], None)[0] for f in files]))
    out = Path(out) if out is not None else Path("bench-out") / "lossless"
    result = {"command": f"nic bench --task lossless --limit {count} --out {out}",
              "seed": seed, "results": rows, "summary": _summary(rows),
              "mnist_speed": _mnist_speed(min(count * 10, 2000))}
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "lossless.json", (json.dumps(result, indent=1) + "\n").encode(), force=True)
    return result


def _mnist_speed(count: int) -> dict:
    """Lossless 28x28 speed on MNIST test images (the guided coder), in one batch each way."""
    from ..data import load_dataset

    images = list(load_dataset("mnist")[2][:count])
    row = _measure("mnist-test", "nic", images, _nic_encode, _nic_decode)
    return {key: row[key] for key in ("images", "bpp", "exact", "encode_images_per_s",
                                      "decode_images_per_s", "modes")}


def _nic_encode(images):  # one process, as the anchors run: the speeds compare one core each
    return encode_batch(images, lossless=True, jobs=1)


def _nic_decode(files):
    return decode_batch(files, jobs=1)


def _measure(group: str, name: str, images: list, encode, decode) -> dict:
    """Timed encode and decode of a group by one codec; sizes, bits per pixel, exactness."""
    start = time.perf_counter()
    files = encode(images)
    encoded = time.perf_counter()
    decoded = decode(files)
    done = time.perf_counter()
    pixels = sum(image.size for image in images)
    total = sum(map(len, files))
    exact = all(d.shape == i.shape and np.array_equal(d, i) for d, i in zip(decoded, images))
    row = {"group": group, "codec": name, "images": len(images), "pixels": int(pixels),
           "bytes": int(total), "bpp": round(8 * total / pixels, 4), "exact": bool(exact),
           "encode_images_per_s": round(len(images) / (encoded - start), 1),
           "decode_images_per_s": round(len(images) / (done - encoded), 1)}
    if name == "nic":  # how many images each version-3 mode won (the encoder keeps the smallest)
        row["modes"] = dict(Counter(inspect(f)["coding"] for f in files).most_common())
    return row


def _summary(rows: list[dict]) -> list[str]:
    """Per group: nic against the best anchor, and whether nic is at or below it."""
    lines = []
    for group in dict.fromkeys(r["group"] for r in rows):
        nic = next(r for r in rows if r["group"] == group and r["codec"] == "nic")
        others = [r for r in rows if r["group"] == group and r["codec"] != "nic"]
        if not others:
            lines.append(f"{group}: nic {nic['bpp']:.3f} bpp (no anchor available)")
            continue
        best = min(others, key=lambda r: r["bytes"])
        verdict = "at or below" if nic["bytes"] <= best["bytes"] else "ABOVE"
        modes = ", ".join(f"{mode} {n}" for mode, n in nic["modes"].items())
        change = 100 * (nic["bytes"] / best["bytes"] - 1)
        lines.append(f"{group}: nic {nic['bpp']:.3f} bpp, best anchor {best['codec']} "
                     f"{best['bpp']:.3f} ({verdict}; {change:+.1f} %); nic's modes: {modes}")
    return lines


def print_lossless_report(result: dict) -> None:
    """One table row per group and codec, then the summary lines."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="lossless, grey images unlike MNIST")
    for header in ("group", "codec", "images", "bpp", "exact", "enc img/s", "dec img/s"):
        table.add_column(header, justify="left" if header in ("group", "codec") else "right")
    for r in result["results"]:
        table.add_row(r["group"], r["codec"], str(r["images"]), f"{r['bpp']:.3f}",
                      "yes" if r["exact"] else "NO", f"{r['encode_images_per_s']:.0f}",
                      f"{r['decode_images_per_s']:.0f}")
    console = Console()
    console.print(table)
    for line in result["summary"]:
        console.print(line, highlight=False, soft_wrap=True)
    speed = result["mnist_speed"]
    console.print(f"MNIST 28x28 lossless, {speed['images']} test images: {speed['bpp']:.3f} bpp, "
                  f"encode {speed['encode_images_per_s']:.0f} images/s, decode "
                  f"{speed['decode_images_per_s']:.0f} images/s (one core)", highlight=False)
