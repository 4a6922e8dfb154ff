"""Archive bench: a dataset's test set packed into one .nicpack at the default level and
lossless, with sizes, the bit-exact check and the speed with one worker and with all cores.

    nic bench --task archive --dataset mnist     # archive.json in the output folder
"""

import json
import time
from pathlib import Path

import numpy as np

from ..api import decode_batch, encode_detailed
from ..archive import open_archive, pack_archive
from ..data import load_dataset
from ..parallel import cpu_count

__all__ = ["run_archive_bench", "print_archive_report"]

MODES = {"default": {}, "lossless": {"lossless": True}}


def run_archive_bench(dataset: str, limit: int | None, out: Path) -> dict:
    """Pack, unpack and time; returns (and writes to out/archive.json) the figures."""
    _, _, images, labels = load_dataset(dataset)
    images, labels = images[:limit], labels[:limit]
    out.mkdir(parents=True, exist_ok=True)
    jobs = sorted({1, cpu_count()})
    result = {"dataset": dataset, "images": len(images), "cores": cpu_count(), "modes": {}}
    for mode, options in MODES.items():
        result["modes"][mode] = _one_mode(images, labels, options, jobs, out / f"{mode}.nicpack")
    (out / "archive.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _one_mode(images, labels, options: dict, jobs: list[int], path: Path) -> dict:
    row, files = {"encode_s": {}, "decode_s": {}}, {}
    for n in jobs:
        start = time.perf_counter()
        files[n] = [r.data for r in encode_detailed(images, jobs=n, **options)]
        row["encode_s"][n] = round(time.perf_counter() - start, 2)
    row["same_bytes_for_every_jobs"] = all(f == files[1] for f in files.values())
    path.write_bytes(pack_archive(files[1], labels))
    row["archive_bytes"] = path.stat().st_size
    row["nic_files_bytes"] = sum(map(len, files[1]))
    for n in jobs:
        start = time.perf_counter()
        decoded = open_archive(path, jobs=n).images()
        row["decode_s"][n] = round(time.perf_counter() - start, 2)
    row["same_pixels_as_decode_batch"] = bool(np.array_equal(decoded, np.stack(
        decode_batch(files[1], jobs=1))))
    row["bit_exact"] = bool(np.array_equal(decoded, images))
    row["labels_exact"] = bool(np.array_equal(open_archive(path).labels, labels))
    return row


def print_archive_report(result: dict) -> None:
    print(f"{result['dataset']}: {result['images']:,} test images, {result['cores']} cores")
    for mode, row in result["modes"].items():
        speeds = ", ".join(
            f"jobs {n}: encode {result['images'] / row['encode_s'][n]:,.0f}/s, decode "
            f"{result['images'] / row['decode_s'][n]:,.0f}/s" for n in row["encode_s"])
        print(f"  {mode}: archive {row['archive_bytes']:,} bytes "
              f"({row['archive_bytes'] / result['images']:.2f} per image; as .nic files "
              f"{row['nic_files_bytes']:,}), bit-exact {row['bit_exact']}, labels "
              f"{row['labels_exact']}, same bytes for every jobs {row['same_bytes_for_every_jobs']}")
        print(f"    {speeds}")
