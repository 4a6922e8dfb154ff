"""The `nic` command: a thin typer layer over the Python API.

It follows the conventions of gzip, cwebp/dwebp, cjxl/djxl and flac: `-` is stdin or stdout;
-o names the output file, or a folder when it ends in / or is one; the output's extension picks
decode's image format; nothing is overwritten without --force, and no message suggests it.

Exit codes: 0 success, 1 error (one line on stderr, no traceback), 2 usage error (bad or
conflicting options, an output name nic cannot write).
"""

import functools
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

# One image needs no BLAS threads; starting OpenBLAS's pool costs ~20 ms of a ~300 ms command.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402

from .errors import NicError, NicExistsError, NicUsageError  # noqa: E402
from .fidelity import CLASS_SHIFT  # noqa: E402

__all__ = ["app", "main"]

DIST = "nic"  # the distribution name in pyproject.toml, for pip install "nic[extra]"

HELP = f"""nic: a neural image codec for small images (MNIST digits, Fashion-MNIST items, CIFAR-10 colour photos).

Files: - reads stdin or writes stdout (binary; messages then go to stderr). -o names the
output file, or a folder when it ends in / or already is one (created when missing); several
inputs need a folder. encode writes .nic; decode writes .png .jpg .jpeg .webp .tif .tiff .bmp,
chosen by the output's extension (PNG by default). Any other output name is a usage error.

nic never overwrites a file without --force, never its own input, and never tells you to use
--force: when a name is taken it asks for another with -o. Files that two inputs would share
(a.png and a.jpg -> a.nic) are refused before anything is written.

Models: the shipped ones, then your own, in the folder named by NIC_MODELS or --models-dir
(nic models lists them; ids 128-255 are for your own). Images up to 16,777,216 pixels and
8,192 a side; decoding gives the original size.

Optional parts: nic bench needs pip install "{DIST}\\[bench]", nic train pip install
"{DIST}\\[train]" (from a clone: pip install ".\\[bench]").

Exit codes: 0 success, 1 error (one line on stderr), 2 usage error (bad or conflicting options).
"""



def _flow(text: str) -> str:
    """Help text with each paragraph on one line: Rich keeps line breaks, then wraps again."""
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split("\n")) for p in paragraphs)


app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help=_flow(HELP),
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version(DIST)
        except PackageNotFoundError:
            from . import __version__ as number
        typer.echo(f"nic {number}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    pass


MaxError = Annotated[Optional[int], typer.Option(
    "--max-error", min=0, max=127,
    help="Every pixel (every channel of a colour image) within +-K levels, at the image's own size.")]
Lossless = Annotated[bool, typer.Option(
    "--lossless", help="Bit-exact at the image's own size, grey or colour; the same as --max-error 0.")]
Force = Annotated[bool, typer.Option(
    "--force", "-f", help="Replace an existing output file (never the input).")]
ModelsDir = Annotated[Optional[Path], typer.Option(
    "--models-dir", file_okay=False, exists=True,
    help="A folder of your own models (as nic train --out writes them), searched after the "
    "shipped ones; the same as the NIC_MODELS environment variable.")]
Output = Annotated[Optional[str], typer.Option(
    "--output", "-o", help="Output file, - for stdout, or a folder (ends in / or exists; created "
    "when missing). Default: beside each input.")]
Images = Annotated[list[str], typer.Argument(
    help="Images, folders or quoted globs; - for stdin.", show_default=False, metavar="IMAGE")]
Jobs = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", min=1, help="Worker processes (default: all cores). Fewer than 1,024 "
    "images run in this process: starting workers would cost more than they save.")]
NicFiles = Annotated[list[str], typer.Argument(
    help=".nic files, folders or quoted globs; - for stdin.", show_default=False,
    metavar="FILE.nic")]


def fail(message: str) -> None:
    """Print one line on stderr and exit with code 1."""
    typer.echo(f"nic: error: {message}", err=True)
    raise typer.Exit(code=1)


def usage(message: str) -> None:
    """Print one line on stderr and exit with code 2, as for any usage error."""
    typer.echo(f"nic: error: {message}", err=True)
    raise typer.Exit(code=2)


