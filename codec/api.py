"""The Python API: encode images to .nic bytes and decode them back.

    data = codec.encode(image)                    # numpy uint8 (H, W) / (H, W, C) or a PIL image
    data = codec.encode(image, max_error=2)       # every pixel within +-2 grey levels
    data = codec.encode(image, lossless=True)     # bit-exact
    pixels = codec.decode(data)                   # numpy uint8 (H, W), original size and polarity

Quality levels 1-8 code only the latent (a few bytes); 9-14 are exact to max_error 16, 8, 4, 2, 1
and 0 (lossless) at the image's own size (codec/lossless.py; for 28x28 images also the MNIST-tuned
residual layer, codec/residual.py, whichever file is smaller). The batch forms run the networks
once over many images, so per-image Python overhead stays small.
"""

import warnings
from pathlib import Path
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from .entropy import decode_symbols, encode_symbols
from .errors import (NicError, NicFidelityError, NicFidelityWarning, NicFormatError,
                     NicInputError, NicModelError, NicUsageError)
from .format import Header, pack, unpack
from .images import (Geometry, has_colour, is_transparent, prepare, read_sized, restore,
                     to_grey)
from .lossless import (decode_exact_payload, decode_guided, exact_grey, exact_payload,
                       guided_payloads, is_guided, mode_name)
from .residual import SIZE, pixel_check, residual_payload
from .routing import (AUTO, choose_models, colour_rows, default_model,
                      digits_the_colour_model_loses, model_input)
from .runtime import Model, installed_models, load_model, load_model_by_id
from .vp8 import decode_vp8_files, is_vp8, level_of, vp8_files

__all__ = ["QUALITY_LEVELS", "AUTO", "Encoded", "encode", "decode", "encode_batch",
           "encode_detailed", "decode_batch", "inspect", "denoise"]

LOSSY_LEVELS = (1, 2, 3, 4, 5, 6, 7, 8)  # 1: smallest files; 8: best latent-only quality
RESIDUAL_LEVELS = {9: 16, 10: 8, 11: 4, 12: 2, 13: 1, 14: 0}  # quality level -> max_error
QUALITY_LEVELS = LOSSY_LEVELS + tuple(RESIDUAL_LEVELS)
RESIDUAL_MODE = 128  # header quality byte 128 + k: the residual layer with max_error k
MAX_ERROR_LIMIT = 127


@dataclass
class Encoded:
    """One encoded image and what the encoder found out while making it."""

    data: bytes
    model: str
    quality: int | None  # the level written (1-14); None for a max error without a level
    max_error: int | None = None  # the residual layer's, if the file has one
    escalated: bool = False  # auto quality went above the model's default to stay faithful
    why: str | None = None  # why it went above, when not because lower levels failed the check
    warnings: list[str] = field(default_factory=list)  # fidelity problems, one line each
    notes: list[str] = field(default_factory=list)  # reading notes (frames dropped, reduced)


def encode(image, *, model: str = AUTO, quality: int | str | None = None,
           max_error: int | None = None, lossless: bool = False, strict: bool = False) -> bytes:
    """Compress one image into the bytes of a .nic file.

    Args:
        image: a path, a binary file object, an image file's bytes, a PIL image or a numpy
            uint8 array (H, W) or (H, W, C), any size and mode.
        model: an installed model (see `nic models`), or "auto": the compression model that
            represents the image best.
        quality: "auto" or None (the cheapest level from the model's default up whose file
            decodes to what the input shows), or one of QUALITY_LEVELS (obeyed; warns if the
            file fails the fidelity check).
        max_error: code every pixel within +-max_error grey levels, at the image's own size
            (8-bit grey or colour: alpha and 16-bit inputs are refused, NicInputError).
        lossless: bit-exact, the same as max_error=0.
        strict: raise NicFidelityError instead of warning.
    Returns:
        The complete .nic file. Fidelity problems are reported as NicFidelityWarning.
    """
    return encode_batch([image], model=model, quality=quality, max_error=max_error,
                        lossless=lossless, strict=strict)[0]


def decode(data) -> np.ndarray:
    """Decompress a .nic file (bytes, a path or a binary file object) into uint8 (H, W).

    Raises:
        NicFormatError: the bytes are not a valid .nic file, or (residual modes) the decoded
            pixels fail the file's pixel check.
        NicModelError: the file needs a model that is not installed.
    """
    return decode_batch([data])[0]


def encode_batch(images: Iterable, *, errors: str = "raise", jobs: int | None = None,
                 **options) -> list:
    """Compress many images at once (options as for `encode`); returns the .nic files.

    errors="raise" (default): the first image that cannot be coded raises its NicError.
    errors="collect": every image is tried; a failed one comes back as its NicError instance in
    its place (as asyncio.gather(return_exceptions=True) does), the others as bytes.
    jobs: worker processes for a large batch (None: all cores); the files are the same bytes
    whatever the number.
    """
    results = encode_detailed(images, errors=errors, jobs=jobs, **options)
    for result in results:
        for message in getattr(result, "warnings", ()):
            warnings.warn(message, NicFidelityWarning, stacklevel=3)
    return [r if isinstance(r, NicError) else r.data for r in results]


