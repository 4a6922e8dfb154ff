"""Cold-start cost of `nic encode` against Pillow saving a JPEG, each in a fresh process.

    python tools/time_cold.py [IMAGE] [--runs 15]

Runs the two commands alternately and prints their medians and ratio (the issue's bar: <= 4x).
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", default=str(ROOT / "samples" / "digit_3.png"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    nic = shutil.which("nic") or str(Path(sys.executable).parent / "nic")
    with tempfile.TemporaryDirectory() as folder:
        encode = [nic, "encode", args.image, "-o", f"{folder}/d.nic", "--force"]
        pillow = [sys.executable, "-c",
                  f"from PIL import Image; Image.open({args.image!r}).save({folder + '/d.jpg'!r})"]
        times = {"nic encode": [], "pillow jpeg": []}
        for _ in range(args.runs):
            times["nic encode"].append(wall_time(encode))
            times["pillow jpeg"].append(wall_time(pillow))
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:12} median {value * 1000:6.0f} ms over {args.runs} runs")
    print(f"ratio {medians['nic encode'] / medians['pillow jpeg']:.2f}x (bar: <= 4x)")


if __name__ == "__main__":
    main()
