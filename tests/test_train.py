"""A tiny real training run: `nic train` writes a complete, loadable model folder."""

import json
import shutil
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import codec
from codec.cli import app
from conftest import REPO


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


SMOKE = ["train", "--dataset", "mnist", "--limit", "300", "--epochs", "1"]


@pytest.fixture(scope="module")
def small_base(tmp_path_factory):
    """A smoke model the decoder-only tests start from (each copies it beside its own)."""
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("small") / "base"
    result = CliRunner().invoke(app, [*SMOKE, "--name", "base", "--model-id", "250", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.usefixtures("mnist_test")
def test_a_decoder_of_other_widths_learns_on_the_fixed_encoder(tmp_path, monkeypatch, fresh_models,
                                                                 mnist_test, small_base):
    """--decoder-widths with --init-from: the encoder comes over unchanged, so a file's latent
    (and its size) is the same under both models; only the decoder is new."""
    runner, slim = CliRunner(), tmp_path / "slim"
    base = shutil.copytree(small_base, tmp_path / "base")
    result = runner.invoke(app, [*SMOKE, "--name", "slim", "--model-id", "251", "--out", str(slim),
                                 "--init-from", str(base), "--decoder-widths", "8,4"])
    assert result.exit_code == 0, result.output
    card = json.loads((slim / "card.json").read_text())
    assert card["encoder_fixed"] and "decoder widths 8-4" in card["architecture"]
    assert (slim / "decoder.tflite").stat().st_size < (base / "decoder.tflite").stat().st_size / 4

    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))
    from codec.format import unpack
    from codec.runtime import load_model

    latents = [load_model(m).encode_latents(mnist_test[:20]) for m in ("base", "slim")]
    np.testing.assert_array_equal(*latents)
    payloads = [unpack(codec.encode(mnist_test[0], model=m, quality=5))[1] for m in ("base", "slim")]
    assert payloads[0] == payloads[1]


@pytest.mark.usefixtures("mnist_test")
def test_a_decoder_tuned_on_quantised_latents_keeps_the_files_sizes(tmp_path, monkeypatch,
                                                                     fresh_models, mnist_test,
                                                                     small_base):
    """--decoder-only with --init-from: same encoder and tables (the same payload bytes), a new
    decoder exported in int8, and a card that says so."""
    runner, tuned = CliRunner(), tmp_path / "tuned"
    base = shutil.copytree(small_base, tmp_path / "base")
    result = runner.invoke(app, [*SMOKE, "--name", "tuned", "--model-id", "251", "--out", str(tuned),
                                 "--init-from", str(base), "--decoder-only"])
    assert result.exit_code == 0, result.output
    card = json.loads((tuned / "card.json").read_text())
    assert card["model_id"] == 251 and card["decoder_tuning"]["epochs_run"] == 1
    assert card["decoder_export"].startswith("int8") and card["test"]["images"] == 300
    assert (tuned / "entropy.npz").read_bytes() == (base / "entropy.npz").read_bytes()

    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))
    from ai_edge_litert.interpreter import Interpreter

    from codec.format import unpack

    payloads = [unpack(codec.encode(mnist_test[0], model=m, quality=3))[1] for m in ("base", "tuned")]
    assert payloads[0] == payloads[1]
    tensors = Interpreter(model_path=str(tuned / "decoder.tflite")).get_tensor_details()
    assert any(t["dtype"] == np.int8 for t in tensors)

    # One function: the same numbers from LiteRT at any batch size and from TensorFlow's own
    # interpreter (tools/cross_runtime.py encodes with it), as integer arithmetic promises.
    from codec.runtime import load_model

    net = load_model("tuned")
    table = net.tables[3]
    latents = table.dequantize(np.random.default_rng(2).integers(-2, 3, (64, 16)) + table.radius)
    litert = net.decode_floats(latents)
    np.testing.assert_array_equal(np.concatenate([net.decode_floats(latents[i:i + 1]) for i in range(8)]),
                                  litert[:8])
    sys.path.insert(0, str(REPO / "tools"))
    from cross_runtime import TensorFlowLite

    tensorflow = TensorFlowLite((tuned / "decoder.tflite").read_bytes()).predict(latents)[..., 0]
    np.testing.assert_array_equal(tensorflow, litert)


