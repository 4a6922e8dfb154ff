"""Issue 12: nic behaves like the tools people already use (gzip, cwebp/dwebp, cjxl/djxl, Pillow).

Each test runs the real `nic` command (typer's CliRunner, or a subprocess where a real pipe or a
missing module matters) or the Python API on real files.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import codec
from codec.cli import app
from codec.runtime import installed_models, weights_root
from conftest import REPO

runner = CliRunner()
NIC = Path(sys.executable).parent / "nic"


def nic(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


@pytest.fixture
def digit_png(tmp_path, mnist_test):
    path = tmp_path / "digit.png"
    Image.fromarray(mnist_test[0]).save(path)
    return path


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- pipes ---------------------------------------------------------------------------------


def test_pipes_encode_and_decode_through_stdin_and_stdout(digit_png, tmp_path):
    """`nic encode - < img > x.nic` and `nic decode - < x.nic > out.png`, binary-safe, with
    status lines on stderr only, through a real OS pipe."""
    encoded = subprocess.run([NIC, "encode", "-"], input=digit_png.read_bytes(),
                             capture_output=True, cwd=tmp_path)
    assert encoded.returncode == 0, encoded.stderr
    assert encoded.stdout == codec.encode(digit_png)  # nothing but the file on stdout
    assert b"stdin -> stdout" in encoded.stderr
    decoded = subprocess.run([NIC, "decode", "-", "-o", "-"], input=encoded.stdout,
                             capture_output=True, cwd=tmp_path)
    assert decoded.returncode == 0, decoded.stderr
    with Image.open(io.BytesIO(decoded.stdout)) as image:
        assert image.format == "PNG"
        np.testing.assert_array_equal(np.asarray(image), codec.decode(encoded.stdout))
    assert _listing(tmp_path) == ["digit.png"]  # no file called "-"


def test_pipe_mixed_with_files(digit_png, tmp_path):
    result = nic("encode", digit_png, "-o", "-")
    assert result.exit_code == 0
    assert result.stdout_bytes == codec.encode(digit_png)
    result = nic("decode", "-", "-o", tmp_path / "p.webp", input=codec.encode(digit_png))
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "p.webp") as image:
        assert image.format == "WEBP"
    assert nic("encode", digit_png, digit_png, "-o", "-").exit_code == 2
    assert nic("encode", "-", digit_png).exit_code == 2


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_empty_stdin_is_named_as_empty(command, tmp_path):
    """Nothing piped in is refused as an empty file is, not as an unreadable image."""
    out = tmp_path / ("out.nic" if command == "encode" else "out.png")
    result = subprocess.run([NIC, command, "-", "-o", out], input=b"", capture_output=True)
    assert result.returncode == 1
    assert result.stderr.decode().strip() == "nic: error: stdin is empty"
    assert not out.exists()


# --- -o names a file or a folder ------------------------------------------------------------


def test_output_folder_for_one_file_is_created(digit_png, tmp_path):
    result = nic("encode", digit_png, "-o", f"{tmp_path / 'new' / 'deeper'}/")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new" / "deeper" / "digit.nic").is_file()
    (tmp_path / "existing").mkdir()
    result = nic("decode", tmp_path / "new" / "deeper" / "digit.nic", "-o", tmp_path / "existing")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "existing" / "digit.png").is_file()


def test_several_inputs_with_a_file_output_is_a_usage_error(digit_png, tmp_path):
    other = tmp_path / "other.png"
    shutil.copy(digit_png, other)
    result = nic("encode", digit_png, other, "-o", tmp_path / "single.nic")
    assert result.exit_code == 2 and "name a folder" in result.output
    assert not (tmp_path / "single.nic").exists()  # no folder called single.nic either
    result = nic("encode", digit_png, other, "-o", f"{tmp_path / 'outs'}/")
    assert result.exit_code == 0, result.output
    assert _listing(tmp_path / "outs") == ["digit.nic", "other.nic"]


# --- output formats by extension -----------------------------------------------------------


@pytest.mark.parametrize("name, fmt", [("a.png", "PNG"), ("a.jpg", "JPEG"), ("a.JPEG", "JPEG"),
                                       ("a.webp", "WEBP"), ("a.tif", "TIFF"), ("a.tiff", "TIFF"),
                                       ("a.bmp", "BMP")])
def test_decode_writes_the_format_its_extension_names(digit_png, tmp_path, name, fmt):
    nic("encode", digit_png, "-o", tmp_path / "d.nic")
    result = nic("decode", tmp_path / "d.nic", "-o", tmp_path / name)
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / name) as image:
        assert image.format == fmt and image.size == (28, 28)


def test_unknown_output_extensions_are_usage_errors(digit_png, tmp_path):
    nic("encode", digit_png, "-o", tmp_path / "d.nic")
    result = nic("decode", tmp_path / "d.nic", "-o", tmp_path / "d.gif")
    assert result.exit_code == 2 and ".gif" in result.output
    result = nic("encode", digit_png, "-o", tmp_path / "x.jpg")
    assert result.exit_code == 2 and "encode writes .nic" in result.output
    assert _listing(tmp_path) == ["d.nic", "digit.png"]


# --- never steer the user into overwriting the original ------------------------------------


def test_decode_beside_the_original_asks_for_another_name(tmp_path):
    shutil.copy(REPO / "samples" / "digit_3.png", tmp_path / "d.png")
    original = (tmp_path / "d.png").read_bytes()
    assert nic("encode", tmp_path / "d.png").exit_code == 0
    result = nic("decode", tmp_path / "d.nic")
    assert result.exit_code == 1
    line = result.output.strip()
    assert line == (f"nic: error: {tmp_path / 'd.png'} exists (it may be your original); pick "
                    f"another name with -o, e.g. -o {tmp_path / 'd.decoded.png'}")
    assert "--force" not in result.output
    assert (tmp_path / "d.png").read_bytes() == original
    # following the advice works
    assert nic("decode", tmp_path / "d.nic", "-o", tmp_path / "d.decoded.png").exit_code == 0


# --- version and usage errors --------------------------------------------------------------


def test_version():
    result = nic("--version")
    assert result.exit_code == 0 and result.output.strip() == f"nic {codec.__version__}"


@pytest.mark.parametrize("args", [
    ["-q", "0"], ["-q", "15"], ["-q", "best"], ["--max-error", "-1"], ["--max-error", "200"],
    ["--lossless", "--max-error", "4"], ["-q", "3", "--max-error", "4"], ["-q", "14", "--max-error", "2"],
    ["--model", "no-such-model"],
])
def test_usage_errors_exit_2_and_write_nothing(digit_png, tmp_path, args):
    result = nic("encode", digit_png, "-o", tmp_path / "x.nic", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.nic").exists()


def test_conflicting_options_are_refused_not_resolved(digit_png, tmp_path):
    result = nic("encode", digit_png, "-o", tmp_path / "x.nic", "--lossless", "--max-error", "4")
    assert "--lossless and --max-error 4 ask for different files" in result.output  # as typed
    with pytest.raises(codec.NicError, match="different files"):
        codec.encode(digit_png, quality=3, max_error=4)


# --- optional extras -----------------------------------------------------------------------


@pytest.mark.parametrize("command, module", [("bench", "skimage"), ("train", "tensorflow")])
def test_missing_extra_is_one_line_naming_it(tmp_path, command, module):
    script = (f"import sys; sys.modules[{module!r}] = None; sys.argv = ['nic', {command!r}]; "
              "from codec.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'nic: error: nic {command} needs the {command} extra: in nic\'s project folder, '
        f'pip install ".[{command}]"']
    assert _listing(tmp_path) == []


def test_extras_are_the_ones_pyproject_declares():
    import tomllib

    from codec.cli import DIST, EXTRAS

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["name"] == DIST
    assert set(EXTRAS) <= set(project["optional-dependencies"])


# --- nic models, nic info ------------------------------------------------------------------


def test_models_table_says_task_levels_latent_and_units():
    result = nic("models")
    assert result.exit_code == 0
    table, legend = result.output.split("\n\n")
    header, *lines = table.splitlines()
    for column in ("name", "id", "task", "levels", "latent", "bytes/file", "PSNR dB", "test acc. %"):
        assert column in header
    assert "default level" in legend and "test set" in legend  # what the numbers are
    rows = {line.split()[0]: line for line in lines}
    assert "compress" in rows["mnist"] and " 1-14 " in rows["mnist"] and " 16 " in rows["mnist"]
    assert "2x super-resolution" in rows["mnist-sr2x"] and " 64 " in rows["mnist-sr2x"]
    assert "denoise" in rows["mnist-denoise"] and "classifier" in rows["digits"]
    data = {row["name"]: row for row in json.loads(nic("models", "--json").output)}
    assert data["mnist"]["levels"] == "1-14" and data["mnist"]["latent_size"] == 16
    assert data["cifar"]["levels"] == "1-14"  # 9-14: the colour residual coder (max error, exact)
    digits_card = installed_models()["digits"]
    assert data["mnist"]["task"] == "compress"
    assert data["digits"]["test_accuracy_percent"] == round(100 * digits_card["test_accuracy"], 2)
    assert data["mnist-sr2x"]["task"] == "2x super-resolution"
    # A decoder tuned on quantised latents shows its default level's test PSNR, starred.
    mnist_card = installed_models()["mnist"]
    assert "test_psnr_unquantised_db" not in mnist_card  # id 22: nic train --decoder-only
    assert data["mnist"]["test_psnr_db"] == mnist_card["test"]["psnr_db"]
    assert f"{mnist_card['test']['psnr_db']:.2f}*" in rows["mnist"] and "*:" in legend


def test_info_over_many_files(digit_png, tmp_path, mnist_test):
    folder = tmp_path / "nics"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.nic").write_bytes(codec.encode(mnist_test[i], quality=i + 2))
    (folder / "bad.nic").write_bytes(b"junk")
    result = nic("info", folder, "--json")
    assert result.exit_code == 1  # one bad file
    entries = json.loads(result.stdout)
    assert [Path(e["file"]).name for e in entries] == ["0.nic", "1.nic", "2.nic"]
    assert [e["quality"] for e in entries] == [2, 3, 4]
    assert result.stderr.count("bad.nic") == 1
    result = nic("info", folder / "0.nic", folder / "1.nic")
    assert result.exit_code == 0 and result.output.count("model_id") == 2


# --- your own models, by name --------------------------------------------------------------


def _user_model(root: Path, name: str, model_id: int) -> Path:
    """A model folder as `nic train --out` writes it: the shipped mnist's files, renamed."""
    folder = root / name
    folder.mkdir(parents=True)
    source = weights_root() / "mnist"
    for item in source.iterdir():
        if item.suffix in (".tflite", ".npz"):
            shutil.copy(item, folder / item.name)
    card = json.loads((source / "card.json").read_text())
    card.update(name=name, model_id=model_id)
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_user_model_by_name_from_models_dir(tmp_path, digit_png, fresh_models, monkeypatch):
    monkeypatch.setenv("NIC_MODELS", "")  # restored after the test, whatever the CLI sets
    models = tmp_path / "models"
    _user_model(models, "mine", 200)
    out = tmp_path / "m.nic"
    result = nic("encode", digit_png, "-o", out, "--model", "mine", "--models-dir", models)
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("NIC_MODELS", "")  # the option set it for that command
    # without the folder: one line naming the id and how to point nic at the model
    result = nic("decode", out, "-o", tmp_path / "m.png")
    assert result.exit_code == 1
    assert "model id 200" in result.output and "NIC_MODELS" in result.output
    assert len(result.output.strip().splitlines()) == 1
    # with the folder, by environment variable: decodes, and the shipped models are still there
    monkeypatch.setenv("NIC_MODELS", str(models))
    assert nic("decode", out, "-o", tmp_path / "m.png").exit_code == 0
    rows = {row["name"]: row for row in json.loads(nic("models", "--json").output)}
    assert rows["mine"]["source"] == "user" and rows["mnist"]["source"] == "shipped"
    assert codec.inspect(out)["model"] == "mine"