def encode_detailed(images: Iterable, *, errors: str = "raise", jobs: int | None = None,
                    **options) -> list:
    """encode_batch, returning each file with the level chosen and the warnings (not raised);
    with errors="collect", a failed image's NicError in its place."""
    from .parallel import map_chunks, workers_for

    images = list(images)
    _collect(errors)
    # Bad options are refused here, once, before any worker starts.
    _max_error(options.get("quality"), options.get("max_error"), options.get("lossless"))
    if options.get("quality") not in (None, AUTO):
        _level(options["quality"])
    _writes_files(options.get("model", AUTO))
    if workers_for(len(images), jobs) > 1 and all(map(_portable, images)):
        return map_chunks(partial(_encode_chunk, errors=errors, options=options), images, jobs)
    if not _collect(errors):
        return _encode_read([_pixels(image) for image in images], **options)
    results = [_one(lambda: _pixels(image)) for image in images]
    good = [i for i, r in enumerate(results) if not isinstance(r, NicError)]
    try:
        coded = _encode_read([results[i] for i in good], **options)
    except NicError:  # find which: one image at a time
        coded = [_one(lambda: _encode_read([results[i]], **options)[0]) for i in good]
    for i, result in zip(good, coded):
        results[i] = result
    return results


def _writes_files(model: str) -> None:
    """Refuse, by name, a model that writes no .nic files: a classifier or a denoising filter."""
    card = installed_models().get(model) if model != AUTO else None
    if card and card.get("kind") == "filter":
        raise NicUsageError(f"model {model!r} is a denoising filter, not a codec: "
                            f"nic denoise --model {model} cleans an image")
    if card and card.get("task") == "classify":
        raise NicUsageError(f"model {model!r} is a classifier, not a codec")


def _encode_chunk(images: list, errors: str, options: dict) -> list:
    """One worker's share of encode_detailed."""
    return encode_detailed(images, errors=errors, jobs=1, **options)


def _portable(item) -> bool:
    """Whether an input can be sent to a worker process as it is (a file object cannot)."""
    return isinstance(item, (np.ndarray, str, bytes, bytearray, Path)) \
        or hasattr(item, "__fspath__") or type(item).__module__.startswith("PIL.")


def _collect(errors: str) -> bool:
    if errors not in ("raise", "collect"):
        raise NicUsageError(f'errors must be "raise" or "collect", got {errors!r}')
    return errors == "collect"


def _one(run):
    """run(), or the NicError it raised."""
    try:
        return run()
    except NicError as error:
        return error


def _encode_read(read: list, *, model: str = AUTO, quality: int | str | None = None,
                 max_error: int | None = None, lossless: bool = False,
                 strict: bool = False) -> list[Encoded]:
    """encode_detailed over images already read by _pixels."""
    exact = _max_error(quality, max_error, lossless)
    level = None if quality in (None, AUTO) else _level(quality)
    if not read:
        return []
    inputs = [(pixels, notes) for pixels, notes, _ in read]
    if exact is not None:
        net = load_model(default_model() if model == AUTO else model)
        results = _encode_exact(net, [_exact_pixels(pixels, notes) for pixels, notes in inputs],
                                exact)
    else:
        results = _encode_checked(model, inputs, level, [size for _, _, size in read])
        if level is None:
            _no_larger_than_lossless(results, read)
        for result, (pixels, _) in zip(results, inputs):
            if is_transparent(pixels):
                result.warnings.append(TRANSPARENCY_LOST)
    for result, (_, notes) in zip(results, inputs):
        result.notes = notes
        if strict and result.warnings:
            raise NicFidelityError(result.warnings[0])
    return results


TRANSPARENCY_LOST = ("the image is transparent: nic codes it flattened onto plain paper, so its "
                     "transparency is lost")
WARNED_EXACT = 1 << 16  # samples: a warned image this small is also tried losslessly
# A warned file loses to an exact one up to this many times its size: a blank 200x200 page is
# 22 exact bytes, where the 17-byte latent file draws a smudge and says the picture is lost.
WARNED_EXACT_FACTOR = 2


