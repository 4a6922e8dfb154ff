"""Shared by every `nic` command: the Typer app, its options, one-line errors, output paths."""

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

# One image needs no BLAS threads; starting OpenBLAS's pool costs ~20 ms of a ~300 ms command.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402

from ..errors import NicError, NicExistsError, NicUsageError  # noqa: E402


DIST = "nic"  # the distribution name in pyproject.toml (its version is nic --version)

HELP = f"""nic: a neural image codec for small images (MNIST digits, Fashion-MNIST items, CIFAR-10 colour photos).

Files: - reads stdin or writes stdout (binary; messages then go to stderr). -o names the
output file, or a folder when it ends in / or already is one (created when missing); several
inputs need a folder. encode writes .nic; decode writes .png .jpg .jpeg .webp .tif .tiff .bmp,
chosen by the output's extension (PNG by default). Any other output name is a usage error.

nic never overwrites a file without --force, never its own input, and never tells you to use
--force: when a name is taken it asks for another with -o. Where two inputs would share an output
(a.png and a.jpg -> a.nic), the first is coded and the other fails, in a line naming both.

Models: the shipped ones, then your own, in the folder named by NIC_MODELS or --models-dir
(nic models lists them; ids 128-255 are for your own). Images up to 16,777,216 pixels and
8,192 a side; decoding gives the original size.

Optional parts, installed in nic's project folder (nic is not on PyPI): nic bench needs
pip install ".\\[bench]", nic train pip install ".\\[train]".

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
            from .. import __version__ as number
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


def check_modes(quality, max_error, lossless) -> None:
    """Refuse options that ask for two different files (exit 2), naming them as flags: the API
    says max_error 4, the command line --max-error 4."""
    from ..api import _max_error
    from ..errors import NicUsageError

    try:
        _max_error(quality, max_error, lossless)
    except NicUsageError as error:
        message = str(error).replace("max_error", "--max-error")
        message = message.replace("lossless and", "--lossless and")
        usage(message.replace(f"quality {quality} and", f"--quality {quality} and"))


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


def make_folder(folder: Path) -> None:
    """Create an output folder (and its parents), or say in one line what is in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        fail(f"{folder}: a file is in the way of this output folder: name another with -o")


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
        from ..runtime import MODELS_ENV

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
    from ..files import names_folder, output_path_for

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
        usage(f"a folder, a glob or several inputs need -o to name a folder (end it with /), "
              f"not {output}")
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
    from ..files import image_format

    image_format(target)  # NicUsageError for an unknown extension


def _is_batch(sources: list[str]) -> bool:
    """Several inputs, a folder or a glob: the batch path with a progress bar and a summary."""
    import glob

    first = Path(sources[0])
    return len(sources) > 1 or first.is_dir() or (glob.has_magic(sources[0]) and not first.exists())


def _read_source(source) -> bytes:
    """The bytes of an input file, or of stdin for -."""
    from ..files import read_input

    if source != STDIO:
        return read_input(source)
    stream = typer.get_binary_stream("stdin")
    if stream.isatty():
        raise NicUsageError("- reads stdin, but stdin is a terminal: pipe a file in")
    data = stream.read()
    if not data:  # as an empty file is refused: by name, not as an unreadable image
        fail("stdin is empty")
    return data


def _check_target(plan: _Plan, force: bool, decoded_image: bool) -> None:
    """Refuse now an output that exists; for decode, point away from the likely original."""
    from ..files import check_writable, free_name

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
    from ..files import write_atomic

    target = plan.target
    if target == STDIO:
        stream = typer.get_binary_stream("stdout")
        stream.write(data)
        stream.flush()
        return
    if plan.folder is not None:
        make_folder(plan.folder)
    write_atomic(target, data, force=force)


def _say(text: str, plan: _Plan) -> None:
    """A status line: on stdout, unless stdout carries the data."""
    typer.echo(text, err=plan.target == STDIO)


def _check_model_name(model: str) -> None:
    """An unknown --model is a usage error (exit 2) naming it and how to add a model."""
    if model == "auto":
        return
    from ..runtime import load_model

    try:
        load_model(model)
    except NicError as error:
        raise NicUsageError(str(error)) from None


def _progress():
    """A progress bar on stderr while a batch runs, gone when it ends; none (not even a blank
    line) when stderr is not a terminal."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(transient=True, console=console, disable=not console.is_terminal)
