"""Colour: lossless and max-error keep every channel; colour files are format version 4."""

import io

import numpy as np
import pytest
from PIL import Image

import codec
from codec.data import load_dataset


@pytest.fixture(scope="module")
def cifar_test():
    return load_dataset("cifar")[2][:12]


def test_colour_lossless_is_exact_in_every_channel(cifar_test):
    for image in cifar_test:
        data = codec.encode(image, lossless=True)
        info = codec.inspect(data)
        assert (info["format_version"], info["channels"], info["mode"]) == (4, 3, "lossless")
        assert np.array_equal(codec.decode(data), image)


@pytest.mark.parametrize("max_error", [1, 4, 16])
def test_colour_max_error_holds_in_every_channel(cifar_test, max_error):
    image = cifar_test[3]
    decoded = codec.decode(codec.encode(image, max_error=max_error))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).max() <= max_error


def test_a_colour_png_round_trips_losslessly_through_pillow(tmp_path, cifar_test):
    path = tmp_path / "photo.png"
    Image.fromarray(cifar_test[0]).save(path)
    Image.open(path).save(tmp_path / "photo.nic", lossless=True)
    reopened = Image.open(tmp_path / "photo.nic")
    assert reopened.mode == "RGB"
    assert np.array_equal(np.asarray(reopened), cifar_test[0])


def test_a_big_colour_photo_is_exact_and_smaller_than_raw():
    from skimage import data

    photo = data.astronaut()
    encoded = codec.encode(photo, lossless=True)
    assert np.array_equal(codec.decode(encoded), photo)
    assert len(encoded) < photo.nbytes * 0.6


def test_colour_with_transparency_is_refused_not_flattened(cifar_test):
    rgba = np.dstack([cifar_test[0], np.full((32, 32), 128, np.uint8)])
    with pytest.raises(codec.NicError, match="alpha"):
        codec.encode(rgba, lossless=True)


def test_a_damaged_colour_file_is_refused(cifar_test):
    data = bytearray(codec.encode(cifar_test[1], lossless=True))
    data[len(data) // 2] ^= 0x10
    with pytest.raises(codec.NicFormatError):
        codec.decode(bytes(data))