def _no_larger_than_lossless(results: list[Encoded], read: list) -> None:
    """Auto never writes more than the image's own lossless file, which always passes the
    check: a dot or a small icon would otherwise take a latent file of 14 bytes, or a residual
    file at 28x28 larger than all its pixels. Only files that a lossless one could undercut at
    1 bit per pixel are compared (tiny images), and warned files of images up to WARNED_EXACT
    samples (a flat or simple picture that is not one object codes exactly in a few bytes); the
    exact file also keeps what the check could not (its size, its colour), so it carries no
    warning, and wins a tie, or against a warned file up to WARNED_EXACT_FACTOR times as big."""
    rows = []
    for i, (result, (pixels, notes, size)) in enumerate(zip(results, read)):
        samples = _samples(pixels, notes)
        if size is None and (samples <= 8 * len(result.data)
                             or (result.warnings and samples <= WARNED_EXACT)):
            try:
                rows.append((i, _exact_pixels(pixels, notes)))
            except NicInputError:  # 16-bit, or alpha: no exact file of what the user gave
                if _flat_grey(pixels, notes):  # but the lossy file codes it flattened too
                    rows.append((i, to_grey(pixels)))
    if not rows:
        return
    net = load_model(default_model())
    exact = _encode_exact(net, [image for _, image in rows], 0)
    for (i, _), candidate in zip(rows, exact):
        bound = len(results[i].data) * (WARNED_EXACT_FACTOR if results[i].warnings else 1)
        if len(candidate.data) <= bound:  # a tie goes to the exact file
            candidate.escalated = results[i].escalated
            results[i] = candidate


def _flat_grey(pixels, notes: list[str]) -> bool:
    """A transparent grey image at full depth: its lossy file codes it flattened onto plain
    paper (and says so), so the exact file of that flattened image is a fair rival. A fully
    transparent image is blank paper: 15 exact bytes, not a 28x28 smudge."""
    return (is_transparent(pixels) and not has_colour(pixels)
            and not any("reduced" in note for note in notes))


def _samples(pixels, notes: list[str]) -> int:
    """Values an exact file of an image read by _pixels holds (an array, or a PIL image not to
    be copied for this); a transparent grey image's flattened file holds one per pixel."""
    if hasattr(pixels, "getbands"):  # PIL
        values, count = pixels.width * pixels.height * len(pixels.getbands()), pixels.width * pixels.height
    else:
        shape = np.shape(pixels)
        values, count = int(np.prod(shape)), shape[0] * shape[1]
    return count if _flat_grey(pixels, notes) else values


def _pixels(image) -> tuple[np.ndarray | object, list[str], tuple[int, int] | None]:
    """Any accepted image -> (its pixels as an array or PIL image, reading notes, its original
    (width, height) if reading reduced it, else None)."""
    if (isinstance(image, (str, bytes, bytearray, memoryview)) or hasattr(image, "__fspath__")
            or hasattr(image, "read")):
        pixels, notes, size = read_sized(image)
        return pixels, notes, None if size == pixels.shape[1::-1] else size
    return image, [], None


def _at_size(prepared: tuple, size: tuple[int, int] | None) -> tuple:
    """(model image, Geometry) of a reduced read -> the same, its geometry at the original size,
    so that decoding gives the original size back."""
    image, geometry = prepared
    if size is None:
        return prepared
    sx, sy = size[0] / geometry.width, size[1] / geometry.height
    placement = geometry.placement and (round(geometry.placement[0] * sx),
                                        round(geometry.placement[1] * sy),
                                        max(1, round(geometry.placement[2] * (sx + sy) / 2)))
    return image, replace(geometry, width=size[0], height=size[1], placement=placement)


def _level(quality) -> int:
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) \
            or int(quality) not in QUALITY_LEVELS:
        levels = ", ".join(map(str, QUALITY_LEVELS))
        raise NicUsageError(f"quality must be auto or one of {levels}, got {quality!r}")
    return int(quality)


def _max_error(quality, max_error, lossless) -> int | None:
    """The residual layer's max_error asked for, or None for the latent (checked) path.

    Options that ask for two different things are refused, not resolved.
    """
    if lossless and max_error not in (None, 0):
        raise NicUsageError(f"lossless and max_error {max_error} ask for different files: give one")
    explicit = 0 if lossless else max_error
    if explicit is not None:
        if isinstance(explicit, bool) or not 0 <= int(explicit) <= MAX_ERROR_LIMIT:
            raise NicUsageError(f"max_error must be between 0 and {MAX_ERROR_LIMIT}, got {max_error}")
        if quality not in (None, AUTO) and RESIDUAL_LEVELS.get(_level(quality)) != explicit:
            raise NicUsageError(f"quality {quality} and max_error {explicit} ask for different files: "
                           "give one")
        return int(explicit)
    return None if quality in (None, AUTO) else RESIDUAL_LEVELS.get(_level(quality))


def _exact_pixels(pixels, notes: list[str]) -> np.ndarray:
    """Grey uint8 (H, W) or colour (H, W, 3) pixels that a lossless file can hold exactly,
    or NicInputError."""
    from .colour import exact_rgb

    reduced = [note for note in notes if "reduced" in note]
    if reduced:
        raise NicInputError(f"{reduced[0]}: lossless and max-error coding needs every pixel")
    rgb = exact_rgb(pixels)
    return exact_grey(pixels) if rgb is None else rgb


