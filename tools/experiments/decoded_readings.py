"""Exploratory, not shipped: would warning on the *decoded* image's readings catch the silent
changes that the input's readings miss (issue 10)?

    python tools/experiments/decoded_readings.py --report EVAL.json --set DIR

EVAL.json is a `tools/realworld_digits.py eval --json` report of the set. Every kept source is
encoded again with default settings; for each latent-only file of `mnist` or `mnist-fine` the
decoded 28x28 field is read by nic's readers, and the least sure of the four readers trained on
real-world digits too (`Checker.real_world_readers`) gives its probability of the digit the
first reader reads in the input. Prints, per bound, how many files the report did not warn about
fall under it (what a warning at that bound would add) and how many of the report's silent
changes are among them.

Measured on 2026-12-07 (docs/FIDELITY.md, "The decoded image's readings").
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

BOUNDS = (0.9, 0.95, 0.96, 0.97, 0.98)


def decoded_field(data: bytes) -> np.ndarray | None:
    """The 28x28 field a latent-only mnist or mnist-fine file decodes to, else None."""
    from codec.api import RESIDUAL_MODE
    from codec.entropy import decode_symbols
    from codec.format import unpack
    from codec.runtime import load_model_by_id

    header, payload = unpack(data)
    net = load_model_by_id(header.model_id)
    if net.name not in ("mnist", "mnist-fine") or header.quality >= RESIDUAL_MODE:
        return None
    table = net.tables[header.quality]
    return net.decode_latents(table.dequantize(decode_symbols(payload, table)[None]))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", required=True)
    parser.add_argument("--set", required=True)
    args = parser.parse_args()

    from codec.api import encode_detailed
    from codec.fidelity import checker_for
    from codec.normalise import normalise
    from codec.runtime import load_model

    warnings.simplefilter("ignore")
    rows = [r for r in json.loads(Path(args.report).read_text())["images"] if not r["refused"]]
    sources = [np.asarray(Image.open(Path(args.set) / r["file"]).convert("L")) for r in rows]
    fields = [decoded_field(r.data) for r in encode_detailed(sources)]
    kept = [i for i, f in enumerate(fields) if f is not None]
    checker = checker_for(load_model("mnist"))
    inputs = checker.readings(np.stack([normalise(sources[i])[0] for i in kept]))
    decoded = checker.readings(np.stack([fields[i] for i in kept]))
    digit = inputs[:, 0].argmax(axis=1)
    real_world = checker.real_world_readers(decoded)  # (N, readers, C)
    least = real_world[np.arange(len(kept)), :, digit].min(axis=1)
    silent = np.array([not rows[i]["same"] and not rows[i]["warned"] for i in kept])
    quiet = np.array([not rows[i]["warned"] for i in kept])
    print(f"{len(rows)} pictures, {len(kept)} latent-only mnist/mnist-fine files; silent changes "
          f"{sum(not r['same'] and not r['warned'] for r in rows)}, {silent.sum()} of them here")
    for bound in BOUNDS:
        under = least < bound
        print(f"  under {bound}: {np.sum(under & quiet)} more warned "
              f"({100 * np.sum(under & quiet) / len(rows):.1f} % of the set), "
              f"{np.sum(under & silent)} silent changes among them")


if __name__ == "__main__":
    main()
