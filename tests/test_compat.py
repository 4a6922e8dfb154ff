"""Files written by earlier versions of nic keep decoding: a model id names exact weights, and
superseded models stay installed for their files (tests/files holds files they wrote)."""

from pathlib import Path

import numpy as np
from PIL import Image

import codec

FILES = Path(__file__).parent / "files"
# The sample these files were written from: samples/digit_3.png as drawn until 2026-12-05, when
# tools/make_samples.py moved to a thinner stroke (its bold 5 read as a 6).
SAMPLE = FILES / "digit_3.old-sample.png"


def test_a_file_of_the_first_mnist_model_decodes_as_it_did():
    data = (FILES / "digit_3.model1.nic").read_bytes()
    info = codec.inspect(data)
    assert info["model_id"] == 1
    decoded = codec.decode(data).astype(float)
    original = np.asarray(Image.open(SAMPLE).convert("L"), dtype=float)
    assert 10 * np.log10(255**2 / np.mean((decoded - original) ** 2)) > 15


def test_a_lossless_file_of_the_first_mnist_model_is_still_bit_exact():
    data = (FILES / "digit_3.model1.lossless.nic").read_bytes()
    assert np.array_equal(codec.decode(data), np.asarray(Image.open(SAMPLE).convert("L")))


def test_files_of_the_second_mnist_model_decode_as_they_did():
    lossy = (FILES / "digit_3.model9.nic").read_bytes()
    exact = (FILES / "digit_3.model9.lossless.nic").read_bytes()
    assert codec.inspect(lossy)["model_id"] == codec.inspect(exact)["model_id"] == 9
    original = np.asarray(Image.open(SAMPLE).convert("L"))
    decoded = codec.decode(lossy).astype(float)
    assert 10 * np.log10(255**2 / np.mean((decoded - original) ** 2)) > 15
    assert np.array_equal(codec.decode(exact), original)
