"""`nic train`: fit the CVAE, export it to LiteRT, measure its entropy tables, write its card.

Writes into OUT (default weights/<name>/): encoder.tflite, decoder.tflite, entropy.npz,
card.json (command, epochs, test figures, sha256 fingerprints) and training.png (curves).
Imports TensorFlow: only training and export pay for it.
"""

import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..entropy import build_tables
from ..errors import NicError
from ..fidelity import CLASS_SHIFT
from ..noise import add_random_noise, reduce2x
from ..residual import build_residual_model
from .common import (WEIGHT_FILES, command_line, export, fingerprints, jittered, levelled, scale,
                     shuffled_batches, splits, write_card)

__all__ = ["train", "retable", "refit_residual", "calibrate_fidelity", "DEFAULT_MULTIPLIERS",
           "WEIGHT_FILES"]

# Quality level -> step size in units of each dimension's posterior std (see entropy.py).
DEFAULT_MULTIPLIERS = {1: 5.0, 2: 4.0, 3: 3.2, 4: 2.6, 5: 2.1, 6: 1.7, 7: 1.3, 8: 0.9}
TASKS = ("compress", "denoise", "sr2x")
VALIDATION_CODED = 1000  # validation images coded per level for the card


def train(
    dataset: str,
    out: Path,
    *,
    model_id: int,
    name: str,
    epochs: int = 50,
    beta: float = 1.0,
    limit: int | None = None,
    seed: int = 0,
    verbose: int = 2,
    multipliers: dict[int, float] | None = None,
    default_quality: int | None = None,
    task: str = "compress",
    latent_dim: int = 16,
    augment: str | None = None,
    init_from: Path | None = None,
    decoder_widths: tuple[int, int] | None = None,
) -> dict:
    """Train on `dataset` and write a complete model folder to `out`; returns the card.

    task: "compress" (input = target), "denoise" (noisy input, a fresh random noise type per
    image and epoch -> clean target) or "sr2x" (14x14 2x2-mean input -> 28x28 target).
    augment: "realworld" adds real-world-like images to the training split (see _augmented);
        "realworld-lowres" adds three times as many blown-up low-resolution ones.
    init_from: a model folder whose networks are the starting point (fine-tuning).
    decoder_widths: a decoder of other widths (codec/model.py build_decoder). With init_from,
        the encoder is taken from there and kept fixed, and only the new decoder learns: the
        latents, and so the entropy tables and file sizes, stay those of init_from's model.
    """
    import keras

    from ..model import (DECODER_WIDTHS, CVAE, build_colour_decoder, build_colour_encoder,
                         build_decoder, build_encoder, phase_form)

    if task not in TASKS:
        raise NicError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    keras.utils.set_random_seed(seed)
    x_plain, x_val, x_test = splits(dataset, limit)
    extra, augmentation = _augmented(dataset, x_plain, augment, seed)
    x_fit = np.concatenate([x_plain, extra]) if len(extra) else x_plain
    colour = x_plain.ndim == 4
    input_size = x_plain.shape[1] // 2 if task == "sr2x" else x_plain.shape[1]
    if colour:
        encoder, decoder = build_colour_encoder(latent_dim, input_size), build_colour_decoder(latent_dim, input_size)
    else:
        encoder = build_encoder(latent_dim, input_size)
        decoder = build_decoder(latent_dim, decoder_widths or DECODER_WIDTHS)
    new_decoder = decoder_widths is not None and init_from is not None
    if init_from is not None:
        encoder.set_weights(_keras_weights(init_from / "encoder.keras"))
        if new_decoder:
            encoder.trainable = False
        else:
            decoder.set_weights(_keras_weights(init_from / "decoder.keras"))
    model = CVAE(encoder, decoder, beta=beta, seed=seed)
    # A model fine-tuned from trained weights starts at a smaller step, so it is not thrown
    # far from them before it has seen the new images; a new decoder starts from scratch.
    model.compile(optimizer=keras.optimizers.Adam(3e-4 if init_from and not new_decoder else 1e-3))
    callbacks = [
        keras.callbacks.EarlyStopping(patience=6, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=1e-5),
    ]
    started = time.time()
    val_inputs, test_inputs = (_task_inputs(task, x, seed + 1) for x in (x_val, x_test))
    history = model.fit(
        training_data(task, x_fit, seed, jitter=colour), epochs=epochs,
        validation_data=(scale(val_inputs), scale(x_val)),
        callbacks=callbacks, verbose=verbose,
    )
    train_seconds = time.time() - started

    out.mkdir(parents=True, exist_ok=True)
    model.encoder.save(out / "encoder.keras")
    model.decoder.save(out / "decoder.keras")
    export(model.encoder, out / "encoder.tflite", mean_only=True)
    # grey decoders go out in phase form: the same function, 1.4x faster in LiteRT
    export(model.decoder if colour else phase_form(model.decoder), out / "decoder.tflite")
    _plot_history(history.history, out / "training.png")

    test_decoded = model.predict(scale(test_inputs), batch_size=1024, verbose=0)
    test_mse = float(np.mean((test_decoded.reshape(x_test.shape) - x_test / 255.0) ** 2))
    card = {
        "name": name,
        "model_id": model_id,
        "dataset": dataset,
        "task": task,
        "input_size": input_size,
        "channels": 3 if colour else 1,
        "latent_dim": latent_dim,
        "architecture": f"CVAE {latent_dim}-d (codec/model.py)" + (
            f", decoder widths {decoder_widths[0]}-{decoder_widths[1]}" if decoder_widths else ""),
        "encoder_fixed": new_decoder,
        "command": command_line(),
        "epochs_run": len(history.history["loss"]),
        "epochs_max": epochs,
        "beta": beta,
        "seed": seed,
        "limit": limit,
        "train_images": int(len(x_fit)),
        "augmentation": augmentation or (COLOUR_JITTER if colour else None),
        "initialised_from": str(init_from) if init_from is not None else None,
        "validation_images": int(len(x_val)),
        "train_seconds": round(train_seconds, 1),
        "test_images": int(len(x_test)),
        "test_mse_unquantised": round(test_mse, 6),
        "test_psnr_unquantised_db": round(_psnr_from_mse01(test_mse), 3),
        "platform": platform.platform(),
        "multipliers": {str(q): m for q, m in (multipliers or DEFAULT_MULTIPLIERS).items()},
        "default_quality": default_quality or 4,
    }
    return write_tables_and_card(out, card, model.encoder, x_fit, x_val, x_plain)