def test_decoder_only_needs_a_model_to_start_from(tmp_path):
    result = CliRunner().invoke(app, ["train", "--dataset", "mnist", "--decoder-only",
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "--init-from" in result.output


def _small_reader(tmp_path, name: str, *options: str) -> dict:
    """Train a one-epoch digit reader on 600 MNIST digits and none of nic's own
    (--no-real-world-digits) with `options`; its card."""
    pytest.importorskip("tensorflow")
    out = tmp_path / name
    result = CliRunner().invoke(app, [
        "train", "--task", "classify", "--dataset", "mnist", "--limit", "600", "--epochs", "1",
        "--no-real-world-digits", *options, "--name", name, "--model-id", "250",
        "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    return json.loads((out / "card.json").read_text())


@pytest.mark.usefixtures("mnist_test")
def test_a_reader_of_mnist_alone_adds_no_digits(tmp_path):
    """--no-real-world-digits: the third reader learns MNIST's training digits and no others."""
    card = _small_reader(tmp_path, "plain", "--blurred-share", "0")
    assert card["added_training_digits"] == {} and card["train_images"] == 480


@pytest.mark.usefixtures("mnist_test")
def test_a_reader_of_distorted_digits_adds_them_as_its_card_says(tmp_path):
    """--distorted-share: distorted copies of that share of MNIST's training digits join them
    (those normalise could not part from their noise are left out), counted in the card."""
    card = _small_reader(tmp_path, "distorted", "--distorted-share", "0.5")
    added = card["added_training_digits"]["distorted"]
    assert 0.7 * 240 <= added <= 240 and card["train_images"] == 480 + added
    assert card["distorted_share"] == 0.5


def test_distorted_digits_still_show_their_digit(mnist_test):
    """Turned, sheared, scaled, another pen, blur or noise: what distorted_images makes is
    still the digit it was, to the shipped reader, and the same for the same seed."""
    from codec.runtime import load_model
    from codec.synthetic import distorted_images

    images = mnist_test[:300]
    made = distorted_images(images, np.random.default_rng(4))
    assert made.shape == images.shape and made.dtype == np.uint8
    np.testing.assert_array_equal(made, distorted_images(images, np.random.default_rng(4)))
    assert np.mean(np.abs(made.astype(int) - images)) > 10  # distorted, not copied
    reader = load_model("digits")
    same = reader.classify(made).argmax(1) == reader.classify(images).argmax(1)
    assert same.mean() >= 0.9


def test_decoder_widths_are_checked():
    result = CliRunner().invoke(app, ["train", "--dataset", "mnist", "--decoder-widths", "32"])
    assert result.exit_code == 2 and "two channel counts" in result.output


@pytest.mark.usefixtures("mnist_test")
def test_the_second_reader_trains_as_its_card_says(tmp_path, monkeypatch, fresh_models, mnist_test):
    """--architecture lenet --blurred-share 0: the card records both, and the exported
    classifier reads digits in LiteRT like the first reader."""
    pytest.importorskip("tensorflow")
    out = tmp_path / "reader"
    result = CliRunner().invoke(app, [
        "train", "--task", "classify", "--dataset", "mnist", "--limit", "600", "--epochs", "1",
        "--architecture", "lenet", "--blurred-share", "0", "--name", "reader",
        "--model-id", "252", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "card.json").read_text())
    assert card["architecture"].startswith("LeNet-style") and card["blurred_share"] == 0
    assert set(card["added_training_digits"]) == {"typeset", "printed", "low_resolution",
                                                  "generator"}
    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))
    from codec.runtime import load_model

    probabilities = load_model("reader").classify(mnist_test[:50])
    assert probabilities.shape == (50, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)


@pytest.mark.parametrize("widths", [(64, 32), (32, 16)])
def test_the_phase_form_computes_the_same_decoder(widths):
    """Transposed convolutions rewritten as convolutions and depth-to-space: the same function,
    for any widths and weights (here random ones)."""
    from codec.model import build_decoder, phase_form

    decoder = build_decoder(widths=widths)
    latents = np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32)
    np.testing.assert_allclose(phase_form(decoder).predict(latents, verbose=0),
                               decoder.predict(latents, verbose=0), atol=1e-5)


@pytest.mark.parametrize("name", ["mnist-v3", "mnist-fine", "fashion", "fashion-fine"])
def test_the_shipped_decoders_export_their_keras_originals(name):
    """decoder.tflite (phase form, tools/export_decoders.py) decodes as decoder.keras does."""
    import keras

    from codec.runtime import load_model, training_file

    net = load_model(name)
    original = keras.models.load_model(training_file(net, "decoder.keras"), compile=False)
    latents = np.random.default_rng(1).normal(size=(64, net.card["latent_dim"]))
    np.testing.assert_allclose(net.decode_floats(latents.astype(np.float32)).reshape(64, -1),
                               original.predict(latents, verbose=0).reshape(64, -1), atol=1e-5)


def test_a_smoke_vp8_model_trains_and_codes_colour(tmp_path, monkeypatch, fresh_models):
    """--task vp8: the post-filter and a card with libwebp's quality per level; the folder
    codes and decodes colour at its own size."""
    pytest.importorskip("tensorflow")
    from conftest import _require_dataset

    photos = _require_dataset("cifar")[2]
    out = tmp_path / "vp8"
    result = CliRunner().invoke(app, [
        "train", "--task", "vp8", "--dataset", "cifar", "--limit", "40", "--epochs", "1",
        "--name", "vp8", "--model-id", "253", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "card.json").read_text())
    assert (card["kind"], card["channels"], card["epochs_run"]) == ("vp8", 3, 1)
    assert len(card["webp_qualities"]) == 8 and set(card["fingerprints"]) == {"denoiser.tflite"}
    assert card["fidelity"]["psnr_floor_db"] > 10
    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))
    decoded = codec.decode(codec.encode(photos[0][:20], model="vp8", quality=8))
    assert decoded.shape == (20, 32, 3)
    assert np.abs(decoded.astype(int) - photos[0][:20]).mean() < 8


