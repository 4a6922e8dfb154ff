"""Contract of the `nic` command: outputs, refusals, exit codes, one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from codec.cli import app

runner = CliRunner()


@pytest.fixture
def digit_png(tmp_path, mnist_test):
    path = tmp_path / "digit.png"
    Image.fromarray(mnist_test[0]).save(path)
    return path


def nic(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_encode_then_decode_beside_the_input(digit_png, tmp_path):
    result = nic("encode", digit_png, "-o", tmp_path / "d.nic")
    assert result.exit_code == 0, result.output
    result = nic("decode", tmp_path / "d.nic")
    assert result.exit_code == 0, result.output
    decoded = np.asarray(Image.open(tmp_path / "d.png"))
    assert decoded.shape == (28, 28) and decoded.dtype == np.uint8


def test_decode_names_a_bad_input_before_its_output(digit_png, tmp_path):
    """An image or a damaged file given to decode is named as such, not as an output clash
    (decoding x.png would write x.png; a damaged x.nic beside its x.png)."""
    result = nic("decode", digit_png)
    assert result.exit_code == 1 and "not a .nic file" in result.output, result.output
    damaged = tmp_path / "digit.nic"
    damaged.write_bytes(b"not nic at all")
    result = nic("decode", damaged)
    assert result.exit_code == 1 and "digit.nic: not a .nic file" in result.output, result.output


def test_default_output_name_and_no_overwrite_without_force(digit_png, tmp_path):
    assert nic("encode", digit_png).exit_code == 0
    nic_file = tmp_path / "digit.nic"
    before = nic_file.read_bytes()
    result = nic("encode", digit_png, "-q", "1")
    assert result.exit_code == 1 and "pick another name with -o" in result.output
    assert "--force" not in result.output  # never steer the user into overwriting
    assert nic_file.read_bytes() == before
    assert nic("encode", digit_png, "-q", "1", "--force").exit_code == 0
    # decoding beside digit.nic would hit the original digit.png: refused, original intact,
    # and the message names another name to use, not --force
    original = digit_png.read_bytes()
    result = nic("decode", nic_file)
    assert result.exit_code == 1
    assert f"{digit_png} exists (it may be your original); pick another name with -o, e.g. " \
        f"-o {tmp_path / 'digit.decoded.png'}" in result.output
    assert "--force" not in result.output
    assert digit_png.read_bytes() == original
    assert nic("decode", nic_file, "-o", tmp_path / "digit.decoded.png").exit_code == 0


def test_info_json(digit_png, tmp_path):
    nic("encode", digit_png, "-o", tmp_path / "d.nic", "-q", "3")
    result = nic("info", tmp_path / "d.nic", "--json")
    details = json.loads(result.output)
    assert details["model"] == "mnist" and details["quality"] == 3
    assert details["file_bytes"] == (tmp_path / "d.nic").stat().st_size


def test_info_text_shows_unused_fields_as_a_dash_not_none(digit_png, tmp_path):
    nic("encode", digit_png, "-o", tmp_path / "d.nic", "-q", "3")
    result = nic("info", tmp_path / "d.nic")
    assert result.exit_code == 0 and "None" not in result.output
    assert any(line.split() == ["max_error", "-"] for line in result.output.splitlines())


def test_info_text_says_what_placement_and_levels_mean(tmp_path):
    paper_digit = Path(__file__).parent.parent / "samples" / "paper_7.jpg"
    nic("encode", paper_digit, "-o", tmp_path / "p.nic")
    details = json.loads(nic("info", tmp_path / "p.nic", "--json").output)
    left, top, side = details["placement"]
    paper, ink = details["levels"]
    lines = dict(line.split(None, 1) for line in nic("info", tmp_path / "p.nic").output.splitlines())
    assert lines["placement"] == (f"the model's field is the {side}x{side} square at left {left}, "
                                  f"top {top} of the image")
    assert lines["levels"].startswith(f"paper grey {paper}, ink grey {ink} ")


@pytest.mark.parametrize("content", [b"", b"hello", b"\x89N" + bytes(20)])
def test_garbage_nic_is_one_line_and_leaves_no_output(tmp_path, content):
    bad = tmp_path / "bad.nic"
    bad.write_bytes(content)
    result = nic("decode", bad)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not (tmp_path / "bad.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.nic"]


def test_missing_input_and_bad_quality(tmp_path, digit_png):
    assert nic("encode", tmp_path / "nope.png").exit_code == 1
    assert nic("decode", tmp_path / "nope.nic").exit_code == 1
    result = nic("encode", digit_png, "-q", "42")
    assert result.exit_code == 2 and "quality" in result.output


def test_usage_error_exits_2():
    assert nic("encode").exit_code == 2
    assert nic("no-such-verb").exit_code == 2


def test_folder_batch_keeps_going_past_a_bad_file(tmp_path, mnist_test):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(40):
        Image.fromarray(mnist_test[i]).save(folder / f"{i:03}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    result = nic("encode", folder, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "broken.png" in result.output
    written = sorted((tmp_path / "out").glob("*.nic"))
    assert len(written) == 40
    bytes_in = sum(p.stat().st_size for p in folder.glob("0*.png"))
    bytes_out = sum(p.stat().st_size for p in written)
    # the broken file is counted among those given, its bytes are not
    assert f"40 of 41 files, {bytes_in:,} bytes in, {bytes_out:,} bytes out" in result.output

    assert f"bytes out, ratio {bytes_in / bytes_out:.3g}:1" in result.output

    result = nic("decode", tmp_path / "out", "-o", tmp_path / "png")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "png").glob("*.png"))) == 40
    assert "ratio" not in result.output  # PNGs are larger than their files: no ratio to show
    # a second run refuses to overwrite, file by file, and says so
    again = nic("decode", tmp_path / "out", "-o", tmp_path / "png")
    assert again.exit_code == 1 and "pick another output folder with -o" in again.output
    assert "--force" not in again.output


def test_models_lists_the_shipped_model():
    result = nic("models", "--json")
    assert result.exit_code == 0
    assert "mnist" in {row["name"] for row in json.loads(result.output)}


def test_lossless_and_max_error_options(digit_png, tmp_path, mnist_test):
    assert nic("encode", digit_png, "-o", tmp_path / "l.nic", "--lossless").exit_code == 0
    assert nic("decode", tmp_path / "l.nic", "-o", tmp_path / "l.png").exit_code == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "l.png")), mnist_test[0])
    assert nic("encode", digit_png, "-o", tmp_path / "k.nic", "--max-error", "4").exit_code == 0
    info = json.loads(nic("info", tmp_path / "k.nic", "--json").output)
    assert info["mode"] == "near-lossless" and info["max_error"] == 4


def test_empty_folder_is_an_error_and_creates_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    result = nic("encode", tmp_path / "empty", "-o", tmp_path / "out")
    assert result.exit_code == 1 and "no input files" in result.output
    assert not (tmp_path / "out").exists()


def test_info_of_one_damaged_file_names_it(digit_png, tmp_path):
    nic("encode", digit_png, "-o", tmp_path / "d.nic")
    cut = tmp_path / "cut.nic"
    cut.write_bytes((tmp_path / "d.nic").read_bytes()[:-3])
    result = nic("info", cut)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith(f"nic: error: {cut}: ")


def test_an_unreadable_input_is_named_once(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    result = nic("encode", text, "-o", tmp_path / "n.nic")
    assert result.exit_code == 1
    assert result.output.count(str(text)) == 1, result.output


@pytest.mark.parametrize("model, what", [("cifar-denoise", "a denoising filter, not a codec"),
                                         ("digits", "a classifier, not a codec")])
def test_encoding_with_a_model_that_writes_no_files_says_what_it_is(digit_png, tmp_path, model,
                                                                    what):
    result = nic("encode", digit_png, "--model", model, "-o", tmp_path / "x.nic")
    assert result.exit_code == 2 and what in result.output, result.output
    assert not (tmp_path / "x.nic").exists()


def test_a_large_ratio_is_written_out_not_in_exponent_form():
    from codec.batch import Summary

    assert Summary(files=1, bytes_in=47_900, bytes_out=14).line().endswith("ratio 3,421:1")
    assert Summary(files=1, bytes_in=300, bytes_out=14).line().endswith("ratio 21.4:1")


def test_a_file_in_the_way_of_an_output_folder_is_one_clear_line(tmp_path, digit_png):
    (tmp_path / "in").mkdir()
    digit_png.rename(tmp_path / "in" / "d.png")
    (tmp_path / "taken").write_text("mine")
    result = nic("encode", tmp_path / "in", "-o", f"{tmp_path / 'taken'}/")
    assert result.exit_code == 1 and (tmp_path / "taken").read_text() == "mine"
    assert result.output.strip() == (f"nic: error: {tmp_path / 'taken'}: a file is in the way of "
                                     "this output folder: name another with -o")


def test_an_archive_given_where_a_nic_file_belongs_is_named(tmp_path, digit_png):
    archive = tmp_path / "set.nicpack"
    assert nic("pack", digit_png, "-o", archive).exit_code == 0
    for command in ("info", "decode"):
        result = nic(command, archive)
        assert result.exit_code == 1 and "a .nicpack archive: nic unpack" in result.output
