"""Bring a real-world image to MNIST's convention, the way MNIST itself was made.

LeCun, Cortes and Burges built MNIST by levelling each scanned digit to a clean background,
fitting its bounding box into a 20x20 square (keeping the aspect ratio, anti-aliased) and centring
its centre of mass in a 28x28 field. The compression models only know images made that way: a
digit on grey paper, in a corner, thin or huge, is far from anything they saw and comes back as a
different digit. `normalise` repeats MNIST's recipe on any grey image:

1. polarity: a light border means dark ink on paper; work on the inverted image (ink bright);
2. background: a plane fitted to the border pixels is subtracted (paper grey and gradients go);
3. contrast: values below the noise floor become 0, the ink level becomes 255;
4. placement: the ink's bounding box is fitted into 20x20 and its centre of mass centred.

It returns the 28x28 model image and a `Geometry` whose `placement` (the square of the original
image that the 28x28 field covers) and `levels` (paper and ink grey) let `images.restore` draw the
decoded digit back where it was, in its colours. An image that already follows the convention
(an MNIST digit) passes through untouched, so MNIST figures do not move.
"""

import numpy as np
from PIL import Image, ImageFilter

from .images import MODEL_SIZE, Geometry, _round, prepare, restore
from .format import LEVEL_STEP

__all__ = ["BOX_SIDE", "normalise", "place_like"]

BOX_SIDE = 20  # MNIST: the bounding box's longer side, inside the 28x28 field
_WORK_SIDE = 112  # resolution at which the box and centre of mass are measured
_MASS_TAIL = 0.003  # box edges are mass quantiles: a stray speck does not stretch the box
_NOISY = 6.0  # grey levels of background noise above which a 3x3 median runs first
_IMPULSES = 0.003  # share of frame pixels that are specks above which the median runs too
_SPECK_LEVELS = 48  # a pixel this far from its 3x3 median is a speck (salt or pepper)
# Drawn back at the original size, the normalised image must correlate this well with the input;
# below it normalising lost the object (a digit touching the border, odd lighting): fall back.
_RESEMBLANCE = 0.6
_SPECK = 0.25  # after a light blur, mass under this share of the peak is not the object
_CLEAN = 3.0  # paper and noise below this: the values are left as they are


def normalise(grey: np.ndarray, box_side: int = BOX_SIDE) -> tuple[np.ndarray, Geometry]:
    """Grey uint8 (H, W) -> (model image uint8 (28, 28), Geometry with placement and levels).

    box_side: the object's longer side in the 28x28 field (20 for MNIST; Fashion-MNIST items
    fill the field: 28). Falls back to `images.prepare` (fit the whole image, no levels) when
    nothing stands out from the background.
    """
    model_fallback, fallback = prepare(grey)
    height, width = grey.shape
    ink_bright = (255 - grey if fallback.inverted else grey).astype(np.float32)
    levelled, paper, ink = _level(ink_bright)
    if ink is None:
        return model_fallback, fallback
    placement = _placement(levelled, box_side)
    if placement is None:
        return model_fallback, fallback
    levels = _levels(paper, ink, fallback.inverted)
    if (width, height) == (MODEL_SIZE, MODEL_SIZE) and (levels is None or _near_identity(placement)):
        placement = None  # a 28x28 image on a clean background is already the model's input
    model = _render(levelled, placement) if placement else _round(levelled)
    geometry = Geometry(width, height, fallback.inverted if levels is None else False,
                        placement=placement, levels=levels)
    if placement is not None and _correlation(grey, restore(model, geometry)) < _RESEMBLANCE:
        return model_fallback, fallback
    return model, geometry


