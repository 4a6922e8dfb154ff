"""The Pillow plugin: Image.open and Image.save speak .nic after `import codec`."""

import io

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import codec


def test_open_decodes_like_codec_decode(tmp_path, mnist_test):
    data = codec.encode(mnist_test[0])
    path = tmp_path / "d.nic"
    path.write_bytes(data)
    with Image.open(path) as image:
        assert image.format == "NIC" and image.mode == "L" and image.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(image), codec.decode(data))


def test_save_gives_exactly_codec_encode_bytes(tmp_path, mnist_test):
    image = Image.fromarray(mnist_test[1])
    image.save(tmp_path / "a.nic")
    image.save(tmp_path / "b.nic", quality=2)
    assert (tmp_path / "a.nic").read_bytes() == codec.encode(mnist_test[1])
    assert (tmp_path / "b.nic").read_bytes() == codec.encode(mnist_test[1], quality=2)


def test_registration():
    assert Image.registered_extensions()[".nic"] == "NIC"
    assert Image.MIME["NIC"] == "image/x-nic"


def test_bad_data_raises_as_pillow_plugins_do(mnist_test):
    data = codec.encode(mnist_test[2])
    for bad in (data[:-1], data[:2] + b"\0" * 20, b"not an image"):
        with pytest.raises(UnidentifiedImageError):
            Image.open(io.BytesIO(bad))


def test_wider_image_keeps_its_size_through_pillow(tmp_path):
    image = Image.new("L", (60, 30), 0)
    image.paste(255, (20, 5, 40, 25))
    image.save(tmp_path / "w.nic")
    with Image.open(tmp_path / "w.nic") as reopened:
        assert reopened.size == (60, 30)
        reopened.load()