def _keras_weights(path: Path) -> list:
    import keras

    return keras.models.load_model(path, compile=False).get_weights()


# Added images per dataset training image: digits typeset in the training half of the system's
# fonts, the dataset's own images printed on paper and photographed, and (since model id 15) the
# dataset's own images captured at a few pixels across and blown up (codec/synthetic.py).
TYPESET_SHARE, PRINTED_SHARE, LOW_RESOLUTION_SHARE = 0.25, 0.15, 0.1
# Augmentation kinds and their share of blown-up low-resolution images. realworld-lowres is for
# a finer model: auto hands it the digits drawn thicker than MNIST's pen, most of them blown up
# from a few pixels across and stretched to the grid (UCI-like): a 1 becomes a thick blurred
# bar, which the models trained on realworld redraw with a waist that reads as an 8.
AUGMENTATIONS = {"realworld": LOW_RESOLUTION_SHARE, "realworld-lowres": 3 * LOW_RESOLUTION_SHARE}


def _augmented(dataset: str, images: np.ndarray, augment: str | None, seed: int):
    """Extra training images that look like what users bring, all brought to the model's
    convention by the encoder's own normalise; returns (images, summary for the card)."""
    if augment is None:
        return images[:0], None
    if augment not in AUGMENTATIONS:
        raise NicError(f"unknown augmentation {augment!r}; choose one of {', '.join(AUGMENTATIONS)}")
    from ..synthetic import low_resolution_images, printed_images, typeset_digits

    rng = np.random.default_rng(seed + 3)
    box_side = BOX_SIDES.get(dataset, 20)
    printed = printed_images(images[rng.permutation(len(images))[: int(len(images) * PRINTED_SHARE)]],
                             rng, box_side)
    typeset = typeset_digits(int(len(images) * TYPESET_SHARE), rng)[0] if dataset == "mnist" else printed[:0]
    low_count = int(len(images) * AUGMENTATIONS[augment])
    low = low_resolution_images(images[rng.permutation(len(images))[:low_count]], rng, box_side)
    low = low[levelled(low)]  # the rest came back as a grey picture: nothing to learn from
    summary = {"kind": augment, "printed_dataset_images": int(len(printed)),
               "typeset_digits": int(len(typeset)), "low_resolution_images": int(len(low)),
               "generator": "codec/synthetic.py"}
    return np.concatenate([printed, typeset, low]), summary


def _task_inputs(task: str, images: np.ndarray, seed: int) -> np.ndarray:
    """The degraded inputs a task's encoder reads, for a fixed evaluation set."""
    if task == "denoise":
        return add_random_noise(images, np.random.default_rng(seed))
    return reduce2x(images) if task == "sr2x" else images


COLOUR_JITTER = ("every batch: random horizontal flips, crops of the image padded by 4 "
                 "reflected pixels, brightness +-10 %, contrast and saturation x0.8-1.2")


