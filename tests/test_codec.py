"""Contract of the Python API on real MNIST test images: quality bands, shapes, determinism."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

import codec
from codec.metrics import psnr
from codec.runtime import load_model

N_IMAGES = 300


@pytest.fixture(scope="module")
def sample(mnist_test):
    return mnist_test[:N_IMAGES]


@pytest.fixture(scope="module")
def decoded_by_level(sample):
    """quality -> (files, decoded images) for the sample."""
    results = {}
    for quality in codec.QUALITY_LEVELS:
        files = codec.encode_batch(sample, quality=quality)
        results[quality] = (files, np.stack(codec.decode_batch(files)))
    return results


def test_default_quality_is_tiny_and_recognisable(sample, decoded_by_level):
    files, decoded = decoded_by_level[load_model("mnist").default_quality]
    assert np.mean([len(f) for f in files]) <= 17.0
    assert psnr(sample, decoded) >= 19.0


def test_every_level_decodes_and_more_quality_costs_more_bytes(sample, decoded_by_level):
    sizes = [np.mean([len(f) for f in decoded_by_level[q][0]]) for q in codec.QUALITY_LEVELS]
    quality = [psnr(sample, decoded_by_level[q][1]) for q in codec.QUALITY_LEVELS]
    assert sizes == sorted(sizes)
    assert quality[-1] > quality[0] + 1.0
    assert min(quality) > 14.0


def test_single_and_batch_paths_agree(sample):
    files = codec.encode_batch(sample[:20])
    assert files == [codec.encode(image) for image in sample[:20]]
    for data, image in zip(files, codec.decode_batch(files)):
        np.testing.assert_array_equal(codec.decode(data), image)


def test_decode_returns_uint8_at_the_original_size(sample):
    pixels = codec.decode(codec.encode(sample[0]))
    assert pixels.dtype == np.uint8 and pixels.shape == (28, 28)


def test_pil_and_numpy_inputs_give_the_same_bytes(sample):
    assert codec.encode(Image.fromarray(sample[1])) == codec.encode(sample[1])


def test_an_image_files_bytes_encode_as_the_file_does(sample, tmp_path):
    path = tmp_path / "d.png"
    Image.fromarray(sample[1]).save(path)
    assert codec.encode(path.read_bytes()) == codec.encode(path) == codec.encode(sample[1])
    assert codec.encode(bytearray(path.read_bytes())) == codec.encode(path)
    for junk in (b"", b"not an image"):
        with pytest.raises(codec.NicInputError, match="the input is not an image"):
            codec.encode(junk)


def test_same_bytes_in_two_processes(sample, tmp_path):
    np.save(tmp_path / "digit.npy", sample[2])
    script = (
        "import sys, numpy, codec; "
        f"sys.stdout.write(codec.encode(numpy.load({str(tmp_path / 'digit.npy')!r})).hex())"
    )
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True).stdout for _ in range(2)]
    assert runs[0] == runs[1] == codec.encode(sample[2]).hex()


def dark_digit_on_paper(size: int = 200) -> Image.Image:
    """A dark '3'-like stroke on white paper, as a phone photo of a digit would be."""
    image = Image.new("RGB", (size, size), (245, 242, 236))
    draw = ImageDraw.Draw(image)
    draw.arc((50, 20, 150, 100), start=-160, end=90, fill=(20, 20, 30), width=18)
    draw.arc((50, 95, 150, 180), start=-90, end=160, fill=(20, 20, 30), width=18)
    return image


def test_dark_digit_on_white_paper_keeps_size_and_polarity(tmp_path):
    path = tmp_path / "paper.jpg"
    dark_digit_on_paper().save(path, quality=90)
    data = codec.encode(Image.open(path))
    info = codec.inspect(data)
    assert info["inverted"] or info["levels"][0] > info["levels"][1]  # light paper, dark ink
    pixels = codec.decode(data)
    assert pixels.shape == (200, 200)
    assert np.median(pixels[:10]) > 200  # paper stays light
    assert pixels.min() < 100  # and the stroke dark


@pytest.mark.parametrize("quality", [0, 15, -1])
def test_unknown_quality_is_refused(sample, quality):
    with pytest.raises(codec.NicError, match="quality"):
        codec.encode(sample[0], quality=quality)


def test_unknown_model_is_refused(sample):
    with pytest.raises(codec.NicModelError, match="not installed"):
        codec.encode(sample[0], model="no-such-model")
