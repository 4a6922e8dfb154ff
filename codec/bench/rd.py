"""Rate-distortion bench: nic against classical image codecs on the same test images.

Every codec of `codecs.py` sees the same images; sizes are whole files as stored (headers and
containers included), and every codec runs on one thread.

    result = run_bench("mnist", limit=500, out="bench-out/mnist")   # also writes rd.json ...
    result["summary"]["lines"]

Outputs: rd.json (the returned dict), rd.csv, rd.png (`plot`) and samples.png. The PSNR of a
lossless point is infinite, which JSON cannot hold: it is stored as null and drawn as lossless.
"""

import csv
import io
import json
import math
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from .. import metrics
from ..data import load_dataset
from ..errors import NicError
from ..files import write_atomic
from ..runtime import installed_models
from .codecs import CODECS, Codec, _models_for

__all__ = ["run_bench", "measure", "summarize", "plot", "plot_samples", "print_report", "FIELDS"]

FIELDS = [
    "codec", "setting", "mean_bytes", "bpp", "psnr", "ssim", "max_abs_error",
    "encode_images_per_s", "decode_images_per_s",
]
# A BD-rate needs the two curves to share a real PSNR range: at least this many dB, and at least
# this share of the shorter curve's range; otherwise it is reported as "no overlap".
MIN_OVERLAP_DB = 1.0
MIN_OVERLAP_SHARE = 0.5
SAMPLE_COUNT = 8  # images per row of samples.png


def run_bench(
    dataset: str = "mnist",
    limit: int | None = None,
    out=None,
    codecs=None,
    *,
    progress: bool = True,
) -> dict:
    """Bench every codec on the first `limit` test images and write the results to `out`.

    Args:
        dataset: "mnist" or "fashion" (read from $NIC_DATA).
        limit: use the first N test images; None for the whole test set.
        out: output folder [default: bench-out/DATASET]; created if missing, files replaced.
        codecs: names from CODECS (a list, or one comma-separated string); None for all.
        progress: show a rich progress bar on stderr.
    Returns:
        The rd.json content: dataset, n_images, command, results (one dict per point, FIELDS),
        summary (BD-rates, equal-PSNR ratios, throughput vs JPEG, printable lines), skipped, notes.
    Raises:
        NicError: unknown dataset or codec, bad limit, missing data, unwritable output.
    """
    names = _codec_names(codecs)
    if limit is not None and limit < 1:
        raise NicError(f"--limit must be at least 1, not {limit}")
    images = load_dataset(dataset)[2][:limit]
    out = Path(out) if out is not None else Path("bench-out") / dataset
    try:  # before the long run, not after it
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NicError(f"cannot create the folder {out}: {error.strerror or error}") from None
    chosen = [CODECS[name](dataset) for name in names]
    skipped = [{"codec": c.name, "reason": c.unavailable()} for c in chosen if c.unavailable()]
    runnable = [c for c in chosen if not c.unavailable()]
    if not runnable:
        raise NicError("no codec can run: " + "; ".join(f"{s['codec']}: {s['reason']}" for s in skipped))
    rows, samples = _run_points(runnable, images, progress)
    result = {
        "dataset": dataset,
        "n_images": len(images),
        "pixels_per_image": int(images[0].size),
        "command": _command(dataset, limit, out, codecs and names),
        "results": rows,
        "summary": summarize(rows, _reference_setting(dataset), anchors=_anchors(runnable)),
        "skipped": skipped,
        "codecs": {c.name: c.description for c in runnable},
        "notes": [
            "psnr is dataset-level (MSE over all pixels of all images); null means lossless",
            "bytes are whole files as stored; every codec runs on one thread",
            "images per second are timed around the whole batch encode and decode of each point",
        ],
        "environment": _environment(),
    }
    _write_outputs(result, images[:SAMPLE_COUNT], samples, out)
    return result


def _codec_names(codecs) -> list[str]:
    if codecs is None:
        return list(CODECS)
    names = [n.strip() for n in codecs.split(",")] if isinstance(codecs, str) else list(codecs)
    names = [n for n in names if n]
    unknown = [n for n in names if n not in CODECS]
    if unknown or not names:
        named = ", ".join(unknown) or "(none)"
        raise NicError(f"unknown codec {named}; choose from {', '.join(CODECS)}")
    return list(dict.fromkeys(names))


