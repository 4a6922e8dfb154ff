"""Adaptive lossless coding of a grey image at its own size: interlaced passes, one coder call each.

The image is coded coarse to fine, as a pyramid of interlaced passes (after FLIF's and
PNG's Adam7 interlacing, with the pixel order of a quadtree):

    seed      the pixel (0, 0)
    for h = 2^k, ..., 2, 1 (the largest power of two below the image's longer side first):
      pass D  pixels at (odd, odd) multiples of h: their 4 diagonal neighbours at distance h
              (the grid of step 2h) are decoded;
      pass E  pixels at (odd, even) and (even, odd) multiples of h: their 4 neighbours above,
              below, left and right at distance h (grid of step 2h and pass D) are decoded.

So every pixel after the first few has decoded neighbours on all sides. Each pass is one
vectorised call of constriction's range coder (in a large image, one per slice of 2^18 pixels:
the same stream, in bounded memory) under a quantised Laplace distribution with a mean and
scale per pixel:

* mean: the neighbours' average, each opposite pair weighted by how flat it is (an
  edge-directed interpolation: across an edge the pair differs, along it it agrees);
* scale: from a context, the local activity (the neighbours' spread plus the prediction errors
  already made at those neighbours), through a table of mean absolute errors per context that
  both sides update after every pass from the pixels just decoded. The image adapts its own
  model; nothing is stored but the coded stream.

All of it is integer arithmetic on the decoded pixels (means in 1/16ths, scales in 1/16ths), so
encoder and decoder compute bit-identical parameters; only the quantised Laplace itself is
evaluated by constriction.

Near-lossless coding with max error k uses the same coder on the quantised image
q = (x + k) // (2k + 1) (JPEG-LS's bins of width 2k + 1, fixed in the value domain, so the
prediction works on quantised neighbours); the decoder returns min(q (2k + 1), 255), within k of x.
"""

from functools import lru_cache
from typing import NamedTuple

import constriction
import numpy as np

from .entropy import shortest_stream, stream_words
from .errors import NicFormatError

__all__ = ["SCALE_STEPS", "encode_adaptive", "decode_adaptive", "quantise", "dequantise"]

# Context thresholds on the activity (grey levels of the quantised image).
_ACTIVITY_EDGES = np.array([1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 90, 128, 180])
_CONTEXTS = len(_ACTIVITY_EDGES) + 1
_PRIOR_COUNT = 2  # pseudo-pixels behind the starting scale of each context
_MIN_SCALE16 = 1  # 1/16 of a grey level: a flat area may cost almost nothing
_SINGLE_GRADIENT = 8  # how flat a pair with one neighbour off the image counts as
# Laplace scale = mean absolute error x SCALE_STEPS[i] / 16; the encoder picks i per image (the
# mean absolute error of a fractional mean overstates the spread of integer errors).
SCALE_STEPS = (8, 10, 11, 12, 14, 16, 20)
_CUT_PIXELS = 4096  # trailing bytes are trimmed (checked by decoding) up to this many pixels


def quantise(pixels: np.ndarray, max_error: int) -> tuple[np.ndarray, int]:
    """(q, top): pixels in bins of width 2k+1 (q = (x + k) // (2k + 1)) and the largest q."""
    width = 2 * max_error + 1
    return (pixels.astype(np.int32) + max_error) // width, (255 + max_error) // width


def dequantise(q: np.ndarray, max_error: int) -> np.ndarray:
    """The pixels a decoder returns for q: each bin's centre, clipped to 255 (within k of x)."""
    return np.minimum(q.astype(np.int32) * (2 * max_error + 1), 255).astype(np.uint8)


class _Pass(NamedTuple):
    """One pass: its pixels (flat indices) and, per pixel, 4 neighbours in two opposite pairs
    at distance h (`near`) and the points 3h away on the same lines (`far`), as flat indices
    with a flag for lying inside the image."""

    pixels: np.ndarray
    near: np.ndarray
    near_inside: np.ndarray
    far: np.ndarray
    far_inside: np.ndarray


# Pixels per slice of a pass: a pass of a 16-megapixel image is computed a slice at a time, so a
# decoder's memory stays near 100 MB whatever size a (perhaps crafted) file names.
_SLICE = 1 << 18


def _plan(height: int, width: int):
    """The passes of an image size, in coding order; each pass a sequence of slices. Small
    sizes are computed once (28x28 images share one plan); large ones slice by slice."""
    if height * width <= _SLICE:
        return _small_plan(height, width)
    return (_slices(height, width, grids, offsets) for grids, offsets in _passes(height, width))


@lru_cache(maxsize=64)
def _small_plan(height: int, width: int) -> tuple[tuple["_Pass", ...], ...]:
    return tuple(tuple(_slices(height, width, grids, offsets))
                 for grids, offsets in _passes(height, width))