def _encode_exact(net: Model, greys: list[np.ndarray], max_error: int) -> list[Encoded]:
    """Lossless and max_error files at each image's own size: the smallest of the version-3
    modes (codec/lossless.py); for 28x28 images of a model without guided tables, also the
    MNIST-tuned residual layer. Colour images: three planes (codec/colour.py), version 4."""
    level = {k: q for q, k in RESIDUAL_LEVELS.items()}.get(max_error)
    small = [i for i, grey in enumerate(greys) if grey.shape == (SIZE, SIZE)]
    guided = [None] * len(greys)
    if small and net.residual is not None and net.residual.guided is not None:
        # One vectorised run over every 28x28 image of the batch.
        for i, payload in zip(small, guided_payloads(net, np.stack([greys[i] for i in small]),
                                                     max_error)):
            guided[i] = payload
    files = [_exact_bytes(net, image, max_error, g) for image, g in zip(greys, guided)]
    if small and net.residual is not None and net.residual.guided is None:
        for i, data in zip(small, _residual_files(net, [greys[i] for i in small], max_error)):
            files[i] = min(files[i], data, key=len)
    return [Encoded(data, net.name, level, max_error=max_error) for data in files]


def _exact_bytes(net: Model, image: np.ndarray, max_error: int, guided: bytes | None) -> bytes:
    """One exact file: grey (H, W) as version 3, colour (H, W, 3) as version 4."""
    from .colour import colour_payload

    colour = image.ndim == 3
    header = Header(net.model_id, RESIDUAL_MODE + max_error, image.shape[1], image.shape[0],
                    channels=3 if colour else 1, version=None if colour else 3)
    payload = colour_payload(image, max_error) if colour else exact_payload(image, max_error, guided)
    return pack(header, payload)


def _residual_files(net: Model, greys: list[np.ndarray], max_error: int) -> list[bytes]:
    """28x28 files of the MNIST-tuned residual layer on the network's x_hat (version 1 layout)."""
    prepared = [prepare(grey, net.input_size) for grey in greys]
    residual = net.residual
    images = np.stack([image for image, _ in prepared])
    table = net.tables[residual.base_quality]
    symbols = table.quantize(net.encode_latents(images))
    x_hats = net.decode_latents(table.dequantize(symbols))
    return [pack(_header(net, RESIDUAL_MODE + max_error, geometry),
                 residual_payload(residual, image, x_hat, encode_symbols(row, table), max_error)[0])
            for image, x_hat, row, (_, geometry) in zip(images, x_hats, symbols, prepared)]


def _encode_checked(model: str, inputs: list, level: int | None, sizes: list) -> list[Encoded]:
    """Latent files: colour images to the colour model (when named, or for auto when one is
    installed, but for the pictures of digits it would lose), the rest to the grey models,
    checked for fidelity."""
    colour = colour_rows(model, inputs)
    results = [None] * len(inputs)
    for net in {id(n): n for n in colour.values()}.values():
        rows = [i for i, n in colour.items() if n is net]
        files = _vp8_files if is_vp8(net) else _colour_files
        coded = files(net, [inputs[i][0] for i in rows], level, [sizes[i] for i in rows])
        for i, result in zip(rows, coded):
            results[i] = result
    digits = _colour_digits_lost(colour, inputs, results) if model == AUTO else []
    # --lossless keeps a colour digit's colour and digit, but refuses transparency
    opaque = [i for i in digits if not is_transparent(inputs[i][0])]
    for grey_model, rows, note in (
            (model, [i for i in range(len(inputs)) if i not in colour], COLOUR_LOST),
            (default_model(), opaque, COLOUR_DIGIT_IN_GREY),
            (default_model(), [i for i in digits if i not in opaque], COLOUR_DIGIT_TRANSPARENT)):
        if rows:
            coded = _encode_grey(grey_model, [inputs[i] for i in rows], level,
                                 [sizes[i] for i in rows], note)
            for i, result in zip(rows, coded):
                results[i] = result
    return results


COLOUR_LOST = "the image is in colour: nic codes grey, so its colour is lost"
COLOUR_DIGIT_TRANSPARENT = ("this colour picture of a digit is coded in grey by the digit "
                            "model, so its colour is lost: the colour model's 32x32 thumbnail "
                            "would not keep the digit")
COLOUR_DIGIT_IN_GREY = COLOUR_DIGIT_TRANSPARENT + "; --lossless keeps both"


def _colour_digits_lost(colour: dict, inputs: list, results: list) -> list[int]:
    """The rows the colour model coded that are pictures of digits its file loses
    (routing.digits_the_colour_model_loses), taken out of `colour`: they go to the digit
    model. A picture no bigger than the colour model's field is kept whole, or exactly."""
    rows = [i for i, net in colour.items() if max(_shape(inputs[i][0])) > net.input_size]
    greys = [to_grey(inputs[i][0]) for i in rows]
    lost = digits_the_colour_model_loses(greys, lambda picked: [
        to_grey(pixels) for pixels in decode_batch([results[rows[k]].data for k in picked])])
    taken = [rows[k] for k in lost]
    for i in taken:
        del colour[i]
    return taken


def _shape(pixels) -> tuple[int, int]:
    """(height, width) of a numpy array or a PIL image."""
    return pixels.shape[:2] if isinstance(pixels, np.ndarray) else pixels.size[::-1]