def _run_points(codecs: list[Codec], images: np.ndarray, show: bool) -> tuple[list, dict]:
    """Run every setting of every codec; returns the rows and each point's first decoded images."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    plan = [(codec, setting) for codec in codecs for setting in codec.settings()]
    rows, samples = [], {}
    columns = [TextColumn("{task.description:28}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), disable=not show) as bar:
        task = bar.add_task("bench", total=len(plan))
        for codec, setting in plan:
            bar.update(task, description=f"{codec.name} {codec.label(setting)}")
            row, decoded = measure(codec, setting, images)
            rows.append(row)
            samples[(row["codec"], row["setting"])] = decoded[:SAMPLE_COUNT].copy()  # not a view
            bar.advance(task)
    return rows, samples


def measure(codec: Codec, setting, images: np.ndarray) -> tuple[dict, np.ndarray]:
    """One bench point: timed batch encode and decode, whole-file sizes and distortion."""
    codec.decode(codec.encode(images[:1], setting), setting)  # untimed warm-up: model loads, caches
    start = time.perf_counter()
    files = codec.encode(images, setting)
    encoded = time.perf_counter()
    decoded = codec.decode(files, setting)
    done = time.perf_counter()
    if decoded.shape != images.shape or decoded.dtype != np.uint8:
        raise NicError(f"{codec.name} decoded {decoded.dtype} {decoded.shape}, not {images.shape}")
    mean_bytes = sum(map(len, files)) / len(files)
    psnr = metrics.psnr(images, decoded)
    row = {
        "codec": codec.name,
        "setting": codec.label(setting),
        "mean_bytes": round(mean_bytes, 3),
        "bpp": round(8 * mean_bytes / images[0].size, 5),
        "psnr": round(psnr, 4) if math.isfinite(psnr) else None,  # JSON has no inf: lossless
        "ssim": round(metrics.ssim(images, decoded), 5),
        "max_abs_error": metrics.max_abs_error(images, decoded),
        "encode_images_per_s": round(len(images) / (encoded - start), 1),
        "decode_images_per_s": round(len(images) / (done - encoded), 1),
    }
    return row, decoded


def _reference_setting(dataset: str) -> str | None:
    """nic's point for headline figures: the first model's default quality."""
    models = _models_for(dataset)
    return f"{models[0]} q{installed_models()[models[0]]['default_quality']}" if models else None


def _anchors(codecs: list[Codec]) -> list[str]:
    return [c.name for c in codecs if not c.neural and not c.lossless]


def _command(dataset, limit, out, names) -> str:
    parts = ["nic bench", f"--dataset {dataset}"]
    parts += [f"--limit {limit}"] if limit is not None else []
    parts += [f"--out {out}"]
    parts += [f"--codecs {','.join(names)}"] if names else []
    return " ".join(parts)


def _environment() -> dict:
    import PIL

    versions = {"python": platform.python_version(), "numpy": np.__version__, "pillow": PIL.__version__}
    try:
        import imagecodecs

        versions["imagecodecs"] = imagecodecs.__version__
    except ImportError:
        pass
    return {**versions, "machine": platform.machine(), "cpu_count": os.cpu_count()}


# --- summary: BD-rates and equal-PSNR ratios, computed from the rows alone ---------------------


def summarize(rows: list[dict], reference: str | None, anchors: list[str]) -> dict:
    """Headline comparisons of nic with each classical lossy codec (the anchors).

    Args:
        rows: the results.
        reference: nic's headline setting (e.g. "mnist q4"), or None to use nic's first point.
        anchors: names of the classical lossy codecs to compare with.
    Returns:
        bd_rate, equal_psnr, smallest_file and throughput_vs_jpeg entries, and their printable
        `lines`.
    """
    nic = [r for r in rows if r["codec"] == "nic" and r["psnr"] is not None]
    anchors = [a for a in anchors if any(r["codec"] == a and r["psnr"] is not None for r in rows)]
    if not nic:
        return {"reference": None, "bd_rate": [], "equal_psnr": [], "smallest_file": [],
                "throughput_vs_jpeg": None, "lines": ["no nic points: nothing to compare"]}
    ref = next((r for r in nic if r["setting"] == reference), nic[0])
    summary = {
        "reference": {k: ref[k] for k in ("setting", "mean_bytes", "psnr")},
        "bd_rate": [],
        "equal_psnr": [],
        "smallest_file": [],
        "throughput_vs_jpeg": _throughput(rows),
    }
    for anchor in anchors:
        points = [r for r in rows if r["codec"] == anchor and r["psnr"] is not None]
        for model in dict.fromkeys(r["setting"].split()[0] for r in nic):
            curve = [r for r in nic if r["setting"].split()[0] == model]
            summary["bd_rate"].append({"codec": anchor, "nic_model": model, **_bd_rate(points, curve)})
        summary["equal_psnr"].append({"codec": anchor, **_equal_psnr(points, ref, nic)})
        summary["smallest_file"].append({"codec": anchor, **_smallest_file(points, nic)})
    summary["lines"] = _summary_lines(summary)
    return summary


def _frontier(points: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, psnr) of the points no other point beats, both strictly increasing."""
    best, keep = -math.inf, []
    for r in sorted(points, key=lambda r: (r["mean_bytes"], -r["psnr"])):
        if r["psnr"] > best:
            keep.append((r["mean_bytes"], r["psnr"]))
            best = r["psnr"]
    rates, psnrs = zip(*keep)
    return np.array(rates), np.array(psnrs)


