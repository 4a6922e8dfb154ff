"""Shipped and user models, found on disk, checked against their cards and run with LiteRT.

The shipped models come first; then the folders named by $NIC_MODELS (several separated by
os.pathsep; the CLI's --models-dir sets it), each holding model folders as `nic train --out`
writes them. A user model whose name or model id a model found earlier already has is left out
and reported (`model_conflicts`): the id in a .nic file must name one model, and a shipped id
means the shipped model everywhere.

TensorFlow is never imported here: the exported encoder and decoder run in LiteRT
(`ai-edge-litert`), which imports in about 0.1 s. Each model folder holds a card.json whose
sha256 fingerprints pin the exact weight bytes that its model id stands for; a file that does
not match is refused rather than silently decoded with other weights.
"""

import hashlib
import io
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from .entropy import EntropyTables
from .errors import NicFormatError, NicModelError, NicUnknownModelError

__all__ = [
    "Model", "weights_root", "models_dirs", "installed_models", "model_conflicts", "load_model",
    "load_model_by_id", "forget_models", "training_file", "USER_IDS",
]

WEIGHTS_ENV = "NIC_WEIGHTS"  # replaces the shipped weights (tests, development)
MODELS_ENV = "NIC_MODELS"  # user model folders, searched after the shipped weights
USER_IDS = range(128, 256)  # model ids for your own models; shipped ones use 1-127
_HOW_TO_ADD = (f"put its folder (with card.json) in a models folder and name that folder with "
               f"${MODELS_ENV} or --models-dir")
_BATCH = 512  # images per LiteRT call: large enough to amortise, small enough for memory


def weights_root() -> Path:
    """The folder of model folders: $NIC_WEIGHTS, the installed package's, or the checkout's."""
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV])
    return _shipped_root()


@cache
def _shipped_root() -> Path:
    """Where the package's weights are: looked up once, as every file decoded names its model."""
    packaged = Path(__file__).parent / "weights"  # wheels put weights/ inside the package
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "weights"


def models_dirs() -> list[Path]:
    """The user model folders named by $NIC_MODELS, in search order."""
    text = os.environ.get(MODELS_ENV, "")
    return [Path(part).expanduser() for part in text.split(os.pathsep) if part]


def installed_models() -> dict[str, dict]:
    """Model name -> its card: the shipped models, then those in the user model folders."""
    return _scan(weights_root(), tuple(models_dirs()))[0]


def model_conflicts() -> dict[str, str]:
    """User models left out because an earlier model has their name or id: name -> why."""
    return _scan(weights_root(), tuple(models_dirs()))[1]


@cache
def _scan(root: Path, user_dirs: tuple[Path, ...]) -> tuple[dict, dict]:
    cards, conflicts, by_id = {}, {}, {}
    for source, folder in [("shipped", root), *(("user", d) for d in user_dirs)]:
        if source == "user" and not folder.is_dir():  # a typo in $NIC_MODELS: say so
            conflicts[str(folder)] = f"${MODELS_ENV} names {folder}, which is not a folder"
        for card_path in sorted(folder.glob("*/card.json")) if folder.is_dir() else []:
            try:
                card = json.loads(card_path.read_text())
                name, model_id = card["name"], card["model_id"]
            except (OSError, ValueError, KeyError, TypeError):
                conflicts[card_path.parent.name] = f"{card_path} is not a valid model card"
                continue
            card["folder"], card["source"] = str(card_path.parent), source
            if name in cards:
                conflicts.setdefault(name, (
                    f"model {name!r} in {card_path.parent} is hidden by the {cards[name]['source']} "
                    f"model of that name in {cards[name]['folder']}: rename it"))
                continue
            if model_id in by_id:
                other = by_id[model_id]
                conflicts[name] = (
                    f"model {name!r} in {card_path.parent} has model id {model_id}, which the "
                    f"{other['source']} model {other['name']!r} already has: a file's id must "
                    f"name one model; retrain it with another --model-id "
                    f"({USER_IDS.start}-{USER_IDS.stop - 1} are for your own models)")
                continue
            cards[name] = card
            by_id[model_id] = card
    return cards, conflicts