def one_line_errors(command):
    """Turn a NicError (or an OS error) inside a command into one line and exit code 1 (2 for
    a usage error)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except BrokenPipeError:  # the reader went away (| head): nothing more to say
            _silence_stdout()
            raise typer.Exit(code=1) from None
        except NicUsageError as error:
            usage(str(error))
        except NicError as error:
            fail(str(error))
        except OSError as error:
            fail(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))

    return wrapper


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _quality(value: Optional[str]) -> int | str | None:
    """--quality: auto or a level 1-14; anything else is a usage error (exit 2)."""
    if value is None or value == "auto":
        return value
    try:
        level = int(value)
    except ValueError:
        level = None
    if level is None or not 1 <= level <= 14:
        raise typer.BadParameter(f"{value!r} is not auto or a level 1-14")
    return level


def _use_models_dir(folder: Optional[Path]) -> None:
    """--models-dir: searched before the folders of $NIC_MODELS, after the shipped models."""
    if folder is not None:
        from .runtime import MODELS_ENV

        rest = os.environ.get(MODELS_ENV)
        os.environ[MODELS_ENV] = str(folder) + (os.pathsep + rest if rest else "")


# --- where outputs go ----------------------------------------------------------------------


STDIO = "-"


class _Plan:
    """One input and its output (a Path or STDIO), or a batch; folder: the one -o names."""

    def __init__(self, source=None, target=None, folder=None, batch=False):
        self.source, self.target, self.folder, self.batch = source, target, folder, batch


def _plan(sources: list[str], output: Optional[str], suffix: str) -> _Plan:
    """Decide where outputs go, refusing what cannot work before any work (exit 2)."""
    from .files import names_folder, output_path_for

    if STDIO in sources:
        if len(sources) > 1:
            usage("- (stdin) must be the only input")
        if output not in (None, STDIO) and names_folder(output):
            usage(f"reading stdin, -o must name a file or -, not the folder {output}")
        target = STDIO if output in (None, STDIO) else Path(output)
        _check_output_name(target, suffix)
        return _Plan(STDIO, target)
    if _is_batch(sources):
        if output == STDIO:
            usage("several inputs cannot all go to stdout: give -o a folder")
        if output is None:
            return _Plan(batch=True)
        if names_folder(output) or not (Path(output).exists() or Path(output).suffix):
            return _Plan(folder=Path(output), batch=True)
        usage(f"several inputs need -o to name a folder (end it with /), not {output}")
    source = Path(sources[0])
    if output is None:
        target = output_path_for(source, suffix)
    elif output == STDIO:
        target = STDIO
    elif names_folder(output):
        return _Plan(source, Path(output) / (source.stem + suffix), folder=Path(output))
    else:
        target = Path(output)
        _check_output_name(target, suffix)
    return _Plan(source, target)


def _check_output_name(target, suffix: str) -> None:
    """encode writes .nic files only; decode an image format its extension names (exit 2)."""
    if target == STDIO:
        return
    if suffix == ".nic":
        if target.suffix.lower() != ".nic":
            usage(f"{target}: encode writes .nic files: name the output NAME.nic, - for stdout, "
                  "or a folder ending in /")
        return
    from .files import image_format

    image_format(target)  # NicUsageError for an unknown extension


def _is_batch(sources: list[str]) -> bool:
    """Several inputs, a folder or a glob: the batch path with a progress bar and a summary."""
    import glob

    first = Path(sources[0])
    return len(sources) > 1 or first.is_dir() or (glob.has_magic(sources[0]) and not first.exists())


def _read_source(source) -> bytes:
    """The bytes of an input file, or of stdin for -."""
    from .files import read_input

    if source != STDIO:
        return read_input(source)
    stream = typer.get_binary_stream("stdin")
    if stream.isatty():
        raise NicUsageError("- reads stdin, but stdin is a terminal: pipe a file in")
    return stream.read()


def _check_target(plan: _Plan, force: bool, decoded_image: bool) -> None:
    """Refuse now an output that exists; for decode, point away from the likely original."""
    from .files import check_writable, free_name

    target = plan.target
    if plan.source != STDIO and not plan.source.exists():
        raise NicError(f"no such file: {plan.source}")  # said before anything about the output
    if target == STDIO:
        if typer.get_binary_stream("stdout").isatty():
            raise NicUsageError("- writes binary data to stdout, which is a terminal: redirect it")
        return
    if plan.folder is not None and not plan.folder.exists():
        return  # the folder -o names, created when the file is written
    try:
        check_writable(target, force=force, inputs=[] if plan.source == STDIO else [plan.source])
    except NicExistsError:
        if not decoded_image:
            raise
        raise NicExistsError(target, f"{target} exists (it may be your original); pick another "
                             f"name with -o, e.g. -o {free_name(target)}") from None


def _emit(plan: _Plan, data: bytes, force: bool) -> None:
    """Write the output file (creating the folder -o names), or stdout for -."""
    from .files import write_atomic

    target = plan.target
    if target == STDIO:
        stream = typer.get_binary_stream("stdout")
        stream.write(data)
        stream.flush()
        return
    if plan.folder is not None:
        plan.folder.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data, force=force)


def _say(text: str, plan: _Plan) -> None:
    """A status line: on stdout, unless stdout carries the data."""
    typer.echo(text, err=plan.target == STDIO)


# --- commands ------------------------------------------------------------------------------


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
    from .api import _max_error

    _use_models_dir(models_dir)
    _max_error(quality, max_error, lossless)  # conflicting options: NicUsageError, exit 2
    _check_model_name(model)
    modes = {"quality": quality, "max_error": max_error, "lossless": lossless, "strict": strict}
    plan = _plan(sources, output, ".nic")
    if plan.batch:
        from .batch import encode_files
        from .images import image_suffixes

        _batch(encode_files, sources, image_suffixes() - {".nic"}, plan.folder,
               model=model, force=force, jobs=jobs, **modes)
        return
    import io

    from .api import encode_detailed
    from .errors import NicFidelityError

    _check_target(plan, force, decoded_image=False)
    image = io.BytesIO(_read_source(plan.source)) if plan.source == STDIO else plan.source
    label = "stdin" if plan.source == STDIO else plan.source
    try:
        result = encode_detailed([image], model=model, **modes)[0]
    except NicFidelityError as error:
        fail(f"{label}: refused (--strict): {error}")
    for note in result.notes:
        typer.echo(f"nic: note: {note}", err=True)
    for warning in result.warnings:
        typer.echo(f"nic: warning: {label}: {warning}", err=True)
    _emit(plan, result.data, force)
    target = "stdout" if plan.target == STDIO else plan.target
    _say(f"{label} -> {target}: {len(result.data)} bytes{_escalation(result)}", plan)


def _check_model_name(model: str) -> None:
    """An unknown --model is a usage error (exit 2) naming it and how to add a model."""
    if model == "auto":
        return
    from .runtime import load_model

    try:
        load_model(model)
    except NicError as error:
        raise NicUsageError(str(error)) from None


def _escalation(result) -> str:
    """What auto quality chose, when it went above the model's default."""
    if not result.escalated:
        return ""
    level = (f"level {result.quality}" if result.max_error is None
             else f"residual, max error {result.max_error} at 28x28")
    return f" (model {result.model}, {level}: lower levels would change what the image shows)"


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
        from .batch import decode_files

        _batch(decode_files, sources, {".nic"}, plan.folder, force=force, jobs=jobs)
        return
    from .api import decode as decode_file
    from .files import image_bytes

    _check_target(plan, force, decoded_image=True)
    pixels = decode_file(_read_source(plan.source))
    _emit(plan, image_bytes(pixels, "stdout.png" if plan.target == STDIO else plan.target), force)
    label = "stdin" if plan.source == STDIO else plan.source
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
    from .api import denoise as run
    from .colour import to_rgb
    from .files import check_writable, free_name, image_bytes, write_atomic
    from .images import read_pixels, to_grey
    from .runtime import load_model

    target = output or free_name(source.with_suffix(".png"), "denoised")
    check_writable(target, force=force, inputs=[source])
    pixels, _ = read_pixels(source)
    net = load_model(model)
    image = to_rgb(pixels) if net.channels == 3 else to_grey(pixels)
    write_atomic(target, image_bytes(run(image, model=model), target), force=force)
    typer.echo(f"{source} -> {target}: {image.shape[1]}x{image.shape[0]}, model {model}")


