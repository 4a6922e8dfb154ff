"""Archives and both cores, by contract: real models, real MNIST images, the real `nic` command.

An archive item is exactly the .nic file encode writes; one damaged record costs that item only;
a pool of workers gives the same bytes and pixels as one process.
"""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import codec
from codec import parallel
from codec.data import load_dataset
from codec.archive import pack_archive
from codec.cli import app
from codec.errors import NicFormatError

runner = CliRunner()
NIC = Path(sys.executable).parent / "nic"


def nic(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def coded(mnist_test):
    """300 MNIST test images, their .nic files (default settings) and labels."""
    images = mnist_test[:300]
    labels = np.arange(300, dtype=np.uint8) % 10
    return images, codec.encode_batch(images, jobs=1), labels


@pytest.fixture
def archive_path(tmp_path, coded):
    images, _, labels = coded
    path = tmp_path / "set.nicpack"
    codec.write_archive(images, path, labels=labels, jobs=1)
    return path


def test_items_are_the_files_encode_writes(archive_path, coded):
    images, files, labels = coded
    archive = codec.open_archive(archive_path)
    assert len(archive) == 300
    assert [archive.nic_file(i) for i in range(300)] == files
    expected = codec.decode_batch(files)
    assert np.array_equal(archive[0], expected[0]) and np.array_equal(archive[-1], expected[-1])
    assert all(np.array_equal(a, b) for a, b in zip(archive, expected))
    assert np.array_equal(archive.images(), np.stack(expected))
    assert np.array_equal(archive.labels, labels)
    # The archive drops each file's magic and shared fields: smaller than the files.
    assert archive_path.stat().st_size < sum(map(len, files))


def test_slices_are_archives_over_those_items(archive_path, coded):
    _, files, labels = coded
    archive = codec.open_archive(archive_path)
    part = archive[10:40:3]
    assert len(part) == len(range(10, 40, 3))
    assert np.array_equal(part.labels, labels[10:40:3])
    assert part.nic_file(-1) == files[37]
    assert np.array_equal(archive[::-1][0], archive[-1])
    with pytest.raises(IndexError):
        archive[300]
    # Pickled (as a PyTorch DataLoader does for its workers), it reopens by path.
    again = pickle.loads(pickle.dumps(part))
    assert again.nic_file(0) == files[10] and np.array_equal(again.labels, part.labels)


def test_a_damaged_record_costs_that_item_only(archive_path, coded, tmp_path):
    _, files, _ = coded
    archive = codec.open_archive(archive_path)
    start = int(archive._layout.offsets[7])
    data = bytearray(archive_path.read_bytes())
    data[start + 1] ^= 0x10
    damaged = tmp_path / "damaged.nicpack"
    damaged.write_bytes(bytes(data))
    archive = codec.open_archive(damaged)
    with pytest.raises(NicFormatError, match=r"item 7: integrity check failed"):
        archive[7]
    assert archive.nic_file(6) == files[6] and archive.nic_file(8) == files[8]
    images = archive.images(errors="collect")
    assert [i for i, x in enumerate(images) if isinstance(x, NicFormatError)] == [7]
    result = nic("unpack", damaged, "-o", tmp_path / "out")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("nic: error")]
    assert len(errors) == 1 and "item 7" in errors[0]
    assert len(list((tmp_path / "out").glob("*.png"))) == 299


@pytest.mark.parametrize("damage, message", [
    (lambda d: b"\x89N" + d[2:], "not a .nicpack archive"),
    (lambda d: d[:6] + bytes([d[6] ^ 1]) + d[7:], "header"),
    (lambda d: d[:-1], "truncated archive"),
    (lambda d: d + b"\x00", "trailing data"),
])
def test_a_damaged_header_or_length_is_refused(archive_path, tmp_path, damage, message):
    bad = tmp_path / "bad.nicpack"
    bad.write_bytes(damage(archive_path.read_bytes()))
    with pytest.raises(NicFormatError, match=message):
        codec.open_archive(bad)


def test_archive_and_nic_files_are_never_confused(archive_path, coded, tmp_path):
    with pytest.raises(NicFormatError, match="not a .nic file"):
        codec.decode(archive_path.read_bytes())
    (tmp_path / "one.nic").write_bytes(coded[1][0])
    with pytest.raises(NicFormatError, match="not a .nicpack archive"):
        codec.open_archive(tmp_path / "one.nic")