def compression_models() -> list[str]:
    """The installed compression models nic offers for new files: not restoration models or
    classifiers, nor superseded models (kept installed only so that their files decode)."""
    return [name for name, card in installed_models().items()
            if card.get("task", "compress") == "compress" and not card.get("superseded_by")]


def forget_models() -> None:
    """Drop cached cards and models, so a changed $NIC_WEIGHTS or $NIC_MODELS takes effect."""
    _scan.cache_clear()
    _load_from.cache_clear()


def load_model(name: str) -> "Model":
    """The installed model called `name`, loaded and fingerprint-checked (cached)."""
    cards = installed_models()
    if name not in cards:
        if name in model_conflicts():
            raise NicModelError(model_conflicts()[name])
        known = ", ".join(cards) or "none"
        raise NicModelError(f"model {name!r} is not installed (installed: {known}); for a model "
                            f"you trained, {_HOW_TO_ADD}")
    return _load(name)


def load_model_by_id(model_id: int) -> "Model":
    """The installed model whose card carries `model_id`, as named in a .nic header."""
    for name, card in installed_models().items():
        if card["model_id"] != model_id:
            continue
        # Classifiers and denoising filters write no files: their ids name no .nic file.
        if card.get("task") == "classify" or card.get("kind") == "filter":
            raise NicFormatError(f"the file names model id {model_id}, which is {name!r}, a "
                                 f"{'classifier' if card.get('task') == 'classify' else 'filter'} "
                                 "that writes no .nic files: the file was not made by nic")
        return _load(name)
    raise NicUnknownModelError(
        f"the file needs model id {model_id}, which is not installed here (nic models lists "
        f"what is): {_HOW_TO_ADD}")


def training_file(model: "Model", filename: str) -> Path:
    """A training-only file of a model (encoder.keras, decoder.keras): the runtime install
    leaves them out, so look in the model's folder, then in the weights/ of the source checkout
    this code runs from, or of the clone the command runs in."""
    checkouts = [Path(root) / "weights" / model.folder.name
                 for root in (Path(__file__).resolve().parent.parent, Path.cwd())]
    for folder in (model.folder, *checkouts):
        if (folder / filename).is_file():
            return folder / filename
    raise NicModelError(f"{filename} of model {model.name!r} is only in the source tree (the "
                        "installed package leaves training files out): run from a clone")


def _load(name: str) -> "Model":
    return _load_from(name, installed_models()[name]["folder"])


@cache
def _load_from(name: str, folder: str) -> "Model":
    card = installed_models()[name]
    return Model(name=name, card=card, folder=Path(folder))


def _read_checked(folder: Path, filename: str, card: dict) -> bytes:
    """Read a weight file and refuse it unless its sha256 matches the card."""
    path = folder / filename
    try:
        data = path.read_bytes()
    except OSError as error:
        raise NicModelError(f"cannot read weights {path}: {error.strerror}") from None
    if hashlib.sha256(data).hexdigest() != card["fingerprints"].get(filename):
        raise NicModelError(f"weights {path} do not match the fingerprint in their card.json")
    return data


