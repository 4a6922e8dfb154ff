"""The degradations behind the restoration models: the four noise types and 2x reduction."""

import numpy as np
import pytest

from codec.noise import NOISE_TYPES, add_noise, add_random_noise, reduce2x


@pytest.fixture(scope="module")
def clean(mnist_test):
    return mnist_test[:500]


def mse01(a, b):
    return float(np.mean((a / 255.0 - b / 255.0) ** 2))


def test_gaussian_noise_has_the_seeds_strength(clean):
    noisy = add_noise(clean, "gaussian", np.random.default_rng(0))
    assert noisy.dtype == np.uint8 and noisy.shape == clean.shape
    # sigma 0.3, clipped to [0, 1]: on mostly-black digits about half the noise is clipped away
    assert 0.03 < mse01(clean, noisy) < 0.09


def test_salt_and_pepper_touches_about_ten_percent(clean):
    noisy = add_noise(clean, "salt-pepper", np.random.default_rng(1))
    changed = np.mean((noisy == 0) | (noisy == 255))
    assert np.mean(noisy != clean) < 0.11 and changed > 0.5


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_every_noise_type_degrades_and_is_reproducible(clean, kind):
    first = add_noise(clean, kind, np.random.default_rng(2))
    again = add_noise(clean, kind, np.random.default_rng(2))
    np.testing.assert_array_equal(first, again)
    assert mse01(clean, first) > 0.002


def test_blind_mixture_uses_every_type(clean):
    noisy = add_random_noise(clean, np.random.default_rng(3))
    assert noisy.shape == clean.shape and mse01(clean, noisy) > 0.005


def test_reduce2x_is_the_block_mean():
    image = np.arange(16, dtype=np.uint8).reshape(1, 4, 4)
    np.testing.assert_array_equal(reduce2x(image)[0], [[2, 4], [10, 12]])  # 2.5 rounds to even