def place_like(grey: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Another grey image of the input's size (a decoded file) seen through the input's
    Geometry: the 28x28 field that the input's placement and paper and ink levels make of it,
    nothing measured anew. A faint smudge stays a faint smudge, where normalising it would
    stretch its contrast and box it into a digit. Needs a placement."""
    if geometry.levels is not None:
        paper, ink = geometry.levels
        field = (grey.astype(np.float32) - paper) * np.float32(255.0 / (ink - paper))
    else:
        field = (255 - grey if geometry.inverted else grey).astype(np.float32)
    return _render(np.clip(field, 0, 255), geometry.placement)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two grey images of one size, compared at 64 pixels at most."""
    size = (min(64, a.shape[1]), min(64, a.shape[0]))
    x, y = (np.asarray(Image.fromarray(i).resize(size, Image.Resampling.BOX), np.float64).ravel()
            for i in (a, b))
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def _level(image: np.ndarray):
    """(levelled float32 in [0, 255], paper level, ink level or None if no ink stands out)."""
    frame = _frame_mask(image.shape)
    background, on_paper = _fit_plane(image, frame)
    residual = image - background
    noise = _frame_noise(residual[frame], on_paper)
    paper = float(np.median(background))
    median = _median3(image)
    if noise > _NOISY or _speck_share(image, median, frame) > _IMPULSES:  # a median removes
        residual = median - background  # specks and grain that a threshold keeps as ink
        noise = _frame_noise(residual[frame], on_paper)  # what is left for the threshold
    floor = max(4.0, 3.0 * noise)
    inked = residual > floor
    if inked.sum() < 2:
        return None, paper, None
    ink = float(np.percentile(residual[inked], 95))
    if paper <= _CLEAN and noise <= _CLEAN:
        return image, 0.0, 255.0  # a clean black background, as in MNIST: keep every value
    if ink - floor < 8:
        return None, paper, None
    levelled = np.clip((residual - floor) * (255.0 / (ink - floor)), 0, 255)
    return levelled.astype(np.float32), paper, paper + ink


def _speck_share(image: np.ndarray, median: np.ndarray, frame: np.ndarray) -> float:
    """Share of frame pixels far from their 3x3 median: salt and pepper, which the noise's MAD
    does not see, and not the smooth edge of a stroke that reaches the frame."""
    return float(np.mean(np.abs(image - median)[frame] > _SPECK_LEVELS))


def _median3(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(_round(image)).filter(ImageFilter.MedianFilter(3)),
                      np.float32)


def _frame_noise(frame_residual: np.ndarray, on_paper: np.ndarray) -> float:
    """The paper's noise as a robust standard deviation: ink in the frame is not noise, so only
    paper pixels count."""
    deviation = np.abs(frame_residual - np.median(frame_residual[on_paper]))
    return 1.4826 * float(np.median(deviation[on_paper]))


def _frame_mask(shape: tuple[int, int]) -> np.ndarray:
    """The outer frame of the image: 1/16 of each side, at least 1 pixel."""
    height, width = shape
    t = max(1, min(height, width) // 16)
    mask = np.ones(shape, dtype=bool)
    if height > 2 * t and width > 2 * t:
        mask[t:-t, t:-t] = False
    return mask


def _fit_plane(image: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares plane a + b x + c y through the paper in the frame, evaluated over the whole
    image, and which frame pixels are paper (bool, one per frame pixel).

    Ink is brighter than paper here, and a digit cropped tight (a UCI digit, a character cut
    from a line) covers much of the frame: a plane through all of it would sit inside the
    strokes and eat them. So the fit starts from the darker part of each stretch of frame (paper
    wherever the ink leaves any) and keeps the pixels within a few noise widths of the plane,
    the noise measured below it only: paper noise is symmetric, ink lies above.
    """
    rows, cols = np.nonzero(frame)
    values = image[rows, cols].astype(np.float64)
    height, width = image.shape
    if not values.any():  # a black frame, as in MNIST: the fit below would give this exactly
        return np.zeros(image.shape, np.float32), np.ones(len(values), dtype=bool)
    basis = np.stack([np.ones_like(values), cols / width, rows / height], axis=1)
    paper = _darker_part(values, rows, cols, height, width)
    for _ in range(6):
        coef, *_ = np.linalg.lstsq(basis[paper], values[paper], rcond=None)
        error = values - basis @ coef
        below = -error[paper & (error <= 0)]
        spread = 1.4826 * np.median(below) + 2.0 if len(below) else 2.0
        kept = error <= 2.5 * spread
        if kept.sum() < 3 or np.array_equal(kept, paper):
            break
        paper = kept
    ys, xs = np.mgrid[0:height, 0:width]
    return (coef[0] + coef[1] * xs / width + coef[2] * ys / height).astype(np.float32), paper


def _darker_part(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, height: int,
                 width: int) -> np.ndarray:
    """Frame pixels at or below the 30th percentile of their eighth of the frame (by angle
    around the centre): the plane's first guess follows a lighting gradient but not the ink."""
    angle = np.arctan2(rows + 0.5 - height / 2, cols + 0.5 - width / 2)
    sector = np.minimum(((angle + np.pi) / (2 * np.pi) * 8).astype(int), 7)
    darker = np.zeros(len(values), dtype=bool)
    for s in range(8):
        inside = sector == s
        if inside.any():
            darker[inside] = values[inside] <= np.percentile(values[inside], 30)
    return darker


def _placement(levelled: np.ndarray, box_side: int) -> tuple[int, int, int] | None:
    """(left, top, side) of the square of the image that becomes the 28x28 field, or None."""
    height, width = levelled.shape
    scale = max(1.0, max(height, width) / _WORK_SIDE)
    small = levelled
    if scale > 1:  # measure on a reduced copy: box and centre of mass need no more
        size = (max(1, round(width / scale)), max(1, round(height / scale)))
        small = np.asarray(Image.fromarray(levelled, "F").resize(size, Image.Resampling.BOX))
    mass = _object_mass(small)
    total = mass.sum()
    if total <= 0:
        return None
    sx, sy = width / small.shape[1], height / small.shape[0]
    x0, x1, cx = _extent(mass.sum(axis=0), total)
    y0, y1, cy = _extent(mass.sum(axis=1), total)
    box = max((x1 - x0) * sx, (y1 - y0) * sy)
    side = max(1, round(box * MODEL_SIZE / box_side))
    left = round(cx * sx - side / 2)
    top = round(cy * sy - side / 2)
    return left, top, side


def _object_mass(small: np.ndarray) -> np.ndarray:
    """The ink's mass without specks: a light blur spreads an isolated speck below _SPECK of the
    peak, where strokes stay above it."""
    padded = np.pad(small.astype(np.float64), 1, mode="edge")
    height, width = small.shape
    blurred = sum(padded[i : i + height, j : j + width] for i in range(3) for j in range(3)) / 9
    peak = np.percentile(blurred, 99.5)
    return np.where(blurred >= _SPECK * peak, small, 0.0).astype(np.float64)


def _extent(profile: np.ndarray, total: float,
            tail: float = _MASS_TAIL) -> tuple[float, float, float]:
    """Start, end and centre of mass of a 1-D mass profile, in continuous pixel coordinates;
    `tail` of the mass is left out at each end."""
    cumulative = np.cumsum(profile) / total
    start = float(np.searchsorted(cumulative, tail))
    end = float(np.searchsorted(cumulative, 1 - tail)) + 1
    centre = float((profile * (np.arange(len(profile)) + 0.5)).sum() / total)
    return start, end, centre


def height_share(image: np.ndarray, tail: float = 0.02) -> float:
    """How tall the ink of a model image is for its width (mass extents, `tail` of the mass
    left out at each end), or 1.0 for an image without ink."""
    ink = image.astype(np.float64)
    total = ink.sum()
    if total <= 0:
        return 1.0
    top, bottom, _ = _extent(ink.sum(axis=1), total, tail)
    left, right, _ = _extent(ink.sum(axis=0), total, tail)
    return (bottom - top) / (right - left)


def _near_identity(placement: tuple[int, int, int]) -> bool:
    """A 28x28 image already boxed and centred like MNIST: keep its pixels as they are."""
    left, top, side = placement
    return abs(side - MODEL_SIZE) <= 3 and abs(left) <= 1 and abs(top) <= 1


def _render(levelled: np.ndarray, placement: tuple[int, int, int]) -> np.ndarray:
    """The 28x28 model image: the placement square of the levelled image, area-averaged."""
    left, top, side = placement
    height, width = levelled.shape
    # Pad so that the square lies inside the array; the outside is background (0).
    pad_left, pad_top = max(0, -left), max(0, -top)
    pad_right, pad_bottom = max(0, left + side - width), max(0, top + side - height)
    padded = np.pad(levelled, ((pad_top, pad_bottom), (pad_left, pad_right)))
    box = (left + pad_left, top + pad_top, left + pad_left + side, top + pad_top + side)
    resample = Image.Resampling.BOX if side >= MODEL_SIZE else Image.Resampling.BICUBIC
    square = Image.fromarray(padded.astype(np.float32), "F").resize(
        (MODEL_SIZE, MODEL_SIZE), resample, box=box)
    return _round(np.asarray(square))


def _levels(paper: float, ink: float, inverted: bool) -> tuple[int, int] | None:
    """(paper, ink) grey of the original to the nearest LEVEL_STEP (the file keeps them in one
    byte, docs/FORMAT.md version 5: within 8 grey levels, under what the latent changes), or None
    for MNIST's own 0 and 255 (either polarity)."""
    paper_step = int(round(paper / LEVEL_STEP))
    ink_step = int(round(min(ink, 255.0) / LEVEL_STEP))
    top = 255 // LEVEL_STEP
    if ink_step == paper_step:  # a faint image keeps some contrast
        ink_step = paper_step + 1 if paper_step < top else paper_step - 1
    if inverted:
        paper_step, ink_step = top - paper_step, top - ink_step
    if (paper_step, ink_step) == ((top, 0) if inverted else (0, top)):
        return None
    if (paper_step, ink_step) in ((top, 0), (0, top)):  # the other polarity's default: keep levels
        ink_step += 1 if ink_step == 0 else -1
    return paper_step * LEVEL_STEP, ink_step * LEVEL_STEP
