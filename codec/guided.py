"""The guided coder: 28x28 pixels coded around the network's reconstruction x_hat (format v3, mode 2).

The latent (at the model's residual base level) and the pixels share one range-coded stream.
The pixels are coded in three interlaced passes, each a vectorised coder call:

    pass 1  (even, even)  nothing decoded around it yet: x_hat and its 3x3 neighbourhood
    pass 2  (odd, odd)    + its 4 diagonal neighbours (pass 1)
    pass 3  the rest      + its 4 neighbours above, below, left and right (passes 1 and 2)

A pixel's probabilities over the 256 grey levels are the sum of two histograms, each chosen by
its own context (a linear mixture of two experts, which smooths where one context is rare):

* context 1: a linear prediction from x_hat, its neighbours and the decoded neighbours (integer
  weights fitted by least squares on the training split), the local activity, and how far the
  decoded neighbours' mean lies from that prediction;
* context 2: x_hat, the decoded neighbours' mean (pass 1: x_hat's) and their spread.

Both histograms are integer counts fitted on the training split and normalised to one integer
total, so the summed row is exact in any arithmetic and encoder and decoder build identical
probabilities (`nic train --residual-only`).

Decoding everywhere. x_hat comes out of a float network, and two runtimes (Keras, LiteRT, or
another CPU) differ by up to about 3e-4 grey levels; rounding can then flip a pixel by one level
and change the contexts. The file therefore names the rounding: x_hat = floor(255 f + (8 + r) / 16)
with r in 0..15 stored in the mode byte, and the encoder picks an r for which no unclipped pixel
lies within EPSILON of a rounding edge. Any runtime within EPSILON of the encoder's then computes
the same x_hat, so the same probabilities, so the same pixels.
"""

from dataclasses import dataclass

import constriction
import numpy as np

from .entropy import FAMILY, cut_candidates, stream_words

__all__ = ["GuidedModel", "fit_guided", "robust_rounding", "x_hat_at", "OFFSETS", "EPSILON"]

SIZE = 28
OFFSETS = 16  # roundings the mode byte can name: r in 0..15
# Grey levels: 3.5x the largest Keras/LiteRT difference measured (2.8e-4). At 1/512 no offset was
# safe for 0.75 % of MNIST and 16 % of Fashion-MNIST test images, which then take a network-free
# mode (more bytes); at 1/1024 for none of 2,000 MNIST and 0.45 % of Fashion-MNIST images.
EPSILON = 1 / 1024
_ROWS, _COLS = np.indices((SIZE, SIZE))
PASSES = ((_ROWS % 2 == 0) & (_COLS % 2 == 0), (_ROWS % 2 == 1) & (_COLS % 2 == 1),
          (_ROWS + _COLS) % 2 == 1)
_AROUND = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_DECODED = ((), ((-1, -1), (1, 1), (-1, 1), (1, -1)), ((-1, 0), (1, 0), (0, -1), (0, 1)))
_ACTIVITY = np.array([2, 8, 24, 48, 96, 160, 255])
_OFFSET = np.array([-40, -12, -4, 0, 4, 12, 40])
_SPREAD = np.array([4, 16, 40, 64, 96, 128, 192])
CONTEXTS = 4096  # per pass and context kind
_WEIGHT_SHIFT = 10  # predictor weights are integers in 1/1024ths
_ROW_TOTAL = 65536 - 256  # each histogram row sums to at most this (uint16 entries, each >= 1)
_TAIL_BITS = 128  # the trim check decodes at least this much information after its checkpoint
# Images whose distinct rows (all three passes) the encoder builds together: 64 MNIST images
# have about 6,800, 14 MB, which mostly stay in cache while the coder reads them (128 images:
# 10,800 rows, and the guided encoding runs about 10 % slower).
_ENCODE_GROUP = 64


def x_hat_at(floats: np.ndarray, offset: np.ndarray | int) -> np.ndarray:
    """x_hat (N, 28, 28) int32 from network outputs in [0, 1] under rounding offsets r (N,)."""
    shift = (8 + np.reshape(offset, (-1, 1, 1))) / 16.0
    return np.clip(np.floor(floats.astype(np.float64) * 255.0 + shift), 0, 255).astype(np.int32)


