"""Which installed model codes each image under `--model auto` (the default).

A colour image goes to the colour model, unless that model's file would lose what a grey
model's classifier reads in it (a typeset digit on coloured paper); a grey image goes to the
compression model that reconstructs it best relative to its own floor, its classifiers settling
the close calls. Each model then checks and escalates its own files (codec/escalate.py).
"""

import numpy as np

from .errors import NicError
from .images import Geometry, has_colour, prepare, restore
from .residual import SIZE
from .runtime import Model, compression_models, installed_models, load_model

__all__ = ["default_model", "shipped", "model_input", "choose_models", "colour_rows",
           "colour_loses_reading"]

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
    """{index: colour model} of the images the colour model codes."""
    if model != AUTO:
        net = load_model(model)
        return {i: net for i in range(len(inputs))} if net.channels == 3 else {}
    names = [n for n in compression_models()
             if installed_models()[n].get("channels", 1) == 3 and shipped(installed_models()[n])]
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
    ranked = np.sort(margins, axis=0)
    contested = np.flatnonzero(ranked[-1] - ranked[-2] < CONTESTED_DB)
    if len(contested):
        keeps = _keeps_every_reading(candidates, prepared, [d for _, d, _ in measured], contested)
        margins[:, contested] += np.where(keeps, 2 * CONTESTED_DB, 0.0)
        names = [net.name for net in candidates]
        if default_model() in names:
            first = names.index(default_model())
            to_default = contested[_default_keeps_its_reading(candidates[first], prepared[first],
                                                              keeps, contested)]
            margins[:, to_default] = -np.inf
            margins[first, to_default] = np.inf
    chosen = margins.argmax(axis=0)
    return ([candidates[c] for c in chosen], [prepared[c][i] for i, c in enumerate(chosen)],
            [(measured[c][2][i], measured[c][1][i]) for i, c in enumerate(chosen)])


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
    if drawn.shape == (SIZE, SIZE) and input_geometry.placement is None \
            and input_geometry.levels is None:
        return 255 - drawn if input_geometry.inverted else drawn
    return model_input(drawn, reader)[0]


def _grey_candidates() -> list[Model]:
    """The shipped grey compression models auto chooses among (finer models only refine)."""
    cards = installed_models()
    return [load_model(name) for name in compression_models()
            if cards[name].get("fidelity") and shipped(cards[name])
            and cards[name].get("channels", 1) == 1 and not cards[name].get("refines")]


# How surely every reader of a grey model must read the same class in a colour picture before
# the picture may leave the colour model for it. Classifiers read photos surely too: on 429
# colour training images of the CIFAR-10 subset (half enlarged 3x), the three digit readers
# agreed at 0.95 or more on 6, at 0.9 on 10; of 74 typeset colour digits, on 64 and 69. The
# clothing classifier, alone, was as sure of 60 photos: a model needs two readers to be asked.
# With the decoded check too, 2 of those photos leave `cifar`, none of the test split's
# (python tools/colour_digits.py --judge ... --split train|test).
SURE_READING = 0.95


def colour_loses_reading(greys: list, decoded_greys: list) -> np.ndarray:
    """Per colour picture auto gave the colour model: does its file lose what a grey model's
    readers surely read in it? greys: the inputs in grey; decoded_greys: the colour files
    decoded at the inputs' sizes, in grey. True where normalising finds one object on a plain
    background, every reader of a grey model with several (the digit model's three) reads the
    same class at SURE_READING or more, and the decoded image fails the first reader's meaning
    check (Checker.same_class: the same class, the reading moving by at most its class shift):
    a red 3 typeset on pale yellow paper came back from `cifar` as a brown smudge, a blue 7 as a
    dot, each with only the thumbnail warning, where the digit model keeps the digit in 20
    bytes. Both are read through the input's placement and levels (normalise.place_like), so a
    smudge is not tidied into the digit."""
    from .fidelity import checker_for
    from .normalise import place_like

    lost = np.zeros(len(greys), dtype=bool)
    for net in _grey_candidates():
        checker = checker_for(net)
        if checker is None or checker.classifier is None or not checker.other_readers:
            continue
        made = [model_input(grey, net) for grey in greys]
        rows = [i for i, (_, geometry) in enumerate(made) if geometry.placement is not None]
        if not rows:
            continue
        read = checker.readings(np.stack([made[i][0] for i in rows]))
        top = read.argmax(axis=2)
        sure = (top == top[:, :1]).all(axis=1) & (read.max(axis=2).min(axis=1) >= SURE_READING)
        before, after = (checker.probabilities(np.stack([
            place_like(images[i], made[i][1]) for i in rows])) for images in (greys, decoded_greys))
        lost[rows] |= sure & ~checker.same_class(before, after)
    return lost
