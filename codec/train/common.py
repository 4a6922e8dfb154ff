"""What every trainer in codec/train/ shares: the data splits and batches, the record of the
command, the weight fingerprints, and the Keras-to-LiteRT export.

Imports TensorFlow (in `export` and `shuffled_batches`) only when called.
"""

import hashlib
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from ..data import load_dataset

__all__ = ["VALIDATION_SIZE", "BATCH", "WEIGHT_FILES", "splits", "command_line", "fingerprints",
           "scale", "export", "jittered", "shuffled_batches", "levelled", "write_card"]

VALIDATION_SIZE = 5000
BATCH = 128
# What the codec runs (LiteRT + tables) and the Keras originals kept for parity checks.
WEIGHT_FILES = ("encoder.tflite", "decoder.tflite", "entropy.npz", "encoder.keras", "decoder.keras",
                "residual.npz", "classifier.tflite", "denoiser.tflite")


def splits(dataset: str, limit: int | None):
    """(fit, validation, test) uint8 images: validation is the last 5,000 training images."""
    x_train, _, x_test, _ = load_dataset(dataset)
    if limit:  # smoke runs: a tiny fit set, with a validation split taken from it
        return x_train[:limit], x_train[: max(1, limit // 5)], x_test[:limit]
    held = min(VALIDATION_SIZE, len(x_train) // 8)  # the CIFAR subset has 4,000 training images
    return x_train[:-held], x_train[-held:], x_test


def command_line() -> str | None:
    """The exact command that wrote the files, when run through the `nic` entry point."""
    return "nic " + shlex.join(sys.argv[1:]) if Path(sys.argv[0]).name == "nic" else None


def fingerprints(folder: Path) -> dict[str, str]:
    """sha256 of each weight file: the card pins the exact bytes a model id stands for."""
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in WEIGHT_FILES if (folder / name).exists()
    }


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [0, 1] with a channel axis: (N, H, W, C)."""
    pixels = images.astype(np.float32) / 255.0
    return pixels if pixels.ndim == 4 else pixels[..., None]


def export(submodel, path: Path, mean_only: bool = False, int8_calibration=None) -> None:
    """Convert a Keras sub-model to a LiteRT flatbuffer (weights frozen, dynamic batch).
    int8_calibration: batches of inputs (an array of rows); given, weights and activations are
    quantised to 8-bit integers over the ranges these inputs reach (inputs and outputs float)."""
    import tempfile

    import keras
    import tensorflow as tf

    if mean_only:  # the codec needs only the posterior mean
        submodel = keras.Model(submodel.inputs, submodel.outputs[0])
    with tempfile.TemporaryDirectory() as saved:
        submodel.export(saved, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        if int8_calibration is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([rows] for rows in int8_calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.float32
        path.write_bytes(converter.convert())


def jittered(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour images (N, S, S, 3) uint8, each flipped, shifted and recoloured at random."""
    count, size = images.shape[0], images.shape[1]
    flips = rng.random(count) < 0.5
    images = np.where(flips[:, None, None, None], images[:, :, ::-1], images)
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)), mode="reflect")
    dy, dx = rng.integers(0, 9, (2, count))
    crops = np.stack([p[y : y + size, x : x + size] for p, y, x in zip(padded, dy, dx)])
    x = crops.astype(np.float32)
    grey = x.mean(axis=3, keepdims=True)
    saturation = rng.uniform(0.8, 1.2, (count, 1, 1, 1))
    x = grey + (x - grey) * saturation
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    x = mean + (x - mean) * rng.uniform(0.8, 1.2, (count, 1, 1, 1))
    x = x * rng.uniform(0.9, 1.1, (count, 1, 1, 1))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def shuffled_batches(count: int, seed: int, make_batch):
    """A Keras dataset of `count` items in BATCH-sized batches, reshuffled every epoch;
    make_batch(rows, rng) builds one batch from the item indices `rows`."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self):
            return -(-count // BATCH)

        def on_epoch_end(self):
            self.order = self.rng.permutation(count)

        def __getitem__(self, index):
            return make_batch(self.order[index * BATCH : (index + 1) * BATCH], self.rng)

    return Batches()


def levelled(images: np.ndarray) -> np.ndarray:
    """Per normalised image: did normalise find the object (a dark, clean border)? bool (N,)."""
    border = np.concatenate([images[:, [0, -1], :].reshape(len(images), -1),
                             images[:, :, [0, -1]].reshape(len(images), -1)], axis=1)
    return border.mean(axis=1) < 8


def write_card(out: Path, card: dict, *, fingerprint: bool = False) -> None:
    """Write `card` as OUT/card.json; fingerprint: pin the weight files' bytes in it first."""
    if fingerprint:
        card["fingerprints"] = fingerprints(out)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