def _batch(run, sources, suffixes, folder, **options) -> None:
    from rich.progress import Progress

    from .batch import expand_inputs

    files = expand_inputs(sources, suffixes)
    if not files:
        fail(f"no input files in {', '.join(map(str, sources))}")
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("coding", total=len(files))
        summary = run(files, folder, advance=lambda n: progress.advance(task, n), **options)
    for warning in summary.warnings:
        typer.echo(f"nic: warning: {warning}", err=True)
    for failure in summary.failures:
        typer.echo(f"nic: error: {failure}", err=True)
    typer.echo(summary.line())
    if summary.failures:
        raise typer.Exit(code=1)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


# --- archives: many images in one file ------------------------------------------------------


ARRAY_SUFFIXES = (".npz", ".npy")


@app.command()
@one_line_errors
def pack(
    sources: Annotated[list[str], typer.Argument(
        help="A folder of images, images or quoted globs; or one .npz or .npy array of images.",
        show_default=False, metavar="SOURCE")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="The archive (NAME.nicpack), or a folder for it. Default: "
        "beside the source, named after it.")] = None,
    array: Annotated[Optional[str], typer.Option(
        "--array", help="The .npz array of images (default: its only image array).")] = None,
    labels: Annotated[Optional[str], typer.Option(
        "--labels", help="The .npz array of labels to keep, or none (default: y_NAME for "
        "x_NAME, or labels, or y).")] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Model name (see nic models), or auto, as for encode.")] = "auto",
    quality: Annotated[Optional[str], typer.Option(
        "--quality", "-q", callback=_quality, help="auto or a level 1-14, as for encode.")
    ] = "auto",
    max_error: MaxError = None,
    lossless: Lossless = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Leave out (and report) an image whose file would not decode to what "
        "it shows, instead of warning.")] = False,
    force: Force = False,
    jobs: Jobs = None,
    models_dir: ModelsDir = None,
) -> None:
    """Pack many images into one .nicpack archive: one header for what they share, an index
    for random access, a check per image; labels of an .npz and file names are kept.

    Options as for encode. An image that cannot be coded is reported and left out (exit 1);
    the others are packed. Read it back with nic unpack, or in Python with
    codec.open_archive.
    """
    from .api import _max_error

    _use_models_dir(models_dir)
    _max_error(quality, max_error, lossless)
    _check_model_name(model)
    target = _archive_target(sources, output)
    arrays = len(sources) == 1 and Path(sources[0]).suffix.lower() in ARRAY_SUFFIXES
    if not arrays and (array or labels):
        usage("--array and --labels choose arrays of an .npz source")
    from .files import check_writable

    check_writable(target, force=force, inputs=sources if not arrays else [sources[0]])
    images, kept, names = (_array_source(Path(sources[0]), array, labels) if arrays
                           else _image_files(sources))
    modes = {"model": model, "quality": quality, "max_error": max_error, "lossless": lossless,
             "strict": strict}
    results = _encode_with_progress(images, jobs, modes)
    _write_pack(target, sources, results, kept, names, force)


def _archive_target(sources: list[str], output: Optional[str]) -> Path:
    """The archive to write: -o, or a folder for it, or beside a single source (exit 2 when
    it cannot be an archive name)."""
    from .archive import ARCHIVE_EXTENSION
    from .files import names_folder

    if STDIO in sources or output == STDIO:
        usage("pack reads files and writes a file: - is not supported")
    stem = Path(sources[0].rstrip("/")).stem if len(sources) == 1 else None
    if output is not None and names_folder(output):
        if stem is None or _is_glob(sources[0]):
            usage("several sources: name the archive with -o NAME.nicpack")
        Path(output).mkdir(parents=True, exist_ok=True)
        return Path(output) / (stem + ARCHIVE_EXTENSION)
    if output is None:
        if stem is None or _is_glob(sources[0]):
            usage("several sources or a glob: name the archive with -o NAME.nicpack")
        return Path(sources[0].rstrip("/")).parent / (stem + ARCHIVE_EXTENSION)
    if Path(output).suffix.lower() != ARCHIVE_EXTENSION:
        usage(f"{output}: pack writes archives: name the output NAME{ARCHIVE_EXTENSION}")
    return Path(output)


