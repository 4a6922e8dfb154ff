"""Distortion measures, over whole datasets of uint8 images.

PSNR is dataset-level: 10 log10(255^2 / MSE) with the MSE over all pixels of all images, so a
few perfect images cannot hide bad ones (a mean of per-image PSNRs would be infinite).
"""

import numpy as np

__all__ = ["mse", "psnr", "ssim", "max_abs_error"]


def mse(original: np.ndarray, decoded: np.ndarray) -> float:
    """Mean squared error over all pixels, on the 0-255 scale."""
    diff = original.astype(np.float64) - decoded.astype(np.float64)
    return float(np.mean(diff * diff))


def psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    """Dataset-level PSNR in dB (inf for identical arrays)."""
    error = mse(original, decoded)
    return float("inf") if error == 0 else float(10 * np.log10(255.0**2 / error))


def ssim(original: np.ndarray, decoded: np.ndarray) -> float:
    """Mean SSIM over images (N, H, W), or colour (N, H, W, 3) averaged over the channels,
    scikit-image's implementation (7x7 window)."""
    from skimage.metrics import structural_similarity

    if original.ndim == 4:
        return float(np.mean([structural_similarity(a, b, data_range=255, channel_axis=-1)
                              for a, b in zip(original, decoded)]))
    pairs = zip(original.reshape(-1, *original.shape[-2:]), decoded.reshape(-1, *decoded.shape[-2:]))
    return float(np.mean([structural_similarity(a, b, data_range=255) for a, b in pairs]))


def max_abs_error(original: np.ndarray, decoded: np.ndarray) -> int:
    """Largest absolute pixel difference."""
    return int(np.max(np.abs(original.astype(np.int16) - decoded.astype(np.int16)), initial=0))
