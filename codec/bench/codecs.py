"""The codecs the benches compare: nic and the classical ones, each a small class.

Shaped after CompressAI's `utils/bench`: a registry of `Codec` classes with a name, a sweep of
settings and whole-batch `encode`/`decode`; `PillowCodec` does the BytesIO round trip once, so
JPEG, WebP, AVIF and PNG are a few lines each. Every codec runs on one thread.
"""

import io
import warnings

import numpy as np
from PIL import Image, features

from ..api import QUALITY_LEVELS, decode_batch, encode_batch
from ..errors import NicFidelityWarning
from ..runtime import compression_models, installed_models, load_model

__all__ = ["CODECS", "Codec", "PillowCodec", "COLOUR_DATASETS"]

CODECS: dict[str, type["Codec"]] = {}


def register(cls):
    """Class decorator: add a codec to CODECS under its name (the order is the bench order)."""
    CODECS[cls.name] = cls
    return cls


class Codec:
    """One codec and its sweep; encode and decode work on whole batches.

    Args:
        dataset: the bench's dataset, for codecs whose settings depend on it (nic's models).
    """

    name = ""
    description = ""
    lossless = False
    neural = False  # nic and its latent baselines; the rest are the classical anchors

    def __init__(self, dataset: str):
        self.dataset = dataset

    def unavailable(self) -> str | None:
        """Why this codec cannot run here (a missing library), or None."""
        return None

    def settings(self) -> list:
        """The sweep: one bench point per setting."""
        return [None]

    def label(self, setting) -> str:
        """The setting as written in the results."""
        return "lossless" if setting is None else str(setting)

    def encode(self, images: np.ndarray, setting) -> list[bytes]:
        """uint8 (N, H, W) -> N complete files."""
        raise NotImplementedError

    def decode(self, files: list[bytes], setting) -> np.ndarray:
        """N files -> uint8 (N, H, W)."""
        raise NotImplementedError


COLOUR_DATASETS = ("cifar",)  # images (N, H, W, 3): coded and measured in RGB


class PillowCodec(Codec):
    """A Pillow format: grey images saved in mode L (Pillow converts where a format needs to),
    colour ones in RGB."""

    format = ""

    def unavailable(self) -> str | None:
        if self.format.lower() in ("webp", "avif") and not features.check(self.format.lower()):
            return f"this Pillow was built without {self.format}"
        return None

    def label(self, setting) -> str:
        return "lossless" if setting is None else f"q{setting}"  # Pillow's quality

    def options(self, setting) -> dict:
        """Pillow save() keyword arguments for a setting."""
        return {}

    def encode(self, images, setting):
        options = self.options(setting)
        files = []
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image, _mode(image)).save(buffer, format=self.format, **options)
            files.append(buffer.getvalue())
        return files

    def decode(self, files, setting):
        mode = "RGB" if self.dataset in COLOUR_DATASETS else "L"
        return np.stack([np.asarray(Image.open(io.BytesIO(data)).convert(mode)) for data in files])


def _mode(image: np.ndarray) -> str:
    return "RGB" if image.ndim == 3 else "L"


@register
class NicCodec(Codec):
    """nic at every quality level of every installed model trained on the bench's dataset."""

    name = "nic"
    description = "nic: CVAE latent, range-coded (.nic files)"
    neural = True

    def unavailable(self):
        return _no_model(self.dataset)

    def settings(self):
        # Colour lossless and max-error files need no residual tables (codec/colour.py).
        nets = [load_model(model) for model in _models_for(self.dataset)]
        return [(net.name, quality) for net in nets for quality in QUALITY_LEVELS
                if net.channels == 3 or quality in net.tables.levels or net.residual]

    def label(self, setting):
        return f"{setting[0]} q{setting[1]}"

    def encode(self, images, setting):
        model, quality = setting
        with warnings.catch_warnings():  # each level is measured as asked, faithful or not
            warnings.simplefilter("ignore", NicFidelityWarning)
            return encode_batch(images, model=model, quality=quality)

    def decode(self, files, setting):
        decoded = decode_batch(files)
        if self.dataset in COLOUR_DATASETS:  # an exact file of an RGB image with R = G = B is grey
            decoded = [np.repeat(d[:, :, None], 3, axis=2) if d.ndim == 2 else d for d in decoded]
        return np.stack(decoded)


