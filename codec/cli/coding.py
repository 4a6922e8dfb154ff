"""`nic encode`, `nic decode` and `nic denoise`: images to .nic files and back."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import NicError, NicUsageError
from .common import (
    Force, Images, Jobs, Lossless, MaxError, ModelsDir, NicFiles, Output, STDIO, _check_model_name,
    _check_target, _emit, _plan, _progress, _quality, _read_source, _say, _use_models_dir, app,
    check_modes, fail, make_folder, one_line_errors)


@app.command()
@one_line_errors
def encode(
    sources: Images,
    output: Output = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Model name (see nic models), or auto: the compression model that "
        "represents the image best.")] = "auto",
    quality: Annotated[Optional[str], typer.Option(
        "--quality", "-q", callback=_quality,
        help="auto: the cheapest level from the model's default whose file decodes to what the "
        "image shows. Or a level: 1-8 latent only, 9-13 max error 16/8/4/2/1, 14 lossless.")
    ] = "auto",
    max_error: MaxError = None,
    lossless: Lossless = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Refuse (exit 1, no file) instead of warning when the file would not "
        "decode to what the image shows.")] = False,
    force: Force = False,
    jobs: Jobs = None,
    models_dir: ModelsDir = None,
) -> None:
    """Compress images (any format Pillow reads; - for stdin) into .nic files.

    Every file is checked before it is written: it must decode to what the image shows (the
    same digit or item, close in pixels). With the default quality (auto) nic spends more bytes
    until it does; otherwise it warns in one line, or refuses with --strict. Options that ask
    for two different files (--lossless with --max-error 4, -q 3 with --max-error 4) are
    refused (exit 2), not resolved.
    """
    _use_models_dir(models_dir)
    check_modes(quality, max_error, lossless)  # options asking for two files: exit 2
    _check_model_name(model)
    modes = {"quality": quality, "max_error": max_error, "lossless": lossless, "strict": strict}
    plan = _plan(sources, output, ".nic")
    if plan.batch:
        from ..batch import encode_files
        from ..images import image_suffixes

        _batch(encode_files, sources, image_suffixes() - {".nic"}, plan.folder,
               model=model, force=force, jobs=jobs, **modes)
        return
    import io

    from ..api import encode_detailed
    from ..errors import NicFidelityError

    _check_target(plan, force, decoded_image=False)
    image = io.BytesIO(_read_source(plan.source)) if plan.source == STDIO else plan.source
    label = "stdin" if plan.source == STDIO else plan.source
    try:
        result = encode_detailed([image], model=model, **modes)[0]
    except NicFidelityError as error:
        fail(f"{label}: refused (--strict): {error}")
    except NicError as error:
        _fail_on(label, error)
    for note in result.notes:
        typer.echo(f"nic: note: {note}", err=True)
    for warning in result.warnings:
        typer.echo(f"nic: warning: {label}: {warning}", err=True)
    _emit(plan, result.data, force)
    target = "stdout" if plan.target == STDIO else plan.target
    _say(f"{label} -> {target}: {len(result.data)} bytes{_escalation(result)}", plan)


def _fail_on(label, error: NicError) -> None:
    """One line naming the input, as a batch names each file (usage errors stay usage errors)."""
    if isinstance(error, NicUsageError):
        raise error
    message = str(error)
    fail(message if str(label) in message else f"{label}: {message}")


def _escalation(result) -> str:
    """What auto quality chose, when it went above the model's default."""
    from ..format import unpack

    if not result.escalated:
        return ""
    own_size = unpack(result.data)[0].version in (3, 4)  # coded at the image's size, not 28x28
    if result.max_error is None:
        level = f"level {result.quality}"
    elif own_size:
        level = "lossless" if result.max_error == 0 else f"max error {result.max_error}"
    else:
        level = f"residual, max error {result.max_error} at 28x28"
    # Said even when a warning follows: the warning tells what this level still loses, this
    # says why fewer bytes were not enough.
    why = result.why or "lower levels would change what the image shows"
    return f" (model {result.model}, {level}: {why})"


@app.command()
@one_line_errors
def decode(
    sources: NicFiles,
    output: Output = None,
    force: Force = False,
    jobs: Jobs = None,
    models_dir: ModelsDir = None,
) -> None:
    """Decompress .nic files (- for stdin) into images at the original size and polarity.

    The format follows the output's extension: .png (default) .jpg .jpeg .webp .tif .tiff
    .bmp. Without -o, d.nic becomes d.png beside it, unless d.png exists (it may be the
    original): then nic asks for another name with -o.
    """
    _use_models_dir(models_dir)
    plan = _plan(sources, output, ".png")
    if plan.batch:
        from ..batch import decode_files

        _batch(decode_files, sources, {".nic"}, plan.folder, force=force, jobs=jobs)
        return
    from ..api import decode as decode_file
    from ..files import image_bytes

    if plan.source != STDIO and not plan.source.exists():
        raise NicError(f"no such file: {plan.source}")
    label = "stdin" if plan.source == STDIO else plan.source
    try:  # the input first: a PNG or a damaged file is named as such, not its output
        pixels = decode_file(_read_source(plan.source))
    except NicError as error:
        _fail_on(label, error)
    _check_target(plan, force, decoded_image=True)
    _emit(plan, image_bytes(pixels, "stdout.png" if plan.target == STDIO else plan.target), force)
    target = "stdout" if plan.target == STDIO else plan.target
    _say(f"{label} -> {target}: {pixels.shape[1]}x{pixels.shape[0]}", plan)


@app.command()
@one_line_errors
def denoise(
    source: Annotated[Path, typer.Argument(help="A noisy image (any size Pillow reads).")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="The clean image (default: NAME.denoised.png beside it).")] = None,
    model: Annotated[str, typer.Option(help="A denoising filter model (nic models).")] = "cifar-denoise",
    force: Force = False,
    models_dir: ModelsDir = None,
) -> None:
    """Clean a noisy image with a denoising filter (cifar-denoise: colour, blind to Gaussian,
    Poisson, salt-and-pepper and multiplicative noise). No .nic file: the image itself comes out.
    """
    _use_models_dir(models_dir)
    from ..api import denoise as run, filter_model
    from ..colour import to_rgb
    from ..files import check_writable, image_bytes, write_atomic
    from ..images import read_pixels, to_grey

    # Like encode and decode: an existing output is refused, never renamed around.
    target = output or source.with_name(f"{source.stem}.denoised.png")
    check_writable(target, force=force, inputs=[source])
    net = filter_model(model)
    pixels, _ = read_pixels(source)
    image = to_rgb(pixels) if net.channels == 3 else to_grey(pixels)
    write_atomic(target, image_bytes(run(image, model=model), target), force=force)
    typer.echo(f"{source} -> {target}: {image.shape[1]}x{image.shape[0]}, model {model}")


def _batch(run, sources, suffixes, folder, **options) -> None:
    from ..batch import expand_inputs

    files = expand_inputs(sources, suffixes)
    if not files:
        fail(f"no input files in {', '.join(map(str, sources))}")
    if folder is not None:
        make_folder(folder)
    with _progress() as progress:
        task = progress.add_task("coding", total=len(files))
        summary = run(files, folder, advance=lambda n: progress.advance(task, n), **options)
    for warning in summary.warnings:
        typer.echo(f"nic: warning: {warning}", err=True)
    for failure in summary.failures:
        typer.echo(f"nic: error: {failure}", err=True)
    typer.echo(summary.line())
    if summary.failures:
        raise typer.Exit(code=1)
