"""The `nic` command: a thin typer layer over the Python API.

Exit codes: 0 success, 1 error (one line on stderr, no traceback), 2 usage error.
"""

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

# One image needs no BLAS threads; starting OpenBLAS's pool costs ~20 ms of a ~300 ms command.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402

from .errors import NicError  # noqa: E402

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


Sources = Annotated[list[Path], typer.Argument(help="Files, folders or quoted globs.")]


def _quality(value: Optional[str]) -> int | str | None:
    """--quality: auto or a level number; anything else is a usage error (exit 2)."""
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not auto or a level 1-14") from None


@app.command()
@one_line_errors
def encode(
    sources: Sources,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output file, or folder for several inputs (default: beside each).")
    ] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Model name (see nic models), or auto: the compression model that "
        "represents the image best.")] = "auto",
    quality: Annotated[Optional[str], typer.Option(
        "--quality", "-q", callback=_quality,
        help="auto: the cheapest level from the model's default whose file decodes to what the "
        "image shows. Or a level: 1-8 latent only, 9-13 max error 16/8/4/2/1, 14 lossless.")
    ] = "auto",
    max_error: Annotated[Optional[int], typer.Option(
        "--max-error", help="Every pixel within +-K grey levels (28x28 images).")] = None,
    lossless: Annotated[bool, typer.Option(
        "--lossless", help="Bit-exact (28x28 images); the same as --max-error 0.")] = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Refuse (exit 1, no file) instead of warning when the file would not "
        "decode to what the image shows.")] = False,
    force: Force = False,
) -> None:
    """Compress images (any format Pillow reads) into .nic files.

    Every file is checked before it is written: it must decode to what the image shows (the
    same digit or item, close in pixels). With the default quality (auto) nic spends more bytes
    until it does; otherwise it warns in one line, or refuses with --strict.
    """
    from .images import image_suffixes

    modes = {"quality": quality, "max_error": max_error, "lossless": lossless, "strict": strict}
    if _is_batch(sources):
        from .batch import encode_files

        _batch(encode_files, sources, image_suffixes() - {".nic"}, output,
               model=model, force=force, **modes)
        return
    from .api import encode_detailed
    from .files import check_writable, output_path_for, write_atomic

    source = sources[0]
    output = output or output_path_for(source, ".nic")
    check_writable(output, force=force, inputs=[source])
    from .errors import NicFidelityError

    try:
        result = encode_detailed([source], model=model, **modes)[0]
    except NicFidelityError as error:
        fail(f"{source}: refused (--strict): {error}")
    for note in result.notes:
        typer.echo(f"nic: note: {note}", err=True)
    for warning in result.warnings:
        typer.echo(f"nic: warning: {source}: {warning}", err=True)
    write_atomic(output, result.data, force=force)
    typer.echo(f"{source} -> {output}: {len(result.data)} bytes{_escalation(result)}")


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
    sources: Sources,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Output PNG, or folder for several inputs (default: beside each).")
    ] = None,
    force: Force = False,
) -> None:
    """Decompress .nic files into PNGs, at the original size and polarity."""
    if _is_batch(sources):
        from .batch import decode_files

        _batch(decode_files, sources, {".nic"}, output, force=force)
        return
    from .api import decode as decode_file
    from .files import check_writable, output_path_for, read_input, write_atomic
    from .images import save_png_bytes

    source = sources[0]
    output = output or output_path_for(source, ".png")
    check_writable(output, force=force, inputs=[source])
    pixels = decode_file(read_input(source))
    write_atomic(output, save_png_bytes(pixels), force=force)
    typer.echo(f"{source} -> {output}: {pixels.shape[1]}x{pixels.shape[0]}")


def _is_batch(sources: list[Path]) -> bool:
    """Several inputs, a folder or a glob: the batch path with a progress bar and a summary."""
    import glob

    return len(sources) > 1 or sources[0].is_dir() or (
        glob.has_magic(str(sources[0])) and not sources[0].exists()
    )


def _batch(run, sources, suffixes, output, **options) -> None:
    from rich.progress import Progress

    from .batch import expand_inputs

    files = expand_inputs(sources, suffixes)
    if not files:
        fail(f"no input files in {', '.join(map(str, sources))}")
    if output is not None:
        if output.exists() and not output.is_dir():
            fail(f"{output} is not a folder: with several inputs, -o names a folder")
        output.mkdir(parents=True, exist_ok=True)
    with Progress(transient=True, console=_stderr_console()) as progress:
        task = progress.add_task("coding", total=len(files))
        summary = run(files, output, advance=lambda n: progress.advance(task, n), **options)
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


