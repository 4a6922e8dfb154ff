"""`nic bench --task denoise|sr`: the restoration models against classical filters.

Denoising: for each noise type (codec/noise.py), PSNR and MSE of the noisy input itself, a 3x3
mean filter, a 3x3 median filter (scipy.ndimage) and nic's `<dataset>-denoise` model, which
encodes the noisy image and decodes a clean one. Super-resolution: bicubic 2x (Pillow) against
`<dataset>-sr2x`, which encodes the 14x14 image and decodes 28x28. Every figure is measured
against the clean test images; nic's bytes are whole .nic files.
"""

import json
import time
from pathlib import Path

import numpy as np

from ..data import load_dataset
from ..errors import NicError
from ..metrics import mse, psnr
from ..noise import add_noise, noise_types, reduce2x

__all__ = ["TASKS", "run_restore_bench", "print_restore_report"]

TASKS = ("denoise", "sr")
SAMPLE_COUNT = 6


def run_restore_bench(task: str, dataset: str = "mnist", limit: int | None = None,
                      out: Path | None = None, seed: int = 0) -> dict:
    """Run one restoration benchmark, write restore.json/.csv/.png into `out`, return the dict."""
    if task not in TASKS:
        raise NicError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    clean = load_dataset(dataset)[2]
    clean = clean[:limit] if limit else clean
    model = f"{dataset}-denoise" if task == "denoise" else f"{dataset}-sr2x"
    _require_model(model)
    cases = _denoise_cases(clean, seed, dataset) if task == "denoise" else _sr_cases(clean)
    rows, samples = [], {}
    for case, degraded, methods in cases:
        for method, restore in methods.items():
            started = time.perf_counter()
            restored, mean_bytes = restore(degraded, model)
            rows.append({
                "case": case, "method": method, "psnr": round(psnr(clean, restored), 3),
                "mse": round(mse(clean, restored) / 255.0**2, 6),
                "mae": round(float(np.mean(np.abs(clean / 255.0 - restored / 255.0))), 5),
                "mean_bytes": mean_bytes,
                "images_per_s": round(len(clean) / (time.perf_counter() - started), 1),
            })
            samples[(case, method)] = restored[:SAMPLE_COUNT]
    result = {"task": task, "dataset": dataset, "n_images": int(len(clean)), "model": model,
              "seed": seed, "results": rows, "summary": _summary(rows)}
    if out is not None:
        _write(result, clean[:SAMPLE_COUNT], samples, Path(out))
    return result


def _require_model(model: str) -> None:
    from ..runtime import installed_models

    if model not in installed_models():
        raise NicError(f"model {model!r} is not installed: train it with nic train --task ...")


def _denoise_cases(clean: np.ndarray, seed: int, dataset: str):
    methods = {"noisy input": _identity, "mean 3x3": _mean3, "median 3x3": _median3, "nic": _nic}
    table = noise_types(dataset)
    for index, kind in enumerate(table):
        noisy = add_noise(clean, kind, np.random.default_rng(seed + index), table)
        yield kind, noisy, methods


def _sr_cases(clean: np.ndarray):
    yield "2x", reduce2x(clean), {"bicubic": _bicubic2x, "nic": _nic}


def _identity(images, model):
    return images, None


def _mean3(images, model):
    from scipy.ndimage import uniform_filter

    size = (1, 3, 3) + (1,) * (images.ndim - 3)  # each colour channel on its own
    filtered = uniform_filter(images.astype(np.float64), size=size, mode="reflect")
    return np.clip(np.rint(filtered), 0, 255).astype(np.uint8), None


def _median3(images, model):
    from scipy.ndimage import median_filter

    return median_filter(images, size=(1, 3, 3) + (1,) * (images.ndim - 3), mode="reflect"), None


def _bicubic2x(images, model):
    from PIL import Image

    enlarge = [np.asarray(Image.fromarray(image).resize((28, 28), Image.Resampling.BICUBIC))
               for image in images]
    return np.stack(enlarge), None


def _nic(images, model):
    from ..api import decode_batch, denoise, encode_batch
    from ..runtime import installed_models

    if installed_models()[model].get("kind") == "filter":  # nic denoise: no file in between
        return denoise(images, model=model), None

    files = encode_batch(images, model=model)
    return np.stack(decode_batch(files)), round(float(np.mean([len(f) for f in files])), 2)


def _summary(rows: list[dict]) -> list[str]:
    """Per case: nic against the best classical method, in dB."""
    lines = []
    for case in dict.fromkeys(row["case"] for row in rows):
        by_method = {row["method"]: row for row in rows if row["case"] == case}
        nic = by_method.pop("nic")
        best = max(by_method.values(), key=lambda row: row["psnr"])
        margin = nic["psnr"] - best["psnr"]
        least_mae = min(by_method.values(), key=lambda row: row["mae"])
        size = f", {nic['mean_bytes']} B" if nic["mean_bytes"] else ""
        lines.append(
            f"{case}: nic {nic['psnr']:.2f} dB (MAE {nic['mae']:.4f}{size}) vs best baseline "
            f"{best['method']} {best['psnr']:.2f} dB: {margin:+.2f} dB; least MAE among the "
            f"others {least_mae['method']} {least_mae['mae']:.4f}"
        )
    return lines


def _write(result: dict, clean: np.ndarray, samples: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "restore.json").write_text(json.dumps(result, indent=2) + "\n")
    header = "case,method,psnr,mse,mae,mean_bytes,images_per_s\n"
    lines = [f"{r['case']},{r['method']},{r['psnr']},{r['mse']},{r['mae']},{r['mean_bytes'] or ''},"
             f"{r['images_per_s']}" for r in result["results"]]
    (out / "restore.csv").write_text(header + "\n".join(lines) + "\n")
    _plot_samples(result, clean, samples, out / "restore.png")


def _plot_samples(result: dict, clean: np.ndarray, samples: dict, path: Path) -> None:
    """One row per (case, method), then the clean originals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(key, images) for key, images in samples.items()] + [(("clean", ""), clean)]
    figure, axes = plt.subplots(len(rows), 1, figsize=(SAMPLE_COUNT * 0.9, len(rows) * 0.95))
    for axis, ((case, method), images) in zip(np.atleast_1d(axes), rows):
        pad = ((1, 1), (1, 1)) + ((0, 0),) * (images.ndim - 3)
        strip = np.concatenate([np.pad(image, pad, constant_values=128) for image in images], axis=1)
        axis.imshow(strip, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axis.set_title(f"{case} {method}".strip(), fontsize=7, loc="left")
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def print_restore_report(result: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{result['task']} on {result['dataset']}: {result['n_images']} test images")
    for column in ("case", "method", "PSNR dB", "MSE", "MAE", "bytes", "img/s"):
        table.add_column(column, justify="left" if column in ("case", "method") else "right")
    for row in result["results"]:
        table.add_row(row["case"], row["method"], f"{row['psnr']:.2f}", f"{row['mse']:.4f}",
                      f"{row['mae']:.4f}",
                      str(row["mean_bytes"] or "-"), f"{row['images_per_s']:.0f}")
    console.print(table)
    for line in result["summary"]:
        console.print(line)
