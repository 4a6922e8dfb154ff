"""Which installed model codes each image under `--model auto` (the default).

A colour image goes to the colour model, unless it is a picture of a digit that nic's digit
readers read surely and the colour model's thumbnail would lose; a grey image goes to the
compression model that reconstructs it best relative to its own floor, its classifiers settling
the close calls. Each model then checks and escalates its own files (codec/escalate.py).
"""

from collections.abc import Callable

import numpy as np

from .errors import NicError
from .images import Geometry, _fit, _resize, has_colour, prepare, restore
from .residual import SIZE
from .runtime import Model, compression_models, installed_models, load_model

__all__ = ["AUTO", "default_model", "shipped", "model_input", "choose_models", "colour_rows",
           "digits_the_colour_model_loses"]

AUTO = "auto"


def default_model() -> str:
    """The first installed compression model: what `auto` means without fidelity settings."""
    names = [n for n in compression_models() if shipped(installed_models()[n])]
    if not names:
        raise NicError("no compression model is installed")
    return "mnist" if "mnist" in names else names[0]


def shipped(card: dict) -> bool:
    """auto chooses among the shipped models only, so that its files decode anywhere nic is
    installed; your own models are used when named."""
    return card.get("source", "shipped") == "shipped"


def colour_rows(model: str, inputs: list) -> dict[int, Model]:
    """{index: colour model} of the images given to the colour model: all for a colour model
    named, the colour ones for auto (digits_the_colour_model_loses may then take some back)."""
    if model != AUTO:
        net = load_model(model)
        return {i: net for i in range(len(inputs))} if net.channels == 3 else {}
    # The VP8 model (codec/vp8.py) codes at full size where auto's colour model keeps a
    # thumbnail: a different promise, so it is used when named, never chosen.
    names = [n for n in compression_models()
             if installed_models()[n].get("channels", 1) == 3 and shipped(installed_models()[n])
             and installed_models()[n].get("kind") != "vp8"]
    if not names:
        return {}
    net = load_model(names[0])
    return {i: net for i, (pixels, _) in enumerate(inputs) if has_colour(pixels)}


def model_input(grey: np.ndarray, net: Model) -> tuple[np.ndarray, Geometry]:
    """The model's 28x28 input and the geometry that draws it back (codec/normalise.py). A
    28x28 image given to a model whose objects fill the field (Fashion-MNIST, box side 28) is
    taken as it is: its border is the object, not paper, and levelling it would change it."""
    from .normalise import normalise

    box = net.card.get("box_side", 20)
    if box >= SIZE and grey.shape == (SIZE, SIZE):
        return prepare(grey)
    return normalise(grey, box)


# Models whose margins (dB over each one's out-of-domain floor) lie this close are both
# plausible for an image: a blurred digit the Fashion model happens to reconstruct a little
# better, a plain bag the digit model draws well. On the first 2,000 MNIST test digits the
# Fashion model is ahead by at most 1.1 dB, and two of the 11 digits it won came back as another
# digit; on Fashion-MNIST test items the digit model comes within 3 dB for about 1 %.
CONTESTED_DB = 3.0