def robust_rounding(floats: np.ndarray) -> np.ndarray:
    """Per image, the first rounding r (0, 1, 15, 2, 14, ...: nearest to plain rounding first)
    under which no pixel's x_hat changes when the network output moves by EPSILON; -1 if none."""
    scaled = floats.astype(np.float64).reshape(len(floats), -1) * 255.0
    chosen = np.full(len(floats), -1)
    for r in sorted(range(OFFSETS), key=lambda r: min(r, OFFSETS - r)):
        value = scaled + (8 + r) / 16.0
        low, high = np.floor(value - EPSILON), np.floor(value + EPSILON)
        flips = (low != high) & (high >= 1) & (low <= 254)  # clipping hides the others
        free = (chosen < 0) & ~flips.any(axis=1)
        chosen[free] = r
        if (chosen >= 0).all():  # later roundings could only fill images still without one
            break
    return chosen


def _gather_index(index: int) -> np.ndarray:
    """(F, pixels) positions, in the flat (2, 30, 30) stack of padded x_hat and padded decoded
    pixels, of one pass's features: x_hat, its 8 neighbours, then the decoded neighbours."""
    rows, cols = np.nonzero(PASSES[index])  # row-major, the order images[:, mask] gives
    padded = SIZE + 2
    hat = [(1 + rows + dr) * padded + 1 + cols + dc for dr, dc in ((0, 0),) + _AROUND]
    known = [padded * padded + (1 + rows + dr) * padded + 1 + cols + dc
             for dr, dc in _DECODED[index]]
    return np.stack(hat + known)


_GATHER = tuple(_gather_index(i) for i in range(3))