def training_data(task: str, images: np.ndarray, seed: int, jitter: bool = False):
    """Batches of (input, target) in [0, 1]; denoising draws fresh noise every epoch;
    jitter: colour photos, few of them, are flipped, cropped and recoloured every batch."""
    fixed = None if task == "denoise" or jitter else _task_inputs(task, images, seed)

    def pairs(rows, rng):
        if fixed is not None:
            return scale(fixed[rows]), scale(images[rows])
        targets = jittered(images[rows], rng) if jitter else images[rows]
        inputs = add_random_noise(targets, rng) if task == "denoise" else _task_inputs(task, targets, seed)
        return scale(inputs), scale(targets)

    return shuffled_batches(len(images), seed, pairs)


def retable(out: Path, multipliers: dict[int, float] | None = None,
            default_quality: int | None = None) -> dict:
    """Rebuild the entropy tables of a trained model folder (new quality levels, no training)."""
    import keras

    card = json.loads((out / "card.json").read_text())
    card["multipliers"] = {str(q): m for q, m in (multipliers or DEFAULT_MULTIPLIERS).items()}
    if default_quality is not None:
        card["default_quality"] = default_quality
    card["tables_command"] = command_line()
    x_plain, x_fit, x_val, _ = card_images(card)
    encoder = keras.models.load_model(out / "encoder.keras", compile=False)
    return write_tables_and_card(out, card, encoder, x_fit, x_val, x_plain)


def card_images(card: dict, limit: int | None = None) -> tuple:
    """A trained model's (plain fit split, fit split with its augmentation, validation, test),
    as its card says it was trained; limit: smoke runs."""
    x_plain, x_val, x_test = splits(card["dataset"], limit or card.get("limit"))
    augmentation = card.get("augmentation")  # colour models record their jitter as text
    kind = augmentation.get("kind") if isinstance(augmentation, dict) else None
    extra, _ = _augmented(card["dataset"], x_plain, kind, card.get("seed", 0))  # as trained
    return x_plain, np.concatenate([x_plain, extra]), x_val, x_test


SUBJECTS = {"mnist": "a digit", "fashion": "a clothing item", "cifar": "a small colour photo"}
# The object's longer side in the 28x28 field, as in the dataset (codec/normalise.py): MNIST
# boxed its digits into 20x20; Fashion-MNIST items fill the field.
BOX_SIDES = {"mnist": 20, "fashion": 28}


def calibrate_fidelity(out: Path, classifier: str | None, class_shift: float | None = None,
                       refines: str | None = None, other_readers: list[str] | tuple = (),
                       clear_readers: int = 0) -> dict:
    """Measure the fidelity check's floors on the validation split (never the test set) and
    write them into the card of the compression model in `out` (see codec/fidelity.py).
    refines: the model whose auto ladder this one continues (codec/escalate.py finer_model)."""
    from ..api import decode_batch, encode_batch
    from ..fidelity import calibrate
    from ..runtime import load_model

    card = json.loads((out / "card.json").read_text())
    card.pop("fidelity", None)  # measure the plain default level, with no check in the way
    card["subject"] = SUBJECTS.get(card["dataset"], f"a {card['dataset']} image")
    card["box_side"] = BOX_SIDES.get(card["dataset"], 20)
    card["fidelity_command"] = command_line()
    if refines:
        card["refines"] = refines
    _, x_val, _ = splits(card["dataset"], card.get("limit"))
    with _installed(out, card):
        decoded = np.stack(decode_batch(encode_batch(x_val, model=card["name"])))
        card["fidelity"] = calibrate(load_model(card["name"]), x_val, decoded, classifier,
                                     CLASS_SHIFT if class_shift is None else class_shift,
                                     other_readers, clear_readers)
    write_card(out, card)
    return card


def write_tables_and_card(out, card, encoder, x_fit, x_val, x_plain) -> dict:
    """Measure the entropy tables on the training split (augmented: what encoders will be
    shown), the residual layer on the dataset's own images, then the codec on validation."""
    multipliers = {int(q): m for q, m in card.get("multipliers", DEFAULT_MULTIPLIERS).items()}
    task, seed = card.get("task", "compress"), card.get("seed", 0)
    # Tables are measured on what the encoder will really read (noisy or small inputs).
    fit_inputs = _task_inputs(task, x_fit, seed + 2)
    means, logvars = encoder.predict(scale(fit_inputs), batch_size=1024, verbose=0)
    sigmas = np.sqrt(np.mean(np.exp(logvars), axis=0)).astype(np.float32)
    build_tables(means, sigmas, multipliers).save(out / "entropy.npz")
    card["latent_sigmas"] = [round(float(s), 5) for s in sigmas]
    card["multipliers"] = {str(q): m for q, m in multipliers.items()}
    (out / "residual.npz").unlink(missing_ok=True)
    card["fingerprints"] = fingerprints(out)
    if task == "compress" and card.get("channels", 1) == 1:  # the residual layer (grey)
        _build_residual(out, card, x_plain)
        card["fingerprints"] = fingerprints(out)
    coded = x_val[:VALIDATION_CODED]
    card["validation"] = validate(out, card, _task_inputs(task, coded, seed + 1), coded)
    write_card(out, card)
    return card


