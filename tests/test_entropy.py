"""Contract of the coder: exact symbol round trips and payloads close to their information."""

import numpy as np
import pytest

from codec.api import LOSSY_LEVELS as QUALITY_LEVELS
from codec.entropy import decode_symbols, encode_symbols
from codec.errors import NicFormatError
from codec.runtime import load_model


@pytest.fixture(scope="module")
def model():
    return load_model("mnist")


@pytest.mark.parametrize("quality", QUALITY_LEVELS)
def test_random_symbols_round_trip_exactly(model, quality):
    table = model.tables[quality]
    rng = np.random.default_rng(quality)
    for _ in range(200):
        # Draw from the table itself, plus a few improbable symbols from anywhere in range.
        symbols = np.array(
            [rng.choice(len(p), p=p) for p in table.probabilities], dtype=np.int32
        )
        symbols[rng.integers(0, len(symbols), 2)] = rng.integers(0, 2 * table.radius + 1, 2)
        payload = encode_symbols(symbols, table)
        np.testing.assert_array_equal(decode_symbols(payload, table), symbols)


@pytest.mark.parametrize("quality", QUALITY_LEVELS)
def test_payload_is_within_one_byte_of_its_information(model, mnist_test, quality):
    table = model.tables[quality]
    symbols = table.quantize(model.encode_latents(mnist_test[:500]))
    sizes = [len(encode_symbols(row, table)) for row in symbols]
    ideal_bytes = table.ideal_bits(symbols) / 8
    assert np.mean(sizes) - np.mean(ideal_bytes) <= 1.0


def test_garbage_payload_is_a_format_error_or_symbols(model):
    table = model.tables[QUALITY_LEVELS[0]]
    rng = np.random.default_rng(0)
    for length in range(0, 40):
        payload = rng.bytes(length)
        try:
            symbols = decode_symbols(payload, table)
        except NicFormatError:
            continue
        assert symbols.shape == (table.weights.shape[0],)
