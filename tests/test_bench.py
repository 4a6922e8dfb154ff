"""The bench: real codecs on real MNIST test images, real files in a temporary folder."""

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from codec.bench import FIELDS, plot, run_bench, summarize
from codec.cli import app
from codec.errors import NicError

N_IMAGES = 30
CODECS = "nic,jpeg,webp,png,latent-raw"


@pytest.fixture(scope="module")
def bench(tmp_path_factory, mnist_test):
    """One small bench run shared by the tests: (returned dict, output folder)."""
    out = tmp_path_factory.mktemp("bench")
    return run_bench("mnist", N_IMAGES, out, CODECS, progress=False), out


def points(result, codec):
    return [r for r in result["results"] if r["codec"] == codec]


def test_writes_the_outputs_and_returns_what_rd_json_holds(bench):
    result, out = bench
    for name in ("rd.json", "rd.csv", "rd.png", "samples.png"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "rd.json").read_text()) == result
    assert (out / "rd.png").read_bytes().startswith(b"\x89PNG")


def test_json_schema(bench):
    result, _ = bench
    assert result["dataset"] == "mnist" and result["n_images"] == N_IMAGES
    assert result["command"].startswith("nic bench --dataset mnist --limit 30")
    assert {r["codec"] for r in result["results"]} == set(CODECS.split(","))
    types = {"codec": str, "setting": str, "mean_bytes": float, "bpp": float, "ssim": float,
             "max_abs_error": int, "encode_images_per_s": float, "decode_images_per_s": float}
    for row in result["results"]:
        assert list(row) == FIELDS
        for key, kind in types.items():
            assert isinstance(row[key], kind), (key, row)
        assert row["psnr"] is None or isinstance(row["psnr"], float)
        assert row["bpp"] == pytest.approx(8 * row["mean_bytes"] / 784, abs=1e-4)
        assert row["encode_images_per_s"] > 0 and row["decode_images_per_s"] > 0
    assert isinstance(result["summary"]["lines"], list) and result["summary"]["lines"]
    assert {b["codec"] for b in result["summary"]["bd_rate"]} == {"jpeg", "webp"}


def test_csv_holds_the_same_rows(bench):
    result, out = bench
    rows = list(csv.DictReader(io.StringIO((out / "rd.csv").read_text())))
    assert [(r["codec"], r["setting"]) for r in rows] == [
        (r["codec"], r["setting"]) for r in result["results"]
    ]
    assert [float(r["mean_bytes"]) for r in rows] == [r["mean_bytes"] for r in result["results"]]


def test_higher_jpeg_quality_gives_more_bytes_and_higher_psnr(bench):
    jpeg = points(bench[0], "jpeg")
    lowest, highest = jpeg[0], jpeg[-1]
    assert (lowest["setting"], highest["setting"]) == ("q1", "q95")
    assert highest["psnr"] > lowest["psnr"] + 10
    assert highest["mean_bytes"] > lowest["mean_bytes"]


def test_lossless_points_are_exact(bench):
    (png,) = points(bench[0], "png")
    assert png["max_abs_error"] == 0 and png["psnr"] is None and png["ssim"] == 1.0


def test_sizes_are_whole_files(bench, mnist_test):
    """PNG's mean size, recomputed here with Pillow on the same images."""
    sizes = []
    for image in mnist_test[:N_IMAGES]:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True)
        sizes.append(len(buffer.getvalue()))
    assert points(bench[0], "png")[0]["mean_bytes"] == pytest.approx(np.mean(sizes), abs=1e-3)


def test_nic_sweeps_its_quality_levels(bench):
    nic = points(bench[0], "nic")
    assert len(nic) >= 6
    assert len({r["setting"] for r in nic}) == len(nic)


def test_latent_raw_is_64_bytes(bench):
    (raw,) = points(bench[0], "latent-raw")
    assert raw["mean_bytes"] == 64


def test_plot_reads_the_json(bench):
    _, out = bench
    assert plot(json.loads((out / "rd.json").read_text())).startswith(b"\x89PNG")


def curve(codec, pairs):
    return [{"codec": codec, "setting": f"q{i}", "mean_bytes": b, "psnr": p,
             "encode_images_per_s": 100.0, "decode_images_per_s": 100.0}
            for i, (b, p) in enumerate(pairs, 1)]


def test_summary_bd_rate_only_over_a_real_overlap():
    nic = curve("nic", [(8, 12.0), (12, 16.0), (16, 19.0), (20, 20.5)])
    for row in nic:
        row["setting"] = "mnist " + row["setting"]
    jpeg = curve("jpeg", [(200, 19.0), (240, 23.0), (300, 27.0), (400, 35.0)])
    webp = curve("webp", [(20, 14.0), (40, 18.0), (80, 22.0)])  # twice nic's size at equal PSNR
    summary = summarize(nic + jpeg + webp, "mnist q2", ["jpeg", "webp"])
    bd = {b["codec"]: b for b in summary["bd_rate"]}
    assert bd["jpeg"]["bd_rate_percent"] is None and bd["jpeg"]["note"] == "no overlap"
    assert -70 < bd["webp"]["bd_rate_percent"] < -30
    smallest = {s["codec"]: s for s in summary["smallest_file"]}["jpeg"]
    assert smallest["nic_setting"] == "mnist q3"
    assert smallest["ratio"] == pytest.approx(200 / 16, abs=1e-3)
    equal = {e["codec"]: e for e in summary["equal_psnr"]}
    assert equal["jpeg"]["how"].startswith("smallest")
    assert equal["jpeg"]["ratio"] == pytest.approx(200 / 12, abs=1e-3)
    assert equal["webp"]["how"] == "interpolated" and equal["webp"]["ratio"] > 1
    assert any("no overlap" in line for line in summary["lines"])


def test_cli_bench(tmp_path, mnist_test):
    out = tmp_path / "bench"
    result = CliRunner().invoke(
        app, ["bench", "--limit", "20", "--codecs", "nic,jpeg,png", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "jpeg" in result.stdout and "BD-rate" in result.stdout
    rd = json.loads((out / "rd.json").read_text())
    assert rd["n_images"] == 20 and {r["codec"] for r in rd["results"]} == {"nic", "jpeg", "png"}
    assert (out / "rd.csv").exists() and (out / "rd.png").exists()


def test_cli_rejects_an_unknown_codec_in_one_line(tmp_path, mnist_test):
    result = CliRunner().invoke(
        app, ["bench", "--limit", "5", "--codecs", "jpeg,gif", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2  # a usage error
    assert "unknown codec gif" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "rd.json").exists()


def test_limit_must_be_positive(tmp_path, mnist_test):
    with pytest.raises(NicError, match="limit"):
        run_bench("mnist", 0, tmp_path, "jpeg", progress=False)
