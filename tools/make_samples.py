"""Draw the images in samples/: digits set in Pillow's own font, never dataset images.

    python tools/make_samples.py
"""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def mnist_style_digit(digit: str) -> Image.Image:
    """A white digit on black, about 20 px tall and centred in 28x28, softened like MNIST."""
    canvas = Image.new("L", (56, 56), 0)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=44)
    # A stroke of 2 px closed the 5's bowl: nic's digit readers and the separate judge of
    # tools/realworld_digits.py read that sample as a 6 before any coding (the judge at 0.88),
    # so no faithful file could decode as a 5 for them. With 1 px every reader reads each input
    # digit as its name says.
    draw.text((28, 28), digit, fill=255, font=font, anchor="mm", stroke_width=1, stroke_fill=255)
    box = canvas.getbbox()
    glyph = canvas.crop(box)
    scale = 20 / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))),
                         Image.Resampling.LANCZOS)
    image = Image.new("L", (28, 28), 0)
    image.paste(glyph, ((28 - glyph.width) // 2, (28 - glyph.height) // 2))
    return image.filter(ImageFilter.GaussianBlur(0.5))


def digit_on_paper(digit: str, size: int = 120) -> Image.Image:
    """A dark digit on light paper, in colour: the kind of image a phone would give."""
    ink = mnist_style_digit(digit).resize((size, size), Image.Resampling.BICUBIC)
    paper = Image.new("RGB", (size, size), (240, 236, 226))
    return Image.composite(Image.new("RGB", (size, size), (25, 30, 60)), paper, ink)


def main() -> None:
    SAMPLES.mkdir(exist_ok=True)
    for digit in "0123456789":
        mnist_style_digit(digit).save(SAMPLES / f"digit_{digit}.png", optimize=True)
    digit_on_paper("7").save(SAMPLES / "paper_7.jpg", quality=90)


if __name__ == "__main__":
    main()