def _build_residual(out: Path, card: dict, images: np.ndarray) -> None:
    """Count the residual layer's context histograms on the training split, coded through the
    shipped runtime (LiteRT, entropy tables) so that x_hat is exactly what decoders will see."""
    from ..api import decode_batch, encode_batch

    base = card["default_quality"]
    with _installed(out, card):
        x_hat = np.stack(decode_batch(encode_batch(images, model=card["name"], quality=base)))
    build_residual_model(images, x_hat, base).save(out / "residual.npz")
    card["fingerprints"] = fingerprints(out)
    _fit_guided(out, card, images)


def refit_residual(out: Path) -> dict:
    """Fit the guided coder's tables (codec/guided.py) of a trained model folder on its training
    split, keeping its residual layer's histograms (old files decode as before); no training."""
    card = json.loads((out / "card.json").read_text())
    card["residual_command"] = command_line()
    x_plain, _, _ = splits(card["dataset"], card.get("limit"))
    _fit_guided(out, card, x_plain)
    write_card(out, card, fingerprint=True)
    return card


def _fit_guided(out: Path, card: dict, images: np.ndarray) -> None:
    """Add the guided tables to residual.npz, from x_hat as the shipped runtime computes it."""
    from dataclasses import replace

    from ..guided import fit_guided, x_hat_at
    from ..runtime import load_model

    with _installed(out, card):
        net = load_model(card["name"])
        table = net.tables[net.residual.base_quality]
        floats = np.concatenate([
            net.decode_floats(table.dequantize(table.quantize(net.encode_latents(part))))
            for part in np.array_split(images, max(1, len(images) // 4096))])
        guided = fit_guided(images, x_hat_at(floats, 0))
        replace(net.residual, guided=guided).save(out / "residual.npz")


def validate(out: Path, card: dict, inputs: np.ndarray, targets: np.ndarray,
              levels: list[int] | None = None) -> dict:
    """Mean file bytes, PSNR and max error per quality level (default: every one), through the
    real codec."""
    from .. import api
    from ..metrics import max_abs_error, psnr

    if levels is None:
        levels = sorted(int(q) for q in card["multipliers"])
        if card.get("task", "compress") == "compress" and (out / "residual.npz").exists():
            levels += list(api.RESIDUAL_LEVELS)
    figures = {}
    with _installed(out, card):
        for quality in levels:
            files = api.encode_batch(inputs, model=card["name"], quality=quality)
            decoded = np.stack(api.decode_batch(files))
            figures[str(quality)] = {
                "mean_bytes": round(float(np.mean([len(f) for f in files])), 3),
                "psnr_db": _finite(round(psnr(targets, decoded), 3)),  # None when lossless
                "max_abs_error": max_abs_error(targets, decoded),
            }
    return {"images": int(len(inputs)), "levels": figures}


def _finite(value: float) -> float | None:
    """JSON has no infinity: a lossless PSNR is written as null."""
    return value if np.isfinite(value) else None


@contextmanager
def _installed(out: Path, card: dict):
    """Make the models in the folder above `out` (with `out` among them: its classifier may be
    its neighbour) the installed models while `out`'s card is being written."""
    from .. import runtime

    previous = os.environ.get(runtime.WEIGHTS_ENV)
    write_card(out, card)
    os.environ[runtime.WEIGHTS_ENV] = str(out.parent)
    runtime.forget_models()
    try:
        # Another folder there with the same model name would be measured in out's place (a
        # stale training run's "mnist" beside "mnist15"): refuse rather than write wrong tables.
        folder = runtime.installed_models().get(card["name"], {}).get("folder")
        if folder is None or Path(folder).resolve() != out.resolve():
            raise NicError(f"{out.parent} holds another model called {card['name']!r} "
                           f"({folder}); train into a folder of its own")
        yield
    finally:
        if previous is None:
            os.environ.pop(runtime.WEIGHTS_ENV, None)
        else:
            os.environ[runtime.WEIGHTS_ENV] = previous
        runtime.forget_models()


def _psnr_from_mse01(mse: float) -> float:
    return float(10 * np.log10(1.0 / mse))


def _plot_history(history: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, key in zip(axes, ("loss", "kl", "mse")):
        ax.plot(history[key], label="train")
        ax.plot(history[f"val_{key}"], label="validation")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
