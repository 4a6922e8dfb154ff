"""Datasets, read from the folder named by the environment variable NIC_DATA.

The arrays are never shipped with nic: see ../shared/data/README.md in the development tree.
"""

import os
from pathlib import Path

import numpy as np

from .errors import NicError

__all__ = ["DATASETS", "data_dir", "load_dataset"]

DATASETS = {"mnist": "mnist.npz", "fashion": "fashion_mnist.npz", "cifar": "cifar10_subset.npz"}


def data_dir() -> Path:
    """The dataset folder: $NIC_DATA, which must exist."""
    value = os.environ.get("NIC_DATA")
    if not value:
        raise NicError("NIC_DATA is not set: point it at the folder holding mnist.npz")
    path = Path(value)
    if not path.is_dir():
        raise NicError(f"NIC_DATA={value} is not a folder")
    return path


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_test, y_test) as uint8 arrays, images (N, 28, 28) grey or
    (N, 32, 32, 3) colour (cifar)."""
    if name not in DATASETS:
        raise NicError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    path = data_dir() / DATASETS[name]
    if not path.is_file():
        raise NicError(f"dataset file {path} is missing")
    with np.load(path) as arrays:
        return tuple(arrays[key] for key in ("x_train", "y_train", "x_test", "y_test"))
