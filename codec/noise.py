"""Degradations for the restoration models and their benchmark: four noise types and 2x reduction.

Each works on uint8 images (N, H, W) and returns uint8: values are computed on the [0, 1] scale,
clipped to [0, 1] and rounded to 8 bits, as a saved noisy image would be.
"""

import numpy as np

__all__ = ["NOISE_TYPES", "add_noise", "add_random_noise", "reduce2x"]


def _gaussian(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x + 0.3 * rng.standard_normal(x.shape)


def _poisson(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.poisson(8.0 * x) / 8.0


def _salt_and_pepper(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(x.shape)
    return np.where(u < 0.05, 0.0, np.where(u < 0.10, 1.0, x))


def _multiplicative(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x + x * rng.standard_normal(x.shape)


NOISE_TYPES = {
    "gaussian": _gaussian,  # x + 0.3 N(0, 1)
    "poisson": _poisson,  # Poisson(8 x) / 8
    "salt-pepper": _salt_and_pepper,  # 5 % of pixels to 0, 5 % to 1
    "multiplicative": _multiplicative,  # x + x N(0, 1)
}


def add_noise(images: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Apply one noise type to uint8 images."""
    noisy = NOISE_TYPES[kind](images.astype(np.float64) / 255.0, rng)
    return np.rint(np.clip(noisy, 0.0, 1.0) * 255.0).astype(np.uint8)


def add_random_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each image gets one noise type drawn at random: training data for blind denoising."""
    kinds = rng.integers(0, len(NOISE_TYPES), len(images))
    noisy = np.empty_like(images)
    for index, kind in enumerate(NOISE_TYPES):
        chosen = kinds == index
        noisy[chosen] = add_noise(images[chosen], kind, rng)
    return noisy


def reduce2x(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 2H, 2W) -> (N, H, W): the mean of each 2x2 block, rounded."""
    n, height, width = images.shape
    blocks = images.reshape(n, height // 2, 2, width // 2, 2).astype(np.float64)
    return np.rint(blocks.mean(axis=(2, 4))).astype(np.uint8)