def choose_models(greys: list) -> tuple[list[Model], list, list | None]:
    """For model=auto: per image, the compression model that reconstructs it best relative to
    its own out-of-domain floor, so a shoe goes to the Fashion model and a digit to MNIST's.
    Where two models come close, the one whose default-level file keeps what every candidate's
    classifier reads in the image wins: each check reads only its own domain, so a digit the
    Fashion model turns into another digit, or a bag the digit model turns into a shirt, would
    otherwise pass unnoticed. Returns the model of each image, its (model image, Geometry) for
    that model and its (latent, default-level decoded image), or None where none were made."""
    from .escalate import domain_margins
    from .fidelity import checker_for

    candidates = _grey_candidates()
    if len(candidates) <= 1:
        only = candidates[0] if candidates else load_model(default_model())
        return [only] * len(greys), [None] * len(greys), None
    prepared = [[model_input(grey, net) for grey in greys] for net in candidates]
    measured = [domain_margins(net, checker_for(net), np.stack([image for image, _ in rows]))
                for net, rows in zip(candidates, prepared)]
    margins = np.stack([margin for margin, _, _ in measured])
    names = [net.name for net in candidates]
    first = names.index(default_model()) if default_model() in names else None
    if first is not None:
        margins[_objects_only_others_find(prepared, first)] = -np.inf
    ranked = np.sort(margins, axis=0)
    contested = np.flatnonzero(ranked[-1] - ranked[-2] < CONTESTED_DB)
    if len(contested):
        keeps = _keeps_every_reading(candidates, prepared, [d for _, d, _ in measured], contested)
        margins[:, contested] += np.where(keeps, 2 * CONTESTED_DB, 0.0)
        if first is not None:
            to_default = contested[_default_keeps_its_reading(candidates[first], prepared[first],
                                                              keeps, contested)]
            margins[:, to_default] = -np.inf
            margins[first, to_default] = np.inf
    chosen = margins.argmax(axis=0)
    return ([candidates[c] for c in chosen], [prepared[c][i] for i, c in enumerate(chosen)],
            [(measured[c][2][i], measured[c][1][i]) for i, c in enumerate(chosen)])


def _objects_only_others_find(prepared: list, default: int) -> np.ndarray:
    """(models, images) bool: where a model found one object that the default model (index
    `default` of prepared's models) did not.

    Every model normalises with the same levelling and keeps a placement only when the picture
    drawn back resembles the input (codec/normalise.py); the models differ only in the box the
    object fills (20 of 28 for digits, all 28 for clothing). A picture that passes at one box and
    not at the other sits on that bound: what was found may be part of the object. A noisy
    16x17 typeset 3 passed at the clothing box as a 9x9 patch of its right side and came back
    from the Fashion model as a bar, with no warning. Such a picture stays with the default
    model, which keeps the whole picture and warns that it is not one object."""
    found = np.array([[geometry.placement is not None for _, geometry in rows]
                      for rows in prepared], dtype=bool)
    return found & ~found[default]


def _default_keeps_its_reading(default: Model, prepared: list, keeps: np.ndarray,
                               rows: np.ndarray) -> np.ndarray:
    """Of contested rows, those no candidate's default-level file keeps every reading of, and
    that the default model's classifier reads clearly: the default model codes them, and its
    auto ladder then keeps that reading (an MNIST 1 that the Fashion model draws 0.9 dB better
    came back as a blob read as an 8, checked only against the clothing reading). prepared:
    the default model's (model image, Geometry) of every image."""
    from .fidelity import checker_for

    checker = checker_for(default)
    if checker.classifier is None:
        return np.zeros(len(rows), dtype=bool)
    readings = checker.readings(np.stack([prepared[i][0] for i in rows]))
    return ~keeps.any(axis=0) & ~checker.unclear(readings)


def _keeps_every_reading(candidates: list, prepared: list, decoded: list,
                         rows: np.ndarray) -> np.ndarray:
    """(models, len(rows)) bool: does each model's default-level decode of each image, drawn
    back at the image's size, read as the same class as the image under every candidate's
    classifier (each preparing both as its model does)?"""
    from .fidelity import checker_for

    keeps = np.ones((len(candidates), len(rows)), dtype=bool)
    for reader, reader_inputs in zip(candidates, prepared):
        checker = checker_for(reader)
        if checker.classifier is None:
            continue
        before = checker.probabilities(np.stack([reader_inputs[i][0] for i in rows]))
        for m, (model_inputs, images) in enumerate(zip(prepared, decoded)):
            drawn = [restore(images[i], model_inputs[i][1]) for i in rows]
            after = checker.probabilities(np.stack([
                _as_read(d, reader_inputs[i][1], reader) for d, i in zip(drawn, rows)]))
            keeps[m] &= after.argmax(axis=1) == before.argmax(axis=1)
    return keeps


