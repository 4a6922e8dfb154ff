"""`nic train --task denoise --dataset cifar`: the colour denoiser behind `nic denoise`; and
`nic train --task vp8 --dataset cifar`: the post-filter of the VP8 model (codec/vp8.py), at the end.

A bottleneck autoencoder blurs away the detail that mild noise leaves intact, which is why the
seed system's denoising autoencoder lost to plain 3x3 filters by mean absolute error. This model
is a filter instead: a fully convolutional network that predicts the noise and subtracts it
(codec/model.py build_denoiser), blind to the noise type, trained on the four noise types of
the seed system (codec/noise.py SEED_NOISE_TYPES) drawn afresh for every image and batch, on
flipped and shifted crops of the training split, with the mean absolute error as its loss.

Writes denoiser.tflite and card.json (with test figures per noise type) into OUT.
"""

import platform
import time
from pathlib import Path

import numpy as np

from ..metrics import psnr
from ..noise import add_noise, add_random_noise, noise_types
from .common import command_line, export, jittered, scale, shuffled_batches, splits, write_card

__all__ = ["train_denoiser", "train_vp8_filter", "VP8_QUALITIES"]


def train_denoiser(dataset: str, out: Path, *, model_id: int, name: str, epochs: int = 30,
                   seed: int = 0, limit: int | None = None, verbose: int = 2) -> dict:
    """Train, export and write the card of a denoising filter for `dataset`; returns the card."""
    import keras

    from ..model import build_denoiser

    keras.utils.set_random_seed(seed)
    table = noise_types(dataset)
    x_fit, x_val, x_test = splits(dataset, limit)
    channels = x_fit.shape[3] if x_fit.ndim == 4 else 1
    val_noisy = add_random_noise(x_val, np.random.default_rng(seed + 1), table)

    def pairs(rows, rng):
        clean = jittered(x_fit[rows], rng) if channels == 3 else x_fit[rows]
        return scale(add_random_noise(clean, rng, table)), scale(clean)

    model = build_denoiser(channels)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_absolute_error")
    history, seconds = _fit_and_export(model, shuffled_batches(len(x_fit), seed, pairs), epochs,
                                       verbose, (scale(val_noisy), scale(x_val)), 3, out)
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
        "training": "flipped and shifted crops, recoloured (codec/train/common.py jittered), "
                    "a fresh noise type and draw per image and batch; loss: mean absolute error",
        **_run_record(history, seed, limit, x_fit),
        "train_seconds": round(seconds, 1),
        "test": _test_figures(model, x_test, table, seed + 2),
        "platform": platform.platform(),
    }
    write_card(out, card, fingerprint=True)
    return card


def _run_record(history, seed: int, limit: int | None, x_fit: np.ndarray) -> dict:
    """The card fields both filter trainers record about their run, in the cards' order."""
    return {"command": command_line(), "epochs_run": len(history.history["loss"]),
            "seed": seed, "limit": limit, "train_images": int(len(x_fit))}


def _fit_and_export(model, batches, epochs: int, verbose: int, validation: tuple,
                    patience: int, out: Path):
    """Fit a filter (learning rate halved after `patience` flat epochs, stopped after twice
    that, best weights kept) and write it to OUT/denoiser.tflite; returns the history and the
    seconds the fit took."""
    import keras

    started = time.time()
    history = model.fit(
        batches, epochs=epochs, verbose=verbose, validation_data=validation,
        callbacks=[keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=patience, min_lr=1e-5),
                   keras.callbacks.EarlyStopping(patience=2 * patience, restore_best_weights=True)])
    seconds = time.time() - started
    out.mkdir(parents=True, exist_ok=True)
    export(model, out / "denoiser.tflite")
    return history, seconds


def _test_figures(model, clean: np.ndarray, table: dict, seed: int) -> dict:
    """PSNR (dB) and mean absolute error (on [0, 1]) of noisy and denoised test images."""
    figures = {}
    for kind in table:
        noisy = add_noise(clean, kind, np.random.default_rng(seed), table)
        denoised = np.rint(model.predict(scale(noisy), batch_size=256, verbose=0) * 255)
        denoised = denoised.reshape(clean.shape).astype(np.uint8)
        figures[kind] = {
            "noisy_psnr_db": round(psnr(clean, noisy), 2),
            "denoised_psnr_db": round(psnr(clean, denoised), 2),
            "noisy_mae": round(float(np.mean(np.abs(noisy / 255.0 - clean / 255.0))), 4),
            "denoised_mae": round(float(np.mean(np.abs(denoised / 255.0 - clean / 255.0))), 4),
        }
    return figures


# `nic train --task vp8`: libwebp's quality for each level of the VP8 model (codec/vp8.py),
# spread over WebP's useful range on 32x32 photos (q0: 21 dB, q95: about 35 dB).
VP8_QUALITIES = {1: 0, 2: 10, 3: 20, 4: 35, 5: 50, 6: 65, 7: 80, 8: 95}
VP8_DEFAULT_LEVEL = 3
FLOOR_PERCENTILE = 1  # the PSNR floor: this percentile of validation images at the default level


