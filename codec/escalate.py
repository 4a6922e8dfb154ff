"""Auto quality: the cheapest level whose file decodes to what the input shows.

The ladder starts at the model's default level. An image whose file fails the check there is
first searched for a nearby latent that passes at the same level: the encoder network's output
is a good guess, not the best latent for the decoder (an amortisation gap), and the quantised
symbols one step away often decode closer to the input (`_nearby_latents`, a few batched decoder
runs, no extra bytes). What still fails climbs the latent-only levels (a few more bytes each),
then the latent levels of the finer model, if one is installed (`finer_model`: a larger latent
of the same images, `mnist-fine` for `mnist`), its first level searched the same way; an
image that still fails is coded with the
residual layer at max error 16, 8, 4, 2, 1 and 0 (bit-exact at the model's 28x28 scale), which
always passes in the end. Each rung
is one batched decoder run over the images still pending, so a batch that mostly passes at the
default level costs one extra decoder run and two classifier runs.

An input drawn with a stroke thicker than the model's pen (fidelity.py, `beyond_pen`) skips the
model's own levels for the finer model's: the 16-d model redraws a thick bar in MNIST's pen, with
a waist that other eyes read as an 8.

An explicit level is obeyed: its file is written, with a warning when it fails the check. An
input outside the model's domain (it reconstructs far worse than anything in training) is
escalated like any other and warned about, naming what is lost.
"""

import numpy as np

from .api import RESIDUAL_MODE, Encoded
from .entropy import encode_symbols
from .fidelity import Checker, psnr_per_image
from .format import pack
from .images import MODEL_SIZE
from .residual import residual_payload

__all__ = ["escalate", "domain_margins"]

# (quality level, max error). Rungs at max error 48 and 32 (half the bytes of 16) were tried:
# they left noisy digits that another reader took for another digit (real-world validation set,
# tools/realworld_digits.py: 3 silent changes with them, 1 without, for 0.5 byte per image).
RESIDUAL_LADDER = ((9, 16), (10, 8), (11, 4), (12, 2), (13, 1), (14, 0))


# What a warning about a picture nic cannot keep names instead: lossless and lossy alike.
USE_INSTEAD = "for photos and other images use PNG, WebP or JPEG XL"

def escalate(net, checker: Checker, prepared: list, level: int | None, header,
             known: list | None = None) -> list:
    """Encode normalised images (model image, Geometry); returns api.Encoded per image.

    level None climbs the ladder from the model's default; a given level is used as it is.
    `header(net, quality_byte, geometry)` builds each file's header. known: per image, the
    (latent, default-level decoded image) that domain_margins already ran the networks for,
    or None.
    """
    images = np.stack([image for image, _ in prepared])
    geometries = [geometry for _, geometry in prepared]
    latents = np.stack([latent for latent, _ in known]) if known else net.encode_latents(images)
    input_probs = checker.readings(images)  # every reader's, once: (N, readers, C)
    start = level or net.default_quality
    results = [None] * len(images)
    pending = np.arange(len(images))
    in_domain = None
    # Strokes thicker than the model's pen go straight to the finer model (fidelity.py, pen).
    beyond = np.zeros(len(images), bool) if level else _beyond_pen(net, checker, images)
    rungs = [start] if level else [q for q in sorted(net.tables.levels) if q >= start]
    for quality in rungs:
        if not len(pending):
            break
        table = net.tables[quality]
        symbols = table.quantize(latents[pending])
        if known and quality == net.default_quality and len(pending) == len(images):
            decoded = np.stack([image for _, image in known])
        else:
            decoded = net.decode_latents(table.dequantize(symbols))
        if in_domain is None:  # the first rung: every image
            in_domain = checker.in_domain(images, decoded)
            pen = ~beyond[pending]
            pending, symbols, decoded = pending[pen], symbols[pen], decoded[pen]
            if not len(pending):
                break
        ok = checker.faithful(images[pending], decoded, _rows(input_probs, pending))
        if quality == start and not level and not ok.all():
            _search(net, checker, table, images, input_probs, pending, symbols, ok)
        for i, row, passed, image in zip(pending, symbols, ok, decoded):
            if passed or level:
                results[i] = _latent_file(net, table, quality, row, geometries[i], header,
                                          escalated=quality != start)
            if level and not passed:
                results[i].warnings.append(
                    _changed(checker, quality, images[i], image,
                             None if input_probs is None else input_probs[i, 0]))
        pending = pending[~ok] if not level else pending[:0]
    pending = np.union1d(pending, np.flatnonzero(beyond))
    if len(pending):
        pending = _escalate_finer(net, checker, images, geometries, input_probs, pending,
                                  results, header)
    if len(pending):
        _escalate_residual(net, checker, images, geometries, latents, input_probs, pending,
                           results, header)
    for i in np.flatnonzero(beyond):
        results[i].why = (f"its strokes are thicker than model {net.name!r} draws them, "
                          "so its own levels were skipped")
    _add_warnings(net, checker, images, geometries, input_probs, in_domain, results)
    return results