def test_user_model_with_a_shipped_id_is_refused_clearly(tmp_path, digit_png, fresh_models,
                                                         monkeypatch):
    models = tmp_path / "models"
    mnist_id = installed_models()["mnist"]["model_id"]
    _user_model(models, "clash", mnist_id)
    monkeypatch.setenv("NIC_MODELS", str(models))
    result = nic("encode", digit_png, "-o", tmp_path / "c.nic", "--model", "clash")
    assert result.exit_code == 2
    assert f"model id {mnist_id}," in result.output and "'mnist'" in result.output
    assert "warning" in nic("models").output  # listed as a conflict
    # the shipped model keeps its id: its files still decode with mnist
    data = codec.encode(digit_png, model="mnist")
    assert codec.inspect(data)["model"] == "mnist"


# --- training logs, bench output ------------------------------------------------------------


def test_bench_output_has_no_internal_targets(tmp_path, mnist_test):
    pytest.importorskip("skimage")
    result = nic("bench", "--limit", "20", "--codecs", "nic,jpeg", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "target" not in result.output and "MISSED" not in result.output
    assert "speed against Pillow JPEG" in result.output
    assert "target" not in (tmp_path / "rd.json").read_text()


# --- batches -------------------------------------------------------------------------------


def test_batch_bad_file_is_reported_once_and_clashing_names_before_writing(tmp_path, mnist_test):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(mnist_test[0]).save(folder / "a.png")
    Image.fromarray(mnist_test[1]).save(folder / "a.bmp")
    Image.fromarray(mnist_test[2]).save(folder / "b.png")
    (folder / "broken.png").write_bytes(b"not a png")
    result = nic("encode", folder, "-o", f"{tmp_path / 'out'}/")
    assert result.exit_code == 1
    assert result.output.count("broken.png") == 1
    clash = [line for line in result.output.splitlines() if "a.png" in line]
    assert len(clash) == 1 and "a.bmp" in clash[0] and "exists" not in clash[0]
    assert _listing(tmp_path / "out") == ["a.nic", "b.nic"]
    # a.nic is a.bmp's (the first in order), not overwritten by a.png
    assert (tmp_path / "out" / "a.nic").read_bytes() == codec.encode(folder / "a.bmp")


def test_batch_api_collects_per_item_errors(tmp_path, mnist_test):
    good = codec.encode(mnist_test[0])
    results = codec.decode_batch([good, b"junk", good[:-1]], errors="collect")
    assert isinstance(results[0], np.ndarray) and results[0].shape == (28, 28)
    assert isinstance(results[1], codec.NicFormatError)
    assert isinstance(results[2], codec.NicFormatError)
    with pytest.raises(codec.NicFormatError):
        codec.decode_batch([good, b"junk"])
    (tmp_path / "bad.png").write_bytes(b"no")
    files = codec.encode_batch([mnist_test[0], tmp_path / "bad.png", mnist_test[1]],
                               errors="collect")
    assert files[0] == good and isinstance(files[1], codec.NicInputError)
    assert files[2] == codec.encode(mnist_test[1])
    with pytest.raises(codec.NicError, match="errors"):
        codec.decode_batch([good], errors="ignore")


# --- one size limit; the original size comes back ------------------------------------------


def test_large_image_decodes_at_its_original_size(tmp_path):
    image = Image.new("L", (3000, 2000), 255)
    image.paste(0, (1300, 600, 1700, 1400))  # a dark bar on white paper
    image.save(tmp_path / "big.png")
    result = nic("encode", tmp_path / "big.png", "-o", tmp_path / "big.nic")
    assert result.exit_code == 0, result.output
    assert nic("decode", tmp_path / "big.nic", "-o", tmp_path / "back.png").exit_code == 0
    with Image.open(tmp_path / "back.png") as back:
        assert back.size == (3000, 2000)
        pixels = np.asarray(back)
    assert pixels[1000, 1500] < 128 < pixels[100, 100]  # the bar where it was, on paper


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG claiming a size, with no pixel data: enough for Pillow to read the size."""
    def chunk(kind, data):
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.mark.parametrize("width, height", [(5000, 4000), (9500, 9500), (20000, 20000),
                                           (10000, 100)])
def test_one_size_limit_quoted_everywhere(tmp_path, width, height):
    _png_header_only(tmp_path / "huge.png", width, height)
    result = nic("encode", tmp_path / "huge.png", "-o", tmp_path / "huge.nic")
    assert result.exit_code == 1
    assert "over nic's limit of 16,777,216 pixels (4096x4096) and 8,192 a side" in result.output
    assert len(result.output.strip().splitlines()) == 1


# --- Pillow --------------------------------------------------------------------------------


def test_pillow_save_honours_lossless_max_error_and_strict(tmp_path, mnist_test):
    image = Image.fromarray(mnist_test[3])
    image.save(tmp_path / "l.nic", lossless=True)
    with Image.open(tmp_path / "l.nic") as back:
        np.testing.assert_array_equal(np.asarray(back), mnist_test[3])
    image.save(tmp_path / "k.nic", max_error=4)
    assert codec.inspect(tmp_path / "k.nic")["max_error"] == 4
    with pytest.raises(codec.NicError, match="different files"):
        image.save(tmp_path / "x.nic", lossless=True, max_error=4)
    from codec.api import encode_detailed

    unfaithful = next(i for i in range(200)
                      if encode_detailed([mnist_test[i]], quality=1)[0].warnings)
    with pytest.raises(codec.errors.NicFidelityError):
        Image.fromarray(mnist_test[unfaithful]).save(tmp_path / "s.nic", quality=1, strict=True)
    assert not (tmp_path / "s.nic").exists() or (tmp_path / "s.nic").stat().st_size == 0


def test_api_takes_paths_and_file_objects(digit_png):
    data = codec.encode(digit_png)
    with open(digit_png, "rb") as handle:
        assert codec.encode(handle) == data
    assert codec.encode(str(digit_png)) == data
    assert codec.decode(io.BytesIO(data)).shape == (28, 28)


# --- the runtime install -------------------------------------------------------------------


def test_runtime_works_without_the_training_files(tmp_path, monkeypatch, fresh_models,
                                                  mnist_test):
    """What the wheel ships (no *.keras, no training.png) encodes, decodes and passes the
    fingerprint check, although each card also fingerprints the .keras files."""
    for item in weights_root().iterdir():
        shutil.copytree(item, tmp_path / item.name, ignore=shutil.ignore_patterns(
            "*.keras", "training.png"))
    monkeypatch.setenv("NIC_WEIGHTS", str(tmp_path))
    data = codec.encode(mnist_test[0])
    assert codec.decode(data).shape == (28, 28)
    assert codec.decode(codec.encode(mnist_test[0], lossless=True)).tolist() == mnist_test[0].tolist()


def test_wheel_leaves_training_files_out():
    import tomllib

    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"]["wheel"]
    assert "*.keras" in wheel["exclude"] and wheel["sources"] == {"weights": "codec/weights"}
    assert "force-include" not in wheel  # hatch's force-include ignores exclude


@pytest.mark.usefixtures("mnist_test")  # the data must be there
def test_training_is_quiet_and_its_model_is_usable_by_name(tmp_path):
    """A real `nic train` process: no TensorFlow start-up logging on stderr, Keras's progress
    kept; the model gets a free id for your own models and works from NIC_MODELS."""
    pytest.importorskip("tensorflow")
    env = {**os.environ, "NIC_MODELS": ""}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [NIC, "train", "--limit", "300", "--epochs", "1", "--name", "tiny",
         "--out", tmp_path / "models" / "tiny"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # was ~25 lines: oneDNN, CUDA probing, absl's preamble
    assert "loss" in result.stdout  # Keras's progress line
    card = json.loads((tmp_path / "models" / "tiny" / "card.json").read_text())
    assert 128 <= card["model_id"] <= 255
    env["NIC_MODELS"] = str(tmp_path / "models")
    sample = REPO / "samples" / "digit_3.png"
    coded = subprocess.run([NIC, "encode", sample, "-o", tmp_path / "t.nic", "--model", "tiny",
                            "-q", "5"], capture_output=True, text=True, env=env)
    assert coded.returncode == 0, coded.stderr
    assert subprocess.run([NIC, "decode", tmp_path / "t.nic", "-o", tmp_path / "t.png"],
                          env=env).returncode == 0


def test_help_states_the_conventions():
    text = " ".join(nic("--help").output.replace("│", " ").split())
    for phrase in ("- reads stdin or writes stdout", "a folder when it ends in /",
                   "chosen by the output's extension", "never overwrites a file without --force",
                   "NIC_MODELS or --models-dir", 'pip install ".[bench]"', "16,777,216 pixels",
                   "2 usage error"):
        assert phrase in text, phrase
    readme = " ".join((REPO / "README.md").read_text().split())
    for phrase in ("`-` is stdin as an input and stdout as an output", "a folder when it ends in `/`",
                   "pick another name with -o, e.g. -o d.decoded.png", "`NIC_MODELS`",
                   'pip install ".[bench]"', "16,777,216 pixels", 'errors="collect"',
                   "`nic --version`"):
        assert phrase in readme, phrase


@pytest.mark.parametrize("args", [["encode", "samples/digit_3.png", "-q", "42"], ["encode"],
                                  ["frob"], ["bench", "--dataset", "foo"]])
def test_usage_errors_from_the_parser_are_one_line_exit_2(args):
    result = subprocess.run([str(NIC), *args], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nic: error: "), result.stderr