def train_vp8_filter(dataset: str, out: Path, *, model_id: int, name: str, epochs: int = 10,
                     seed: int = 0, limit: int | None = None, verbose: int = 2) -> dict:
    """Train the VP8 model's post-filter on WebP's decodes of the training images at every
    level, export it and write the card (validation and test figures per level)."""
    import keras

    from ..model import build_denoiser

    keras.utils.set_random_seed(seed)
    x_fit, x_val, x_test = splits(dataset, limit)
    started = time.time()
    fit_in = np.concatenate([_webp_decodes(x_fit, q) for q in VP8_QUALITIES.values()])
    fit_out = np.concatenate([x_fit] * len(VP8_QUALITIES))
    val_in = np.concatenate([_webp_decodes(x_val, q) for q in VP8_QUALITIES.values()])
    val_out = np.concatenate([x_val] * len(VP8_QUALITIES))

    def pairs(rows, rng):  # flipped at random, input and target alike
        flips = rng.random(len(rows)) < 0.5
        noisy, clean = fit_in[rows], fit_out[rows]
        noisy = np.where(flips[:, None, None, None], noisy[:, :, ::-1], noisy)
        clean = np.where(flips[:, None, None, None], clean[:, :, ::-1], clean)
        return scale(noisy), scale(clean)

    model = build_denoiser(3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mean_squared_error")
    prepared = time.time() - started  # libwebp's decodes of every training image, counted too
    history, seconds = _fit_and_export(model, shuffled_batches(len(fit_in), seed, pairs), epochs,
                                       verbose, (scale(val_in), scale(val_out)), 2, out)
    seconds += prepared
    validation = _vp8_figures(model, x_val)
    card = {
        "name": name,
        "model_id": model_id,
        "dataset": dataset,
        "task": "compress",
        "kind": "vp8",
        "channels": 3,
        "input_size": int(x_fit.shape[1]),
        "subject": "a small colour photo, at its own size",
        "architecture": "libwebp's lossy VP8 coder (method 6) at the level's quality, stored "
                        "without the 27 bytes nic's header makes redundant; decoded through a "
                        "DnCNN-style post-filter, 6 layers of 32 3x3 filters (codec/model.py "
                        "build_denoiser), kept per image only where it helps (codec/vp8.py)",
        "why": "a CVAE trained on 3,500 photos stays near 19.5 dB; VP8 reaches 35 dB, and a "
               "filter trained on its decodes removes part of its block and ringing error",
        "webp_qualities": {str(level): q for level, q in VP8_QUALITIES.items()},
        "default_quality": VP8_DEFAULT_LEVEL,
        "training": "pairs (WebP decode at each level's quality, original) of the training "
                    "split, flipped at random; loss: mean squared error",
        **_run_record(history, seed, limit, x_fit),
        "validation_images": int(len(x_val)),
        "test_images": int(len(x_test)),
        "train_seconds": round(seconds, 1),
        "validation": {"images": int(len(x_val)), "levels": validation["levels"]},
        "test": {"images": int(len(x_test)), "levels": _vp8_figures(model, x_test)["levels"]},
        "fidelity": {
            "psnr_floor_db": validation["floor"],
            "measured_on": f"{len(x_val)} validation images at the default level: the "
                           f"{FLOOR_PERCENTILE}st percentile of their PSNR",
        },
        "platform": platform.platform(),
    }
    write_card(out, card, fingerprint=True)
    return card


def _webp_decodes(images: np.ndarray, quality: int) -> np.ndarray:
    from ..vp8 import coded

    return np.stack([coded(image, quality)[1] for image in images])


def _vp8_figures(model, clean: np.ndarray) -> dict:
    """Per level: mean file bytes, PSNR of VP8's decode and of what nic decodes (the filter
    where it helps), the share filtered; and the PSNR floor at the default level."""
    from ..format import Header, pack
    from ..fidelity import psnr_per_image
    from ..vp8 import coded

    levels, floor = {}, None
    for level, quality in VP8_QUALITIES.items():
        bodies, plain = zip(*(coded(image, quality) for image in clean))
        plain = np.stack(plain)
        filtered = np.rint(model.predict(scale(plain), batch_size=256, verbose=0) * 255)
        filtered = np.clip(filtered, 0, 255).astype(np.uint8)
        on = psnr_per_image(clean, filtered) > psnr_per_image(clean, plain)
        decoded = np.where(on[:, None, None, None], filtered, plain)
        size = clean.shape[1]
        header = Header(1, level, size, size, channels=3)
        levels[str(level)] = {
            "webp_quality": quality,
            "mean_bytes": round(float(np.mean([len(pack(header, b)) for b in bodies])), 2),
            "vp8_psnr_db": round(psnr(clean, plain), 2),
            "psnr_db": round(psnr(clean, decoded), 2),
            "filtered_share": round(float(on.mean()), 3),
        }
        if level == VP8_DEFAULT_LEVEL:
            per_image = psnr_per_image(clean, decoded)
            floor = round(float(np.percentile(per_image, FLOOR_PERCENTILE)), 2)
    return {"levels": levels, "floor": floor}