def _bd_rate(anchor: list[dict], nic: list[dict]) -> dict:
    """Bjontegaard delta rate of nic against an anchor (Akima), over their common PSNR range."""
    anchor_rate, anchor_psnr = _frontier(anchor)
    nic_rate, nic_psnr = _frontier(nic)
    low, high = max(anchor_psnr[0], nic_psnr[0]), min(anchor_psnr[-1], nic_psnr[-1])
    overlap = [round(float(low), 3), round(float(high), 3)] if high > low else None
    shorter = min(anchor_psnr[-1] - anchor_psnr[0], nic_psnr[-1] - nic_psnr[0])
    needed = max(MIN_OVERLAP_DB, MIN_OVERLAP_SHARE * shorter)
    if len(anchor_rate) < 2 or len(nic_rate) < 2 or high - low < needed:
        return {"bd_rate_percent": None, "psnr_overlap_db": overlap, "note": "no overlap"}
    import bjontegaard

    with warnings.catch_warnings():  # the small overlap is reported, not warned about
        warnings.simplefilter("ignore")
        value = bjontegaard.bd_rate(
            anchor_rate, anchor_psnr, nic_rate, nic_psnr,
            method="akima", require_matching_points=False, min_overlap=0,
        )
    return {"bd_rate_percent": round(float(value), 2), "psnr_overlap_db": overlap, "note": None}


def _bytes_at_psnr(points: list[dict], psnr: float) -> tuple[float | None, float | None, str]:
    """An anchor's (bytes, PSNR) at a PSNR: interpolated (log bytes, linear in PSNR) on its
    frontier, or its smallest file with at least that PSNR when the PSNR is below its range."""
    rates, psnrs = _frontier(points)
    if psnr > psnrs[-1]:
        return None, None, "beyond its best quality"
    if psnr < psnrs[0]:
        return float(rates[0]), float(psnrs[0]), "smallest file with equal or better PSNR"
    return float(np.exp(np.interp(psnr, psnrs, np.log(rates)))), psnr, "interpolated"


def _equal_psnr(points: list[dict], ref: dict, nic: list[dict]) -> dict:
    """How many times bigger the anchor's file is at nic's PSNR, at the reference and each level."""
    per_point = []
    for r in nic:
        size, psnr, how = _bytes_at_psnr(points, r["psnr"])
        ratio = round(size / r["mean_bytes"], 3) if size else None
        per_point.append({"nic_setting": r["setting"], "codec_bytes": size and round(size, 2),
                          "codec_psnr": psnr, "ratio": ratio, "how": how})
    at_ref = next(p for p, r in zip(per_point, nic) if r is ref)
    return {**at_ref, "nic_bytes": ref["mean_bytes"], "nic_psnr": ref["psnr"], "per_point": per_point}


def _smallest_file(points: list[dict], nic: list[dict]) -> dict:
    """The anchor's smallest file against the smallest nic file of equal or better PSNR."""
    small = min(points, key=lambda r: r["mean_bytes"])
    better = [r for r in nic if r["psnr"] >= small["psnr"]]
    entry = {"setting": small["setting"], "mean_bytes": small["mean_bytes"], "psnr": small["psnr"]}
    if not better:
        return {**entry, "nic_setting": None, "nic_bytes": None, "nic_psnr": None, "ratio": None}
    match = min(better, key=lambda r: r["mean_bytes"])
    return {**entry, "nic_setting": match["setting"], "nic_bytes": match["mean_bytes"],
            "nic_psnr": match["psnr"], "ratio": round(small["mean_bytes"] / match["mean_bytes"], 3)}


def _throughput(rows: list[dict]) -> dict | None:
    """nic's median images/s over its points divided by JPEG's, for encode and decode."""
    nic = [r for r in rows if r["codec"] == "nic"]
    jpeg = [r for r in rows if r["codec"] == "jpeg"]
    if not nic or not jpeg:
        return None
    entry = {}
    for side in ("encode", "decode"):
        key = f"{side}_images_per_s"
        ratio = float(np.median([r[key] for r in nic]) / np.median([r[key] for r in jpeg]))
        entry[side] = {"ratio": round(ratio, 3),
                       "nic_median": round(float(np.median([r[key] for r in nic])), 1),
                       "jpeg_median": round(float(np.median([r[key] for r in jpeg])), 1)}
    return entry


