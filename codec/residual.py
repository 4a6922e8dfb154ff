"""The residual layer: from the lossy reconstruction to near-lossless and bit-exact pixels.

After the latent is decoded into x_hat (uint8, 28x28), the pixels x are coded in two passes of
a checkerboard, each pass one vectorised call of the range coder:

    pass A, pixels with (row + col) even: context = (x_hat // 8, edge strength of x_hat 3x3)
    pass B, the other pixels: context = (x_hat // 16, mean // 16 and spread of the 4 pixels
            above, below, left and right, all from pass A and so already decoded)

Each context owns a histogram over the 256 grey levels, counted on the training set and shipped
as integers in residual.npz. With max_error k, a pixel codes only its bin: bins of width 2k+1
centred on x_hat + j(2k+1), whose probability is the histogram's mass inside the bin (JPEG-LS's
near-lossless rule); k = 0 is bit-exact. Every context is computed with integer arithmetic from
uint8 pixels, so the coding probabilities are exactly the same in encoder and decoder as long as
both see the same x_hat; the file stores a CRC-16 of the decoded pixels, so a decoder whose
network output differs is caught and reported, never returned as a silently wrong image.
"""

import binascii
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import constriction
import numpy as np

from .entropy import FAMILY, shortest_stream, stream_words
from .errors import NicFormatError
from .guided import GuidedModel

__all__ = ["ResidualModel", "build_residual_model", "pixel_check", "residual_payload"]

SIZE = 28
_ROWS, _COLS = np.indices((SIZE, SIZE))
EVEN = (_ROWS + _COLS) % 2 == 0  # pass A; the rest is pass B
_EDGES = [16, 64, 160]  # spread thresholds: flat, soft, edge, strong edge
A_CONTEXTS, B_CONTEXTS = 32 * 4, 16 * 16 * 4


