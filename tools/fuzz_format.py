"""Long-run fuzzer for the .nic container parser (`codec.format.unpack`).

    python tools/fuzz_format.py --count 1000000 --seed 0            # the container parser
    python tools/fuzz_format.py --count 1000000 --seed 0 --decode   # the whole decoder

Generates valid files, damages them, and checks that `unpack` raises only NicFormatError and
never accepts a changed file. Flips of 1-3 bits, bursts of up to 16 bits, truncations and
single-byte insertions must always be rejected (CRC-16 Hamming distance 4, burst detection
and the exact-length rule). Longer random damage, valid prefix + garbage and random bytes can
collide with the CRC (chance 2**-16): such acceptances are counted apart, and only fail if the
accepted bytes are not the canonical file of what they decode to.
Exit code 1 if there is any failure.
"""

import argparse
import importlib.util
import random
import sys
import time
from collections import Counter
from pathlib import Path

# Runnable from a checkout without installing the package.
if importlib.util.find_spec("codec") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec.errors import NicFormatError  # noqa: E402
from codec.format import MAGIC, MAX_PIXELS, MAX_SIDE, Header, pack, unpack  # noqa: E402

STRICT = {"flip", "burst", "truncate", "insert"}
PROGRESS_EVERY = 100_000


def random_file(rng: random.Random) -> bytes:
    """A valid file: mostly 28x28 with small payloads, sometimes explicit geometry or 2-byte lengths."""
    width = height = 28
    if rng.random() < 0.3:
        width, height = rng.randint(1, MAX_SIDE), rng.randint(1, MAX_PIXELS // MAX_SIDE)
    size = rng.choice([0, 1, 8, 12, rng.randint(0, 40), rng.randint(120, 400)])
    header = Header(rng.randint(1, 255), rng.randint(1, 255), width, height, rng.random() < 0.5)
    return pack(header, rng.randbytes(size))


def flip(rng: random.Random, data: bytes) -> bytes:
    damaged = bytearray(data)
    for bit in rng.sample(range(8 * len(data)), rng.randint(1, 3)):
        damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def burst(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data) - 1)
    return data[:start] + rng.randbytes(2) + data[start + 2 :]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def insert(rng: random.Random, data: bytes) -> bytes:
    pos = rng.randint(0, len(data))
    return data[:pos] + rng.randbytes(1) + data[pos:]


def damage(rng: random.Random, data: bytes) -> bytes:
    start = rng.randint(0, len(data))
    stop = rng.randint(start, min(len(data), start + 64))
    return data[:start] + rng.randbytes(rng.randint(0, 2 * (stop - start) + 4)) + data[stop:]


def garbage(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randint(0, len(data))] + rng.randbytes(rng.randint(0, 40))


def noise(rng: random.Random, data: bytes) -> bytes:
    # Half start with the magic, or almost every input would stop at the first check.
    head = MAGIC if rng.random() < 0.5 else b""
    return head + rng.randbytes(rng.randint(0, 60))


MUTATIONS = [flip, burst, truncate, insert, damage, garbage, noise]


def real_files() -> list[bytes]:
    """Files the codec itself writes: every sample image at every quality level."""
    import codec
    from codec.images import read_image

    samples = sorted((Path(__file__).resolve().parents[1] / "samples").iterdir())
    images = [read_image(path)[0] for path in samples]
    return [f for q in codec.QUALITY_LEVELS for f in codec.encode_batch(images, quality=q)]


def decode_checked(data: bytes) -> tuple[Header, bytes]:
    """The whole decoder; an accepted file must give uint8 pixels of its declared size."""
    import codec

    pixels = codec.decode(data)
    header, payload = unpack(data)
    if pixels.dtype != "uint8" or pixels.shape != (header.height, header.width):
        raise AssertionError(f"decoded {pixels.dtype} {pixels.shape} for {header}")
    return header, payload


def check(kind: str, original: bytes, mutated: bytes, parse=unpack) -> str:
    """Classify one input: 'rejected', 'unchanged', 'collision' or 'failure'."""
    try:
        header, payload = parse(mutated)
    except NicFormatError:
        return "rejected"
    except Exception as error:  # noqa: BLE001 - any other type is exactly what we hunt
        print(f"failure: {kind}: {type(error).__name__}: {error}: {mutated.hex()}", file=sys.stderr)
        return "failure"
    if mutated == original:
        return "unchanged"
    if kind in STRICT or pack(header, payload) != mutated:
        print(f"failure: {kind} accepted: {original.hex()} -> {mutated.hex()}", file=sys.stderr)
        return "failure"
    return "collision"


def run(count: int, seed: int, decode: bool = False) -> Counter:
    rng = random.Random(seed)
    tally: Counter = Counter()
    corpus = real_files() if decode else []
    parse = decode_checked if decode else unpack
    started = time.monotonic()
    for i in range(1, count + 1):
        original = rng.choice(corpus) if corpus and rng.random() < 0.8 else random_file(rng)
        mutate = rng.choice(MUTATIONS)
        tally[check(mutate.__name__, original, mutate(rng, original), parse)] += 1
        if i % PROGRESS_EVERY == 0:
            rate = i / (time.monotonic() - started)
            print(f"{i} inputs, {tally['failure']} failures ({rate:.0f}/s)", flush=True)
    return tally


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="inputs to try (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--decode", action="store_true",
                        help="fuzz the whole decoder (codec.decode) on real files, not only the parser")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tally = run(args.count, args.seed, args.decode)
    print(f"{args.count} inputs, {tally['failure']} failures")
    print(
        f"rejected {tally['rejected']}, unchanged {tally['unchanged']}, "
        f"accepted (CRC collision) {tally['collision']}"
    )
    return 1 if tally["failure"] else 0


if __name__ == "__main__":
    sys.exit(main())
