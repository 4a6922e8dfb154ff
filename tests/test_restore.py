"""Restoration models behind the same format: noisy or small in, clean and full size out."""

import json

import numpy as np
import pytest
from PIL import Image

import codec
from codec.bench import run_restore_bench
from codec.metrics import psnr
from codec.noise import NOISE_TYPES, add_noise, reduce2x

N_IMAGES = 60


@pytest.fixture(scope="module")
def clean(mnist_test):
    return mnist_test[-N_IMAGES:]


@pytest.mark.parametrize("kind", NOISE_TYPES)
def test_denoising_beats_the_noisy_input(clean, kind):
    noisy = add_noise(clean, kind, np.random.default_rng(7))
    files = codec.encode_batch(noisy, model="mnist-denoise")
    assert codec.inspect(files[0])["model"] == "mnist-denoise"  # plain decode needs no flags
    restored = np.stack(codec.decode_batch(files))
    assert psnr(clean, restored) > psnr(clean, noisy)


def test_super_resolution_decodes_at_twice_the_size_and_beats_bicubic(clean):
    small = reduce2x(clean)
    restored = np.stack(codec.decode_batch(codec.encode_batch(small, model="mnist-sr2x")))
    assert restored.shape == clean.shape
    bicubic = np.stack([np.asarray(Image.fromarray(s).resize((28, 28), Image.Resampling.BICUBIC))
                        for s in small])
    assert psnr(clean, restored) > psnr(clean, bicubic)


def test_restore_bench_reports_every_noise_type(tmp_path):
    result = run_restore_bench("denoise", "mnist", limit=30, out=tmp_path)
    cases = {row["case"] for row in result["results"]}
    assert cases == set(NOISE_TYPES)
    assert {row["method"] for row in result["results"]} == {
        "noisy input", "mean 3x3", "median 3x3", "nic"}
    assert (tmp_path / "restore.json").exists() and (tmp_path / "restore.png").exists()


def test_bench_seed_draws_other_noise(tmp_path):
    from typer.testing import CliRunner

    from codec.cli import app

    runs = {}
    for seed in (0, 5):
        out = tmp_path / str(seed)
        result = CliRunner().invoke(app, ["bench", "--task", "denoise", "--limit", "20",
                                          "--seed", str(seed), "--out", str(out)])
        assert result.exit_code == 0, result.output
        runs[seed] = json.loads((out / "restore.json").read_text())
    assert runs[5]["seed"] == 5
    noisy = [{r["case"]: r["mae"] for r in runs[s]["results"] if r["method"] == "noisy input"}
             for s in (0, 5)]
    assert noisy[0] != noisy[1]  # other draws, the same kinds


def test_bench_seed_is_only_for_the_denoise_task():
    from typer.testing import CliRunner

    from codec.cli import app

    result = CliRunner().invoke(app, ["bench", "--task", "rd", "--seed", "3"])
    assert result.exit_code == 2 and "--seed draws the noise of --task denoise" in result.output
