"""Exploratory, not shipped: variants of the other readers' rule in the fidelity check
(codec/fidelity.py, issue 10), run through tools/realworld_digits.py with the real codec:

    python tools/experiments/check_variants.py [VARIANT OPTIONS] -- eval --set /work/rw/s6 \\
        --judge /work/rw/judge.keras --second-judge /work/rw/judge2.keras
    python tools/experiments/check_variants.py [VARIANT OPTIONS] -- mnist --limit 2000

    --other-shift X        how far each other reader's reading may move (shipped: SECOND_SHIFT)
    --other-temperature T  soften each reading (p ** (1 / T), renormalised) before measuring that
                           shift: a reader sure at 0.9999 that falls to 0.99 has moved far in
                           its own terms, and barely at all in total variation
    --search-shift X       the other readers' shift inside the latent search only (the search
                           keeps what passes every reader, so it finds what fools them)
    --search-surest        the latent search prefers the candidate whose weakest reader reads
                           the input's digit most surely, not the one nearest the input

Measured on 2026-12-06 with five readers (main d648f1c) on the two sets the fourth and fifth
readers were chosen on; docs/FIDELITY.md ("Five readers") has the table. None moved the silent
changes by more than the two sets differ from each other for less than a byte a file.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tools/, for realworld_digits


def softened(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities (N, C) at a higher temperature: p ** (1 / T), renormalised."""
    powered = np.power(np.clip(probs, 1e-12, 1.0), 1.0 / temperature)
    return powered / powered.sum(axis=1, keepdims=True)


def softened_shift(temperature: float):
    """fidelity.total_variation between the readings softened to `temperature` (at 1, the
    shipped measure itself)."""
    from codec.fidelity import total_variation

    if temperature == 1.0:
        return total_variation

    def shift(before, after):
        return total_variation(softened(before, temperature), softened(after, temperature))

    return shift


def search_with_rule(search, bound: float, temperature: float):
    """escalate._nearby_latents with the other readers held to `bound`, measured at
    `temperature`, while it runs."""
    from codec import fidelity

    def strict_search(*args, **kwargs):
        shipped = fidelity.SECOND_SHIFT, fidelity.other_reader_shift
        fidelity.SECOND_SHIFT = bound
        fidelity.other_reader_shift = softened_shift(temperature)
        try:
            return search(*args, **kwargs)
        finally:
            fidelity.SECOND_SHIFT, fidelity.other_reader_shift = shipped

    return strict_search


def surest_preference(checker, inputs, decoded, input_probs):
    """escalate._preference, by the weakest reader: the probability the least sure reader gives
    the input's digit (its own reading of the input) in the candidate, not the PSNR."""
    from codec import escalate

    if input_probs is None:
        return escalate.psnr_per_image(inputs, decoded)
    read_in = checker._inputs_read(inputs, input_probs)
    kept = np.take_along_axis(checker.readings(decoded), read_in.argmax(axis=2)[..., None], 2)
    return kept[..., 0].min(axis=1)


def main() -> None:
    args_end = sys.argv.index("--") if "--" in sys.argv else len(sys.argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--other-shift", type=float)
    parser.add_argument("--other-temperature", type=float, default=1.0)
    parser.add_argument("--search-shift", type=float)
    parser.add_argument("--search-surest", action="store_true")
    args = parser.parse_args(sys.argv[1:args_end])

    import realworld_digits

    from codec import escalate, fidelity, parallel

    parallel.cpu_count = lambda: 1  # one process: spawned workers would import the check anew
    if args.other_shift is not None:
        fidelity.SECOND_SHIFT = args.other_shift
    fidelity.other_reader_shift = softened_shift(args.other_temperature)
    if args.search_surest:
        escalate._preference = surest_preference
    if args.search_shift is not None:
        escalate._nearby_latents = search_with_rule(escalate._nearby_latents, args.search_shift,
                                                    args.other_temperature)
    print(f"variant: {vars(args)}", file=sys.stderr)
    realworld_digits.main(sys.argv[args_end + 1:])


if __name__ == "__main__":
    main()