def _add_warnings(net, checker: Checker, images, geometries, input_probs, in_domain,
                  results) -> None:
    """Each file's one-line warning, if it needs one: first what no level of the model keeps
    (a picture that is no single object, one outside the model, a word), then what nic's
    readers cannot vouch for (an unclear or disputed reading, a prepared picture that a reader
    doubts)."""
    reading = None if input_probs is None else checker.clarity(input_probs)
    unclear, contested = checker.unclear(input_probs), checker.contested(input_probs)
    doubted = checker.doubted(input_probs)  # fidelity.DOUBTED_READING
    for i, geometry in enumerate(geometries):
        if _thumbnail(geometry):
            results[i].warnings.append(_not_an_object(geometry))
        elif not in_domain[i]:
            results[i].warnings.append(_outside(net, geometry))
        elif _item_photo(net, geometry):
            results[i].warnings.append(_likeness_only(net, geometry))
        elif _too_wide(net, images[i]):
            results[i].warnings.append(_wide_object(net, geometry))
        elif unclear is not None and unclear[i] and results[i].max_error != 0:
            results[i].warnings.append(_unclear(checker, reading[i]))
        elif (contested is not None and contested[i] and results[i].max_error != 0
              and not results[i].warnings):  # a file that failed the check says so already
            results[i].warnings.append(_contested(checker, checker.least_sure(input_probs[i])))
        elif (doubted is not None and doubted[i] and geometry.normalised
              and results[i].max_error != 0 and not results[i].warnings):
            results[i].warnings.append(
                _contested(checker, checker.least_sure_real_world(input_probs[i])))


# Rounds of the search: each moves one latent symbol by one step, the move that brings the decoded
# image closest to the input (PSNR), until a candidate passes. Three rounds find most of what
# more would (measured on MNIST validation digits); each is one decoder run of 1 + 2 D candidates.
SEARCH_ROUNDS = 3


def _search(net, checker: Checker, table, images, input_probs, pending, symbols, ok) -> None:
    """Where `ok` (per pending image) fails, search nearby latents; updates `symbols` and
    `ok` in place with what passes."""
    failed = pending[~ok]
    found = _nearby_latents(net, checker, table, images[failed], _rows(input_probs, failed),
                            symbols[~ok])
    symbols[~ok] = found
    ok[~ok] = found[:, 0] >= 0