def _passes(height: int, width: int):
    """(grids, offsets) of each pass: the seed, then passes D and E for h = 2^k ... 1. A pass's
    pixels are its grids' in order, each grid row by row; offsets lead to its 4 neighbours."""
    yield [(range(0, 1), range(0, 1))], np.zeros((0, 2), np.intp)
    h = 1 << max(0, (max(height, width) - 1).bit_length() - 1)
    while h >= 1:
        step = 2 * h
        diagonal = np.array([[-h, -h], [h, h], [-h, h], [h, -h]])
        straight = np.array([[-h, 0], [h, 0], [0, -h], [0, h]])
        d_grids = [(range(h, height, step), range(h, width, step))]
        e_grids = [(range(0, height, step), range(h, width, step)),
                   (range(h, height, step), range(0, width, step))]
        for grids, offsets in ((d_grids, diagonal), (e_grids, straight)):
            if any(len(rows) and len(cols) for rows, cols in grids):
                yield grids, offsets
        h //= 2


def _slices(height: int, width: int, grids, offsets):
    """The _Pass slices of one pass: whole grid rows, at most about _SLICE pixels each."""
    for rows, cols in grids:
        if not (len(rows) and len(cols)):
            continue
        per_slice = max(1, _SLICE // len(cols))
        for first in range(0, len(rows), per_slice):
            r, c = _grid(rows[first : first + per_slice], cols)
            yield _Pass(r * width + c, *_offsets(r, c, offsets, height, width),
                        *_offsets(r, c, 3 * offsets, height, width))


def _grid(rows: range, cols: range) -> tuple[np.ndarray, np.ndarray]:
    r, c = np.meshgrid(np.asarray(rows, np.intp), np.asarray(cols, np.intp), indexing="ij")
    return r.ravel(), c.ravel()


def _offsets(rows, cols, offsets, height, width) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (k, n) of the points at offsets (clamped into the image), and which lie inside."""
    r = rows[None, :] + offsets[:, 0:1]
    c = cols[None, :] + offsets[:, 1:2]
    inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
    return np.clip(r, 0, height - 1) * width + np.clip(c, 0, width - 1), inside


def _predict(recon: np.ndarray, errors: np.ndarray, step: _Pass, top: int):
    """Per pixel: the mean in 1/16ths and the context (both integers), from flat images."""
    n = len(step.pixels)
    if step.near.shape[0] == 0:  # the seed pixel: nothing known
        return np.full(n, top * 8, np.int64), np.full(n, _CONTEXTS - 1)
    inside, outside = step.near_inside, step.far_inside
    values = np.where(inside, recon[step.near], 0).astype(np.int64)
    outer = np.where(outside, recon[step.far], 0).astype(np.int64)
    weight_sum = np.zeros(n, np.int64)
    total = np.zeros(n, np.int64)
    spread = np.zeros(n, np.int64)
    for a, b in ((0, 1), (2, 3)):  # opposite pairs
        both = inside[a] & inside[b]
        gradient = np.where(both, np.abs(values[a] - values[b]), _SINGLE_GRADIENT)
        weight = 4096 // (2 + gradient)
        single = np.where(inside[a], values[a], values[b]) * 16
        linear = (values[a] + values[b]) * 8
        cubic = (9 * (values[a] + values[b]) - outer[a] - outer[b])
        four = both & outside[a] & outside[b]
        # Cubic along the pair where all four points exist, kept near the pair's range.
        lo, hi = np.minimum(values[a], values[b]) * 16, np.maximum(values[a], values[b]) * 16
        cubic = np.clip(cubic, lo - (hi - lo) // 2, hi + (hi - lo) // 2)
        linear = np.where(four, cubic, linear)
        interp = np.where(both, linear, single)
        w = np.where(inside[a] | inside[b], weight, 0)
        total += w * interp
        weight_sum += w
        spread += np.where(both, gradient, 0)
    mean16 = np.clip((total + weight_sum // 2) // weight_sum, 0, top * 16)
    near_errors = np.where(inside, errors[step.near], 0)
    # Errors already made next to a pixel predict its own: they count beside the spread.
    activity = (spread + near_errors.sum(axis=0) // 16) // 2
    return mean16, np.searchsorted(_ACTIVITY_EDGES, activity, side="right")


class _Scales:
    """Mean absolute error (1/16ths) per context, learnt from the pixels decoded so far."""

    def __init__(self):
        start = np.concatenate([[0], _ACTIVITY_EDGES]) * 8 + 8
        self.sums = start.astype(np.int64) * _PRIOR_COUNT
        self.counts = np.full(_CONTEXTS, _PRIOR_COUNT, np.int64)

    def scale16(self, contexts: np.ndarray) -> np.ndarray:
        return np.maximum(_MIN_SCALE16, self.sums[contexts] // self.counts[contexts])

    def update(self, contexts: np.ndarray, errors16: np.ndarray) -> None:
        self.sums += np.bincount(contexts, errors16, minlength=_CONTEXTS).astype(np.int64)
        self.counts += np.bincount(contexts, minlength=_CONTEXTS)


@lru_cache(maxsize=8)
def _family(top: int):
    return constriction.stream.model.QuantizedLaplace(0, top)


def _run(shape: tuple[int, int], top: int, step: int, code) -> np.ndarray:
    """The pass loop both sides share; `code(means16, scales16, pixels)` returns the values of
    one pass (the encoder looks them up, the decoder decodes them)."""
    recon = np.zeros(shape[0] * shape[1], np.int32)
    errors = np.zeros(shape[0] * shape[1], np.int64)
    scales = _Scales()
    for slices in _plan(*shape):
        # A pass's pixels depend only on earlier passes, so its slices may be coded one after
        # another; the scales learn from the whole pass at its end, as both sides agree.
        learnt = []
        for one in slices:
            mean16, contexts = _predict(recon, errors, one, top)
            scale16 = np.maximum(_MIN_SCALE16, scales.scale16(contexts) * step // 16)
            values = code(mean16, scale16, one.pixels)
            recon[one.pixels] = values
            error16 = np.abs(values.astype(np.int64) * 16 - mean16)
            errors[one.pixels] = error16
            learnt.append((contexts, error16))
        scales.update(*(np.concatenate(parts) for parts in zip(*learnt)))
    return recon.reshape(shape)


def encode_adaptive(q: np.ndarray, top: int) -> bytes:
    """Code a (H, W) image of integers in 0..top: one byte (the scale step), then the stream.

    The means and contexts do not depend on the scale step, so one pass loop gives every
    pixel's parameters; the step with the fewest ideal bits is then coded in one coder call.
    """
    q = q.astype(np.int32)
    flat = q.ravel()
    passes = []

    def collect(mean16, scale16, pixels):
        passes.append((flat[pixels], mean16, scale16))
        return flat[pixels]

    _run(q.shape, top, 16, collect)  # step 16/16: the scales as learnt
    values, means, base = (np.concatenate(parts) for parts in zip(*passes))
    bits = [_ideal_bits(values, means, np.maximum(_MIN_SCALE16, base * s // 16), top)
            for s in SCALE_STEPS]
    choice = int(np.argmin(bits))
    scales = np.maximum(_MIN_SCALE16, base * SCALE_STEPS[choice] // 16)
    encoder = constriction.stream.queue.RangeEncoder()
    means, scales = means / 16.0, scales / 16.0
    encoder.encode(values, _family(top), means, scales)
    if q.size > _CUT_PIXELS:
        return bytes([choice]) + encoder.get_compressed().astype(">u4").tobytes()

    def decodes_back(cut: bytes) -> bool:
        # The decoder rebuilds these very parameters from these very values, pass by pass, so
        # decoding the values under them in one call checks the whole decode.
        decoder = constriction.stream.queue.RangeDecoder(stream_words(cut))
        return np.array_equal(decoder.decode(_family(top), means, scales), values)

    # The cut lies within the coder's last two words: start the search there.
    start = max(0, encoder.num_bits() - 64)
    return bytes([choice]) + shortest_stream(encoder, start, decodes_back)


def _ideal_bits(values, means16, scales16, top) -> float:
    """-log2 P of the values under the truncated quantised Laplace the coder uses."""
    means, scales = means16 / 16.0, scales16 / 16.0

    def cdf(x):
        z = (x - means) / scales
        return np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0)), 1 - 0.5 * np.exp(-np.maximum(z, 0)))

    mass = cdf(values + 0.5) - cdf(values - 0.5)
    total = cdf(top + 0.5) - cdf(-0.5)
    return float(-np.log2(np.maximum(mass / total, 2.0 ** -24)).sum())


def decode_adaptive(payload: bytes, shape: tuple[int, int], top: int) -> np.ndarray:
    """Inverse of encode_adaptive: the (H, W) int32 image, or NicFormatError."""
    if not payload or payload[0] >= len(SCALE_STEPS):
        raise NicFormatError("adaptive payload has no valid scale step")
    decoder = constriction.stream.queue.RangeDecoder(stream_words(payload[1:]))
    family = _family(top)

    def decode(mean16, scale16, pixels):
        return decoder.decode(family, mean16 / 16.0, scale16 / 16.0)

    try:
        return _run(shape, top, SCALE_STEPS[payload[0]], decode)
    except (AssertionError, ValueError):
        raise NicFormatError("adaptive payload is not a valid range-coded stream") from None