def test_lossless_pack_and_unpack_are_bit_exact_with_labels(tmp_path, mnist_test):
    source = tmp_path / "digits.npz"
    np.savez(source, x_test=mnist_test[:200], y_test=np.arange(200) % 10, x_train=mnist_test[:5])
    result = nic("pack", source, "--lossless")
    assert result.exit_code == 2 and "--array" in result.output  # two image arrays: pick one
    assert nic("pack", source, "--array", "x_test", "--lossless", "-o",
               tmp_path / "d.nicpack").exit_code == 0
    assert nic("unpack", tmp_path / "d.nicpack", "-o", tmp_path / "back.npz").exit_code == 0
    back = np.load(tmp_path / "back.npz")
    assert np.array_equal(back["x"], mnist_test[:200])
    assert np.array_equal(back["y"], np.arange(200) % 10) and back["y"].dtype == np.int64


def test_a_folder_of_grey_and_colour_images_comes_back_as_pngs(tmp_path, mnist_test):
    """pack and unpack, and batch decode, write each image in its own mode: grey stays L,
    colour stays RGB, every pixel back (lossless)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    rgb = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    Image.fromarray(mnist_test[0]).save(folder / "grey.png")
    Image.fromarray(rgb).save(folder / "colour.png")
    assert nic("pack", folder, "--lossless", "-o", tmp_path / "m.nicpack").exit_code == 0
    result = nic("unpack", tmp_path / "m.nicpack", "-o", f"{tmp_path / 'back'}/")
    assert result.exit_code == 0, result.output
    assert nic("encode", folder / "colour.png", folder / "grey.png", "--lossless",
               "-o", f"{tmp_path / 'files'}/").exit_code == 0
    assert nic("decode", *sorted((tmp_path / "files").glob("*.nic")),
               "-o", f"{tmp_path / 'decoded'}/").exit_code == 0
    for out in ("back", "decoded"):
        with Image.open(tmp_path / out / "colour.png") as image:
            assert image.mode == "RGB" and np.array_equal(np.asarray(image), rgb)
        with Image.open(tmp_path / out / "grey.png") as image:
            assert image.mode == "L" and np.array_equal(np.asarray(image), mnist_test[0])


def test_pack_a_folder_keeps_names_and_never_overwrites(tmp_path, mnist_test):
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(mnist_test[i]).save(folder / f"d{i}.png")
    assert nic("pack", folder).exit_code == 0  # beside it, named after it
    archive = tmp_path / "digits.nicpack"
    before = archive.read_bytes()
    again = nic("pack", folder, "-q", "3")
    assert again.exit_code == 1 and archive.read_bytes() == before
    again = nic("unpack", archive)  # into digits/, where the originals are: refused
    assert again.exit_code == 1 and "exists (and 4 more)" in again.output
    folder.rename(tmp_path / "originals")
    assert nic("unpack", archive).exit_code == 0
    assert sorted(p.name for p in folder.glob("*.png")) == [f"d{i}.png" for i in range(5)]
    assert codec.open_archive(archive).names == [f"d{i}.png" for i in range(5)]


def test_pack_of_nothing_readable_writes_nothing(tmp_path, monkeypatch):
    (tmp_path / "x.png").write_text("not an image")
    result = nic("pack", tmp_path / "x.png", "-o", tmp_path / "x.nicpack")
    assert result.exit_code == 1 and not (tmp_path / "x.nicpack").exists()
    assert result.output.count("nic: error:") == 1  # the image's own line says why
    (tmp_path / "bad").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "bad" / name).write_text("junk")
    result = nic("pack", tmp_path / "bad")
    assert result.exit_code == 1 and "nothing written" in result.output
    assert not (tmp_path / "bad.nicpack").exists()


def test_items_that_would_share_a_png_name_each_get_their_own(tmp_path, mnist_test):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(mnist_test[0]).save(folder / "a.png")
    Image.fromarray(mnist_test[1]).save(folder / "a.jpg", quality=95)
    assert nic("pack", folder, "--lossless").exit_code == 0
    result = nic("unpack", tmp_path / "mixed.nicpack", "-o", f"{tmp_path / 'out'}/")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg.png", "a.png"]
    back = np.asarray(Image.open(tmp_path / "out" / "a.png"))
    assert np.array_equal(back, mnist_test[0])


def test_same_names_and_names_differing_in_case_unpack_apart(tmp_path, mnist_test):
    first, second = tmp_path / "d1", tmp_path / "d2"
    for folder, name in ((first, "a.png"), (second, "a.png"), (second, "A.PNG")):
        folder.mkdir(exist_ok=True)
        Image.fromarray(mnist_test[len(list(tmp_path.rglob("*.*")))]).save(folder / name)
    archive = tmp_path / "two.nicpack"
    assert nic("pack", first, second, "-o", archive, "--lossless").exit_code == 0
    assert nic("unpack", archive, "-o", f"{tmp_path / 'out'}/").exit_code == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 3 and len({n.casefold() for n in names}) == 3, names


def test_packing_an_empty_array_says_so(tmp_path):
    np.save(tmp_path / "none.npy", np.zeros((0, 28, 28), np.uint8))
    result = nic("pack", tmp_path / "none.npy", "-o", tmp_path / "none.nicpack")
    assert result.exit_code == 1 and "holds no images" in result.output
    assert not (tmp_path / "none.nicpack").exists()


def test_pack_dot_is_named_after_the_folder(tmp_path, mnist_test, monkeypatch):
    folder = tmp_path / "digits"
    folder.mkdir()
    Image.fromarray(mnist_test[0]).save(folder / "d.png")
    monkeypatch.chdir(folder)
    assert nic("pack", ".").exit_code == 0
    assert (tmp_path / "digits.nicpack").exists() and not (folder / ".nicpack").exists()


def test_names_cannot_write_outside_the_folder(tmp_path, coded):
    path = tmp_path / "evil.nicpack"
    path.write_bytes(pack_archive(coded[1][:2], names=["../../escape.png", "/etc/x.png"]))
    assert nic("unpack", path, "-o", tmp_path / "out").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["escape.png", "x.png"]
    assert not (tmp_path.parent / "escape.png").exists()


def test_two_workers_give_the_same_bytes_and_pixels_as_one(mnist_test):
    images = mnist_test[: parallel.MIN_PARALLEL + 76]
    assert parallel.workers_for(len(images), 2) == 2
    one = codec.encode_batch(images, jobs=1)
    two = codec.encode_batch(images, jobs=2)
    assert one == two
    assert all(np.array_equal(a, b) for a, b in
               zip(codec.decode_batch(one, jobs=1), codec.decode_batch(one, jobs=2)))


def test_small_batches_and_workers_start_no_pool():
    assert parallel.workers_for(1, None) == 1
    assert parallel.workers_for(parallel.MIN_PARALLEL - 1, 8) == 1
    assert parallel.workers_for(10**6, 1) == 1
    with pytest.raises(codec.NicError, match="jobs"):
        parallel.resolve_jobs(0)


def test_pool_works_from_a_script_without_a_main_guard(tmp_path, mnist_test):
    np.save(tmp_path / "x.npy", mnist_test[: parallel.MIN_PARALLEL])
    script = tmp_path / "plain.py"
    script.write_text("import numpy as np, codec\n"
                      "x = np.load('x.npy')\n"
                      "print(len(codec.encode_batch(x, jobs=2)))\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(parallel.MIN_PARALLEL)]


def test_cli_jobs_is_checked():
    result = nic("encode", "x.png", "--jobs", "0")
    assert result.exit_code == 2


def test_readme_archive_example_runs(tmp_path, mnist_test, monkeypatch):
    import re

    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "open_archive" in b)
    monkeypatch.chdir(tmp_path)
    names = {"x": mnist_test[:40], "y": np.arange(40) % 10}
    exec(block, names)
    assert np.array_equal(names["images"], codec.decode_batch(codec.encode_batch(mnist_test[:40])))
    assert len(names["part"]) == 0 and names["archive"].labels.tolist() == names["y"].tolist()


def test_lossless_grey_and_colour_items_of_any_version_come_back_exactly(tmp_path):
    from codec import open_archive, write_archive

    mnist = load_dataset("mnist")[2][:6]
    colour = load_dataset("cifar")[2][:3]
    path = tmp_path / "mixed.nicpack"
    grey_items = list(mnist) + [np.tile(mnist[0], (2, 3))]  # 28x28 (guided) and 56x84 (adaptive)
    write_archive(grey_items + list(colour), path, lossless=True)
    archive = open_archive(path)
    versions = {codec.inspect(archive.nic_file(i))["format_version"] for i in range(len(archive))}
    assert versions >= {3, 4}
    for i, image in enumerate(grey_items + list(colour)):
        assert np.array_equal(archive[i], image)
