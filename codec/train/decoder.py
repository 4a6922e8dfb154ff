"""Tune a grey model's decoder on the latents files really carry, and export it in int8.

    nic train --dataset mnist --init-from weights/mnist-v3 --decoder-only --model-id 22 --epochs 8

The CVAE decoder learned from posterior samples z = mean + sigma * eps; a .nic file gives it the
centroid of the bin its quantised mean fell into (codec/entropy.py). Here the decoder goes on
learning from exactly those centroids, each image at a quality level drawn at random from the
model's levels every epoch, towards the image by mean squared error (what PSNR measures). The
encoder stays that of --init-from, so every image keeps its latent; the entropy tables are
measured again on the training split, as by every `nic train`. The pixels change, so the model
needs a new id (the old one keeps decoding its files).

--int8: the decoder goes out with 8-bit integer weights and activations (LiteRT full-integer
quantisation, calibrated on training latents), which LiteRT's XNNPACK integer kernels run about
four times faster than float on this machine, and integer arithmetic gives the same pixels
whatever the batch. Its logit is clipped to +-LOGIT_CLIP before the sigmoid: beyond that no grey
level changes, and within it int8's 256 steps stay fine (unclipped, the logit spans about -45..7
and the output had 48 distinct values).

The shipped `mnist` (id 22) was made this way from id 15 (`mnist-v3`): 0.94-1.00x Pillow JPEG's
decode rate in `nic bench` where the float decoder gave 0.29x, 20.17 dB at level 5 (20.09), and
as many digits kept as id 15 on a fresh real-world set (README, "Speed").
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np

from ..entropy import EntropyTables
from ..errors import NicError
from .common import BATCH, command_line, export, scale, write_card
from .cvae import card_images, validate, write_tables_and_card

# sigmoid(-6.5) * 255 = 0.38: a logit beyond +-6.5 gives grey level 0 or 255 whatever it is.
LOGIT_CLIP = 6.5
CALIBRATION_LATENTS = 2000  # per level: the int8 ranges are measured on these
LEARNING_RATE = 3e-4  # the decoder starts trained: small steps, a third of them after 70 %
# Card fields of --init-from that describe its training or were measured with its decoder.
_REMEASURED = ("fidelity", "fidelity_command", "validation", "fingerprints", "residual_command",
               "tables_command", "decoder_export", "superseded_by", "note", "command", "platform",
               "train_seconds", "epochs_run", "epochs_max", "test_mse_unquantised",
               "test_psnr_unquantised_db", "initialised_from")


def tune_decoder(init_from: Path, out: Path, *, model_id: int, name: str, epochs: int,
                 seed: int = 0, int8: bool = True, limit: int | None = None,
                 verbose: int = 2, keep_last: bool = False) -> dict:
    """Write a model folder to `out`: init_from's encoder, its decoder tuned on
    quantised latents (and exported in int8); returns the card. limit: smoke runs, as in train.
    keep_last: the last epoch, not the best by validation PSNR (experiments that trade some of
    that PSNR for something else)."""
    import keras

    init_card = json.loads((init_from / "card.json").read_text())
    if init_card.get("channels", 1) != 1 or init_card.get("task", "compress") != "compress":
        raise NicError(f"--decoder-only tunes a grey compression model; {init_from} is not one")
    keras.utils.set_random_seed(seed)
    x_plain, x_fit, x_val, x_test = card_images(init_card, limit)
    encoder = keras.models.load_model(init_from / "encoder.keras", compile=False)
    decoder = keras.models.load_model(init_from / "decoder.keras", compile=False)
    tables = EntropyTables.load(init_from / "entropy.npz")
    fit_latents = _centroids(tables, _means(encoder, x_fit))
    val_latents = _centroids(tables, _means(encoder, x_val))[init_card["default_quality"]]
    started = time.time()
    history, kept = _fit(decoder, fit_latents, x_fit, val_latents, x_val, epochs, seed, verbose,
                         keep_last)
    seconds = time.time() - started

    out.mkdir(parents=True, exist_ok=True)
    for filename in ("encoder.keras", "encoder.tflite"):
        shutil.copyfile(init_from / filename, out / filename)
    decoder.save(out / "decoder.keras")
    _export_decoder(decoder, out / "decoder.tflite", fit_latents, int8)
    card = {key: value for key, value in init_card.items() if key not in _REMEASURED}
    card.update({
        "name": name, "model_id": model_id, "command": command_line(), "limit": limit,
        "initialised_from": str(init_from),
        "decoder_tuning": {
            "what": "decoder trained on the bin centroids of its quantised latents, one level "
                    "per image drawn at random each epoch; encoder kept",
            "loss": "mean squared error", "epochs_run": len(history), "epochs_max": epochs,
            "kept_epoch": kept,  # 0: no epoch beat the decoder it started from
            "validation_psnr_db_by_epoch": [round(v, 3) for v in history],
            "train_seconds": round(seconds, 1),
        },
        "decoder_export": EXPORTS[int8],
    })
    card = write_tables_and_card(out, card, encoder, x_fit, x_val, x_plain)
    card["test"] = _test_figures(out, card, x_test)
    write_card(out, card)
    return card


EXPORTS = {True: f"int8 phase form, logit clipped to +-{LOGIT_CLIP} (codec/train/decoder.py)",
           False: "phase form (codec/model.py phase_form)"}


def _means(encoder, images: np.ndarray) -> np.ndarray:
    return encoder.predict(scale(images), batch_size=1024, verbose=0)[0]


def _centroids(tables: EntropyTables, means: np.ndarray) -> dict[int, np.ndarray]:
    """What a decoder reads for each image at each level: its bins' centroids (N, D)."""
    return {q: table.dequantize(table.quantize(means)) for q, table in tables.levels.items()}