def _is_glob(text: str) -> bool:
    import glob

    return glob.has_magic(text) and not Path(text).exists()


def _image_files(sources: list[str]) -> tuple[list, None, list[str]]:
    """Images, folders and globs -> (paths, no labels, their file names)."""
    from .batch import expand_inputs
    from .images import image_suffixes

    files = expand_inputs(sources, image_suffixes() - {".nic"})
    if not files:
        fail(f"no input files in {', '.join(sources)}")
    return files, None, [path.name for path in files]


def _array_source(path: Path, array: Optional[str], labels: Optional[str]):
    """An .npz or .npy file -> (its images, their labels or None, no names)."""
    import numpy as np

    from .files import read_input

    read_input(path)  # missing, a folder, unreadable: one line
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise NicError(f"{path} is not a numpy .npz or .npy file ({error})") from None
    if isinstance(loaded, np.ndarray):
        return _checked_images(loaded, path.name), None, None
    with loaded:
        name = array or _only_image_array(loaded, path)
        if name not in loaded.files:
            usage(f"{path} has no array {name!r} (it has {', '.join(loaded.files)})")
        images = _checked_images(loaded[name], f"{path.name}[{name}]")
        label_name = _label_array(loaded, name, labels, path)
        kept = None if label_name is None else loaded[label_name]
    if kept is not None and len(kept) != len(images):
        usage(f"{path}: {label_name} has {len(kept)} labels for {len(images)} images")
    return images, kept, None


def _only_image_array(loaded, path: Path) -> str:
    candidates = [k for k in loaded.files if loaded[k].ndim in (3, 4) and loaded[k].dtype == "uint8"]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        usage(f"{path} holds no uint8 image array (N, H, W): name one with --array")
    usage(f"{path} holds several image arrays ({', '.join(candidates)}): pick one with --array")


def _label_array(loaded, name: str, labels: Optional[str], path: Path) -> Optional[str]:
    """The labels to keep: --labels, or none, or the array named like the images' own."""
    if labels == "none":
        return None
    if labels is not None:
        if labels not in loaded.files:
            usage(f"{path} has no array {labels!r} (it has {', '.join(loaded.files)})")
        return labels
    guesses = ([f"y_{name[2:]}"] if name.startswith("x_") else []) + ["labels", "y"]
    return next((g for g in guesses if g in loaded.files and g != name), None)


def _checked_images(images, label: str):
    if images.dtype != "uint8" or images.ndim not in (3, 4):
        raise NicError(f"{label} must be uint8 images (N, H, W) or (N, H, W, C), got "
                       f"{images.dtype} of shape {images.shape}")
    return images


def _encode_with_progress(images, jobs, modes: dict) -> list:
    """encode_detailed over all images in steps (a progress bar on stderr); per-image errors
    come back in place."""
    from rich.progress import Progress

    from .api import encode_detailed
    from .batch import step_for

    step, results = step_for(len(images), jobs), []
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("packing", total=len(images))
        for start in range(0, len(images), step):
            part = list(images[start : start + step])
            results += encode_detailed(part, errors="collect", jobs=jobs, **modes)
            progress.advance(task, len(part))
    return results


def _write_pack(target: Path, sources, results, labels, names, force: bool) -> None:
    """Report failures and warnings, write the archive of the rest, print the summary."""
    from .archive import pack_archive
    from .files import write_atomic

    failed = [i for i, r in enumerate(results) if isinstance(r, NicError)]
    for i in failed:
        label = names[i] if names else f"image {i}"
        typer.echo(f"nic: error: {label}: {results[i]}", err=True)
    kept = [i for i, r in enumerate(results) if not isinstance(r, NicError)]
    warned = [(i, w) for i in kept for w in results[i].warnings]
    for i, warning in warned:
        typer.echo(f"nic: warning: {names[i] if names else f'image {i}'}: {warning}", err=True)
    data = pack_archive([results[i].data for i in kept],
                        None if labels is None else labels[kept],
                        None if names is None else [names[i] for i in kept])
    write_atomic(target, data, force=force)
    escalated = sum(results[i].escalated for i in kept)
    typer.echo(f"{', '.join(map(str, sources))} -> {target}: {len(kept)} images"
               f"{'' if labels is None else ' with labels'}, {len(data):,} bytes "
               f"({len(data) / max(len(kept), 1):.1f} per image)"
               + (f", {escalated} at a higher level to stay faithful" if escalated else "")
               + (f", {len(warned)} warned" if warned else "")
               + (f", {len(failed)} failed" if failed else ""))
    if failed:
        raise typer.Exit(code=1)