def _nearby_latents(net, checker: Checker, table, images: np.ndarray, input_probs,
                    symbols: np.ndarray) -> np.ndarray:
    """For images (F, 28, 28) whose symbols (F, D) fail the check: symbols within SEARCH_ROUNDS
    single steps that pass, or a row of -1 where none was found. Each round keeps the passing
    candidate `_preference` scores highest, or where none passes moves on from the one it
    scores highest."""
    count, dims = symbols.shape
    steps = np.concatenate([np.zeros((1, dims), np.int32), np.eye(dims, dtype=np.int32),
                            -np.eye(dims, dtype=np.int32)])
    found = np.full_like(symbols, -1)
    current = symbols.copy()
    active = np.arange(count)
    for _ in range(SEARCH_ROUNDS):
        if not len(active):
            break
        candidates = np.clip(current[active, None, :] + steps, 0, 2 * table.radius)
        flat = candidates.reshape(-1, dims)
        decoded = net.decode_latents(table.dequantize(flat))
        repeat = len(steps)
        inputs = np.repeat(images[active], repeat, axis=0)
        probs = None if input_probs is None else np.repeat(input_probs[active], repeat, axis=0)
        ok = checker.faithful(inputs, decoded, probs).reshape(len(active), repeat)
        score = _preference(checker, inputs, decoded, probs).reshape(len(active), repeat)
        for row, image in enumerate(active):
            if ok[row].any():
                found[image] = candidates[row, np.argmax(np.where(ok[row], score[row], -np.inf))]
            else:
                current[image] = candidates[row, np.argmax(score[row])]
        active = active[~ok.any(axis=1)]
    return found


def _preference(checker: Checker, inputs: np.ndarray, decoded: np.ndarray,
                input_probs) -> np.ndarray:
    """How much the search prefers each candidate (N,): the nearest to the input (PSNR), not
    the cheapest. Passing candidates differ by a fraction of a byte, and the cheapest is the one
    most likely to satisfy nic's classifier while another reader sees a different digit (on the
    real-world report set, 3 silent changes instead of 5; the same on the validation set and
    MNIST's, for the same bytes)."""
    return psnr_per_image(inputs, decoded)


def _thumbnail(geometry) -> bool:
    """True when normalise found no single object on a plain background and fell back to
    scaling the whole picture to the model's field (a photo, a texture, a page, a small digit
    drowned in noise): whatever the 28x28 check says, the original cannot come back. A 28x28
    image taken as it is (an MNIST or Fashion-MNIST image) is the model's own input, not a
    fallback. Small ones count too: a noisy 25x23 digit came back from the Fashion model as
    a grey blob that passed its check (real-world report set)."""
    return geometry.placement is None and (geometry.width, geometry.height) != (MODEL_SIZE,
                                                                                MODEL_SIZE)


# A model whose objects fill its field (Fashion-MNIST items, box side 28) keeps a 28x28 likeness
# of the whole object: from a picture more than twice that size, the detail is gone. A retina
# photo (skimage.data.retina, 1411x1411) came back from `fashion` as a pullover-shaped blur, a
# logo as a shirt, a photo of coins as blurred discs, all without a warning. Digits are
# different: the digit is what the file keeps, and decode draws it at the picture's size.
ITEM_PHOTO_SIDE = 2 * MODEL_SIZE


def _item_photo(net, geometry) -> bool:
    """True for a picture larger than ITEM_PHOTO_SIDE given to a model whose object fills
    the field."""
    return (net.card.get("box_side", 20) >= MODEL_SIZE
            and max(geometry.width, geometry.height) > ITEM_PHOTO_SIDE)


# How tall, at least, the ink of a digit is for its width (mass extents, 2 % to 98 %): the
# lowest of the 10,000 MNIST test digits is 0.42, of 8,226 real-world digits 0.55
# (tools/realworld_digits.py sets). A typed word ("hello", 0.35) is boxed into the 20x20 field
# 20 pixels wide and 7 tall, and no level of the file can bring its letters back.
MIN_HEIGHT_SHARE = 0.4


def _too_wide(net, image: np.ndarray) -> bool:
    """True for a model of centred objects (digits) given an object far wider than tall."""
    from .normalise import height_share

    return net.card.get("box_side", 20) < MODEL_SIZE and height_share(image) < MIN_HEIGHT_SHARE


def _wide_object(net, geometry) -> str:
    """One line on an object far wider than any digit (a word, a line of text)."""
    size = f"{geometry.width}x{geometry.height}"
    noun = net.card.get("subject", "a digit").split(" ", 1)[-1]
    return (f"this {size} picture shows something much wider than tall, unlike a {noun}: the "
            f"file keeps a {MODEL_SIZE}x{MODEL_SIZE} grey likeness of it, its {size} detail is "
            "lost; " + USE_INSTEAD)