def _fit(decoder, latents: dict, images, val_latents, val_images, epochs, seed, verbose,
         keep_last: bool = False):
    """Train in place, keeping the epoch of best validation PSNR (default level; 0 if none beat
    the start), or the last; returns the validation PSNR after each epoch and the epoch kept."""
    import keras

    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    decoder.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(seed)
    stacked = np.stack([latents[q] for q in sorted(latents)])  # (levels, N, D)
    targets = scale(images)[..., None]
    history, best, kept = [_val_psnr(decoder, val_latents, val_images)], decoder.get_weights(), 0
    for epoch in range(epochs):
        if epoch == int(0.7 * epochs):
            optimizer.learning_rate.assign(LEARNING_RATE / 3)
        drawn = stacked[rng.integers(0, len(stacked), len(images)), np.arange(len(images))]
        decoder.fit(drawn, targets, batch_size=BATCH, epochs=1, shuffle=True, verbose=verbose)
        history.append(_val_psnr(decoder, val_latents, val_images))
        if history[-1] > max(history[:-1]):
            best, kept = decoder.get_weights(), epoch + 1
    if keep_last:
        return history[1:], epochs
    decoder.set_weights(best)
    return history[1:], kept


def _val_psnr(decoder, latents, images) -> float:
    """PSNR of the decoder's grey levels (rounded as the codec rounds) over a validation set."""
    from ..metrics import psnr
    from ..runtime import to_uint8

    return psnr(images, to_uint8(decoder.predict(latents, batch_size=1024, verbose=0)[..., 0]))


def _export_decoder(decoder, path: Path, latents: dict, int8: bool) -> None:
    from ..model import phase_form

    if not int8:
        export(phase_form(decoder), path)
        return
    rows = np.concatenate([latents[q][:CALIBRATION_LATENTS] for q in sorted(latents)])
    export(phase_form(decoder, LOGIT_CLIP), path,
            int8_calibration=[rows[i : i + 100] for i in range(0, len(rows), 100)])


def _test_figures(out: Path, card: dict, x_test: np.ndarray) -> dict:
    """The test set through the real codec at the default level: mean bytes and PSNR."""
    quality = card["default_quality"]
    figures = validate(out, card, x_test, x_test, levels=[quality])["levels"][str(quality)]
    return {"images": int(len(x_test)), "quality": quality,
            "mean_bytes": figures["mean_bytes"], "psnr_db": figures["psnr_db"]}