def _as_read(drawn: np.ndarray, input_geometry: Geometry, reader: Model) -> np.ndarray:
    """A decoded image as `reader` reads it, prepared as the input was: an input the reader took
    as it is (a 28x28 image, nothing to normalise) is compared with the decoded pixels as they
    are, not with a re-normalised copy (which would tidy a blob into the digit it should show)."""
    if drawn.shape == (SIZE, SIZE) and not input_geometry.normalised:
        return 255 - drawn if input_geometry.inverted else drawn
    return model_input(drawn, reader)[0]


def _grey_candidates() -> list[Model]:
    """The shipped grey compression models auto chooses among (finer models only refine)."""
    cards = installed_models()
    return [load_model(name) for name in compression_models()
            if cards[name].get("fidelity") and shipped(cards[name])
            and cards[name].get("channels", 1) == 1 and not cards[name].get("refines")]


# How surely nic's digit readers (those that judge clarity) must both read the same digit in a
# colour picture before the picture may leave the colour model for the digit model. Classifiers
# read photos surely too: of 223 colour training images of the CIFAR-10 subset larger than the
# field (enlarged 3x, and scikit-image's colour pictures) with one object on plain background,
# both readers agreed at 0.95 or more on 4 (3 of them then failing the check below), at 0.98 on
# 1 (passing it); of 69 typeset colour digits, on 68 at either
# (python tools/colour_digits.py --judge ... --split train).
SURE_READING = 0.98


def digits_the_colour_model_loses(greys: list, decode: Callable) -> list[int]:
    """Of the colour pictures larger than the colour model's field that auto gave it: those
    to hand to the digit model instead, by index. greys: the pictures in grey; decode(rows):
    the colour files of those rows decoded, in grey. A picture goes when normalising finds one
    object on plain paper, the digit readers that judge clarity both read it as the same digit
    at SURE_READING or more, and the colour file fails the digit model's own check (pixels and
    every reader), both read through the picture's placement and levels
    (normalise.place_like, so a smudge is not tidied back into the digit). A red 3 typeset on
    pale yellow paper came back from `cifar` as a brown smudge, a 1 as an hourglass, with only
    the thumbnail warning; the digit model keeps them in about 20 bytes."""
    from .fidelity import checker_for
    from .normalise import place_like

    net = load_model(default_model())
    checker = checker_for(net)
    if checker is None or checker.classifier is None:
        return []
    greys = [_at_most(grey, ROUTING_SIDE) for grey in greys]
    made = [model_input(grey, net) for grey in greys]
    placed = [i for i, (_, geometry) in enumerate(made) if geometry.placement is not None]
    if not placed:
        return []
    read = checker.clarity_readers(checker.readings(np.stack([made[i][0] for i in placed])))
    top = read.argmax(axis=2)
    sure = (top == top[:, :1]).all(axis=1) & (read.max(axis=2).min(axis=1) >= SURE_READING)
    rows = [placed[k] for k in np.flatnonzero(sure)]
    if not rows:  # most colour pictures: no decoding needed
        return []
    before = np.stack([place_like(greys[i], made[i][1]) for i in rows])
    after = np.stack([place_like(_resize(decoded, greys[i].shape[::-1]), made[i][1])
                      for decoded, i in zip(decode(rows), rows)])
    kept = checker.faithful(before, after, checker.readings(before))
    return [i for i, ok in zip(rows, kept) if not ok]


# The side a colour picture is brought down to before the digit model reads it for routing:
# normalising a 2000x2000 photo took a second, which every large colour photo would pay.
ROUTING_SIDE = 224


def _at_most(grey: np.ndarray, side: int) -> np.ndarray:
    """grey shrunk (area-averaged, aspect kept) so that its longer side is at most `side`."""
    if max(grey.shape) <= side:
        return grey
    return _resize(grey, _fit(grey.shape[::-1], side))