class LatentCodec(Codec):
    """The seed's baseline: the model's float32 latent stored uncompressed, one file per image."""

    neural = True

    def unavailable(self):
        return _no_model(self.dataset)

    def settings(self):  # the VP8 model has no latent
        return [name for name in _models_for(self.dataset)
                if installed_models()[name].get("kind") != "vp8"]

    def label(self, setting):
        return setting

    def encode(self, images, setting):
        latents = load_model(setting).encode_latents(images).astype("<f4")
        return [self.to_bytes(row) for row in latents]

    def decode(self, files, setting):
        return load_model(setting).decode_latents(np.stack([self.from_bytes(f) for f in files]))


@register
class LatentRaw(LatentCodec):
    name = "latent-raw"
    description = "the float32 latent, raw little-endian bytes"

    def to_bytes(self, row):
        return row.tobytes()

    def from_bytes(self, data):
        return np.frombuffer(data, "<f4")


@register
class LatentNpy(LatentCodec):
    name = "latent-npy"
    description = "the float32 latent as a whole .npy file (np.save)"

    def to_bytes(self, row):
        buffer = io.BytesIO()
        np.save(buffer, row)
        return buffer.getvalue()

    def from_bytes(self, data):
        return np.load(io.BytesIO(data))


@register
class Jpeg(PillowCodec):
    name = "jpeg"
    description = "Pillow JPEG (libjpeg), optimize=True, grey"
    format = "JPEG"

    def settings(self):
        return [1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]

    def options(self, setting):
        return {"quality": setting, "optimize": True}


@register
class WebP(PillowCodec):
    name = "webp"
    description = "Pillow WebP (libwebp), lossy, method 6"
    format = "WEBP"

    def settings(self):
        return [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]

    def options(self, setting):
        return {"quality": setting, "method": 6}


@register
class Avif(PillowCodec):
    name = "avif"
    description = "Pillow AVIF (libavif), grey 4:0:0, speed 8, one thread"
    format = "AVIF"

    def settings(self):
        return [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]

    def options(self, setting):
        # Speed 8 instead of Pillow's 6: three times faster here, similar file sizes.
        return {"quality": setting, "speed": 8, "max_threads": 1}


class JpegXLCodec(Codec):
    """JPEG XL through imagecodecs (libjxl), default effort, one thread."""

    def unavailable(self):
        try:
            import imagecodecs
        except ImportError:
            return "imagecodecs is not installed (pip install '.[bench]' in nic's project folder)"
        return None if imagecodecs.JPEGXL.available else "this imagecodecs has no JPEG XL"

    def encode(self, images, setting):
        from imagecodecs import jpegxl_encode

        options = {"lossless": True} if setting is None else {"distance": setting}
        return [jpegxl_encode(image, numthreads=1, **options) for image in images]

    def decode(self, files, setting):
        from imagecodecs import jpegxl_decode

        return np.stack([jpegxl_decode(data, numthreads=1) for data in files])


@register
class JpegXL(JpegXLCodec):
    name = "jpegxl"
    description = "JPEG XL (libjxl via imagecodecs), distance sweep"

    def settings(self):
        return [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 15.0]

    def label(self, setting):
        return f"d{setting:g}"


@register
class Png(PillowCodec):
    name = "png"
    description = "Pillow PNG, optimize=True"
    format = "PNG"
    lossless = True

    def options(self, setting):
        return {"optimize": True}


@register
class WebPLossless(PillowCodec):
    name = "webp-lossless"
    description = "Pillow WebP lossless, method 6"
    format = "WEBP"
    lossless = True

    def options(self, setting):
        return {"lossless": True, "quality": 100, "method": 6}


@register
class JpegXLLossless(JpegXLCodec):
    name = "jpegxl-lossless"
    description = "JPEG XL lossless (libjxl via imagecodecs)"
    lossless = True


def _models_for(dataset: str) -> list[str]:
    """The models benched on a dataset; a finer model (its card says which model it refines)
    is a step of that model's auto ladder (tools/realworld_digits.py measures it there), not a
    codec of its own."""
    cards = installed_models()
    return [name for name in compression_models()
            if cards[name].get("dataset") == dataset and not cards[name].get("refines")]


def _no_model(dataset: str) -> str | None:
    return None if _models_for(dataset) else f"no installed nic model was trained on {dataset}"
