"""`nic train --task denoise --dataset cifar`: the colour denoiser behind `nic denoise`.

A bottleneck autoencoder blurs away the detail that mild noise leaves intact, which is why the
seed system's denoising autoencoder lost to plain 3x3 filters by mean absolute error. This model
is a filter instead: a fully convolutional network that predicts the noise and subtracts it
(codec/model.py build_denoiser), blind to the noise type, trained on the four noise types of
the seed system (codec/noise.py SEED_NOISE_TYPES) drawn afresh for every image and batch, on
flipped and shifted crops of the training split, with the mean absolute error as its loss.

Writes denoiser.tflite and card.json (with test figures per noise type) into OUT.
"""

import json
import platform
import time
from pathlib import Path

import numpy as np

from .metrics import psnr
from .noise import add_noise, add_random_noise, noise_types
from .train import (_command_line, _export, _jittered, _scale, _splits, fingerprints,
                    shuffled_batches)

__all__ = ["train_denoiser"]


def train_denoiser(dataset: str, out: Path, *, model_id: int, name: str, epochs: int = 30,
                   seed: int = 0, limit: int | None = None, verbose: int = 2) -> dict:
    """Train, export and write the card of a denoising filter for `dataset`; returns the card."""
    import keras

    from .model import build_denoiser

    keras.utils.set_random_seed(seed)
    table = noise_types(dataset)
    x_fit, x_val, x_test = _splits(dataset, limit)
    channels = x_fit.shape[3] if x_fit.ndim == 4 else 1
    val_noisy = add_random_noise(x_val, np.random.default_rng(seed + 1), table)

    def pairs(rows, rng):
        clean = _jittered(x_fit[rows], rng) if channels == 3 else x_fit[rows]
        return _scale(add_random_noise(clean, rng, table)), _scale(clean)

    model = build_denoiser(channels)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_absolute_error")
    started = time.time()
    history = model.fit(
        shuffled_batches(len(x_fit), seed, pairs), epochs=epochs, verbose=verbose,
        validation_data=(_scale(val_noisy), _scale(x_val)),
        callbacks=[keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=3, min_lr=1e-5),
                   keras.callbacks.EarlyStopping(patience=6, restore_best_weights=True)])
    seconds = time.time() - started
    out.mkdir(parents=True, exist_ok=True)
    _export(model, out / "denoiser.tflite")
    card = {
        "name": name,
        "model_id": model_id,
        "dataset": dataset,
        "task": "denoise",
        "kind": "filter",
        "channels": channels,
        "architecture": "DnCNN-style residual CNN, 6 layers of 32 3x3 filters (codec/model.py "
                        "build_denoiser); a filter, not a codec: used by nic denoise",
        "why": "a bottleneck autoencoder blurs what mild noise leaves intact; predicting the "
               "noise and subtracting it keeps the image's own detail",
        "noise": "blind to the type: " + ", ".join(table),
        "training": "flipped and shifted crops, recoloured (codec/train.py _jittered), a fresh "
                    "noise type and draw per image and batch; loss: mean absolute error",
        "command": _command_line(),
        "epochs_run": len(history.history["loss"]),
        "seed": seed,
        "limit": limit,
        "train_images": int(len(x_fit)),
        "train_seconds": round(seconds, 1),
        "test": _test_figures(model, x_test, table, seed + 2),
        "platform": platform.platform(),
    }
    card["fingerprints"] = fingerprints(out)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def _test_figures(model, clean: np.ndarray, table: dict, seed: int) -> dict:
    """PSNR (dB) and mean absolute error (on [0, 1]) of noisy and denoised test images."""
    figures = {}
    for kind in table:
        noisy = add_noise(clean, kind, np.random.default_rng(seed), table)
        denoised = np.rint(model.predict(_scale(noisy), batch_size=256, verbose=0) * 255)
        denoised = denoised.reshape(clean.shape).astype(np.uint8)
        figures[kind] = {
            "noisy_psnr_db": round(psnr(clean, noisy), 2),
            "denoised_psnr_db": round(psnr(clean, denoised), 2),
            "noisy_mae": round(float(np.mean(np.abs(noisy / 255.0 - clean / 255.0))), 4),
            "denoised_mae": round(float(np.mean(np.abs(denoised / 255.0 - clean / 255.0))), 4),
        }
    return figures
