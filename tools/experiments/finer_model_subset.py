"""Exploratory, not shipped: how the finer model (`mnist-fine`) does on the real-world pictures
auto hands it, judged as tools/realworld_digits.py judges (issue 10).

    python tools/experiments/finer_model_subset.py --report EVAL.json --set DIR \\
        --judge judge.keras --second-judge judge2.keras [--levels 1,5]

EVAL.json is a `realworld_digits.py eval --json` report of the same set; the pictures it coded
with `mnist-fine` are coded again by the codec on the path (PYTHONPATH: another checkout, with
a candidate in weights/mnist-fine) with default settings, and, with --levels, at each of those
levels of `mnist-fine` (the pictures the report did not warn about only: an explicit level warns
instead of escalating). Prints, per run, the mean file, how many are warned, and how many decode
as another digit without a warning in each judge's eyes.

Measured on 2026-12-07 (docs/FIDELITY.md, "A finer model trained on more blown-up digits").
"""

import argparse
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def judged(codec, judges, results, labels) -> str:
    import realworld_digits as rw

    decoded = [Image.fromarray(codec.decode(r.data)) for r in results]
    warned = np.array([bool(r.warnings) for r in results])
    silent = [int(((rw.classify(j, decoded) != labels) & ~warned).sum()) for j in judges]
    files = Counter(f"{r.model} q{r.quality}"
                    + (f" k{r.max_error}" if r.max_error is not None else "") for r in results)
    return (f"{np.mean([len(r.data) for r in results]):.1f} B, warned {warned.sum()}, "
            f"silent (judges) {' / '.join(map(str, silent))}; {dict(files.most_common(4))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", required=True)
    parser.add_argument("--set", required=True)
    parser.add_argument("--judge", required=True)
    parser.add_argument("--second-judge")
    parser.add_argument("--levels", default="")
    args = parser.parse_args()

    import realworld_digits as rw

    import codec
    from codec.api import encode_detailed

    warnings.simplefilter("ignore")
    judges = [rw.load_judge(p) for p in (args.judge, args.second_judge) if p]
    rows = [r for r in json.loads(Path(args.report).read_text())["images"]
            if r["model"] == "mnist-fine"]
    sources = [np.asarray(Image.open(Path(args.set) / r["file"]).convert("L")) for r in rows]
    labels = np.array([r["label"] for r in rows])
    print(f"codec from {codec.__file__}; {len(rows)} pictures coded with mnist-fine in the report")
    print("  auto:", judged(codec, judges, encode_detailed(sources), labels))
    quiet = [i for i, r in enumerate(rows) if not r["warned"]]
    for level in [int(q) for q in args.levels.split(",") if q]:
        results = encode_detailed([sources[i] for i in quiet], model="mnist-fine", quality=level)
        print(f"  level {level} ({len(quiet)} not warned in the report):",
              judged(codec, judges, results, labels[quiet]))


if __name__ == "__main__":
    main()