def _colour_files(net: Model, images: list, level: int | None, sizes: list) -> list[Encoded]:
    """Files of the colour model: each image fitted whole into its field (codec/colour.py),
    checked against the PSNR floor of the model's card like the grey models' pixel check: auto
    climbs the latent levels, then codes an image no bigger than the field within +-16 in every
    channel; an explicit level, or a bigger image, is written with a one-line warning."""
    from .colour import prepare_rgb, to_rgb
    from .escalate import USE_INSTEAD
    from .fidelity import colour_drift, psnr_per_image

    rgbs = [to_rgb(image) for image in images]
    fields = np.stack([prepare_rgb(rgb, net.input_size) for rgb in rgbs])
    latents = net.encode_latents(fields)
    settings = net.card.get("fidelity", {})
    floor = settings.get("psnr_floor_db", -np.inf)
    bound = settings.get("colour_shift", np.inf)  # cards from before it: pixels only
    start = level or net.default_quality
    rungs = [start] if level else [q for q in sorted(net.tables.levels) if q >= start]
    results, passed = [None] * len(rgbs), np.zeros(len(rgbs), bool)
    for quality in rungs:
        table = net.tables[quality]
        symbols = table.quantize(latents)
        decoded = net.decode_latents(table.dequantize(symbols))
        psnr, drift = psnr_per_image(fields, decoded), colour_drift(fields, decoded)
        ok = (psnr >= floor) & (drift <= bound)
        for i in np.flatnonzero(~passed & (ok | (quality == rungs[-1]))):
            width, height = sizes[i] or (rgbs[i].shape[1], rgbs[i].shape[0])
            data = pack(Header(net.model_id, quality, width, height, channels=3),
                        encode_symbols(symbols[i], table))
            results[i] = Encoded(data, net.name, quality, escalated=quality != start)
            if not ok[i]:
                results[i] = _colour_failed(net, results[i], rgbs[i],
                                            _colour_shortfall(psnr[i], floor, drift[i], bound),
                                            level)
        passed |= ok
    for result, rgb, size in zip(results, rgbs, sizes):
        width, height = size or (rgb.shape[1], rgb.shape[0])
        if max(width, height) > net.input_size:
            side = net.input_size
            result.warnings.append(
                f"model {net.name!r} keeps a {side}x{side} colour thumbnail: this {width}x{height} "
                f"image's detail is lost; {USE_INSTEAD}")
    return results


def _vp8_files(net: Model, images: list, level: int | None, sizes: list) -> list[Encoded]:
    """Files of the VP8 model (codec/vp8.py): each image at its own size, checked against the
    PSNR floor of the model's card; a file under it (the finest level, or an explicit one)
    carries a one-line warning."""
    from .colour import to_rgb

    results = []
    for made, size in zip(vp8_files(net, [to_rgb(image) for image in images], level), sizes):
        result = Encoded(made["data"], net.name, made["level"], escalated=made["escalated"])
        if made["psnr"] < made["floor"]:
            where = "at quality" if level is not None else "even at its finest level"
            result.warnings.append(
                f"{where} {made['level']} the decoded image differs from the input more than "
                f"{net.name!r} allows ({made['psnr']:.2f} dB < {made['floor']} dB): "
                "--max-error 16 keeps every channel within 16")
        if size is not None:  # read reduced (codec/images.py): the file keeps what was read
            result.warnings.append(f"nic read this {size[0]}x{size[1]} image reduced, and "
                                   f"{net.name!r} keeps it at the size read")
        results.append(result)
    return results


COLOUR_FALLBACK_ERROR = 16  # auto's last resort for a small colour image the latent cannot keep


def _colour_shortfall(psnr: float, floor: float, drift: float, bound: float) -> str:
    """What a colour file misses, in the words of its warning: the pixel floor first."""
    if psnr < floor:
        return f"({psnr:.2f} dB < {floor} dB)"
    return f"(its colours move by up to {drift:.0f} grey levels, over {bound})"


def _colour_failed(net: Model, result: Encoded, rgb: np.ndarray, shortfall: str,
                   level: int | None) -> Encoded:
    """An image no latent level keeps: auto codes a small one within +-16; otherwise a warning
    with the shortfall, "(12.1 dB < 14.6 dB)"."""
    if level is None and max(rgb.shape[:2]) <= net.input_size:
        data = _exact_bytes(net, rgb, COLOUR_FALLBACK_ERROR, None)
        return Encoded(data, net.name, _level_of(RESIDUAL_MODE + COLOUR_FALLBACK_ERROR),
                       max_error=COLOUR_FALLBACK_ERROR, escalated=True)
    where = (f"at quality {result.quality}" if level is not None
             else f"even at its finest level ({result.quality})")
    result.warnings.append(
        f"{where} the decoded image differs from the input more than {net.name!r} allows "
        f"{shortfall}: max error 16 (--max-error 16) keeps every channel "
        "within 16 at the image's own size")
    return result