@app.command()
@one_line_errors
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the installed models with the figures from their cards."""
    from .runtime import installed_models

    cards = installed_models()
    rows = [_model_row(card) for card in cards.values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        fail("no models are installed")
    typer.echo(f"{'model':16} {'id':>3} {'dataset':8} {'levels':7} {'default':>7} "
               f"{'bytes':>6} {'PSNR dB':>7}  {'unquantised':>11}")
    for row in rows:
        typer.echo(
            f"{row['model']:16} {row['model_id']:>3} {row['dataset']:8} {row['levels']:7} "
            f"{row['default_quality']:>7} {row['default_bytes']:>6} {row['default_psnr_db']:>7}  "
            f"{row['unquantised_psnr_db']:>8} dB"
        )


def _model_row(card: dict) -> dict:
    levels = sorted(int(q) for q in card.get("multipliers", {}))
    default = card.get("validation", {}).get("levels", {}).get(str(card["default_quality"]), {})
    return {
        "model": card["name"], "model_id": card["model_id"], "dataset": card["dataset"],
        "levels": f"{levels[0]}-{levels[-1]}" if levels else "-",
        "default_quality": card["default_quality"],
        "default_bytes": default.get("mean_bytes", "-"), "default_psnr_db": default.get("psnr_db", "-"),
        "unquantised_psnr_db": card.get("test_psnr_unquantised_db", "-"),
    }


@app.command()
@one_line_errors
def info(
    source: Annotated[Path, typer.Argument(help="A .nic file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show what a .nic file holds (model, quality, size, bytes)."""
    from .api import inspect

    from .files import read_input

    details = inspect(read_input(source))
    if as_json:
        typer.echo(json.dumps(details))
        return
    for key, value in details.items():
        typer.echo(f"{key:15} {value}")


@app.command()
@one_line_errors
def train(
    dataset: Annotated[str, typer.Option(help="Dataset in $NIC_DATA: mnist or fashion.")] = "mnist",
    name: Annotated[Optional[str], typer.Option(help="Model name (default: the dataset).")] = None,
    model_id: Annotated[int, typer.Option(help="Model id byte written into every .nic file.")] = 1,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: weights/NAME).")] = None,
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
    task: Annotated[str, typer.Option(
        help="compress, denoise (noisy -> clean), sr2x (14x14 -> 28x28) or classify (the "
        "fidelity check's classifier).")] = "compress",
    latent_dim: Annotated[int, typer.Option(help="Size of the latent.")] = 16,
    fidelity_only: Annotated[bool, typer.Option(
        help="Keep the trained model in OUT; measure only its fidelity floors (validation "
        "split) and write them into its card.")] = False,
    classifier: Annotated[Optional[str], typer.Option(
        help="With --fidelity-only: the installed classifier that checks meaning.")] = None,
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
    if fidelity_only:
        from .train import calibrate_fidelity

        card = calibrate_fidelity(out, classifier)
        typer.echo(f"wrote the fidelity floors of {out}: {json.dumps(card['fidelity'])}")
        return
    if tables_only:
        card = retable(out, steps, default_quality)
        typer.echo(f"rebuilt the tables of {out}: levels {', '.join(card['multipliers'])}")
        return
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
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


@app.command()
@one_line_errors
def bench(
    dataset: Annotated[str, typer.Option(help="Dataset in $NIC_DATA: mnist or fashion.")] = "mnist",
    limit: Annotated[
        Optional[int], typer.Option(help="Use the first N test images (default: all 10,000).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: bench-out/DATASET).")] = None,
    codecs: Annotated[Optional[str], typer.Option(
        help="Comma-separated subset of nic, jpeg, webp, avif, jpegxl, png, webp-lossless, "
        "jpegxl-lossless, latent-raw, latent-npy (default: all).")
    ] = None,
    task: Annotated[str, typer.Option(
        help="rd (rate-distortion), denoise (noise types vs filters), sr (2x vs bicubic) or "
        "lossless (grey images unlike MNIST vs PNG, WebP and JPEG XL lossless).")
    ] = "rd",
) -> None:
    """Rate-distortion bench against JPEG, WebP, AVIF, JPEG XL, PNG: rd.json, rd.csv, rd.png."""
    if task == "lossless":
        from .bench_lossless import print_lossless_report, run_lossless_bench

        out = out or Path("bench-out") / "lossless"
        print_lossless_report(run_lossless_bench(limit, out))
        typer.echo(f"wrote {out}: lossless.json")
        return
    if task != "rd":
        from .bench_restore import print_restore_report, run_restore_bench

        out = out or Path("bench-out") / f"{dataset}-{task}"
        print_restore_report(run_restore_bench(task, dataset, limit, out))
        typer.echo(f"wrote {out}: restore.json restore.csv restore.png")
        return
    from .bench import print_report, run_bench

    out = out or Path("bench-out") / dataset
    result = run_bench(dataset, limit, out, codecs)
    print_report(result)
    typer.echo(f"wrote {out}: rd.json rd.csv rd.png samples.png")


def main() -> None:
    """Console entry point; NIC_DEBUG=1 shows tracebacks of unexpected errors."""
    try:
        app()
    except Exception as error:  # a bug, not a user error: still one line unless debugging
        if os.environ.get("NIC_DEBUG"):
            raise
        typer.echo(f"nic: internal error: {type(error).__name__}: {error}", err=True)
        sys.exit(1)
