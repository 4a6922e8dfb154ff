"""Colour pictures under `--model auto`: do typeset colour digits keep their digit, and do
colour photos stay with the colour model? (codec/routing.py, colour_loses_reading)

    python tools/colour_digits.py --judge /work/rw/judge.keras [--split train|test] [--count 100]

Digits: `--count` digits typeset in the half of the system's fonts that training never uses (ink and paper of random colours, 40 to
160 px, every other one blurred and saved as JPEG), judged by the independent judge of
tools/realworld_digits.py before and after coding. Photos: the CIFAR-10 subset's `--split`
images, 300 enlarged 3x and 300 as they are, and scikit-image's colour pictures: which model
codes each. Settings are chosen on `--split train`; `test` is held out.
"""

import argparse
import collections
import io
import random
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realworld_digits as rw  # noqa: E402  the judge

import codec  # noqa: E402
from codec.data import load_dataset  # noqa: E402
from codec.images import has_colour  # noqa: E402
from codec.synthetic import font_files  # noqa: E402


def colour_digits(count: int, seed: int = 5) -> tuple[list[np.ndarray], list[int]]:
    """`count` digits typeset in fonts training never uses (codec.synthetic's held-out half,
    fonts that draw ten distinct digits), dark ink of a random colour on light paper of
    another, 40 to 160 px; every other one blurred and saved as JPEG."""
    rng = random.Random(seed)
    fonts = list(font_files(training=False))
    rng.shuffle(fonts)
    images, digits = [], []
    for k in range(count):
        size = rng.choice([40, 64, 100, 160])
        paper = tuple(rng.randint(150, 255) for _ in range(3))
        ink = tuple(rng.randint(0, 120) for _ in range(3))
        font = ImageFont.truetype(fonts[k % len(fonts)], int(size * 0.7))
        image = Image.new("RGB", (size, size), paper)
        ImageDraw.Draw(image).text((size / 2, size / 2), str(k % 10), fill=ink, font=font,
                                   anchor="mm")
        if k % 2:
            buffer = io.BytesIO()
            image.filter(ImageFilter.GaussianBlur(1)).save(buffer, "JPEG", quality=60)
            image = Image.open(buffer).convert("RGB")
        images.append(np.asarray(image))
        digits.append(k % 10)
    return images, digits


def colour_photos(split: str) -> list[np.ndarray]:
    """The CIFAR-10 subset's `split` images, 300 enlarged 3x and 300 as they are, and
    scikit-image's colour pictures: those in colour."""
    x_train, _, x_test, _ = load_dataset("cifar")
    cifar = x_train if split == "train" else x_test
    photos = [np.asarray(Image.fromarray(i).resize((96, 96), Image.Resampling.BICUBIC))
              for i in cifar[:300]] + list(cifar[300:600])
    import skimage.data

    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                 "immunohistochemistry", "retina", "colorwheel", "logo"):
        picture = getattr(skimage.data, name)()
        picture = picture[0] if isinstance(picture, tuple) else picture
        if picture.ndim == 3:
            photos.append(picture[..., :3])
    return [p for p in photos if has_colour(p)]


def code(images) -> list[tuple[str, np.ndarray, list[str], int]]:
    """Each image coded with default settings: (model, decoded pixels, warnings, bytes)."""
    out = []
    for image in images:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = codec.encode(image)
        out.append((codec.inspect(data)["model"], codec.decode(data),
                    [str(w.message) for w in caught], len(data)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", required=True)
    parser.add_argument("--split", choices=["train", "test"], default="test")
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    judge = rw.load_judge(args.judge)
    images, digits = colour_digits(args.count)
    coded = code(images)
    before = rw.classify(judge, [Image.fromarray(i).convert("L") for i in images])
    after = rw.classify(judge, [Image.fromarray(d).convert("L") for _, d, _, _ in coded])
    readable = before == np.array(digits)
    kept = readable & (after == before)
    silent = sum(1 for (_, _, said, _), r, k in zip(coded, readable, kept)
                 if r and not k and all("colour is lost" in w for w in said))
    print(f"colour digits: {len(images)} typeset, {int(readable.sum())} read by the judge; "
          f"{int(kept.sum())} decode as the same digit, {silent} changed with no warning but the "
          f"colour note; mean file {np.mean([n for *_, n in coded]):.1f} B; models "
          f"{dict(collections.Counter(m for m, *_ in coded))}")
    photos = colour_photos(args.split)
    models = collections.Counter(m for m, *_ in code(photos))
    print(f"colour photos ({args.split}): {len(photos)}; models {dict(models)}")


if __name__ == "__main__":
    main()