def _encode_grey(model: str, inputs: list, level: int | None, sizes: list,
                 colour_note: str = COLOUR_LOST) -> list[Encoded]:
    """Latent files, checked for fidelity: auto escalates, an explicit level warns. A colour
    input's file opens its warnings with colour_note."""
    greys = [to_grey(pixels) for pixels, _ in inputs]
    if model == AUTO:
        nets, model_inputs, known = choose_models(greys)
    else:
        nets, model_inputs, known = [load_model(model)] * len(greys), [None] * len(greys), None
    results = [None] * len(greys)
    for net in {id(n): n for n in nets}.values():  # one batch per model
        rows = [i for i, n in enumerate(nets) if n is net]
        chosen = _encode_with(net, [greys[i] for i in rows], level, [sizes[i] for i in rows],
                              [model_inputs[i] for i in rows],
                              [known[i] for i in rows] if known else None)
        for i, result in zip(rows, chosen):
            results[i] = result
    for result, (pixels, _) in zip(results, inputs):
        if has_colour(pixels, share=0):  # even a red mark on a grey page is colour lost
            result.warnings.insert(0, colour_note)
    return results


def _encode_with(net: Model, greys: list, level: int | None, sizes: list,
                 model_inputs: list | None = None, known: list | None = None) -> list[Encoded]:
    """Files of one model; model_inputs: each grey's (model image, Geometry) if already made
    (auto's choice of model prepares and codes every image with every candidate), else None;
    known: each one's (latent, default-level decoded image) from that, for escalate."""
    from .escalate import escalate
    from .fidelity import checker_for

    checker = checker_for(net) if net.task == "compress" else None
    if checker is None:  # restoration models, and models trained without fidelity settings
        prepared = [_at_size(prepare(grey, net.input_size), size)
                    for grey, size in zip(greys, sizes)]
        return _latent_files(net, prepared, level or net.default_quality)
    model_inputs = model_inputs or [None] * len(greys)
    prepared = [_at_size(made or model_input(grey, net), size)
                for grey, size, made in zip(greys, sizes, model_inputs)]
    return escalate(net, checker, prepared, level, _header, known)


def _latent_files(net: Model, prepared: list, quality: int) -> list[Encoded]:
    table = _level_table(net, quality)
    images = np.stack([image for image, _ in prepared])
    symbols = table.quantize(net.encode_latents(images))
    return [Encoded(pack(_header(net, quality, geometry), encode_symbols(row, table)), net.name,
                    quality) for row, (_, geometry) in zip(symbols, prepared)]


def filter_model(model: str) -> Model:
    """The installed denoising filter called `model`, or NicUsageError saying what it is."""
    try:
        net = load_model(model)
    except NicModelError as error:  # a name the user typed: a usage error, as for encode
        raise NicUsageError(str(error)) from None
    if net.card.get("kind") == "filter":
        return net
    if net.task == "denoise":
        raise NicUsageError(f"model {model!r} is a denoising codec, not a filter: encode with "
                            f"--model {model} and decode")
    filters = ", ".join(n for n, c in installed_models().items() if c.get("kind") == "filter")
    raise NicUsageError(f"model {model!r} is not a denoising filter (installed filters: "
                        f"{filters or 'none'})")


def denoise(images, *, model: str) -> np.ndarray:
    """Clean noisy images with a denoising filter model (`nic models`: task denoise, a filter):
    uint8 (H, W[, 3]) or a stack (N, H, W[, 3]) of one size -> the same shape."""
    net = filter_model(model)
    array = np.asarray(images)
    single = array.ndim == (3 if net.channels == 3 else 2)
    stack = array[None] if single else array
    expected = 4 if net.channels == 3 else 3
    if array.dtype != np.uint8 or stack.ndim != expected:
        shape = "(H, W, 3)" if net.channels == 3 else "(H, W)"
        raise NicInputError(f"model {model!r} cleans uint8 images {shape} or stacks of them, got "
                            f"{array.dtype} {array.shape}")
    cleaned = net.filter(stack)
    return cleaned[0] if single else cleaned


def decode_batch(files: Sequence, *, errors: str = "raise", jobs: int | None = None) -> list:
    """Decompress many .nic files (bytes, paths or binary file objects) at once; returns uint8
    arrays at their original sizes.

    errors="raise" (default): the first file that cannot be decoded raises its NicError.
    errors="collect": every file is tried; a failed one comes back as its NicError instance in
    its place (as asyncio.gather(return_exceptions=True) does), the others as arrays.
    jobs: worker processes for a large batch (None: all cores); same pixels whatever the number.
    """
    from .parallel import map_chunks, workers_for

    files = list(files)
    _collect(errors)
    if workers_for(len(files), jobs) > 1 and all(map(_portable, files)):
        return map_chunks(partial(_decode_chunk, errors=errors), files, jobs)
    if _collect(errors):
        try:
            return _decode_batch(files)
        except NicError:  # find which: one file at a time
            return [_one(lambda: _decode_batch([data])[0]) for data in files]
    return _decode_batch(files)


