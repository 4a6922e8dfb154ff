"""`nic train` and `nic bench`: the optional extras (TensorFlow; matplotlib, scikit-image)."""

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import _flow, app, fail, one_line_errors, usage


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
            # Not "nic[extra]": nic is installed from its source, and PyPI's "nic" is another
            # project.
            fail(f'nic {extra} needs the {extra} extra: in nic\'s project folder, '
                 f'pip install ".[{extra}]"')


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

    from ..runtime import _quiet_stderr

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
    vp8 = "vp8"


class ReaderArchitecture(str, Enum):
    small = "small"
    lenet = "lenet"


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
        help="compress, denoise (noisy -> clean), sr2x (14x14 -> 28x28), classify (the "
        "fidelity check's classifier) or vp8 (with --dataset cifar: WebP's lossy coder with a "
        "learned post-filter).")] = TrainTask.compress,
    latent_dim: Annotated[int, typer.Option(min=1, help="Size of the latent.")] = 16,
    fidelity_only: Annotated[bool, typer.Option(
        help="Keep the trained model in OUT; measure only its fidelity floors (validation "
        "split) and write them into its card.")] = False,
    classifier: Annotated[Optional[str], typer.Option(
        help="With --fidelity-only: the installed classifier that checks meaning.")] = None,
    class_shift: Annotated[Optional[float], typer.Option(
        min=0.0, max=1.0, help="With --fidelity-only: how far (total variation) the "
        "classifier's reading may move between input and decoded image (default: CLASS_SHIFT "
        "in codec/fidelity.py).")] = None,
    refines: Annotated[Optional[str], typer.Option(
        help="With --fidelity-only: the model whose auto ladder this one continues, with its "
        "larger latent, before that model's residual layer (auto never picks it otherwise).")] = None,
    augment: Annotated[Optional[str], typer.Option(
        help="realworld: add typeset digits and dataset images printed on paper and "
        "photographed, normalised as encode does; realworld-lowres: with three times as many "
        "digits captured at a few pixels across and blown up.")] = None,
    init_from: Annotated[Optional[Path], typer.Option(
        help="A model folder to start from (fine-tuning) instead of random weights.")] = None,
    decoder_widths: Annotated[Optional[str], typer.Option(
        help="A grey decoder of other widths, e.g. 32,16 (channels at 14x14 and 28x28; "
        "default 64,32). With --init-from the encoder is kept fixed and only the decoder "
        "learns, so files keep that model's latents and sizes.")] = None,
    architecture: Annotated[ReaderArchitecture, typer.Option(
        help="With --task classify: small (the first reader) or lenet (a second reader built "
        "unlike it).")] = ReaderArchitecture.small,
    real_world_digits: Annotated[bool, typer.Option(
        help="With --task classify --dataset mnist: add typeset, printed and blown-up digits "
        "to MNIST's (--no-real-world-digits: MNIST's alone).")] = True,
    blurred_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="With --task classify: the share of each batch shown "
        "blurred, as decoded images are.")] = 1 / 3,
    distorted_share: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="With --task classify --dataset mnist: add distorted copies "
        "(turned, sheared, scaled, another pen, blur, noise) of this share of MNIST's "
        "digits.")] = 0.0,
    other_readers: Annotated[Optional[str], typer.Option(
        help="With --fidelity-only: installed classifiers, comma-separated, that must also "
        "keep their reading of the decoded image (each built or trained unlike the first).")] = None,
    clear_readers: Annotated[int, typer.Option(
        min=0, help="With --fidelity-only: how many readers, the classifier first, judge how "
        "surely an input is read (0: all); the rest only check that their reading is kept.")] = 0,
    residual_only: Annotated[bool, typer.Option(
        help="Keep the trained model in OUT; fit only the guided lossless coder's tables "
        "(training split) into its residual.npz and card.")] = False,
    decoder_only: Annotated[bool, typer.Option(
        help="With --init-from (a grey model): keep its encoder, train its decoder on the "
        "quantised latents files carry, and write a new model (new --model-id).")] = False,
    int8: Annotated[bool, typer.Option(
        help="With --decoder-only: export the decoder with 8-bit integer weights and "
        "activations (faster; --no-int8: float).")] = True,
) -> None:
    """Train a model on a dataset and write its LiteRT files, entropy tables and card.

    To use it by name, put OUT's parent folder in NIC_MODELS (or pass --models-dir): e.g.
    nic train --name mine --out ~/nic-models/mine, then NIC_MODELS=~/nic-models nic encode
    --model mine x.png. Needs the train extra (pip install "nic\\[train]").
    """
    dataset, task = dataset.value, task.value
    if task == "vp8" and dataset != "cifar":
        fail("--task vp8 trains a colour model: use it with --dataset cifar")
    steps = _parse_multipliers(multipliers) if multipliers else None
    name = name or dataset
    out = out or Path("weights") / name
    _require_extra("train")
    if model_id is None and not (tables_only or fidelity_only or residual_only):
        model_id = _free_model_id()
    elif model_id is not None:
        _warn_taken_id(model_id, out)
    _quiet_tensorflow()
    from ..train import retable, train as run_training

    if residual_only:
        from ..train import refit_residual

        card = refit_residual(out)
        typer.echo(f"fitted the guided tables of {out} (residual.npz)")
        return
    if fidelity_only:
        from ..train import calibrate_fidelity

        card = calibrate_fidelity(out, classifier, class_shift, refines,
                                  [n for n in (other_readers or "").split(",") if n], clear_readers)
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
        from ..train.filter import train_denoiser

        card = train_denoiser(dataset, out, model_id=model_id, name=name, epochs=epochs,
                              seed=seed, limit=limit, verbose=1 if sys.stdout.isatty() else 2)
        typer.echo(f"wrote {out}: {card['epochs_run']} epochs, test {json.dumps(card['test'])}")
        return
    if task == "vp8":
        from ..train.filter import train_vp8_filter

        card = train_vp8_filter(dataset, out, model_id=model_id, name=name, epochs=epochs,
                                seed=seed, limit=limit, verbose=1 if sys.stdout.isatty() else 2)
        typer.echo(f"wrote {out}: {card['epochs_run']} epochs, test {json.dumps(card['test'])}")
        return
    if decoder_only:
        if init_from is None:
            usage("--decoder-only tunes the decoder of the model given by --init-from")
        from ..train.decoder import tune_decoder

        card = tune_decoder(init_from, out, model_id=model_id, name=name, epochs=epochs, seed=seed,
                            int8=int8, limit=limit, verbose=1 if sys.stdout.isatty() else 2)
        typer.echo(f"wrote {out}: decoder tuned for {card['decoder_tuning']['epochs_run']} epochs, "
                   f"test {json.dumps(card['test'])}, model id {card['model_id']}")
        return
    if task == "classify":
        from ..train.classifier import train_classifier

        card = train_classifier(dataset, out, model_id=model_id, name=name, epochs=epochs,
                                seed=seed, limit=limit, verbose=1 if sys.stdout.isatty() else 2,
                                architecture=architecture.value, blurred_share=blurred_share,
                                real_world=real_world_digits, distorted_share=distorted_share)
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
    from ..runtime import USER_IDS, installed_models

    taken = {card["model_id"] for card in installed_models().values()}
    for model_id in USER_IDS:
        if model_id not in taken:
            return model_id
    usage("every model id from 128 to 255 is taken: give --model-id")


