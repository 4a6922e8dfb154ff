"""Hostile .nic input: any byte string decodes to a valid image or raises NicFormatError."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codec
from codec.format import MAX_PIXELS, MAX_SIDE, Header, pack

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def valid_files(mnist_test):
    files = codec.encode_batch(mnist_test[:8])
    files.append(codec.encode(np.pad(mnist_test[8], ((10, 10), (0, 30)), constant_values=0)))
    return files


def decode_or_format_error(data: bytes):
    """The decoder's whole contract: an image, or NicFormatError and nothing else."""
    try:
        return codec.decode(data)
    except codec.NicFormatError as error:
        assert "\n" not in str(error) and str(error)
        return None


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(data):
    decode_or_format_error(data)


@FUZZ
@given(choice=st.integers(0, 8), position=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_every_bit_flip_is_rejected(valid_files, choice, position, bit):
    data = bytearray(valid_files[choice])
    data[position % len(data)] ^= 1 << bit
    assert decode_or_format_error(bytes(data)) is None


@pytest.mark.parametrize("choice", range(9))
def test_every_truncation_and_extension_is_rejected(valid_files, choice):
    data = valid_files[choice]
    for length in range(len(data)):
        assert decode_or_format_error(data[:length]) is None
    assert decode_or_format_error(data + b"\0") is None
    assert decode_or_format_error(data + b"garbage") is None


@FUZZ
@given(choice=st.integers(0, 8), position=st.integers(0, 10**6), junk=st.binary(min_size=1, max_size=8))
def test_insertions_and_damage_are_rejected(valid_files, choice, position, junk):
    data = valid_files[choice]
    cut = position % (len(data) + 1)
    assert decode_or_format_error(data[:cut] + junk + data[cut:]) is None


@FUZZ
@given(
    model_id=st.integers(1, 255), quality=st.integers(1, 255),
    width=st.integers(1, 400), height=st.integers(1, 400),
    inverted=st.booleans(), payload=st.binary(max_size=64),
)
def test_well_formed_files_with_hostile_fields(model_id, quality, width, height, inverted, payload):
    """A correct CRC over nonsense fields: decode to the declared size or refuse in one line."""
    data = pack(Header(model_id, quality, width, height, inverted), payload)
    pixels = decode_or_format_error(data)
    if pixels is not None:
        assert pixels.dtype == np.uint8 and pixels.shape == (height, width)


def test_largest_declared_image_decodes_within_its_bound(valid_files):
    header_only = codec.inspect(valid_files[0])
    width, height = MAX_SIDE, MAX_PIXELS // MAX_SIDE
    data = pack(Header(header_only["model_id"], header_only["quality"], width, height), b"")
    pixels = decode_or_format_error(data)
    assert pixels is None or pixels.shape == (height, width)


def test_unknown_model_id_and_version_are_named(valid_files):
    data = pack(Header(model_id=222, quality=1), b"")
    with pytest.raises(codec.NicFormatError, match="model id 222"):
        codec.decode(data)
    with pytest.raises(codec.NicModelError):
        codec.decode(data)


def test_a_file_naming_a_classifier_is_refused_as_not_made_by_nic():
    """Classifiers and filters have model ids but write no files: say so, not 'not installed'."""
    from codec.runtime import load_model

    data = pack(Header(model_id=load_model("digits").card["model_id"], quality=5), b"ab")
    with pytest.raises(codec.NicFormatError, match="'digits', a classifier that writes no .nic"):
        codec.decode(data)
