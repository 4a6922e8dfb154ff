"""`nic train --task classify`: the small classifier that checks every encode's meaning.

A compression model that changes a 7 into a 2 has failed, whatever its PSNR. Each domain with
classes (MNIST digits, Fashion-MNIST items) gets a classifier; the encoder runs it on the prepared
input and on what the file decodes to, and escalates when they disagree (codec/fidelity.py).

It must read what users bring and what the decoder draws, so it trains on:
* the dataset's training split, shifted by up to 2 pixels;
* for digits, typeset digits in the training half of the system's fonts, and MNIST digits
  printed on paper and photographed, or captured at a few pixels across and blown up (other
  people's digit sets look like that), all brought back by the encoder's normalise
  (codec/synthetic.py);
* a blurred copy of a third of each batch: decoded images are smoother than the originals
  (`blurred_share`; the second reader, `--architecture lenet`, trains with none, so that it
  does not learn to forgive the decoder's smoothing as the first does);
* with `distorted_share`, MNIST digits written otherwise: turned, sheared, scaled, with another
  pen, blurred or noisy (codec/synthetic.py `distorted_images`). A reader that has seen a digit
  drawn many ways keeps reading it through them, and so disagrees with the others where a
  decoded digit has become another rather than merely been redrawn.

`real_world=False` leaves the added digits out: a reader of MNIST alone, like many a digit
classifier a user may hold, which forgives less in a typeset or blown-up digit that the decoder
has redrawn in MNIST's hand.

Writes classifier.tflite and card.json (with the test accuracy) into OUT.
"""

import platform
import time
from pathlib import Path

import numpy as np

from ..data import load_dataset
from .common import (VALIDATION_SIZE, command_line, export, levelled, scale, shuffled_batches,
                     write_card)

__all__ = ["train_classifier"]

# Added digits per MNIST training image: typeset, printed and photographed, low resolution.
TYPESET_SHARE, PRINTED_SHARE, LOW_RESOLUTION_SHARE = 0.3, 0.15, 0.15
ARCHITECTURES = {
    "small": "CNN 32-64-64, dense 128 (codec/model.py build_classifier)",
    "lenet": "LeNet-style CNN 5x5 32-pool-64-pool, dense 256 (codec/model.py build_classifier)",
}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion": ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                "sneaker", "bag", "ankle boot"],
}


def train_classifier(dataset: str, out: Path, *, model_id: int, name: str, epochs: int = 6,
                     seed: int = 0, limit: int | None = None, verbose: int = 2,
                     architecture: str = "small", blurred_share: float = 1 / 3,
                     real_world: bool = True, distorted_share: float = 0.0) -> dict:
    """Train, export and write the card of a classifier for `dataset`; returns the card."""
    import keras

    from ..model import build_classifier

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = load_dataset(dataset)
    if limit:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    split = len(x_train) - min(VALIDATION_SIZE, len(x_train) // 5)
    x_fit, y_fit, x_val, y_val = x_train[:split], y_train[:split], x_train[split:], y_train[split:]
    added = {}
    if dataset == "mnist" and real_world:
        x_extra, y_extra, added = _real_world_digits(x_fit, y_fit, rng)
        x_fit, y_fit = np.concatenate([x_fit, x_extra]), np.concatenate([y_fit, y_extra])
    if dataset == "mnist" and distorted_share:
        x_extra, y_extra, added["distorted"] = _distorted_digits(x_fit[:split], y_fit[:split],
                                                                 distorted_share, rng)
        x_fit, y_fit = np.concatenate([x_fit, x_extra]), np.concatenate([y_fit, y_extra])
    model = build_classifier(len(CLASS_NAMES[dataset]), architecture=architecture)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    started = time.time()
    history = model.fit(_batches(x_fit, y_fit, seed, blurred_share), epochs=epochs, verbose=verbose,
                        validation_data=(scale(x_val), y_val))
    seconds = time.time() - started

    out.mkdir(parents=True, exist_ok=True)
    export(model, out / "classifier.tflite")  # all that runs; no .keras: nothing retrains it
    accuracy = float(np.mean(model.predict(scale(x_test), batch_size=1024, verbose=0)
                             .argmax(axis=1) == y_test))
    card = {
        "name": name,
        "model_id": model_id,
        "dataset": dataset,
        "task": "classify",
        "classes": CLASS_NAMES[dataset],
        "architecture": ARCHITECTURES[architecture],
        "blurred_share": round(blurred_share, 4),
        "distorted_share": round(distorted_share, 4),
        "command": command_line(),
        "epochs_run": len(history.history["loss"]),
        "seed": seed,
        "limit": limit,
        "train_images": int(len(x_fit)),
        "added_training_digits": added,
        "validation_images": int(len(x_val)),
        "validation_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
        "test_images": int(len(x_test)),
        "test_accuracy": round(accuracy, 4),
        "train_seconds": round(seconds, 1),
        "platform": platform.platform(),
        "default_quality": 1,
    }
    write_card(out, card, fingerprint=True)
    return card


def _real_world_digits(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """Typeset, printed and low-resolution digits (images, labels, counts for the card)."""
    from ..synthetic import low_resolution_images, printed_images, typeset_digits

    typeset, typeset_labels = typeset_digits(int(len(images) * TYPESET_SHARE), rng)
    parts, part_labels, counts = [typeset], [typeset_labels], {"typeset": len(typeset)}
    for name, share, make in (("printed", PRINTED_SHARE, printed_images),
                              ("low_resolution", LOW_RESOLUTION_SHARE, low_resolution_images)):
        rows = rng.permutation(len(images))[: int(len(images) * share)]
        made = make(images[rows], rng)
        kept = levelled(made)  # the rest came back as a grey picture, no digit to read
        parts.append(made[kept])
        part_labels.append(labels[rows][kept])
        counts[name] = int(kept.sum())
    counts["generator"] = "codec/synthetic.py"
    return np.concatenate(parts), np.concatenate(part_labels), counts


def _distorted_digits(images: np.ndarray, labels: np.ndarray, share: float,
                      rng: np.random.Generator):
    """Distorted copies of a share of the MNIST digits (images, labels, count kept)."""
    from ..synthetic import distorted_images

    rows = rng.permutation(len(images))[: int(len(images) * share)]
    made = distorted_images(images[rows], rng)
    kept = levelled(made)  # noise that normalise could not part from the digit
    return made[kept], labels[rows][kept], int(kept.sum())


def _batches(images: np.ndarray, labels: np.ndarray, seed: int, blurred_share: float):
    """Shuffled batches, shifted by up to 2 pixels, a share of each blurred."""

    def shifted(rows, rng):
        batch = scale(images[rows])
        dy, dx = rng.integers(-2, 3, 2)
        batch = np.roll(batch, (int(dy), int(dx)), axis=(1, 2))
        blurred = rng.random(len(rows)) < blurred_share
        batch[blurred] = _blur(batch[blurred])
        return batch, labels[rows]

    return shuffled_batches(len(images), seed, shifted)


def _blur(batch: np.ndarray) -> np.ndarray:
    """A 3x3 binomial blur, about what the decoder's smoothing does to strokes."""
    kernel = np.array([1, 2, 1], np.float32) / 4
    padded = np.pad(batch, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    rows = sum(k * padded[:, i : i + batch.shape[1], :, :] for i, k in enumerate(kernel))
    return sum(k * rows[:, :, j : j + batch.shape[2], :] for j, k in enumerate(kernel))