def contexts_a(x_hat: np.ndarray) -> np.ndarray:
    """Pass-A context of every pixel of x_hat (N, 28, 28) uint8: its value and local edges."""
    x_hat = x_hat.astype(np.int32)
    padded = np.pad(x_hat, ((0, 0), (1, 1), (1, 1)), mode="edge")
    window = np.stack([padded[:, i : i + SIZE, j : j + SIZE] for i in range(3) for j in range(3)])
    spread = window.max(axis=0) - window.min(axis=0)
    return (x_hat // 8) * 4 + np.digitize(spread, _EDGES)


def contexts_b(x_hat: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Pass-B context: x_hat and the 4 neighbours in `known` (pass-A pixels; 0 off the edge)."""
    padded = np.pad(known.astype(np.int32), ((0, 0), (1, 1), (1, 1)))
    neighbours = np.stack([
        padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]
    ])
    mean = (neighbours.sum(axis=0) + 2) // 4
    spread = neighbours.max(axis=0) - neighbours.min(axis=0)
    return ((x_hat.astype(np.int32) // 16) * 16 + mean // 16) * 4 + np.digitize(spread, _EDGES)


def pixel_check(pixels: np.ndarray) -> bytes:
    """CRC-16 of decoded pixels, stored so that a decoder mismatch is always reported."""
    return binascii.crc_hqx(np.ascontiguousarray(pixels, np.uint8).tobytes(), 0).to_bytes(2, "big")


def residual_payload(residual: "ResidualModel", image: np.ndarray, x_hat: np.ndarray,
                     latent: bytes, max_error: int) -> tuple[bytes, np.ndarray]:
    """A residual-mode payload (latent length, latent, residual, pixel check; docs/FORMAT.md)
    and the pixels the decoder will get."""
    body, decoded = residual.encode(image, x_hat, max_error)
    return bytes([len(latent)]) + latent + body + pixel_check(decoded), decoded


@dataclass(frozen=True)
class ResidualModel:
    """Histograms per context (integer counts) and the lossy level the residual builds on."""

    base_quality: int
    counts_a: np.ndarray  # (A_CONTEXTS, 256) int64
    counts_b: np.ndarray  # (B_CONTEXTS, 256) int64
    guided: GuidedModel | None = None  # the guided coder's tables (format v3 mode 16+), if fitted

    @cached_property
    def _cumulative(self) -> tuple[np.ndarray, np.ndarray]:
        # A leading 0 column, so that the mass of [lo, hi] is C[hi + 1] - C[lo].
        return tuple(
            np.concatenate([np.zeros((len(c), 1), np.int64), np.cumsum(c, axis=1)], axis=1)
            for c in (self.counts_a, self.counts_b)
        )

    def save(self, path: Path) -> None:
        guided = self.guided.arrays() if self.guided else {}
        np.savez_compressed(path, base_quality=self.base_quality, counts_a=self.counts_a,
                            counts_b=self.counts_b, **guided)

    @classmethod
    def load(cls, source) -> "ResidualModel":
        with np.load(source) as arrays:
            return cls(int(arrays["base_quality"]), arrays["counts_a"], arrays["counts_b"],
                       GuidedModel.from_arrays(arrays))

    def encode(self, pixels: np.ndarray, x_hat: np.ndarray, max_error: int) -> tuple[bytes, np.ndarray]:
        """Code 28x28 uint8 pixels given x_hat; returns (payload, the pixels the decoder gets)."""
        width = 2 * max_error + 1
        recon = np.zeros((SIZE, SIZE), np.int32)
        encoder = constriction.stream.queue.RangeEncoder()
        coded, ideal = [], 0.0
        for mask, probabilities in self._passes(x_hat, recon, width, max_error):
            pred = x_hat[mask].astype(np.int32)
            bins = _bin_index(pixels[mask].astype(np.int32), pred, width, max_error)
            symbols = (bins - _lowest_bin(pred, width, max_error)).astype(np.int32)
            encoder.encode(symbols, FAMILY, probabilities)
            chosen = probabilities[np.arange(len(symbols)), symbols]
            ideal -= np.log2(chosen / probabilities.sum(axis=1)).sum()
            coded.append((symbols, probabilities))
            recon[mask] = np.clip(pred + bins * width, 0, 255)

        def decodes_back(candidate: bytes) -> bool:
            # Same symbols under the same models: the decoder then rebuilds the same pass-B
            # contexts, so checking the symbols checks the whole decode, at a fraction of its cost.
            decoder = constriction.stream.queue.RangeDecoder(stream_words(candidate))
            return all(np.array_equal(decoder.decode(FAMILY, p), s) for s, p in coded)

        return shortest_stream(encoder, ideal, decodes_back), recon.astype(np.uint8)

    def decode(self, payload: bytes, x_hat: np.ndarray, max_error: int) -> np.ndarray:
        """Inverse of encode: the 28x28 uint8 pixels, or NicFormatError."""
        try:
            return self._decode(payload, x_hat, max_error)
        except AssertionError:
            raise NicFormatError("residual payload is not a valid range-coded stream") from None

    def _decode(self, payload: bytes, x_hat: np.ndarray, max_error: int) -> np.ndarray:
        width = 2 * max_error + 1
        recon = np.zeros((SIZE, SIZE), np.int32)
        decoder = constriction.stream.queue.RangeDecoder(stream_words(payload))
        for mask, probabilities in self._passes(x_hat, recon, width, max_error):
            pred = x_hat[mask].astype(np.int32)
            bins = decoder.decode(FAMILY, probabilities) + _lowest_bin(pred, width, max_error)
            recon[mask] = np.clip(pred + bins * width, 0, 255)
        return recon.astype(np.uint8)

    def _passes(self, x_hat, recon, width, max_error):
        """Yield (mask, bin probabilities) of pass A, then of pass B once `recon` holds pass A."""
        cum_a, cum_b = self._cumulative
        yield EVEN, _bin_probabilities(
            cum_a[contexts_a(x_hat[None])[0][EVEN]], x_hat[EVEN], width, max_error)
        known = np.where(EVEN, recon, 0)
        yield ~EVEN, _bin_probabilities(
            cum_b[contexts_b(x_hat[None], known[None])[0][~EVEN]], x_hat[~EVEN], width, max_error)


def _lowest_bin(pred: np.ndarray, width: int, max_error: int) -> np.ndarray:
    """Index of the first bin (centre pred + j*width) that still covers a grey level >= 0."""
    return -((pred + max_error) // width)


def _bin_index(values: np.ndarray, pred: np.ndarray, width: int, max_error: int) -> np.ndarray:
    """The bin j whose centre pred + j*width lies within max_error of each value."""
    return np.floor_divide(values - pred + max_error, width)


def _bin_probabilities(cumulative: np.ndarray, pred: np.ndarray, width: int, max_error: int):
    """Histogram mass of each bin, per pixel: (pixels, bins) float64 of exact integer counts."""
    if max_error == 0:  # bins are grey levels: the histogram itself, shifted to start at -pred
        return np.diff(cumulative, axis=1).astype(np.float64)
    pred = pred.astype(np.int32)
    count = -(-(256 + 2 * max_error) // width) + 1
    first = _lowest_bin(pred, width, max_error)
    centres = pred[:, None] + (first[:, None] + np.arange(count)[None, :]) * width
    lo = np.clip(centres - max_error, 0, 256)
    hi = np.clip(centres + max_error + 1, 0, 256)
    rows = np.arange(len(pred))[:, None]
    return (cumulative[rows, hi] - cumulative[rows, lo]).astype(np.float64)


def build_residual_model(images: np.ndarray, x_hat: np.ndarray, base_quality: int) -> ResidualModel:
    """Count the context histograms on training images (N, 28, 28) and their reconstructions."""
    values = images.astype(np.int64)
    context_a = contexts_a(x_hat)
    context_b = contexts_b(x_hat, np.where(EVEN, images, 0))
    counts_a = np.bincount((context_a * 256 + values)[:, EVEN].ravel(),
                           minlength=A_CONTEXTS * 256).reshape(A_CONTEXTS, 256)
    counts_b = np.bincount((context_b * 256 + values)[:, ~EVEN].ravel(),
                           minlength=B_CONTEXTS * 256).reshape(B_CONTEXTS, 256)
    # +1 everywhere: every grey level stays codable in every context.
    return ResidualModel(base_quality, counts_a + 1, counts_b + 1)
