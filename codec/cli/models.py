"""`nic models` and `nic info`: what is installed, what a file holds."""

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import NicError
from .common import (
    ModelsDir, NicFiles, STDIO, _is_batch, _read_source, _use_models_dir, app, fail,
    one_line_errors, usage)


TASKS = {"compress": "compress", "denoise": "denoise", "sr2x": "2x super-resolution",
         "classify": "classifier"}


@app.command()
@one_line_errors
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """List the installed models: the shipped ones, then yours (NIC_MODELS, --models-dir).

    Columns: name; id (the byte in every .nic file); task ("after mnist": the step of that
    model's auto quality before its residual layer, never chosen first); quality levels (9-14 are the residual
    layer: max error and lossless); latent size; mean file size in bytes and PSNR in dB at the
    default level (validation images); unquantised PSNR in dB (starred: at the default level,
    for a decoder trained on quantised latents), or a classifier's accuracy in %, on the test
    set; where the model comes from.
    """
    from ..runtime import installed_models, model_conflicts

    _use_models_dir(models_dir)
    for message in model_conflicts().values():
        typer.echo(f"nic: warning: {message}", err=True)
    rows = [_model_row(card) for card in installed_models().values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        fail("no models are installed")
    task_width = max([4] + [len(r["task"]) for r in rows])  # "denoise filter colour" is long
    name_width = max([16] + [len(r["name"]) for r in rows])  # "digits-distorted-lenet"
    typer.echo(f"{'name':{name_width}} {'id':>3}  {'task':{task_width}}  {'levels':6} "
               f"{'latent':>6}  {'default':>7} {'bytes/file':>10} {'PSNR dB':>7}  {'test dB':>7} "
               f"{'test acc. %':>11}  source")
    for r in rows:
        typer.echo(
            f"{r['name']:{name_width}} {r['model_id']:>3}  {r['task']:{task_width}}  "
            f"{_dash(r['levels']):6} {_dash(r['latent_size']):>6}  {_dash(r['default_level']):>7} "
            f"{_dash(r['default_bytes'], '.1f'):>10} {_dash(r['default_psnr_db'], '.2f'):>7}  "
            f"{_test_db(r):>7} {_dash(r['test_accuracy_percent'], '.1f'):>11}"
            f"  {r['source']}")
    typer.echo("\nbytes/file, PSNR dB: the default level on validation images; "
               "test dB: unquantised, on the test set (*: at the default level, for a decoder "
               "trained on quantised latents)")


def _dash(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def _test_db(row: dict) -> str:
    """The test PSNR column: unquantised, or starred when measured at the default level."""
    return _dash(row["test_psnr_db"], ".2f") + ("*" if row["test_psnr_level"] else "")


def _model_row(card: dict) -> dict:
    from ..api import RESIDUAL_LEVELS

    task = card.get("task", "compress")
    levels = sorted(int(q) for q in card.get("multipliers") or card.get("webp_qualities", {}))
    colour_residual = task == "compress" and card.get("channels", 1) == 3  # codec/colour.py
    if levels and ("residual.npz" in card.get("fingerprints", {}) or colour_residual):
        levels += sorted(RESIDUAL_LEVELS)
    classifier = task == "classify"
    default = card.get("validation", {}).get("levels", {}).get(str(card.get("default_quality")), {})
    accuracy = card.get("test_accuracy")
    return {
        "name": card["name"], "model_id": card["model_id"],
        "task": TASKS.get(task, task) + (" filter" if card.get("kind") == "filter" else "")
        + (" colour" if card.get("channels", 1) == 3 else "")
        + (f" after {card['refines']}" if card.get("refines") else ""),  # auto's next step
        "dataset": card.get("dataset"),
        "levels": f"{levels[0]}-{levels[-1]}" if levels else None,
        "latent_size": len(card["latent_sigmas"]) if card.get("latent_sigmas") else None,
        "default_level": None if classifier else card.get("default_quality"),
        "default_bytes": default.get("mean_bytes"), "default_psnr_db": default.get("psnr_db"),
        "test_psnr_db": card.get("test_psnr_unquantised_db", card.get("test", {}).get("psnr_db")),
        # A decoder trained on quantised latents (nic train --decoder-only) is measured at
        # its default level instead: its unquantised output is not what any file decodes to.
        "test_psnr_level": None if "test_psnr_unquantised_db" in card
        else card.get("test", {}).get("quality"),
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
    from ..api import inspect
    from ..batch import expand_inputs

    _use_models_dir(models_dir)
    if STDIO in sources or not _is_batch(sources):
        if len(sources) > 1:
            usage("- (stdin) must be the only input")
        try:
            details = inspect(_read_source(sources[0] if sources[0] == STDIO else Path(sources[0])))
        except NicError as error:  # name the file, as for several
            if sources[0] == STDIO or sources[0] in str(error):
                raise
            fail(f"{sources[0]}: {error}")
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
    """One `key value` line per field; a field the file does not use reads "-", not None
    (--json keeps the raw values and null)."""
    return "\n".join(f"{key:15} {_info_value(key, value)}"
                      for key, value in details.items() if key != skip)


def _info_value(key: str, value) -> str:
    """A field as a reader understands it: placement and levels say what their numbers are."""
    if value is None:
        return "-"
    if key == "placement":
        left, top, side = value
        return f"the model's field is the {side}x{side} square at left {left}, top {top} of the image"
    if key == "levels":
        paper, ink = value
        return f"paper grey {paper}, ink grey {ink} (the model draws 0 and 255; these are put back)"
    return str(value)
