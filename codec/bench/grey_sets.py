"""Grey test images unlike MNIST, built reproducibly from what is installed (no files shipped).

The lossless bench (codec/bench/lossless.py) measures nic against PNG, WebP and JPEG XL on these
groups; a seed fixes every crop, font and noise draw, so two runs build the same pixels:

* ``uci-digits``  other people's handwriting: scikit-learn's 8x8 UCI digits (0..16), scaled to
                  0..255 and bicubic-upscaled to 28x28;
* ``cifar-grey``  28x28 crops of CIFAR-10 *test* images in grey (Pillow's ITU-R 601 luma), from
                  $NIC_DATA/cifar10_subset.npz;
* ``photo-crops`` 28x28 crops of scikit-image's bundled photos, in grey;
* ``typeset``     a digit typeset in a system font, dark ink on light paper with a little noise,
                  drawn at 4x and area-averaged to 28x28 (as a scanner sees it);
* ``text``        a line of typeset words on paper, 192x48;
* ``photos``      scikit-image's bundled photos whole, in grey, at their own size.

scikit-learn and scikit-image are bench extras (`pip install '.[bench]'` in nic's project
folder), imported only here.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data import data_dir
from ..errors import NicError

__all__ = ["GROUPS", "build_group", "build_sets"]

CROP = 28
# scikit-image's bundled photos (no download needed); colour ones are converted to grey.
PHOTOS = ("camera", "moon", "coins", "page", "text", "astronaut", "coffee", "chelsea", "brick",
          "grass", "gravel", "rocket", "immunohistochemistry", "hubble_deep_field")
WORDS = ("nic codes grey images", "lossless 0123456789", "The quick brown fox", "paper and ink",
         "Invoice No. 4711", "jumps over the lazy dog", "Total: 1,234.56", "page 28 of 784")


def _uci_digits(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits().images
    picks = rng.choice(len(digits), size=min(count, len(digits)), replace=False)
    return [_resize((digits[i] * 255 / 16).round().astype(np.uint8), CROP) for i in picks]


def _cifar_grey(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    path = data_dir() / "cifar10_subset.npz"
    if not path.is_file():
        raise NicError(f"dataset file {path} is missing")
    with np.load(path) as arrays:
        test = arrays["x_test"]
    picks = rng.choice(len(test), size=min(count, len(test)), replace=False)
    return [_crop(np.asarray(Image.fromarray(test[i]).convert("L")), rng) for i in picks]


def _photo_crops(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    photos = _photos(len(PHOTOS), rng)
    return [_crop(photos[rng.integers(len(photos))], rng) for _ in range(count)]


def _photos(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    from skimage import data

    out = []
    for name in PHOTOS[:count]:
        pixels = np.asarray(getattr(data, name)())
        if pixels.ndim == 3:
            pixels = np.asarray(Image.fromarray(pixels[:, :, :3]).convert("L"))
        out.append(pixels.astype(np.uint8))
    return out


def _typeset(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [_on_paper(str(rng.integers(10)), (CROP, CROP), rng) for _ in range(count)]


def _text(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [_on_paper(WORDS[rng.integers(len(WORDS))], (192, 48), rng) for _ in range(count)]


def _on_paper(text: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """`text` in a random system font, fitted into size, drawn at 4x and area-averaged."""
    from ..synthetic import font_files

    fonts = font_files(training=True) + font_files(training=False)
    font_path = sorted(fonts)[rng.integers(len(fonts))]
    big = (size[0] * 4, size[1] * 4)
    paper, ink = int(rng.integers(170, 250)), int(rng.integers(0, 90))
    image = Image.new("L", big, paper)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(font_path, 40)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    scale = 0.8 * min(big[0] / max(1, right - left), big[1] / max(1, bottom - top))
    font = ImageFont.truetype(font_path, max(4, int(40 * scale)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((big[0] - right - left) / 2, (big[1] - bottom - top) / 2), text, fill=ink, font=font)
    grey = np.asarray(image.reduce(4)).astype(np.float32)
    grey += rng.normal(0, rng.uniform(0, 6), grey.shape)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def _crop(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    top = rng.integers(pixels.shape[0] - CROP + 1)
    left = rng.integers(pixels.shape[1] - CROP + 1)
    return np.ascontiguousarray(pixels[top:top + CROP, left:left + CROP])


def _resize(pixels: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((side, side), Image.Resampling.BICUBIC))


GROUPS = {
    "uci-digits": _uci_digits,
    "cifar-grey": _cifar_grey,
    "photo-crops": _photo_crops,
    "typeset": _typeset,
    "text": _text,
    "photos": _photos,
}


def build_group(name: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` grey uint8 images of one group (photos: at most the bundled ones), seeded."""
    if name not in GROUPS:
        raise NicError(f"unknown image group {name!r}; choose from {', '.join(GROUPS)}")
    # One generator per group, so a group's pixels do not depend on which others are built.
    rng = np.random.default_rng([seed, list(GROUPS).index(name)])
    return GROUPS[name](count, rng)


def build_sets(count: int = 200, seed: int = 0, groups=None) -> dict[str, list[np.ndarray]]:
    """Every group (or those named), `count` images each: {group: [uint8 (H, W), ...]}."""
    return {name: build_group(name, count, seed) for name in (groups or GROUPS)}