def _summary_lines(summary: dict) -> list[str]:
    ref = summary["reference"]
    lines = []
    for bd in summary["bd_rate"]:
        value = "no overlap" if bd["bd_rate_percent"] is None else f"{bd['bd_rate_percent']:+.1f} %"
        common = bd["psnr_overlap_db"]
        only = "only " if bd["bd_rate_percent"] is None else ""
        span = f" ({only}{common[0]:.2f}-{common[1]:.2f} dB in common)" if common else ""
        lines.append(f"BD-rate of nic {bd['nic_model']} against {bd['codec']}: {value}{span}")
    nic = f"{ref['psnr']:.2f} dB, nic {ref['setting']}: {ref['mean_bytes']:.1f} B"
    for eq in summary["equal_psnr"]:
        if eq["ratio"] is None:
            lines.append(f"at {nic}: {eq['codec']} cannot reach that PSNR")
        elif eq["how"] == "interpolated":
            lines.append(f"at equal PSNR ({nic}), nic files are {eq['ratio']:.1f}x smaller than "
                         f"{eq['codec']} (interpolated: {eq['codec_bytes']:.1f} B)")
        else:
            lines.append(f"at equal or better PSNR ({nic}), nic files are {eq['ratio']:.1f}x smaller "
                         f"than {eq['codec']} (its smallest file: {eq['codec_bytes']:.1f} B at "
                         f"{eq['codec_psnr']:.2f} dB)")
    for sm in summary["smallest_file"]:
        head = (f"{sm['codec']}'s smallest file ({sm['mean_bytes']:.1f} bytes at {sm['psnr']:.2f} dB, "
                f"{sm['setting']})")
        if sm["ratio"] is None:
            lines.append(f"{head}: no nic level reaches its PSNR")
        else:
            lines.append(f"{head} is {sm['ratio']:.1f}x the nic file of equal or better PSNR "
                         f"({sm['nic_setting']}: {sm['nic_bytes']:.1f} B at {sm['nic_psnr']:.2f} dB)")
    if summary["throughput_vs_jpeg"]:
        parts = [f"{side}s at {t['ratio']:.2f}x" for side, t in summary["throughput_vs_jpeg"].items()]
        lines.append("speed against Pillow JPEG (median images/s over settings): nic "
                     + " and ".join(parts) + " JPEG's rate")
    return lines


# --- outputs -------------------------------------------------------------------------------------


def _write_outputs(result: dict, originals: np.ndarray, samples: dict, out: Path) -> None:
    write_atomic(out / "rd.json", (json.dumps(result, indent=1) + "\n").encode(), force=True)
    write_atomic(out / "rd.csv", _csv_bytes(result["results"]), force=True)
    write_atomic(out / "rd.png", plot(result), force=True)
    write_atomic(out / "samples.png", plot_samples(result, originals, samples), force=True)


def _csv_bytes(rows: list[dict]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)  # a lossless PSNR (None) becomes an empty cell
    return text.getvalue().encode()


def _png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return buffer.getvalue()