def _decode_chunk(files: list, errors: str) -> list:
    """One worker's share of decode_batch."""
    return decode_batch(files, errors=errors, jobs=1)


def _decode_batch(files: list) -> list[np.ndarray]:
    parsed = [unpack(_file_bytes(data)) for data in files]
    decoded = [_decode_exact(header, payload) if _exact_file(header) else None
               for header, payload in parsed]
    _decode_guided_files(parsed, decoded)
    _decode_vp8(parsed, decoded)
    latents, nets, residuals, by_id = [], [], [], {}
    for i, (header, payload) in enumerate(parsed):
        if decoded[i] is not None:  # coded without the latent network: done
            continue
        if header.model_id not in by_id:  # a batch names few models: look each up once
            by_id[header.model_id] = load_model_by_id(header.model_id)
        net = by_id[header.model_id]
        if net.channels != header.channels:
            kinds = {1: "grey", 3: "colour"}
            raise NicFormatError(f"a {kinds[header.channels]} file names model {net.name!r}, which "
                                 f"codes {kinds[net.channels]} images")
        quality, latent_payload, residual_part = _split(net, header, payload)
        table = _level_table(net, quality, error=NicFormatError)
        latents.append(table.dequantize(decode_symbols(latent_payload, table)[None])[0])
        nets.append(net)
        residuals.append(residual_part)
    networked = [i for i, image in enumerate(decoded) if image is None]
    for net in {id(n): n for n in nets}.values():  # one decoder run per model in the batch
        rows = [j for j, n in enumerate(nets) if n is net]
        images = net.decode_latents(np.stack([latents[j] for j in rows]))
        for j, image in zip(rows, images):
            header = parsed[networked[j]][0]
            if header.channels == 3:
                from .colour import restore_rgb

                decoded[networked[j]] = restore_rgb(image, header.width, header.height)
                continue
            if residuals[j] is not None:
                image = _decode_residual(net, header, image, residuals[j])
            decoded[networked[j]] = restore(image, _geometry(header))
    return decoded


def _exact_file(header: Header) -> bool:
    """Version 3 files, and colour files with a residual quality: the pixels at their own size,
    coded without the network (or, guided, with it: _decode_guided_files)."""
    return header.version == 3 or (header.version == 4 and header.quality >= RESIDUAL_MODE)


def _decode_exact(header: Header, payload: bytes) -> np.ndarray | None:
    """A version-3 or colour exact image, or None for a guided one (decoded with its model)."""
    if header.quality < RESIDUAL_MODE or header.inverted or header.placement or header.levels:
        raise NicFormatError("a version 3 file holds a residual layer at its own size only")
    if header.channels == 3:
        from .colour import decode_colour_payload

        return decode_colour_payload(payload, header.width, header.height,
                                     header.quality - RESIDUAL_MODE)
    if payload and is_guided(payload[0]):
        if (header.width, header.height) != (SIZE, SIZE):
            raise NicFormatError("a guided payload codes a 28x28 image only")
        return None
    return decode_exact_payload(payload, header.width, header.height,
                                header.quality - RESIDUAL_MODE)


def _decode_guided_files(parsed: list, decoded: list) -> None:
    """Fill in the guided version-3 images, one vectorised run per model."""
    rows = [i for i, (header, _) in enumerate(parsed) if header.version == 3 and decoded[i] is None]
    for model_id in dict.fromkeys(parsed[i][0].model_id for i in rows):
        net = load_model_by_id(model_id)
        mine = [i for i in rows if parsed[i][0].model_id == model_id]
        if net.residual is None or net.residual.guided is None:
            raise NicFormatError(f"model {net.name!r} has no guided tables, which this file needs")
        images = decode_guided(net, [parsed[i][1] for i in mine],
                               [parsed[i][0].quality - RESIDUAL_MODE for i in mine])
        for i, image in zip(mine, images):
            decoded[i] = image


def _decode_vp8(parsed: list, decoded: list) -> None:
    """Fill in the files of VP8 models (codec/vp8.py), one filter run per model and size."""
    rows = [i for i, (header, _) in enumerate(parsed) if decoded[i] is None and header.channels == 3]
    for model_id in dict.fromkeys(parsed[i][0].model_id for i in rows):
        net = load_model_by_id(model_id)
        if not is_vp8(net):
            continue
        mine = [i for i in rows if parsed[i][0].model_id == model_id]
        images = decode_vp8_files(net, [parsed[i] for i in mine])
        for i, image in zip(mine, images):
            decoded[i] = image