def _likeness_only(net, geometry) -> str:
    """One line on a large picture coded by a whole-field model: only a likeness is kept."""
    size = f"{geometry.width}x{geometry.height}"
    return (f"this {size} picture is coded by model {net.name!r} as a 28x28 grey likeness of one "
            f"{net.card.get('subject', 'object').split(' ', 1)[-1]}: its {size} detail is lost; "
            + USE_INSTEAD)


def _beyond_pen(net, checker: Checker, images: np.ndarray) -> np.ndarray:
    """Per image: does it skip `net`'s own levels for its finer model's? Only where a finer
    model is installed: without one, the residual layer would be the next rung, at 100 bytes
    where the 16-d file often keeps the digit anyway."""
    beyond = checker.beyond_pen(images)
    if beyond.any() and finer_model(net) is None:
        return np.zeros_like(beyond)
    return beyond


def finer_model(net):
    """The installed model that refines `net` (its card says "refines": net.name): a larger
    latent for the same images, read from the same normalised input, or None."""
    from .runtime import installed_models, load_model

    for name, card in installed_models().items():
        if card.get("refines") == net.name and not card.get("superseded_by"):
            return load_model(name)
    return None


def _escalate_finer(net, checker, images, geometries, input_probs, pending, results,
                    header) -> np.ndarray:
    """The finer model's latent levels, cheapest first, for the images no level of `net` kept:
    a digit the 16 numbers of `net` cannot draw faithfully often takes a few more bytes of a
    larger latent, not a residual of every pixel. Its first level is searched for nearby
    latents as the first rung is: on the real-world validation set (tools/realworld_digits.py,
    seed 2) that coded 7 of the 13 images that went on to the residual layer in 24 to 33 bytes,
    not about 110, for the same silent changes (searching every level coded 2 more, 0.2 byte
    per image, for twice the encoding time on MNIST). Checked against `net`'s own promise
    (the same checker). Returns the images still pending."""
    finer = finer_model(net)
    if finer is None:
        return pending
    latents = finer.encode_latents(images[pending])
    first = min(finer.tables.levels)
    for quality in sorted(finer.tables.levels):
        table = finer.tables[quality]
        symbols = table.quantize(latents)
        decoded = finer.decode_latents(table.dequantize(symbols))
        ok = checker.faithful(images[pending], decoded, _rows(input_probs, pending))
        if quality == first and not ok.all():  # a nearby latent, not a 100-byte residual
            _search(finer, checker, table, images, input_probs, pending, symbols, ok)
        for i, row in zip(pending[ok], symbols[ok]):
            results[i] = _latent_file(finer, table, quality, row, geometries[i], header,
                                      escalated=True)
        pending, latents = pending[~ok], latents[~ok]
        if not len(pending):
            break
    return pending


def _latent_file(net, table, quality: int, symbols, geometry, header, escalated: bool):
    """The Encoded latent-only file of one image's symbols at one level of `net`."""
    data = pack(header(net, quality, geometry), encode_symbols(symbols, table))
    return Encoded(data, net.name, quality, escalated=escalated)


def _escalate_residual(net, checker, images, geometries, latents, input_probs, pending,
                       results, header) -> None:
    """The residual layer's levels, lossiest first, for the images no latent level kept."""
    residual = net.residual
    table = net.tables[residual.base_quality]
    symbols = table.quantize(latents[pending])
    x_hats = net.decode_latents(table.dequantize(symbols))
    for i, row, x_hat in zip(pending, symbols, x_hats):
        latent = encode_symbols(row, table)
        for quality, max_error in RESIDUAL_LADDER:
            payload, decoded = residual_payload(residual, images[i], x_hat, latent, max_error)
            if max_error == 0 or checker.faithful(images[i][None], decoded[None],
                                                  _rows(input_probs, [i]), max_error)[0]:
                break
        data = pack(header(net, RESIDUAL_MODE + max_error, geometries[i]), payload)
        results[i] = Encoded(data, net.name, quality, max_error=max_error, escalated=True)


