"""The `nic` command: a thin typer layer over the Python API.

Exit codes: 0 success, 1 error (one line on stderr, no traceback), 2 usage error.
"""

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import NicError

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="nic: a neural image codec for small grey images (MNIST digits, Fashion-MNIST items).",
)

Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output file.")]


def fail(message: str) -> None:
    """Print one line on stderr and exit with code 1."""
    typer.echo(f"nic: error: {message}", err=True)
    raise typer.Exit(code=1)


def one_line_errors(command):
    """Turn a NicError (or an OS error) inside a command into one line and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except NicError as error:
            fail(str(error))
        except OSError as error:
            fail(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))

    return wrapper


@app.command()
@one_line_errors
def encode(
    source: Annotated[Path, typer.Argument(help="Image to compress (any format Pillow reads).")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Output .nic [default: beside SOURCE].")
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Model name (see nic models).")] = "mnist",
    quality: Annotated[
        Optional[int], typer.Option("--quality", "-q", help="Quality level 1-8 [default: the model's].")
    ] = None,
    force: Force = False,
) -> None:
    """Compress an image into a .nic file."""
    from .api import encode as encode_image
    from .files import check_writable, output_path_for, write_atomic
    from .images import read_image

    output = output or output_path_for(source, ".nic")
    check_writable(output, force=force, inputs=[source])
    grey, warnings = read_image(source)
    for warning in warnings:
        typer.echo(f"nic: warning: {warning}", err=True)
    data = encode_image(grey, model=model, quality=quality)
    write_atomic(output, data, force=force)
    typer.echo(f"{source} -> {output}: {len(data)} bytes")


@app.command()
@one_line_errors
def decode(
    source: Annotated[Path, typer.Argument(help="The .nic file to decompress.")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Output PNG [default: beside SOURCE].")
    ] = None,
    force: Force = False,
) -> None:
    """Decompress a .nic file into a PNG, at the original size and polarity."""
    from .api import decode as decode_file
    from .files import check_writable, output_path_for, write_atomic
    from .images import save_png_bytes

    output = output or output_path_for(source, ".png")
    check_writable(output, force=force, inputs=[source])
    pixels = decode_file(_read_file(source))
    write_atomic(output, save_png_bytes(pixels), force=force)
    typer.echo(f"{source} -> {output}: {pixels.shape[1]}x{pixels.shape[0]}")


@app.command()
@one_line_errors
def info(
    source: Annotated[Path, typer.Argument(help="A .nic file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what a .nic file holds (model, quality, size, bytes)."""
    from .api import inspect

    details = inspect(_read_file(source))
    if as_json:
        typer.echo(json.dumps(details))
        return
    for key, value in details.items():
        typer.echo(f"{key:15} {value}")


def _read_file(path: Path) -> bytes:
    if path.is_dir():
        raise NicError(f"{path} is a directory")
    if not path.exists():
        raise NicError(f"no such file: {path}")
    return path.read_bytes()


@app.command()
@one_line_errors
def train(
    dataset: Annotated[str, typer.Option(help="Dataset in $NIC_DATA: mnist or fashion.")] = "mnist",
    name: Annotated[Optional[str], typer.Option(help="Model name [default: the dataset].")] = None,
    model_id: Annotated[int, typer.Option(help="Model id byte written into every .nic file.")] = 1,
    out: Annotated[Optional[Path], typer.Option(help="Output folder [default: weights/NAME].")] = None,
    epochs: Annotated[int, typer.Option(help="Maximum epochs (early stopping may end sooner).")] = 50,
    beta: Annotated[float, typer.Option(help="Weight of the KL term in the loss.")] = 1.0,
    limit: Annotated[Optional[int], typer.Option(help="Use only this many images (smoke runs).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads for TensorFlow (0: all).")] = 0,
    tables_only: Annotated[bool, typer.Option(
        help="Keep the trained networks in OUT; rebuild only the entropy tables and card.")] = False,
    multipliers: Annotated[Optional[str], typer.Option(
        help="Step sizes of quality levels 1, 2, ... in posterior std units, e.g. '5,4,3'.")] = None,
    default_quality: Annotated[Optional[int], typer.Option(
        help="Quality level used when none is given.")] = None,
) -> None:
    """Train a model on a dataset and write its LiteRT files, entropy tables and card."""
    if not 1 <= model_id <= 255:
        fail("--model-id must be between 1 and 255")
    name = name or dataset
    out = out or Path("weights") / name
    try:
        from .train import retable, train as run_training
    except ImportError as error:
        fail(f"training needs the 'train' extra (pip install 'nic[train]'): {error}")
    steps = _parse_multipliers(multipliers) if multipliers else None
    if tables_only:
        card = retable(out, steps, default_quality)
        typer.echo(f"rebuilt the tables of {out}: levels {', '.join(card['multipliers'])}")
        return
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    card = run_training(
        dataset, out, model_id=model_id, name=name, epochs=epochs, beta=beta,
        limit=limit, seed=seed, verbose=1 if sys.stdout.isatty() else 2,
        multipliers=steps, default_quality=default_quality,
    )
    typer.echo(
        f"wrote {out}: {card['epochs_run']} epochs, test MSE {card['test_mse_unquantised']:.5f} "
        f"({card['test_psnr_unquantised_db']:.2f} dB unquantised)"
    )


def _parse_multipliers(text: str) -> dict[int, float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        fail(f"--multipliers must be numbers separated by commas, got {text!r}")
    if not values or any(v <= 0 for v in values):
        fail("--multipliers must be positive")
    return {level: value for level, value in enumerate(values, start=1)}


def main() -> None:
    """Console entry point; NIC_DEBUG=1 shows tracebacks of unexpected errors."""
    try:
        app()
    except Exception as error:  # a bug, not a user error: still one line unless debugging
        if os.environ.get("NIC_DEBUG"):
            raise
        typer.echo(f"nic: internal error: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
