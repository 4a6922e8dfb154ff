"""Degradations for the restoration models and their benchmark: four noise types and 2x reduction.

Each works on uint8 images (N, H, W) and returns uint8: values are computed on the [0, 1] scale,
clipped to [0, 1] and rounded to 8 bits, as a saved noisy image would be.
"""

import numpy as np

__all__ = ["NOISE_TYPES", "SEED_NOISE_TYPES", "noise_types", "add_noise", "add_random_noise",
           "reduce2x"]


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


def _seed_poisson(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise at each image's number of distinct levels, rounded up to a power of two
    (scikit-image's random_noise(mode="poisson"))."""
    out = np.empty_like(x)
    for i, image in enumerate(x):
        levels = 2.0 ** np.ceil(np.log2(max(2, len(np.unique(image)))))
        out[i] = rng.poisson(image * levels) / levels
    return out


def _seed_salt_and_pepper(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(x.shape)
    return np.where(u < 0.002, 0.0, np.where(u < 0.004, 1.0, x))


# The seed system's colour denoising task (issue: cifar-denoise), on [0, 1], clipped.
SEED_NOISE_TYPES = {
    "gaussian": lambda x, rng: x + np.sqrt(0.1) * rng.standard_normal(x.shape),  # variance 0.1
    "poisson": _seed_poisson,
    "salt-pepper": _seed_salt_and_pepper,  # 0.4 % of values, half to 1, half to 0
    "multiplicative": _multiplicative,  # x + x N(0, 1)
}


def noise_types(dataset: str) -> dict:
    """The noise table of a dataset's denoising task: the seed system's for colour (cifar)."""
    return SEED_NOISE_TYPES if dataset == "cifar" else NOISE_TYPES


def add_noise(images: np.ndarray, kind: str, rng: np.random.Generator,
              table: dict = NOISE_TYPES) -> np.ndarray:
    """Apply one noise type of `table` to uint8 images."""
    noisy = table[kind](images.astype(np.float64) / 255.0, rng)
    return np.rint(np.clip(noisy, 0.0, 1.0) * 255.0).astype(np.uint8)


def add_random_noise(images: np.ndarray, rng: np.random.Generator,
                     table: dict = NOISE_TYPES) -> np.ndarray:
    """Each image gets one noise type drawn at random: training data for blind denoising."""
    kinds = rng.integers(0, len(table), len(images))
    noisy = np.empty_like(images)
    for index, kind in enumerate(table):
        chosen = kinds == index
        noisy[chosen] = add_noise(images[chosen], kind, rng, table)
    return noisy


def reduce2x(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 2H, 2W) -> (N, H, W): the mean of each 2x2 block, rounded."""
    n, height, width = images.shape
    blocks = images.reshape(n, height // 2, 2, width // 2, 2).astype(np.float64)
    return np.rint(blocks.mean(axis=(2, 4))).astype(np.uint8)