@app.command()
@one_line_errors
def unpack(
    source: Annotated[str, typer.Argument(help="A .nicpack archive.", show_default=False,
                                          metavar="ARCHIVE")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="A folder for PNG files (created when missing), or NAME.npz for "
        "arrays (x: images, y: labels, names). Default: a folder beside the archive, named "
        "after it.")] = None,
    force: Force = False,
    jobs: Jobs = None,
    models_dir: ModelsDir = None,
) -> None:
    """Unpack a .nicpack archive into PNG files (named as the packed files were, else by
    index) or into one .npz of arrays, labels included.

    A damaged item is reported in one line and left out (exit 1); the others are unpacked.
    """
    from .archive import open_archive

    _use_models_dir(models_dir)
    if STDIO in (source, output):
        usage("unpack reads a file and writes files: - is not supported")
    to_npz = output is not None and Path(output).suffix.lower() == ".npz"
    if output is not None and not to_npz and Path(output).suffix and not Path(output).is_dir():
        usage(f"{output}: unpack writes a folder of PNG files or an .npz")
    target = Path(output) if output else Path(source).with_suffix("")
    if to_npz:
        from .files import check_writable

        check_writable(target, force=force, inputs=[source])
    with open_archive(source, jobs=jobs) as archive:
        names = _png_names(archive, target) if not to_npz else None
        if names is not None:
            _check_free(list(names.values()), force)
        decoded = _decode_with_progress(archive, jobs)
        failed = [i for i, d in enumerate(decoded) if isinstance(d, NicError)]
        for i in failed:
            typer.echo(f"nic: error: {decoded[i]}", err=True)
        if to_npz:
            _write_npz(target, archive, decoded, force)
        else:
            _write_pngs(target, names, decoded, force)
    typer.echo(f"{source} -> {target}: {len(decoded) - len(failed)} images"
               + (f", {len(failed)} failed" if failed else ""))
    if failed:
        raise typer.Exit(code=1)


def _decode_with_progress(archive, jobs) -> list:
    from rich.progress import Progress

    from .batch import step_for

    step, decoded = step_for(len(archive), jobs), []
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("unpacking", total=len(archive))
        for start in range(0, len(archive), step):
            part = archive[start : start + step].images(errors="collect")
            decoded += list(part)
            progress.advance(task, len(part))
    return decoded


def _png_names(archive, folder: Path) -> dict[int, Path]:
    """Item -> its PNG: the packed file's name (its last part only: an archive never writes
    outside the folder), else the item's index, zero-padded."""
    names = archive.names
    width = len(str(max(len(archive) - 1, 0)))
    out, taken = {}, {}
    for i in range(len(archive)):
        stem = Path(names[i]).stem if names else ""
        if not stem or stem in (".", "..") or "/" in stem or "\\" in stem:
            stem = f"{i:0{width}d}"
        path = folder / f"{stem}.png"
        if path in taken:
            fail(f"items {taken[path]} and {i} would both be {path}: unpack to an .npz instead")
        out[i], taken[path] = path, i
    return out


def _check_free(paths: list[Path], force: bool) -> None:
    """Refuse, before decoding anything, outputs that exist (one line for all of them)."""
    if force:
        return
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if existing:
        more = f" (and {len(existing) - 1:,} more)" if len(existing) > 1 else ""
        raise NicExistsError(existing[0], f"{existing[0]} exists{more}; pick another folder with -o")


def _write_pngs(folder: Path, names: dict, decoded: list, force: bool) -> None:
    from .files import write_atomic
    from .images import save_png_bytes

    folder.mkdir(parents=True, exist_ok=True)
    for i, pixels in enumerate(decoded):
        if not isinstance(pixels, NicError):
            write_atomic(names[i], save_png_bytes(pixels), force=force)