class _LiteRTFunction:
    """One exported network, called on float32 batches with a dynamic batch size."""

    def __init__(self, model_bytes: bytes):
        from ai_edge_litert.interpreter import Interpreter

        # LiteRT's default XNNPACK kernels on one thread: measured, they give bit-identical
        # outputs whatever the batch size (the built-in kernels do not) and encode 4x faster.
        with _quiet_stderr():  # XNNPACK announces itself on stderr: not for the user's eyes
            self._interpreter = Interpreter(model_content=model_bytes, num_threads=1)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape = None

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        chunks = [self._run(inputs[i : i + _BATCH]) for i in range(0, len(inputs), _BATCH)]
        return np.concatenate(chunks) if chunks else np.zeros((0,), np.float32)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        if self._shape != chunk.shape:  # batch size, and image size for filters
            self._interpreter.resize_tensor_input(self._input, chunk.shape, strict=False)
            self._interpreter.allocate_tensors()
            self._shape = chunk.shape
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(chunk, np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()


@dataclass
class Model:
    """A shipped model: its card, entropy tables and lazily loaded LiteRT networks."""

    name: str
    card: dict
    folder: Path
    _loaded: dict = field(default_factory=dict, repr=False)  # networks and tables, on first use

    @property
    def model_id(self) -> int:
        return self.card["model_id"]

    @property
    def default_quality(self) -> int:
        return self.card["default_quality"]

    @property
    def input_size(self) -> int:
        """Side of the square the encoder reads: 28, or 14 for 2x super-resolution."""
        return self.card.get("input_size", 28)

    @property
    def channels(self) -> int:
        """1 for the grey models, 3 for the colour (RGB) model."""
        return self.card.get("channels", 1)

    @property
    def output_size(self) -> int:
        """Side of the square the decoder draws: 28 for the grey models (14x14 super-resolution
        included), the colour model's own input size."""
        return self.input_size if self.channels == 3 else 28

    @property
    def tables(self) -> EntropyTables:
        if "tables" not in self._loaded:
            data = _read_checked(self.folder, "entropy.npz", self.card)
            self._loaded["tables"] = EntropyTables.load(io.BytesIO(data))
        return self._loaded["tables"]

    @property
    def residual(self):
        """The residual layer (lossless and max_error modes), or None if the model has none."""
        if "residual" not in self._loaded:
            from .residual import ResidualModel

            present = "residual.npz" in self.card["fingerprints"]
            data = _read_checked(self.folder, "residual.npz", self.card) if present else None
            self._loaded["residual"] = ResidualModel.load(io.BytesIO(data)) if data else None
        return self._loaded["residual"]

    def _network(self, part: str) -> _LiteRTFunction:
        if part not in self._loaded:
            data = _read_checked(self.folder, f"{part}.tflite", self.card)
            self._loaded[part] = _LiteRTFunction(data)
        return self._loaded[part]

    def encode_latents(self, images: np.ndarray) -> np.ndarray:
        """Model images uint8 (N, S, S) or (N, S, S, 3), S = input_size -> posterior means
        float32 (N, D)."""
        pixels = images.astype(np.float32) / 255.0
        pixels = pixels if self.channels == 3 else pixels[..., None]
        return self._network("encoder")(pixels)

    @property
    def task(self) -> str:
        """compress, denoise, sr2x or classify."""
        return self.card.get("task", "compress")

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Model images uint8 (N, 28, 28) -> class probabilities float32 (N, C)."""
        pixels = (images.astype(np.float32) / 255.0)[..., None]
        return self._network("classifier")(pixels)

    def filter(self, images: np.ndarray) -> np.ndarray:
        """A denoising filter (task denoise, kind filter): uint8 images (N, H, W[, 3]) of any
        size -> the same shape, cleaned."""
        pixels = images.astype(np.float32) / 255.0
        pixels = pixels if self.channels == 3 else pixels[..., None]
        out = self._network("denoiser")(pixels)
        return to_uint8(out if self.channels == 3 else out[..., 0])

    def decode_latents(self, latents: np.ndarray) -> np.ndarray:
        """Latents float32 (N, D) -> decoded images uint8 (N, 28, 28), or (N, 32, 32, 3) colour."""
        if not len(latents):
            side = self.output_size
            return np.zeros((0, side, side) + ((3,) if self.channels == 3 else ()), np.uint8)
        return to_uint8(self.decode_floats(latents))

    def decode_floats(self, latents: np.ndarray) -> np.ndarray:
        """Latents float32 (N, D) -> the decoder's intensities float32 (N, 28, 28), or
        (N, 32, 32, 3) colour, in [0, 1] (the guided coder rounds them itself, codec/guided.py)."""
        if not len(latents):
            return np.zeros((0, self.output_size, self.output_size), np.float32)
        pixels = self._network("decoder")(latents.astype(np.float32))
        return pixels if self.channels == 3 else pixels[..., 0]


@contextmanager
def _quiet_stderr():
    """Silence native code writing to file descriptor 2 for the duration of the block."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Intensities in [0, 1] -> uint8, rounding to the nearest grey level."""
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