def test_vp8_is_for_colour_only():
    result = CliRunner().invoke(app, ["train", "--task", "vp8", "--dataset", "mnist"])
    assert result.exit_code == 1 and "--dataset cifar" in result.output


def test_the_shipped_int8_decoder_stays_close_to_its_keras_original():
    """mnist (id 22) decodes in int8: near its float original, within int8's steps."""
    import keras

    from codec.runtime import load_model, training_file

    net = load_model("mnist")
    assert net.card["decoder_export"].startswith("int8")
    table = net.tables[5]  # latents as files carry them: bin centroids near the prior's centre
    latents = table.dequantize(np.random.default_rng(2).integers(-2, 3, (64, 16)) + table.radius)
    original = keras.models.load_model(training_file(net, "decoder.keras"), compile=False)
    difference = np.abs(net.decode_floats(latents) - original.predict(latents, verbose=0)[..., 0])
    assert difference.mean() < 0.005 and difference.max() < 0.12


def test_the_lowres_augmentation_adds_three_times_the_blown_up_digits(mnist_test):
    """`--augment realworld-lowres` (a finer model's candidate, docs/FIDELITY.md) differs from
    realworld only in how many digits it blows up from a few pixels across; realworld itself is
    unchanged, so the shipped models' tables rebuild as they were trained."""
    from codec.train.cvae import _augmented

    images = mnist_test[:400]
    plain, plain_card = _augmented("mnist", images, "realworld", seed=0)
    more, more_card = _augmented("mnist", images, "realworld-lowres", seed=0)
    assert plain_card["typeset_digits"] == more_card["typeset_digits"] == 100
    assert plain_card["printed_dataset_images"] == more_card["printed_dataset_images"] == 60
    assert 30 <= plain_card["low_resolution_images"] <= 40
    assert 90 <= more_card["low_resolution_images"] <= 120
    assert more_card["kind"] == "realworld-lowres"
    added = more_card["low_resolution_images"] - plain_card["low_resolution_images"]
    assert len(more) - len(plain) == added
    np.testing.assert_array_equal(more[:160], plain[:160])  # printed and typeset as before
