"""codec.files by contract: real files in tmp_path; a refused write changes nothing on disk."""

import os
import stat

import pytest

from codec.errors import NicError
from codec.files import check_writable, output_path_for, write_atomic

_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_atomic_creates_the_file(tmp_path):
    target = tmp_path / "out.nic"
    write_atomic(target, b"\x00nic data")
    assert target.read_bytes() == b"\x00nic data"
    assert _listing(tmp_path) == ["out.nic"]  # no temporary file left behind


def test_write_atomic_accepts_str_paths_and_empty_data(tmp_path):
    write_atomic(str(tmp_path / "empty.bin"), b"")
    assert (tmp_path / "empty.bin").read_bytes() == b""


def test_existing_file_is_refused_without_force(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"precious")
    with pytest.raises(NicError, match="exists; pick another name with -o") as caught:
        write_atomic(target, b"new")
    assert "--force" not in str(caught.value)
    assert target.read_bytes() == b"precious"
    assert _listing(tmp_path) == ["a.png"]


def test_dangling_symlink_is_refused_without_force(tmp_path):
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(NicError, match="exists"):
        write_atomic(link, b"new")
    assert not (tmp_path / "nowhere.png").exists()


def test_force_overwrites(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    write_atomic(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    assert _listing(tmp_path) == ["a.png"]


def test_missing_folder_is_refused_and_nothing_is_created(tmp_path):
    target = tmp_path / "no" / "such" / "out.png"
    with pytest.raises(NicError, match="does not exist") as caught:
        write_atomic(target, b"data")
    assert str(target) in str(caught.value)
    assert _listing(tmp_path) == []


def test_parent_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NicError, match="is not a folder"):
        write_atomic(tmp_path / "file" / "out.png", b"data")


def test_data_that_is_not_bytes_leaves_no_temporary_file(tmp_path):
    with pytest.raises(TypeError):
        write_atomic(tmp_path / "new.png", "not bytes")
    assert _listing(tmp_path) == []


def test_failed_forced_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.png"
    target.write_bytes(b"precious")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes", force=True)
    assert target.read_bytes() == b"precious"
    assert _listing(tmp_path) == ["a.png"]


@pytest.mark.parametrize("force", [False, True])
def test_directory_target_is_refused(tmp_path, force):
    folder = tmp_path / "dir"
    folder.mkdir()
    with pytest.raises(NicError, match="is a directory"):
        write_atomic(folder, b"data", force=force)
    with pytest.raises(NicError, match="is a directory"):
        check_writable(folder, force=force)
    assert folder.is_dir() and _listing(folder) == []


def test_new_file_mode_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.png", b"x")
    finally:
        os.umask(old)
    write_atomic(tmp_path / "b.png", b"x")
    assert stat.S_IMODE((tmp_path / "a.png").stat().st_mode) == 0o640
    mode = stat.S_IMODE((tmp_path / "b.png").stat().st_mode)
    assert mode == 0o644 & ~old and mode != 0o600


@pytest.mark.skipif(_ROOT, reason="root ignores folder permissions")
def test_permission_denied_is_a_one_line_nic_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(NicError, match="cannot write .*out.png"):
            write_atomic(folder / "out.png", b"data")
    finally:
        folder.chmod(0o700)
    assert _listing(folder) == []


def test_check_writable_accepts_a_new_file_and_writes_nothing(tmp_path):
    check_writable(tmp_path / "new.png", inputs=[tmp_path / "in.nic"])
    assert _listing(tmp_path) == []


def test_check_writable_refuses_like_write_atomic(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(NicError, match="exists; pick another name"):
        check_writable(tmp_path / "a.png")
    check_writable(tmp_path / "a.png", force=True)
    with pytest.raises(NicError, match="does not exist"):
        check_writable(tmp_path / "missing" / "a.png", force=True)


def test_check_writable_refuses_the_input_even_with_force(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(b"input")
    (tmp_path / "sub").mkdir()
    alias = tmp_path / "sub" / ".." / "in.png"
    link = tmp_path / "hard.png"
    os.link(source, link)
    for output in (source, str(source), alias, link):
        with pytest.raises(NicError, match=f"refusing to overwrite the input {source}"):
            check_writable(output, force=True, inputs=[source])
    assert source.read_bytes() == b"input"


def test_check_writable_refuses_a_missing_input_named_twice(tmp_path):
    """Even before the input exists (a race, a typo), the same path is the same file."""
    path = tmp_path / "x.png"
    with pytest.raises(NicError, match="refusing to overwrite the input"):
        check_writable(tmp_path / "." / "x.png", force=True, inputs=[path])


@pytest.mark.parametrize(
    "source, suffix, expected",
    [
        ("a.nic", ".png", "a.png"),
        ("a.nic", "png", "a.png"),
        ("dir/b.c.png", ".nic", "dir/b.c.nic"),
        ("noext", ".nic", "noext.nic"),
    ],
)
def test_output_path_for_sits_beside_the_input(tmp_path, source, suffix, expected):
    assert output_path_for(tmp_path / source, suffix) == tmp_path / expected
    assert output_path_for(source, suffix).as_posix() == expected


def test_system_errors_become_one_line_nic_errors(tmp_path):
    """A name too long for the file system fails in the OS even for root, like a full disk."""
    target = tmp_path / ("n" * 300 + ".png")
    with pytest.raises(NicError, match="cannot write") as caught:
        write_atomic(target, b"data")
    assert "\n" not in str(caught.value)
    assert _listing(tmp_path) == []