def _curves(rows: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped into plot curves: one per codec, one per model for nic and the latents."""
    curves = {}
    for r in rows:
        per_model = r["codec"] == "nic"
        key = f"nic {r['setting'].split()[0]}" if per_model else r["codec"]
        curves.setdefault(key, []).append(r)
    return curves


def plot(result: dict) -> bytes:
    """rd.png from an rd.json dict: bytes per image (log) against PSNR, one curve per codec.

    Lossless points (PSNR null) sit as markers on a line at the top edge, labelled.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, Agg via savefig

    figure = Figure(figsize=(9, 6), layout="constrained")
    axes = figure.add_subplot()
    finite = [r["psnr"] for r in result["results"] if r["psnr"] is not None] or [20.0]
    top = max(finite) + 4
    for name, points in _curves(result["results"]).items():
        lossy = sorted((r for r in points if r["psnr"] is not None), key=lambda r: r["psnr"])
        if lossy:
            style = {"linewidth": 2.5, "markersize": 6} if name.startswith("nic") else {"markersize": 4}
            axes.plot([r["mean_bytes"] for r in lossy], [r["psnr"] for r in lossy],
                      "o-" if len(lossy) > 1 else "s", label=name, **style)
    lossless = sorted((r for r in result["results"] if r["psnr"] is None), key=lambda r: r["mean_bytes"])
    for i, r in enumerate(lossless):  # staggered labels: lossless sizes are often close together
        axes.plot(r["mean_bytes"], top, "D", color="black")
        axes.annotate(f"{r['codec']} {r['mean_bytes']:.0f} B", (r["mean_bytes"], top),
                      xytext=(0, -8 - 11 * (i % 3)), textcoords="offset points", ha="center",
                      va="top", fontsize=8)
    axes.axhline(top, color="grey", linestyle=":", linewidth=1)
    axes.text(0.01, top, " lossless", transform=axes.get_yaxis_transform(), va="bottom", fontsize=8)
    axes.set_xscale("log")
    axes.set_ylim(min(finite) - 2, top + 2)
    pixels = result.get("pixels_per_image", 784)
    bpp = axes.secondary_xaxis("top", functions=(lambda b: 8 * b / pixels, lambda p: p * pixels / 8))
    bpp.set_xlabel("bits per pixel")
    axes.set_xlabel("bytes per image (whole file, mean)")
    axes.set_ylabel("PSNR (dB, over the whole set)")
    axes.set_title(f"{result['dataset']}: {result['n_images']} test images", loc="left")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    return _png_bytes(figure)


def _sample_rows(result: dict) -> list[dict]:
    """samples.png rows: nic at its lowest, default and highest level, then JPEG and WebP at
    the mean size closest to nic's default."""
    rows = result["results"]
    nic = [r for r in rows if r["codec"] == "nic"]
    reference = result["summary"].get("reference")
    if not nic:
        return []
    ref = next((r for r in nic if r["setting"] == reference["setting"]), nic[0])
    model = ref["setting"].split()[0]
    levels = [r for r in nic if r["setting"].split()[0] == model]
    chosen = list({id(r): r for r in (levels[0], ref, levels[-1])}.values())
    for name in ("jpeg", "webp"):
        candidates = [r for r in rows if r["codec"] == name]
        if candidates:
            chosen.append(min(candidates, key=lambda r: abs(r["mean_bytes"] - ref["mean_bytes"])))
    return chosen


def plot_samples(result: dict, originals: np.ndarray, samples: dict) -> bytes:
    """samples.png: originals, then chosen points' decoded images, labelled with bytes and PSNR."""
    from matplotlib.figure import Figure

    chosen = _sample_rows(result)
    grid = [("original", originals)] + [
        (f"{r['codec']} {r['setting']}\n{r['mean_bytes']:.1f} B, "
         + ("lossless" if r["psnr"] is None else f"{r['psnr']:.1f} dB"),
         samples[(r["codec"], r["setting"])]) for r in chosen
    ]
    columns = len(originals)
    figure = Figure(figsize=(1.2 * columns + 1.6, 1.25 * len(grid)), layout="constrained")
    cells = figure.subplots(len(grid), columns, squeeze=False)
    for (title, images), row in zip(grid, cells):
        for image, cell in zip(images, row):
            cell.imshow(image, cmap="gray", vmin=0, vmax=255)
            cell.set_xticks([])
            cell.set_yticks([])
        row[0].set_ylabel(title, rotation=0, ha="right", va="center", fontsize=8)
    figure.suptitle(f"{result['dataset']}: first {columns} test images (PSNR over the bench set)",
                    fontsize=9)
    return _png_bytes(figure)


def print_report(result: dict, console=None) -> None:
    """The rich table of all points, then skipped codecs and the summary lines."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        console = console if console.is_terminal else Console(width=120)  # pipes: no wrapped rows
    table = Table(title=f"{result['dataset']}: {result['n_images']} test images")
    headers = "codec setting bytes bpp PSNR_dB SSIM max_err enc_img/s dec_img/s".split()
    for header in (h.replace("_", " ") for h in headers):
        justify = "left" if header in ("codec", "setting") else "right"
        table.add_column(header, justify=justify, no_wrap=True)
    for r in result["results"]:
        table.add_row(
            r["codec"], r["setting"], f"{r['mean_bytes']:.1f}", f"{r['bpp']:.3f}",
            "lossless" if r["psnr"] is None else f"{r['psnr']:.2f}", f"{r['ssim']:.4f}",
            str(r["max_abs_error"]), f"{r['encode_images_per_s']:.0f}",
            f"{r['decode_images_per_s']:.0f}",
        )
    console.print(table)
    for skip in result["skipped"]:
        console.print(f"skipped {skip['codec']}: {skip['reason']}")
    for line in result["summary"]["lines"]:
        console.print(line, highlight=False, soft_wrap=True)
