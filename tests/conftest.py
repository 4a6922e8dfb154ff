"""Shared fixtures: the real MNIST test set from NIC_DATA, and a clean model cache."""

import os
from pathlib import Path

import numpy as np
import pytest

from codec import runtime

REPO = Path(__file__).resolve().parent.parent


def _require_dataset(name: str) -> tuple:
    """Load a dataset; missing data fails under CI (CI=true) and skips elsewhere."""
    from codec.data import load_dataset
    from codec.errors import NicError

    try:
        return load_dataset(name)
    except NicError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"dataset needed in CI: {error}")
        pytest.skip(f"dataset not available: {error}")


@pytest.fixture(scope="session")
def mnist_test() -> np.ndarray:
    """The 10,000 MNIST test images, uint8 (N, 28, 28)."""
    return _require_dataset("mnist")[2]


@pytest.fixture
def fresh_models():
    """Forget loaded models before and after a test that changes NIC_WEIGHTS."""
    runtime.forget_models()
    yield
    runtime.forget_models()