def _write_npz(target: Path, archive, decoded: list, force: bool) -> None:
    """x: the images; y: the labels; names; and, when items failed, index: the positions of
    the ones present."""
    import io

    import numpy as np

    from .files import write_atomic

    kept = [i for i, d in enumerate(decoded) if not isinstance(d, NicError)]
    shapes = {decoded[i].shape for i in kept}
    if len(shapes) > 1:
        fail(f"{archive.path} holds images of {len(shapes)} sizes, which one array cannot: "
             "unpack to a folder")
    arrays = {"x": np.stack([decoded[i] for i in kept]) if kept else np.zeros((0, 28, 28), np.uint8)}
    labels, names = archive.labels, archive.names
    if labels is not None:
        arrays["y"] = labels[kept]
    if names is not None:
        arrays["names"] = np.array([names[i] for i in kept], dtype=str)
    if len(kept) < len(decoded):
        arrays["index"] = np.array(kept, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(target, buffer.getvalue(), force=force)


TASKS = {"compress": "compress", "denoise": "denoise", "sr2x": "2x super-resolution",
         "classify": "classifier"}


@app.command()
@one_line_errors
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """List the installed models: the shipped ones, then yours (NIC_MODELS, --models-dir).

    Columns: name; id (the byte in every .nic file); task; quality levels (9-14 are the residual
    layer: max error and lossless); latent size; mean file size in bytes and PSNR in dB at the
    default level (validation images); unquantised PSNR in dB, or a classifier's accuracy in %,
    on the test set; where the model comes from.
    """
    from .runtime import installed_models, model_conflicts

    _use_models_dir(models_dir)
    for message in model_conflicts().values():
        typer.echo(f"nic: warning: {message}", err=True)
    rows = [_model_row(card) for card in installed_models().values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        fail("no models are installed")
    typer.echo(f"{'name':16} {'id':>3}  {'task':19}  {'levels':6} {'latent':>6}  {'default level':>13} "
               f"{'bytes/file':>10} {'PSNR dB':>7}  {'test PSNR dB':>12} {'test acc. %':>11}  source")
    for r in rows:
        typer.echo(
            f"{r['name']:16} {r['model_id']:>3}  {r['task']:19}  {_dash(r['levels']):6} "
            f"{_dash(r['latent_size']):>6}  {_dash(r['default_level']):>13} "
            f"{_dash(r['default_bytes'], '.1f'):>10} {_dash(r['default_psnr_db'], '.2f'):>7}  "
            f"{_dash(r['test_psnr_db'], '.2f'):>12} {_dash(r['test_accuracy_percent'], '.1f'):>11}"
            f"  {r['source']}")


def _dash(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _model_row(card: dict) -> dict:
    from .api import RESIDUAL_LEVELS

    task = card.get("task", "compress")
    levels = sorted(int(q) for q in card.get("multipliers", {}))
    if levels and "residual.npz" in card.get("fingerprints", {}):
        levels += sorted(RESIDUAL_LEVELS)
    classifier = task == "classify"
    default = card.get("validation", {}).get("levels", {}).get(str(card.get("default_quality")), {})
    accuracy = card.get("test_accuracy")
    return {
        "name": card["name"], "model_id": card["model_id"],
        "task": TASKS.get(task, task) + (" filter" if card.get("kind") == "filter" else "")
        + (" colour" if card.get("channels", 1) == 3 else ""),
        "dataset": card.get("dataset"),
        "levels": f"{levels[0]}-{levels[-1]}" if levels else None,
        "latent_size": len(card["latent_sigmas"]) if card.get("latent_sigmas") else None,
        "default_level": None if classifier else card.get("default_quality"),
        "default_bytes": default.get("mean_bytes"), "default_psnr_db": default.get("psnr_db"),
        "test_psnr_db": card.get("test_psnr_unquantised_db"),
        "test_accuracy_percent": None if accuracy is None else round(100 * accuracy, 2),
        "source": card.get("source", "shipped"), "folder": card.get("folder"),
    }


@app.command()
@one_line_errors
def info(
    sources: NicFiles,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON: an object for one file, a list (each with its file) for "
        "several, a folder or a glob.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Show what .nic files hold (model, quality, size, bytes); a bad file is one line on
    stderr, and the others are still shown (exit 1)."""
    from .api import inspect
    from .batch import expand_inputs

    _use_models_dir(models_dir)
    if STDIO in sources or not _is_batch(sources):
        if len(sources) > 1:
            usage("- (stdin) must be the only input")
        details = inspect(_read_source(sources[0] if sources[0] == STDIO else Path(sources[0])))
        typer.echo(json.dumps(details) if as_json else _info_text(details))
        return
    files = expand_inputs(sources, {".nic"})
    if not files:
        fail(f"no .nic files in {', '.join(sources)}")
    entries, failed = [], 0
    for path in files:
        try:
            entries.append({"file": str(path), **inspect(_read_source(path))})
        except NicError as error:
            message = str(error)
            typer.echo(f"nic: error: {message if str(path) in message else f'{path}: {message}'}",
                       err=True)
            failed += 1
    if as_json:
        typer.echo(json.dumps(entries, indent=2))
    else:
        typer.echo("\n\n".join(f"{e['file']}:\n{_info_text(e, skip='file')}" for e in entries))
    if failed:
        raise typer.Exit(code=1)


def _info_text(details: dict, skip: str = "") -> str:
    return "\n".join(f"{key:15} {value}" for key, value in details.items() if key != skip)


# --- training and benchmarks: optional extras --------------------------------------------


EXTRAS = {"bench": ("matplotlib", "skimage", "bjontegaard", "scipy"),
          "train": ("tensorflow", "keras", "matplotlib")}


def _require_extra(extra: str) -> None:
    """One line naming the extra to install when one of its modules is missing (exit 1)."""
    import importlib.util

    for module in EXTRAS[extra]:
        try:
            missing = importlib.util.find_spec(module) is None
        except (ImportError, ValueError):
            missing = True
        if missing:
            fail(f'nic {extra} needs the {extra} extra: pip install "{DIST}[{extra}]" (from a '
                 f'clone: pip install ".[{extra}]")')


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up logging (oneDNN notes, CUDA probing, absl's preamble)
    off the terminal; Keras's progress lines stay. Must run before TensorFlow is imported.

    TF_CPP_MIN_LOG_LEVEL quiets what TensorFlow logs once running; the lines its native
    libraries print while loading and probing devices come before absl reads it, so stderr
    is closed for the import and the device probe. NIC_DEBUG=1 keeps everything.
    """
    if os.environ.get("NIC_DEBUG"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    import warnings

    from .runtime import _quiet_stderr

    warnings.filterwarnings("ignore", module=r"(keras|tensorflow|absl)(\.|$)")
    with _quiet_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()


class Dataset(str, Enum):
    mnist = "mnist"
    fashion = "fashion"
    cifar = "cifar"


class TrainTask(str, Enum):
    compress = "compress"
    denoise = "denoise"
    sr2x = "sr2x"
    classify = "classify"


class BenchTask(str, Enum):
    rd = "rd"
    lossless = "lossless"
    denoise = "denoise"
    sr = "sr"
    archive = "archive"


@app.command()
@one_line_errors
def train(
    dataset: Annotated[Dataset, typer.Option(help="Dataset in $NIC_DATA.")] = Dataset.mnist,
    name: Annotated[Optional[str], typer.Option(help="Model name (default: the dataset).")] = None,
    model_id: Annotated[Optional[int], typer.Option(
        min=1, max=255, help="Model id byte written into every .nic file (default: the first "
        "of 128-255 that no installed model has).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: weights/NAME).")] = None,
    epochs: Annotated[int, typer.Option(
        min=1, help="Maximum epochs (early stopping may end sooner).")] = 50,
    beta: Annotated[float, typer.Option(help="Weight of the KL term in the loss.")] = 1.0,
    limit: Annotated[Optional[int], typer.Option(
        min=1, help="Use only this many images (smoke runs).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option(min=0, help="CPU threads for TensorFlow (0: all).")] = 0,
    tables_only: Annotated[bool, typer.Option(
        help="Keep the trained networks in OUT; rebuild only the entropy tables and card.")] = False,
    multipliers: Annotated[Optional[str], typer.Option(
        help="Step sizes of quality levels 1, 2, ... in posterior std units, e.g. '5,4,3'.")] = None,
    default_quality: Annotated[Optional[int], typer.Option(
        min=1, max=8, help="Quality level used when none is given.")] = None,
    task: Annotated[TrainTask, typer.Option(
        help="compress, denoise (noisy -> clean), sr2x (14x14 -> 28x28) or classify (the "
        "fidelity check's classifier).")] = TrainTask.compress,
    latent_dim: Annotated[int, typer.Option(min=1, help="Size of the latent.")] = 16,
    fidelity_only: Annotated[bool, typer.Option(
        help="Keep the trained model in OUT; measure only its fidelity floors (validation "
        "split) and write them into its card.")] = False,
    classifier: Annotated[Optional[str], typer.Option(
        help="With --fidelity-only: the installed classifier that checks meaning.")] = None,
    class_shift: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="With --fidelity-only: how far (total variation) the "
        "classifier's reading may move between input and decoded image.")] = CLASS_SHIFT,
    augment: Annotated[Optional[str], typer.Option(
        help="realworld: add typeset digits and dataset images printed on paper and "
        "photographed, normalised as encode does.")] = None,
    init_from: Annotated[Optional[Path], typer.Option(
        help="A model folder to start from (fine-tuning) instead of random weights.")] = None,
    decoder_widths: Annotated[Optional[str], typer.Option(
        help="A grey decoder of other widths, e.g. 32,16 (channels at 14x14 and 28x28; "
        "default 64,32). With --init-from the encoder is kept fixed and only the decoder "
        "learns, so files keep that model's latents and sizes.")] = None,
    residual_only: Annotated[bool, typer.Option(
        help="Keep the trained model in OUT; fit only the guided lossless coder's tables "
        "(training split) into its residual.npz and card.")] = False,
) -> None:
    """Train a model on a dataset and write its LiteRT files, entropy tables and card.

    To use it by name, put OUT's parent folder in NIC_MODELS (or pass --models-dir): e.g.
    nic train --name mine --out ~/nic-models/mine, then NIC_MODELS=~/nic-models nic encode
    --model mine x.png. Needs the train extra (pip install "nic\\[train]").
    """
    dataset, task = dataset.value, task.value
    steps = _parse_multipliers(multipliers) if multipliers else None
    name = name or dataset
    out = out or Path("weights") / name
    _require_extra("train")
    if model_id is None and not (tables_only or fidelity_only or residual_only):
        model_id = _free_model_id()
    elif model_id is not None:
        _warn_taken_id(model_id, out)
    _quiet_tensorflow()
    from .train import retable, train as run_training

    if residual_only:
        from .train import refit_residual

        card = refit_residual(out)
        typer.echo(f"fitted the guided tables of {out} (residual.npz)")
        return
    if fidelity_only:
        from .train import calibrate_fidelity

        card = calibrate_fidelity(out, classifier, class_shift)
        typer.echo(f"wrote the fidelity floors of {out}: {json.dumps(card['fidelity'])}")
        return
    if tables_only:
        if not (out / "encoder.keras").is_file():
            fail(f"{out} has no encoder.keras: --tables-only needs the Keras encoder that "
                 "training wrote (the installed package leaves these out: use a clone)")
        card = retable(out, steps, default_quality)
        typer.echo(f"rebuilt the tables of {out}: levels {', '.join(card['multipliers'])}")
        return
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if task == "denoise" and dataset == "cifar":  # colour: a filter behind nic denoise
        from .train_filter import train_denoiser

        card = train_denoiser(dataset, out, model_id=model_id, name=name, epochs=epochs,
                              seed=seed, limit=limit, verbose=1 if sys.stdout.isatty() else 2)
        typer.echo(f"wrote {out}: {card['epochs_run']} epochs, test {json.dumps(card['test'])}")
        return
    if task == "classify":
        from .train_classifier import train_classifier

        card = train_classifier(dataset, out, model_id=model_id, name=name, epochs=epochs,
                                seed=seed, limit=limit, verbose=1 if sys.stdout.isatty() else 2)
        typer.echo(f"wrote {out}: {card['epochs_run']} epochs, test accuracy {card['test_accuracy']:.4f}")
        return
    card = run_training(
        dataset, out, model_id=model_id, name=name, epochs=epochs, beta=beta,
        limit=limit, seed=seed, verbose=1 if sys.stdout.isatty() else 2,
        multipliers=steps, default_quality=default_quality, task=task, latent_dim=latent_dim,
        augment=augment, init_from=init_from, decoder_widths=_widths(decoder_widths),
    )
    typer.echo(
        f"wrote {out}: {card['epochs_run']} epochs, test MSE {card['test_mse_unquantised']:.5f} "
        f"({card['test_psnr_unquantised_db']:.2f} dB unquantised), model id {card['model_id']}"
    )


def _widths(text: str | None) -> tuple[int, int] | None:
    """--decoder-widths "32,16" -> (32, 16)."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(p.isdigit() and 0 < int(p) <= 512 for p in parts):
        usage(f"--decoder-widths takes two channel counts from 1 to 512, like 32,16; not {text!r}")
    return int(parts[0]), int(parts[1])


def _free_model_id() -> int:
    """The first id for your own models (128-255) that no installed model has."""
    from .runtime import USER_IDS, installed_models

    taken = {card["model_id"] for card in installed_models().values()}
    for model_id in USER_IDS:
        if model_id not in taken:
            return model_id
    usage("every model id from 128 to 255 is taken: give --model-id")


def _warn_taken_id(model_id: int, out: Path) -> None:
    """A one-line warning when another installed model already has this id."""
    from .runtime import installed_models

    for card in installed_models().values():
        same = Path(card["folder"]).resolve() == out.resolve()
        if card["model_id"] == model_id and not same:
            typer.echo(f"nic: warning: model id {model_id} is the {card.get('source', 'shipped')} "
                       f"model {card['name']!r}'s: files of the new model would not decode where "
                       "that one is installed; ids 128-255 are for your own models", err=True)


def _parse_multipliers(text: str) -> dict[int, float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        usage(f"--multipliers must be numbers separated by commas, got {text!r}")
    if not values or any(v <= 0 for v in values):
        usage("--multipliers must be positive")
    return {level: value for level, value in enumerate(values, start=1)}


@app.command()
@one_line_errors
def bench(
    dataset: Annotated[Dataset, typer.Option(help="Dataset in $NIC_DATA.")] = Dataset.mnist,
    limit: Annotated[Optional[int], typer.Option(
        min=1, help="Use the first N test images (default: all 10,000).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: bench-out/DATASET).")] = None,
    codecs: Annotated[Optional[str], typer.Option(
        help="Comma-separated subset of nic, jpeg, webp, avif, jpegxl, png, webp-lossless, "
        "jpegxl-lossless, latent-raw, latent-npy (default: all).")
    ] = None,
    task: Annotated[BenchTask, typer.Option(
        help="rd (rate-distortion), denoise (noise types vs filters), sr (2x vs bicubic) or "
        "lossless (grey images unlike MNIST vs PNG, WebP and JPEG XL lossless) or archive (one "
        ".nicpack of the test set: sizes, bit-exact check, speed per --jobs).")
    ] = BenchTask.rd,
) -> None:
    """Rate-distortion bench against JPEG, WebP, AVIF, JPEG XL, PNG: rd.json, rd.csv, rd.png.

    Needs the bench extra (pip install "nic\\[bench]").
    """
    dataset, task = dataset.value, task.value
    _require_extra("bench")
    if codecs is not None:
        from .bench import CODECS

        unknown = [c.strip() for c in codecs.split(",") if c.strip() not in CODECS]
        if unknown:
            usage(f"unknown codec {', '.join(unknown)}: choose from {', '.join(CODECS)}")
    if task == "lossless":
        from .bench import print_lossless_report, run_lossless_bench

        out = out or Path("bench-out") / "lossless"
        print_lossless_report(run_lossless_bench(limit, out))
        typer.echo(f"wrote {out}: lossless.json")
        return
    if task == "archive":
        from .bench import print_archive_report, run_archive_bench

        out = out or Path("bench-out") / f"{dataset}-archive"
        print_archive_report(run_archive_bench(dataset, limit, out))
        typer.echo(f"wrote {out}: archive.json default.nicpack lossless.nicpack")
        return
    if task != "rd":
        from .bench import print_restore_report, run_restore_bench

        out = out or Path("bench-out") / f"{dataset}-{task}"
        print_restore_report(run_restore_bench(task, dataset, limit, out))
        typer.echo(f"wrote {out}: restore.json restore.csv restore.png")
        return
    from .bench import print_report, run_bench

    out = out or Path("bench-out") / dataset
    result = run_bench(dataset, limit, out, codecs)
    print_report(result)
    typer.echo(f"wrote {out}: rd.json rd.csv rd.png samples.png")


for _command in app.registered_commands:
    _command.help = _flow(_command.callback.__doc__ or "")


def main() -> None:
    """Console entry point; NIC_DEBUG=1 shows tracebacks of unexpected errors."""
    usage_error = typer.BadParameter.__mro__[1]  # click's UsageError, as typer ships it

    try:
        code = app(standalone_mode=False)
    except usage_error as error:  # one line, as for every other error, not a usage box
        typer.echo(f"nic: error: {error.format_message()} (nic {_command_name(error)}--help)", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("nic: aborted", err=True)
        sys.exit(1)
    except ModuleNotFoundError as error:  # an optional part missing where nothing checked for it
        if os.environ.get("NIC_DEBUG"):
            raise
        extra = next((e for e, mods in EXTRAS.items() if (error.name or "").split(".")[0] in mods),
                     None)
        hint = f': pip install "{DIST}[{extra}]"' if extra else ""
        typer.echo(f"nic: error: the module {error.name} is not installed{hint}", err=True)
        sys.exit(1)
    except Exception as error:  # a bug, not a user error: still one line unless debugging
        if os.environ.get("NIC_DEBUG"):
            raise
        typer.echo(f"nic: internal error: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _command_name(error) -> str:
    """'encode ' for an error inside `nic encode`, '' at the top level."""
    name = error.ctx.info_name if error.ctx is not None and error.ctx.parent is not None else ""
    return f"{name} " if name else ""
