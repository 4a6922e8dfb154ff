"""A tiny real training run: `nic train` writes a complete, loadable model folder."""

import json

import pytest
from typer.testing import CliRunner

import codec
from codec.cli import app


@pytest.mark.usefixtures("mnist_test")  # fails in CI if the data is missing
def test_smoke_training_writes_a_working_model(tmp_path, monkeypatch, fresh_models, mnist_test):
    pytest.importorskip("tensorflow")
    out = tmp_path / "smoke"
    result = CliRunner().invoke(app, [
        "train", "--dataset", "mnist", "--limit", "300", "--epochs", "1",
        "--name", "smoke", "--model-id", "250", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "card.json").read_text())
    assert card["name"] == "smoke" and card["model_id"] == 250 and card["epochs_run"] == 1
    assert set(card["fingerprints"]) >= {"encoder.tflite", "decoder.tflite", "entropy.npz"}
    assert (out / "training.png").stat().st_size > 1000

    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))
    data = codec.encode(mnist_test[0], model="smoke")
    assert codec.inspect(data)["model"] == "smoke"
    assert codec.decode(data).shape == (28, 28)