def _features(x_hat: np.ndarray, known: np.ndarray, index: int) -> np.ndarray:
    """(N, F, pixels) int32 of one pass: x_hat, its 8 neighbours, the decoded neighbours.

    Edges are mirrored (index -1 reads 1): a mirrored neighbour has the same parity, so it is
    decoded whenever the true one would be. Feature-major, so each feature is one contiguous
    (N, pixels) slice and the context arithmetic runs elementwise.
    """
    both = np.stack([x_hat, known], axis=1).astype(np.int32, copy=False)
    padded = np.pad(both, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    return padded.reshape(len(both), -1)[:, _GATHER[index]]


def _contexts(features: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two contexts (integers in 0..CONTEXTS-1) of each pixel from its features (N, F, P)."""
    h, around = features[:, 0], features[:, 1:9]
    near = features[:, 9:] if features.shape[1] > 9 else around
    count = near.shape[1]
    pred = np.einsum("nfp,f->np", features, weights[:-1]) + weights[-1]  # exact integers
    pred = np.clip(pred >> _WEIGHT_SHIFT, 0, 255)
    near_sum, around_sum = near.sum(axis=1), around.sum(axis=1)
    spread = near.max(axis=1) - near.min(axis=1)
    activity = spread + np.abs(8 * h - around_sum) // 8
    offset = (near_sum - count * pred) // count
    first = ((pred // 4) * 8 + np.digitize(activity, _ACTIVITY)) * 8 + np.digitize(offset, _OFFSET)
    if features.shape[1] > 9:
        mean = (near_sum + count // 2) // count
        second = ((h // 8) * 16 + mean // 16) * 8 + np.digitize(spread, _SPREAD)
    else:
        drift = (around_sum - 8 * h) // 8
        second = ((h // 4) * 8 + np.digitize(spread, _SPREAD)) * 8 + np.digitize(drift, _OFFSET)
    return first, second


@dataclass(frozen=True)
class GuidedModel:
    """Per pass: predictor weights (F + 1,) int64 and two histogram tables (CONTEXTS, 256) uint16."""

    weights: tuple[np.ndarray, ...]
    tables: tuple[tuple[np.ndarray, np.ndarray], ...]

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for p, (w, (t1, t2)) in enumerate(zip(self.weights, self.tables)):
            out.update({f"guided_weights_{p}": w, f"guided_first_{p}": t1,
                        f"guided_second_{p}": t2})
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "GuidedModel | None":
        if "guided_weights_0" not in arrays:
            return None
        return cls(tuple(arrays[f"guided_weights_{p}"].astype(np.int64) for p in range(3)),
                   tuple((arrays[f"guided_first_{p}"], arrays[f"guided_second_{p}"])
                         for p in range(3)))

    def pass_rows(self, x_hat: np.ndarray, known: np.ndarray, index: int,
                  max_error: int) -> tuple[np.ndarray, np.ndarray]:
        """The coding rows of one pass, given the decoded pixels: the distinct rows (U, bins)
        float64 and, per pixel (N, pixels), which of them it takes.

        Most pixels share a context pair with others (about 220 distinct pairs in an MNIST
        image's 784 pixels), so each distinct row is built once, and each image's coder call
        reads its rows copied into one reused buffer (`_image_rows`): the (N, pixels, 256)
        float64 rows, 200 MB per 128 images, are never made.
        """
        first, second = _contexts(_features(x_hat, known, index), self.weights[index])
        pairs, which = _distinct(first * CONTEXTS + second)
        t1, t2 = self.tables[index]
        rows = t1[pairs // CONTEXTS].astype(np.float64)  # integer sums: exact in float64
        rows += t2[pairs % CONTEXTS]
        return _bin_probabilities(rows, max_error), which

    def encode(self, latent: np.ndarray, latent_probabilities: np.ndarray, pixels: np.ndarray,
               x_hat: np.ndarray, max_error: int) -> list[bytes]:
        """Streams (latent, then passes) of many images: pixels and x_hat (N, 28, 28)."""
        streams = []
        for start in range(0, len(pixels), _ENCODE_GROUP):
            group = slice(start, start + _ENCODE_GROUP)
            streams += self._encode_group(latent[group], latent_probabilities, pixels[group],
                                          x_hat[group], max_error)
        return streams

    def _encode_group(self, latent: np.ndarray, latent_probabilities: np.ndarray,
                      pixels: np.ndarray, x_hat: np.ndarray, max_error: int) -> list[bytes]:
        q, known = _bins(pixels, max_error)
        per_pass = [self.pass_rows(x_hat, known, i, max_error) for i in range(3)]
        # One table of distinct rows for all passes; each image's pixels index it in coding order.
        rows = np.concatenate([r for r, _ in per_pass])
        firsts = np.cumsum([0] + [len(r) for r, _ in per_pass[:-1]])
        which = np.concatenate([w + f for (_, w), f in zip(per_pass, firsts)], axis=1)
        values = np.concatenate([q[:, mask] for mask in PASSES], axis=1).astype(np.int32)
        totals = rows.sum(axis=1)
        buffer = np.empty((which.shape[1], rows.shape[1]))
        streams = []
        for n in range(len(pixels)):
            streams.append(_encode_trimmed(latent[n].astype(np.int32), latent_probabilities,
                                           values[n], _image_rows(rows, which[n], buffer),
                                           totals[which[n]]))
        return streams

    def decode_passes(self, decoders: list, x_hat: np.ndarray, max_error: int) -> np.ndarray:
        """The pixels (N, 28, 28) uint8 of many images whose decoders stand after the latent."""
        q = np.zeros(x_hat.shape, np.int32)
        known = np.zeros(x_hat.shape, np.int32)
        for i, mask in enumerate(PASSES):
            rows, which = self.pass_rows(x_hat, known, i, max_error)
            buffer = np.empty((which.shape[1], rows.shape[1]))
            for n, decoder in enumerate(decoders):
                q[n][mask] = decoder.decode(FAMILY, _image_rows(rows, which[n], buffer))
            known = _dequantised(q, max_error)
        return known.astype(np.uint8)


def _distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, ascending, and where each key (any shape) stands among them: what
    np.unique(return_inverse=True) gives, through a plain sort of keys with their positions
    packed into the low bits (several times faster than the argsort np.unique makes)."""
    flat = keys.ravel().astype(np.int64)
    position_bits = len(flat).bit_length()
    packed = np.sort((flat << position_bits) | np.arange(len(flat)))
    ordered = packed >> position_bits
    starts = np.ones(len(ordered), bool)  # where a new key begins
    starts[1:] = ordered[1:] != ordered[:-1]
    which = np.empty(len(flat), np.intp)
    which[packed & ((1 << position_bits) - 1)] = np.cumsum(starts) - 1
    return ordered[starts], which.reshape(keys.shape)


def _image_rows(rows: np.ndarray, which: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """One image's coding rows, rows[which], written into `buffer` (reused: no new memory)."""
    return np.take(rows, which, axis=0, out=buffer)


def _bins(pixels: np.ndarray, max_error: int) -> tuple[np.ndarray, np.ndarray]:
    """(q, the pixels the decoder gets): bins of width 2k+1 fixed in the value domain."""
    q = (pixels.astype(np.int32) + max_error) // (2 * max_error + 1)
    return q, _dequantised(q, max_error)


def _dequantised(q: np.ndarray, max_error: int) -> np.ndarray:
    return np.minimum(q * (2 * max_error + 1), 255).astype(np.int32)


def _bin_probabilities(rows: np.ndarray, max_error: int) -> np.ndarray:
    """Integer mass of each bin q (values q(2k+1)-k .. q(2k+1)+k) of integer-valued float64
    rows, as float64 (exact: every sum stays far below 2**53)."""
    if max_error == 0:
        return rows.astype(np.float64, copy=False)
    width = 2 * max_error + 1
    cumulative = np.concatenate([np.zeros(rows.shape[:-1] + (1,), rows.dtype),
                                 np.cumsum(rows, axis=-1)], axis=-1)
    centres = np.arange((255 + max_error) // width + 1) * width
    lo, hi = np.clip(centres - max_error, 0, 256), np.clip(centres + max_error + 1, 0, 256)
    # Fancy indexing on the last axis leaves a strided array; the coder needs a contiguous one.
    return np.ascontiguousarray(cumulative[..., hi] - cumulative[..., lo], np.float64)


def _encode_trimmed(latent: np.ndarray, latent_probabilities: np.ndarray, values: np.ndarray,
                    probabilities: np.ndarray, totals: np.ndarray) -> bytes:
    """One image's stream (latent, then pixels) with every trailing byte the decoder does not
    need cut; `totals` are the row sums of `probabilities`.

    The cuts are tried shortest first from just below the information content. Arithmetic
    (`_final_interval`) skips every cut that cannot decode back, so the cut chosen is the one
    decoding each would choose; the first that can is checked by decoding, but only the
    symbols after a checkpoint holding at least _TAIL_BITS of information: a range decoder
    reads the stream front to back, so a cut that lies past the checkpoint's words cannot
    change any symbol before it.
    """
    bits = -np.log2(probabilities[np.arange(len(values)), values] / totals)
    split = max(0, len(values) - 1 - int(np.searchsorted(np.cumsum(bits[::-1]), _TAIL_BITS)))
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(latent, FAMILY, latent_probabilities)
    encoder.encode(values[:split], FAMILY, probabilities[:split])
    position, state = encoder.pos()
    encoder.encode(values[split:], FAMILY, probabilities[split:])
    full = encoder.get_compressed().astype(">u4").tobytes()
    interval = _final_interval(encoder, full)

    def decodes_back(candidate: bytes) -> bool:
        decoder = constriction.stream.queue.RangeDecoder(stream_words(candidate))
        if split and len(candidate) >= 4 * (position + 2):
            decoder.seek(position, state)
        else:
            decoder.decode(FAMILY, latent_probabilities)
            if not np.array_equal(decoder.decode(FAMILY, probabilities[:split]), values[:split]):
                return False
        return np.array_equal(decoder.decode(FAMILY, probabilities[split:]), values[split:])

    ideal = bits.sum() - np.log2(latent_probabilities[np.arange(len(latent)), latent]).sum()
    for length in range(max(0, int(ideal) // 8 - 1), len(full) + 1):
        for candidate in cut_candidates(full, length):
            if not _inside(candidate, interval):
                continue  # it cannot decode back
            try:
                if decodes_back(candidate):
                    return candidate
            except AssertionError:
                continue
    return full  # pragma: no cover  (the full output always decodes)


def _final_interval(encoder, full: bytes) -> tuple[int, int, int]:
    """(low, high, scale): the range coder's final interval [low, high) after the last symbol,
    as integers over the first `scale` bits of a stream.

    A decoder reads a stream as one number (a cut one padded with zeros) and picks each symbol
    by where that number lies in its current interval, which it narrows exactly as the encoder
    did. So a stream decodes back to every symbol if and only if its number lies in the final
    interval. `decodes_back`'s seek gives the same answer: it is used only for cuts that keep
    the checkpoint's two words, which move the number by at most one unit of those 64 bits,
    too little to wrap the decoder's arithmetic.

    encoder.pos() gives the interval's start as the 64-bit `lower` that follows `end` words,
    and its width. The sealed stream `full` is those words, then the top word of `lower`
    rounded up to a multiple of 2**32 (and a zero word where needed): its first `end` words are
    the words before `lower`, plus one where that rounding carried out of the 64 bits (possible
    only after held-back words, constriction's inverted situation).
    """
    end, (lower, width) = encoder.pos()
    scale = 32 * (end + 2)  # the sealed stream is at most end + 2 words long
    number = int.from_bytes(full, "big") << (scale - 8 * len(full))
    carried = lower + (1 << 32) - 1 >= 1 << 64
    low = (((number >> 64) - carried) << 64) + lower
    return low, low + width, scale


def _inside(candidate: bytes, interval: tuple[int, int, int]) -> bool:
    """Whether a cut stream's number lies in the final interval of `_final_interval`."""
    low, high, scale = interval
    return low <= int.from_bytes(candidate, "big") << (scale - 8 * len(candidate)) < high


def fit_guided(images: np.ndarray, x_hat: np.ndarray, chunk: int = 4000) -> GuidedModel:
    """Fit the predictor weights and histogram tables on training images and their x_hat."""
    weights, tables = [], []
    for i, mask in enumerate(PASSES):
        w = _fit_weights(images[:20000], x_hat[:20000], i)
        counts = np.zeros((2, CONTEXTS * 256), np.int64)
        for start in range(0, len(images), chunk):  # features of every image at once are GBs
            part = images[start : start + chunk]
            features = _features(x_hat[start : start + chunk].astype(np.int32),
                                 part.astype(np.int32), i)
            values = part[:, mask].astype(np.int64).ravel()
            for kind, context in enumerate(_contexts(features, w)):
                counts[kind] += np.bincount(context.ravel() * 256 + values,
                                            minlength=CONTEXTS * 256)
        tables.append(tuple(_table(c) for c in counts))
        weights.append(w)
    return GuidedModel(tuple(weights), tuple(tables))


def _fit_weights(images: np.ndarray, x_hat: np.ndarray, index: int) -> np.ndarray:
    """Least-squares predictor of one pass, as integers in 1/1024ths (rounding built in)."""
    features = _features(x_hat.astype(np.int32), images.astype(np.int32), index)
    flat = np.moveaxis(features, 1, -1).reshape(-1, features.shape[1]).astype(np.float64)
    values = images[:, PASSES[index]].astype(np.float64).ravel()
    solution = np.linalg.lstsq(np.c_[flat, np.ones(len(flat))], values, rcond=None)[0]
    w = np.rint(solution * (1 << _WEIGHT_SHIFT)).astype(np.int64)
    w[-1] += 1 << (_WEIGHT_SHIFT - 1)  # the shift then rounds to nearest
    return w


def _table(counts: np.ndarray) -> np.ndarray:
    """Counts per context, smoothed and scaled to integer rows of one total (entries >= 1)."""
    counts = counts.reshape(CONTEXTS, 256).astype(np.float64) + 0.3
    scaled = np.floor(counts * (_ROW_TOTAL / counts.sum(axis=1, keepdims=True)))
    return np.maximum(1, scaled).astype(np.uint16)