def _warn_taken_id(model_id: int, out: Path) -> None:
    """A one-line warning when another installed model already has this id."""
    from ..runtime import installed_models

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
    seed: Annotated[int, typer.Option(
        min=0, help="denoise: the noise draws (another seed, other noise of the same kinds).")] = 0,
) -> None:
    """Rate-distortion bench against JPEG, WebP, AVIF, JPEG XL, PNG: rd.json, rd.csv, rd.png.

    Needs the bench extra (pip install "nic\\[bench]").
    """
    dataset, task = dataset.value, task.value
    if seed and task != "denoise":
        usage("--seed draws the noise of --task denoise; the other tasks draw none")
    _require_extra("bench")
    if codecs is not None:
        from ..bench import CODECS

        unknown = [c.strip() for c in codecs.split(",") if c.strip() not in CODECS]
        if unknown:
            usage(f"unknown codec {', '.join(unknown)}: choose from {', '.join(CODECS)}")
    if task == "lossless":
        from ..bench import print_lossless_report, run_lossless_bench

        out = out or Path("bench-out") / "lossless"
        print_lossless_report(run_lossless_bench(limit, out))
        typer.echo(f"wrote {out}: lossless.json")
        return
    if task == "archive":
        from ..bench import print_archive_report, run_archive_bench

        out = out or Path("bench-out") / f"{dataset}-archive"
        print_archive_report(run_archive_bench(dataset, limit, out))
        typer.echo(f"wrote {out}: archive.json default.nicpack lossless.nicpack")
        return
    if task != "rd":
        from ..bench import print_restore_report, run_restore_bench

        out = out or Path("bench-out") / f"{dataset}-{task}"
        print_restore_report(run_restore_bench(task, dataset, limit, out, seed=seed))
        typer.echo(f"wrote {out}: restore.json restore.csv restore.png")
        return
    from ..bench import print_report, run_bench

    out = out or Path("bench-out") / dataset
    result = run_bench(dataset, limit, out, codecs)
    print_report(result)
    typer.echo(f"wrote {out}: rd.json rd.csv rd.png samples.png")


for _command in app.registered_commands:
    _command.help = _flow(_command.callback.__doc__ or "")
