"""The fast runtime (LiteRT) against the Keras originals, and the weights' fingerprints."""

import json
import shutil

import numpy as np
import pytest

import codec
from codec.fidelity import other_reader_names
from codec.runtime import forget_models, load_model, to_uint8, training_file, weights_root


def test_litert_decoder_matches_keras_within_one_grey_level(mnist_test):
    """A float decoder (id 15; the int8 one of id 22: tests/test_train.py) and its original."""
    keras = pytest.importorskip("keras")
    model = load_model("mnist-v3")
    keras_encoder = keras.models.load_model(training_file(model, "encoder.keras"))
    keras_decoder = keras.models.load_model(training_file(model, "decoder.keras"))
    images = mnist_test[:200]
    pixels = (images.astype(np.float32) / 255.0)[..., None]

    keras_means = keras_encoder.predict(pixels, verbose=0)[0]
    np.testing.assert_allclose(model.encode_latents(images), keras_means, atol=1e-4)

    latents = model.tables[model.default_quality].dequantize(
        model.tables[model.default_quality].quantize(keras_means)
    )
    keras_pixels = to_uint8(keras_decoder.predict(latents, verbose=0)[..., 0])
    difference = np.abs(model.decode_latents(latents).astype(int) - keras_pixels.astype(int))
    assert difference.max() <= 1


def test_tampered_weights_are_refused(tmp_path, monkeypatch, fresh_models, mnist_test):
    copy = tmp_path / "mnist"
    shutil.copytree(weights_root() / "mnist", copy)
    settings = json.loads((copy / "card.json").read_text())["fidelity"]
    for reader in [settings["classifier"], *other_reader_names(settings)]:  # its readers
        shutil.copytree(weights_root() / reader, tmp_path / reader)
    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))
    encoded = codec.encode(mnist_test[0])
    decoder = copy / "decoder.tflite"
    data = bytearray(decoder.read_bytes())
    data[len(data) // 2] ^= 0x01
    decoder.write_bytes(bytes(data))
    forget_models()  # a fresh process meets the tampered file
    with pytest.raises(codec.NicModelError, match="fingerprint"):
        codec.decode(encoded)


def test_file_naming_an_absent_model_is_refused(tmp_path, monkeypatch, fresh_models, mnist_test):
    encoded = codec.encode(mnist_test[0])
    model_id = codec.inspect(encoded)["model_id"]
    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))  # an empty weights folder
    forget_models()
    with pytest.raises(codec.NicModelError, match=f"model id {model_id}"):
        codec.decode(encoded)


def test_a_missing_user_models_folder_is_reported(tmp_path, monkeypatch, fresh_models):
    """A typo in $NIC_MODELS shows in `nic models`, instead of its models silently missing."""
    from typer.testing import CliRunner

    from codec.cli import app

    monkeypatch.setenv("NIC_MODELS", str(tmp_path / "no-such-folder"))
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0 and "no-such-folder, which is not a folder" in result.output
