"""Quantisation of the latent and its range coding with constriction.

Each quality level fixes, per latent dimension i, a step size step_i = multiplier * sigma_i,
where sigma_i is the typical posterior standard deviation of that dimension: a dimension the
encoder knows precisely gets a fine grid, a collapsed one (sigma near 1) a single bin and no bits.
The probabilities of the bins are a fixed integer table measured on the training set and stored
with the weights, so encoder and decoder use identical models and no network runs to compute a
prior. Reconstruction takes each bin's centroid (the mean training latent that fell into it).

The coder is constriction's range coder (FIFO). Its output is whole 32-bit words, which would
waste up to 3 bytes of an 8-byte payload: we store the words big-endian, so the bits that matter
come first, and cut every trailing byte the decoder does not need, checking that the cut stream
still decodes to the very same symbols (the decoder pads the cut with zero bytes).
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import constriction
import numpy as np

from .errors import NicFormatError

__all__ = [
    "LevelTable", "EntropyTables", "build_tables", "encode_symbols", "decode_symbols",
    "shortest_stream", "stream_words", "FAMILY",
]

# No training latent lies beyond this many prior standard deviations; larger values are clipped.
LATENT_RANGE = 5.0
FAMILY = constriction.stream.model.Categorical(perfect=False)


@dataclass(frozen=True)
class LevelTable:
    """The quantiser and entropy model of one quality level."""

    steps: np.ndarray  # (D,) float32 step size per latent dimension
    weights: np.ndarray  # (D, 2R+1) int64 bin counts (+1), the coding probabilities
    centroids: np.ndarray  # (D, 2R+1) float32 reconstruction value of each bin

    @property
    def radius(self) -> int:
        return (self.weights.shape[1] - 1) // 2

    @cached_property
    def probabilities(self) -> np.ndarray:
        return self.weights / self.weights.sum(axis=1, keepdims=True)

    def quantize(self, latents: np.ndarray) -> np.ndarray:
        """Latents (N, D) -> symbols (N, D) int32 in [0, 2R]."""
        return _quantize(latents, self.steps, self.radius)

    def dequantize(self, symbols: np.ndarray) -> np.ndarray:
        """Symbols (N, D) -> latents (N, D) float32 at the bin centroids."""
        dims = np.arange(self.centroids.shape[0])
        return self.centroids[dims, symbols].astype(np.float32)

    def ideal_bits(self, symbols: np.ndarray) -> np.ndarray:
        """Information content -log2 P of each row of symbols (N, D), in bits."""
        dims = np.arange(self.weights.shape[0])
        return -np.log2(self.probabilities[dims, symbols]).sum(axis=-1)


@dataclass(frozen=True)
class EntropyTables:
    """The level tables of one model, indexed by quality level (1-based)."""

    levels: dict[int, LevelTable]

    def __getitem__(self, quality: int) -> LevelTable:
        return self.levels[quality]

    def save(self, path: Path) -> None:
        arrays = {}
        for quality, table in self.levels.items():
            arrays[f"steps_{quality}"] = table.steps
            arrays[f"weights_{quality}"] = table.weights
            arrays[f"centroids_{quality}"] = table.centroids
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> "EntropyTables":
        with np.load(path) as arrays:
            qualities = sorted(int(key.split("_")[1]) for key in arrays if key.startswith("steps_"))
            levels = {
                q: LevelTable(
                    arrays[f"steps_{q}"], arrays[f"weights_{q}"], arrays[f"centroids_{q}"]
                )
                for q in qualities
            }
        return cls(levels)


def _quantize(latents: np.ndarray, steps: np.ndarray, radius: int) -> np.ndarray:
    """Round each dimension on its own grid, clip to +-radius, shift to symbols in [0, 2R]."""
    indexes = np.clip(np.rint(latents / steps), -radius, radius)
    return (indexes + radius).astype(np.int32)


def build_tables(latents: np.ndarray, sigmas: np.ndarray, multipliers: dict[int, float]):
    """Measure the level tables on training latents (N, D) with posterior scales sigmas (D,)."""
    levels = {}
    for quality, multiplier in multipliers.items():
        steps = (multiplier * sigmas).astype(np.float32)
        radius = int(np.ceil(LATENT_RANGE / steps.min()))
        symbols = _quantize(latents, steps, radius)
        weights = np.ones((len(steps), 2 * radius + 1), np.int64)  # +1: every bin stays codable
        sums = np.zeros(weights.shape, np.float64)
        for dim in range(latents.shape[1]):
            weights[dim] += np.bincount(symbols[:, dim], minlength=2 * radius + 1)
            sums[dim] = np.bincount(symbols[:, dim], latents[:, dim], minlength=2 * radius + 1)
        grid = (np.arange(-radius, radius + 1)[None, :] * steps[:, None]).astype(np.float64)
        counts = weights - 1
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), grid)
        levels[quality] = LevelTable(steps, weights, centroids.astype(np.float32))
    return EntropyTables(levels)


def encode_symbols(symbols: np.ndarray, table: LevelTable) -> bytes:
    """Range-code one row of symbols (D,) into the shortest byte string that decodes back."""
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(symbols.astype(np.int32), FAMILY, table.probabilities)
    ideal = table.ideal_bits(symbols[None])[0]
    return shortest_stream(encoder, ideal, lambda candidate: np.array_equal(
        _decode(candidate, table), symbols))


def shortest_stream(encoder, ideal_bits: float, decodes_back) -> bytes:
    """The shortest cut of an encoder's output for which `decodes_back(candidate)` holds."""
    full = encoder.get_compressed().astype(">u4").tobytes()
    # No stream much shorter than the symbols' information can decode: start the search near it.
    for candidate in _shorter_streams(full, int(max(0.0, ideal_bits) // 8)):
        try:
            if decodes_back(candidate):
                return candidate
        except AssertionError:  # constriction: not a valid stream for these symbols
            continue
    raise AssertionError("the full range-coder output must decode")  # pragma: no cover


def stream_words(payload: bytes) -> np.ndarray:
    """A cut stream as the coder's uint32 words, padded with the zero bytes that were cut."""
    padded = payload + b"\0" * (-len(payload) % 4)
    return np.frombuffer(padded, ">u4").astype(np.uint32)


def _shorter_streams(full: bytes, shortest: int = 0):
    """Prefixes of the coded number, shortest first, each rounded down and up.

    The stream is the binary expansion of a number inside the coder's final interval. The
    decoder reads a cut stream as if followed by zeros; rounding the prefix up by one unit keeps
    the number inside the interval more often than the plain cut does.
    """
    for length in range(min(shortest, len(full)), len(full) + 1):
        yield from cut_candidates(full, length)


def cut_candidates(full: bytes, length: int):
    """The cut of `length` bytes, and the same rounded up by one unit (often inside the interval)."""
    prefix = full[:length]
    yield prefix
    if length and any(full[length:]):
        value = int.from_bytes(prefix, "big") + 1
        if value < 256**length:
            yield value.to_bytes(length, "big")


def decode_symbols(payload: bytes, table: LevelTable) -> np.ndarray:
    """Inverse of encode_symbols; any byte string gives symbols or NicFormatError."""
    try:
        return _decode(payload, table)
    except Exception:  # constriction raises AssertionError (or similar) on invalid streams
        raise NicFormatError("payload is not a valid range-coded stream") from None


def _decode(payload: bytes, table: LevelTable) -> np.ndarray:
    decoder = constriction.stream.queue.RangeDecoder(stream_words(payload))
    return decoder.decode(FAMILY, table.probabilities)