def domain_margins(net, checker: Checker, images: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
    """Per normalised image: PSNR at the default level minus the model's out-of-domain floor,
    the default level's decoded images, and the latents (escalate reuses both)."""
    table = net.tables[net.default_quality]
    latents = net.encode_latents(images)
    decoded = net.decode_latents(table.dequantize(table.quantize(latents)))
    return psnr_per_image(images, decoded) - checker.domain_psnr_db, decoded, latents


def _rows(probs, rows):
    return None if probs is None else probs[rows]


def _changed(checker: Checker, quality: int, image, decoded, input_probs) -> str:
    """One line on what an explicit level's file changes. input_probs: the first reader's
    (C,) of the input, or None for a model without classes."""
    advice = "use the default quality (auto) to keep it"
    psnr = float(psnr_per_image(image[None], decoded[None])[0])
    if psnr < checker.psnr_floor_db:
        return (f"at quality {quality} the decoded image differs from the input more than "
                f"{checker.net.name!r} allows ({psnr:.1f} dB < {checker.psnr_floor_db} dB): {advice}")
    names = checker.classifier.card["classes"]
    before = int(input_probs.argmax())
    after = int(checker.probabilities(decoded[None])[0].argmax())
    if before != after:
        return f"at quality {quality} the image decodes as {names[after]!r}, not {names[before]!r}: {advice}"
    return f"at quality {quality} the image no longer reads clearly as {names[before]!r}: {advice}"


def _unclear(checker: Checker, input_probs: np.ndarray) -> str:
    """One line on an input the classifier cannot read surely: its meaning went unchecked."""
    names = checker.classifier.card["classes"]
    first, second = np.argsort(input_probs)[::-1][:2]
    noun = checker.net.card.get("subject", "a class").split(" ", 1)[-1]  # "a digit" -> "digit"
    return (f"nic cannot tell which {noun} this is, or whether it is one at all "
            f"({names[first]!r} {input_probs[first]:.0%}, {names[second]!r} "
            f"{input_probs[second]:.0%}), so it cannot check that the file shows the same; "
            "--lossless keeps every pixel")


def _contested(checker: Checker, reading: np.ndarray) -> str:
    """One line on an input that one of nic's readers reads barely: the file passed every
    reader, but another may see another class in it."""
    names = checker.classifier.card["classes"]
    top = int(np.argmax(reading))
    noun = checker.net.card.get("subject", "a class").split(" ", 1)[-1]
    # "which digit this is, if any": a word or a symbol on paper is contested too (a typed
    # "hello" was read as a 6 at 36 %), and it is no digit at all.
    return (f"nic's readers disagree about which {noun} this is, if any (one reads "
            f"{names[top]!r} at only {reading[top]:.0%}): the file passed all of them, but "
            f"other eyes may see another {noun} in what decodes; --lossless keeps every pixel")


def _not_an_object(geometry) -> str:
    """One line on a picture that is not one object on a plain background, whichever model."""
    size = f"{geometry.width}x{geometry.height}"
    kept = ("only a 28x28 grey thumbnail of it" if max(geometry.width, geometry.height) > MODEL_SIZE
            else "a smoothed 28x28 grey likeness of it")
    return (f"this {size} picture is not one object on a plain background: the file keeps {kept}, "
            f"its {size} detail is lost; {USE_INSTEAD}")


def _outside(net, geometry) -> str:
    """One line on an input the model cannot represent: what is lost, what to use instead."""
    subject = net.card.get("subject", f"{net.card.get('dataset', net.name)} images")
    size = f"{geometry.width}x{geometry.height}"
    lost = "its content" if max(geometry.width, geometry.height) <= 28 else f"its {size} detail and content"
    return (f"this does not look like {subject}, the only kind of image model {net.name!r} "
            f"represents: the file keeps a 28x28 grey likeness, {lost} are lost; "
            + USE_INSTEAD)
