"""Real-world-like training digits: typeset in the system's fonts, on paper, through normalise.

MNIST is one population's handwriting, scanned one way. Users bring digits typeset in any font,
photographed on grey paper, JPEG'd, rotated. Training on such digits, brought to MNIST's convention
by the same `normalise` the encoder runs, teaches the models what they will really be shown.

Fonts come from the system (`fc-list`; Debian's font packages install more). Only half of them
are used for training: a font whose file name hashes to an even first byte (sha1). The other
half stays unseen, for judging nic on digits typeset in fonts it never saw
(tools/realworld_digits.py).
"""

import hashlib
import io
import subprocess
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from .normalise import normalise

__all__ = ["distorted_images", "font_files", "is_training_font", "low_resolution_images",
           "printed_images", "typeset_digits"]

DIGITS = "0123456789"


def is_training_font(path: str | Path) -> bool:
    """The fixed half of the fonts that training may use (the other half is for judging)."""
    return hashlib.sha1(Path(path).name.encode()).digest()[0] % 2 == 0


@cache
def font_files(training: bool = True) -> tuple[str, ...]:
    """Scalable fonts on this system that draw ten distinct digits, of one half."""
    try:
        listing = subprocess.run(["fc-list", ":", "file"], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        listing = "\n".join(str(p) for p in Path("/usr/share/fonts").rglob("*.[ot]tf"))
    paths = sorted({line.split(":")[0].strip() for line in listing.splitlines()})
    paths = [p for p in paths if p.lower().endswith((".ttf", ".otf"))]
    return tuple(p for p in paths if is_training_font(p) == training and _draws_digits(p))


def _draws_digits(path: str) -> bool:
    """True if the font draws ten different, non-empty digit glyphs (not symbols or boxes)."""
    try:
        font = ImageFont.truetype(path, 32)
    except OSError:
        return False
    glyphs = []
    for digit in DIGITS:
        image = Image.new("L", (48, 48), 0)
        ImageDraw.Draw(image).text((8, 4), digit, fill=255, font=font)
        glyphs.append(np.asarray(image).tobytes())
    return all(any(g) for g in glyphs) and len(set(glyphs)) == len(DIGITS)


def typeset_digits(count: int, rng: np.random.Generator, fonts=None) -> tuple[np.ndarray, np.ndarray]:
    """`count` typeset digits as normalised 28x28 uint8 images, with their labels (0-9)."""
    fonts = fonts or font_files(training=True)
    labels = rng.integers(0, 10, count)
    images = np.stack([_one_digit(int(label), fonts[rng.integers(len(fonts))], rng)
                       for label in labels])
    return images, labels.astype(np.uint8)


def printed_images(images: np.ndarray, rng: np.random.Generator, box_side: int = 20) -> np.ndarray:
    """Dataset images (N, 28, 28) printed on paper and photographed or scanned, each with its
    own size, stroke width, slant, light, noise and JPEG, then normalised back (N, 28, 28)."""
    return np.stack([_printed(image, rng, box_side) for image in images])


def _printed(image: np.ndarray, rng: np.random.Generator, box_side: int) -> np.ndarray:
    size = int(rng.integers(32, 160))
    mask = Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC)
    if rng.random() < 0.4:  # a thicker or thinner pen than the writer's
        width = 2 * int(rng.integers(1, 1 + size // 24)) + 1
        mask = mask.filter(ImageFilter.MaxFilter(width) if rng.random() < 0.6
                           else ImageFilter.MinFilter(width))
    return _photographed(np.asarray(mask), rng, box_side)


def low_resolution_images(images: np.ndarray, rng: np.random.Generator,
                          box_side: int = 20) -> np.ndarray:
    """Dataset images (N, 28, 28) captured at a few pixels across and blown up, as other
    people's digit sets are (the UCI digits: 8x8 cells of 17 levels), then photographed and
    normalised back (N, 28, 28). Their blurred strokes are where a 1 and a 7 are easiest to
    confuse, so the classifier that checks the codec must have seen them."""
    return np.stack([_low_resolution(image, rng, box_side) for image in images])


def _low_resolution(image: np.ndarray, rng: np.random.Generator, box_side: int) -> np.ndarray:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    if len(rows):  # the digit's box, stretched to the grid as the UCI bitmaps were
        image = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    cells = int(rng.integers(6, 13))
    small = np.asarray(Image.fromarray(image).resize((cells, cells), Image.Resampling.BOX),
                       np.float32)
    if rng.random() < 0.5:  # counted pixels: a few levels only
        small = np.round(small / 255 * 16) * (255 / 16)
    if rng.random() < 0.5:
        small = np.pad(small, 1)
    size = int(rng.integers(16, 129))
    mask = Image.fromarray(np.clip(small, 0, 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC)
    return _photographed(np.asarray(mask), rng, box_side)


def distorted_images(images: np.ndarray, rng: np.random.Generator,
                     box_side: int = 20) -> np.ndarray:
    """Dataset images (N, 28, 28) written otherwise: turned, sheared and scaled, with a
    thicker or thinner pen, blurred or noisy, then normalised back (N, 28, 28). No paper, no
    camera: the same hand drawn in the many ways one digit can still be that digit, which a
    reader trained on these tells apart from a digit that has become another."""
    return np.stack([_distorted(image, rng, box_side) for image in images])


def _distorted(image: np.ndarray, rng: np.random.Generator, box_side: int) -> np.ndarray:
    picture = Image.fromarray(np.pad(image, 6))
    side = picture.size[0]
    angle, shear = np.deg2rad(rng.uniform(-15, 15)), rng.uniform(-0.3, 0.3)
    zoom = rng.uniform(0.8, 1.2)
    # The inverse map (output -> input pixel) Pillow's AFFINE takes: rotate, shear, scale
    # about the centre.
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    a, b, d, e = cos, -sin + shear * cos, sin, cos + shear * sin
    centre = side / 2
    picture = picture.transform(
        picture.size, Image.Transform.AFFINE,
        (a, b, centre - a * centre - b * centre, d, e, centre - d * centre - e * centre),
        Image.Resampling.BILINEAR)
    pen = rng.random()
    if pen < 0.2:
        picture = picture.filter(ImageFilter.MaxFilter(3))
    elif pen < 0.35:
        thinner = picture.filter(ImageFilter.MinFilter(3))
        picture = thinner if np.asarray(thinner).max() > 80 else picture
    if rng.random() < 0.3:
        picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    grey = np.asarray(picture, np.float32)
    if rng.random() < 0.3:
        grey = grey + rng.normal(0, rng.uniform(5, 30), grey.shape)
    return normalise(np.clip(grey, 0, 255).astype(np.uint8), box_side)[0]


def _one_digit(label: int, font_path: str, rng: np.random.Generator) -> np.ndarray:
    """Draw one digit as light ink on black, then photograph it (see _photographed)."""
    size = int(rng.integers(48, 160))
    font = ImageFont.truetype(font_path, int(size * rng.uniform(0.5, 0.9)))
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), str(label), font=font)
    x = (size - (right - left)) / 2 - left + rng.uniform(-0.1, 0.1) * size
    y = (size - (bottom - top)) / 2 - top + rng.uniform(-0.1, 0.1) * size
    stroke = int(rng.integers(0, 3)) if rng.random() < 0.3 else 0
    draw.text((x, y), str(label), fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    return _photographed(np.asarray(image), rng, 20)


def _photographed(mask: np.ndarray, rng: np.random.Generator, box_side: int) -> np.ndarray:
    """Ink `mask` (uint8, 255 = ink) on paper as a camera or scanner sees it: paper and ink
    greys, slant, rotation, blur, uneven light, noise, sometimes inverted and JPEG'd; then
    brought back to the model's convention by the encoder's own `normalise`."""
    size = mask.shape[0]
    paper, ink = int(rng.integers(140, 256)), int(rng.integers(0, 100))
    grey = paper + (ink - paper) * (mask.astype(np.float32) / 255.0)
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    shear = rng.uniform(-0.2, 0.2)
    image = image.transform(image.size, Image.Transform.AFFINE, (1, shear, -shear * size / 2, 0, 1, 0),
                            Image.Resampling.BILINEAR, fillcolor=paper)
    image = image.rotate(rng.uniform(-12, 12), Image.Resampling.BILINEAR, fillcolor=paper)
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 2.0)))
    grey = np.asarray(image).astype(np.float32)
    grey += np.linspace(0, rng.uniform(-30, 30), size)[None, :]  # uneven light
    grey += rng.normal(0, rng.uniform(0, 12), grey.shape)
    if rng.random() < 0.2:  # light ink on a dark board
        grey = 255 - grey
    image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.integers(30, 95)))
        image = Image.open(buffer)
    return normalise(np.asarray(image.convert("L")), box_side)[0]