def _file_bytes(data) -> bytes:
    """The bytes of a .nic file given as bytes, a path or a binary file object."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    from .files import read_input

    if hasattr(data, "read"):
        return data.read()
    if isinstance(data, str) or hasattr(data, "__fspath__"):
        return read_input(Path(data))
    return data  # unpack names the wrong type


def _geometry(header: Header) -> Geometry:
    return Geometry(header.width, header.height, header.inverted, header.placement, header.levels)


def _split(net: Model, header: Header, payload: bytes):
    """(lossy quality, latent payload, residual body + pixel check or None) of one file."""
    if header.quality < RESIDUAL_MODE:
        return header.quality, payload, None
    residual = _residual_model(net, error=NicFormatError)
    if len(payload) < 3 or payload[0] + 3 > len(payload):
        raise NicFormatError("residual-mode payload is too short")
    end = 1 + payload[0]
    return residual.base_quality, payload[1:end], payload[end:]


def _decode_residual(net: Model, header: Header, x_hat: np.ndarray, part: bytes) -> np.ndarray:
    # The file's CRC already passed, so a residual that does not decode, or decodes to pixels
    # that fail their check, means this decoder's x_hat differs from the encoder's.
    mismatch = ("pixel check failed: this decoder's network output differs from the encoder's, "
                "so the residual cannot be decoded exactly here")
    try:
        pixels = net.residual.decode(part[:-2], x_hat, header.quality - RESIDUAL_MODE)
    except NicFormatError:
        raise NicFormatError(mismatch) from None
    if pixel_check(pixels) != part[-2:]:
        raise NicFormatError(mismatch)
    return pixels


def inspect(data) -> dict:
    """What a .nic file (bytes, a path or a file object) holds, without decoding the image."""
    data = _file_bytes(data)
    header, payload = unpack(data)
    net = load_model_by_id(header.model_id)
    residual = header.quality >= RESIDUAL_MODE
    max_error = header.quality - RESIDUAL_MODE if residual else None
    # The residual layer is exact at the model's 28x28 scale: it is lossless for the user's
    # pixels only for a 28x28 image that was not normalised on the way in.
    as_given = (header.width, header.height) == (SIZE, SIZE) and header.levels is None \
        and header.placement is None
    if _exact_file(header):  # always coded at the image's own size
        as_given = True
    if not residual or not as_given:
        mode = "lossy"
    else:
        mode = "lossless" if max_error == 0 else "near-lossless"
    level, coding = _level_of(header.quality), None
    if is_vp8(net) and not residual:  # the quality byte also says whether the filter runs
        level, filtered = level_of(header.quality)
        coding = "vp8, post-filter " + ("on" if filtered else "off")
    return {
        "format_version": header.version,
        "model": net.name,
        "model_id": header.model_id,
        "mode": mode,
        "quality": level,
        "max_error": max_error,
        "coding": coding or _coding(header, payload),
        "width": header.width,
        "height": header.height,
        "channels": header.channels,
        "inverted": header.inverted,
        "placement": list(header.placement) if header.placement else None,
        "levels": list(header.levels) if header.levels else None,
        "file_bytes": len(data),
        "header_bytes": len(data) - len(payload),  # header and check
        "payload_bytes": len(payload),
    }


def _coding(header: Header, payload: bytes) -> str:
    """How the pixels are coded: latent, residual (MNIST-tuned), or a version 3 mode."""
    if header.quality < RESIDUAL_MODE:
        return "latent"
    if header.version in (1, 2, 5):
        return "residual"
    if header.channels == 3:
        return _colour_coding(payload)
    return mode_name(payload[0]) if payload else "unknown"


def _colour_coding(payload: bytes) -> str:
    """colour planes (which), or the whole image as one JPEG XL body or stored."""
    from .colour import PLANES_SUBTRACT_GREEN, WHOLE_JXL, WHOLE_STORED

    first = payload[0] if payload else None
    if first in (WHOLE_JXL, WHOLE_STORED):
        return "colour whole: " + ("jxl" if first == WHOLE_JXL else "stored")
    return "colour planes: " + ("G, R-G, B-G" if first == PLANES_SUBTRACT_GREEN else "R, G, B")


def _level_of(quality_byte: int) -> int | None:
    if quality_byte < RESIDUAL_MODE:
        return quality_byte
    by_error = {k: level for level, k in RESIDUAL_LEVELS.items()}
    return by_error.get(quality_byte - RESIDUAL_MODE)


def _residual_model(net: Model, error: type = NicError):
    if net.residual is None:
        raise error(f"model {net.name!r} has no residual layer (lossless and max_error modes)")
    return net.residual


def _level_table(net: Model, quality: int, error: type = NicError):
    if quality not in LOSSY_LEVELS or quality not in net.tables.levels:
        levels = ", ".join(map(str, QUALITY_LEVELS))
        raise error(f"quality {quality} is not a level of model {net.name!r} ({levels})")
    return net.tables[quality]


def _header(net: Model, quality: int, geometry: Geometry) -> Header:
    """The header of one file; its geometry is the decoded image's (2x the input for SR)."""
    scale = 28 // net.input_size
    return Header(
        model_id=net.model_id, quality=int(quality), width=geometry.width * scale,
        height=geometry.height * scale, inverted=geometry.inverted,
        placement=geometry.placement, levels=geometry.levels,
    )
