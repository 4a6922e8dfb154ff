"""Exploratory, not shipped: one more reader for the `mnist` fidelity check, trained like the
real-world judges (issue 10); it was the fourth when measured, main has five readers since
(docs/FIDELITY.md). Builds a weights folder that is the shipped one plus that reader,
named in `mnist`'s card as one more of its `other_readers`; the tools then run on it:

    python tools/realworld_digits.py judge --seed 11 --out /work/rw/judge3.keras
    python tools/experiments/fourth_reader.py --reader /work/rw/judge3.keras --out /work/alt
    NIC_WEIGHTS=/work/alt python tools/realworld_digits.py eval --set /work/rw/s6 \\
        --judge /work/rw/judge.keras --second-judge /work/rw/judge2.keras
    NIC_WEIGHTS=/work/alt python tools/realworld_digits.py mnist --limit 2000

Measured on 2026-12-06 (main 83fd0fd, the fresh set --count 4200 --seed 6): silent changes over
the 4,076 digits both judges read right, first judge / second / both, 42 / 27 / 11 shipped and
32 / 23 / 9 with the fourth reader (35 of all 4,115 for the first judge, 45 shipped), at 22.8 B a
file (22.4), 6.6 % escalated (5.9 %); MNIST first 2,000: 15.38 B (15.17), 0.75 % warned (the
same). The reader shares its recipe with both judges (different seeds), so this overstates what
it would do against a judge built otherwise.
"""

import argparse
import json
import os
import shutil
from pathlib import Path

READER = "digits-judgelike"
READER_ID = 99  # unused by any shipped model; this folder is never shipped


def build(reader: Path, out: Path) -> None:
    import keras

    from codec.runtime import weights_root
    from codec.train.common import export, fingerprints

    shipped = weights_root()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for folder in shipped.iterdir():
        if folder.name != "mnist":
            os.symlink(folder.resolve(), out / folder.name)
    (out / "mnist").mkdir()
    for item in (shipped / "mnist").iterdir():
        if item.name != "card.json":
            os.symlink(item.resolve(), out / "mnist" / item.name)
    folder = out / READER
    folder.mkdir()
    export(keras.models.load_model(reader), folder / "classifier.tflite")
    card = json.loads((shipped / "digits-plain" / "card.json").read_text())
    card.update(name=READER, model_id=READER_ID, fingerprints=fingerprints(folder),
                command=f"tools/experiments/fourth_reader.py --reader {reader} (a realworld_digits judge)")
    (folder / "card.json").write_text(json.dumps(card, indent=2))
    mnist = json.loads((shipped / "mnist" / "card.json").read_text())
    mnist["fidelity"]["other_readers"] = mnist["fidelity"]["other_readers"] + [READER]
    (out / "mnist" / "card.json").write_text(json.dumps(mnist, indent=2))
    print(f"wrote {out}: the shipped weights, and {READER} as mnist's last reader")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reader", type=Path, required=True, help="a judge's .keras file")
    parser.add_argument("--out", type=Path, required=True, help="the weights folder to write")
    args = parser.parse_args()
    build(args.reader, args.out)


if __name__ == "__main__":
    main()
