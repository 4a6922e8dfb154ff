"""Writing output files without ever losing or corrupting a user's file.

Every file nic writes goes to a temporary file in the target's folder, is flushed to disk, and
only then takes the target's name in one atomic step: a crash or a full disk leaves either the
old file or the new one, never half of either. Without ``force`` the final step is a hard link,
which fails if the name appeared meanwhile, so even a race cannot overwrite a file.
"""

import os
import tempfile
from pathlib import Path

from .errors import NicError, NicExistsError, NicUsageError

__all__ = ["read_input", "write_atomic", "check_writable", "output_path_for", "names_folder",
           "IMAGE_FORMATS", "image_format", "image_bytes", "free_name"]

# What `nic decode` writes, chosen by the output's extension (all through Pillow).
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"lossless": True}}

# Group and others may read what nic writes, as with any new file; the umask may take more away.
_FILE_MODE = 0o644


def read_input(path) -> bytes:
    """The bytes of an input file, or NicError with one line (missing, a folder, unreadable)."""
    path = Path(path)
    if path.is_dir():
        raise NicError(f"{path} is a directory")
    if not path.exists():
        raise NicError(f"no such file: {path}")
    try:
        return path.read_bytes()
    except OSError as error:
        raise NicError(f"cannot read {path}: {error.strerror}") from None


def write_atomic(path, data: bytes, *, force: bool = False) -> None:
    """Write data to path atomically.

    Args:
        path: str or Path of the file to write; its folder must exist.
        data: the bytes to write.
        force: replace an existing file (never a directory).

    Raises:
        NicError: the file exists (without force), is a directory, its folder is missing, or the
            system refuses (permissions, disk full); the message names the file.
    """
    path = Path(path)
    try:
        _check_target(path, force)
        temp = _write_temp(path, data)
        try:
            _commit(temp, path, force)
        finally:
            _remove(temp)  # after a link or a failure; os.replace has already consumed it
        _sync_folder(path.parent)
    except OSError as error:
        raise NicError(f"cannot write {path}: {error.strerror or error}") from None


def check_writable(path, *, force: bool = False, inputs=()) -> None:
    """Refuse now, before any work, an output that write_atomic would refuse later.

    Also refuses an output that is one of the inputs, even with force: overwriting the file
    being read would destroy it.

    Raises:
        NicError: as write_atomic, or "refusing to overwrite the input X".
    """
    path = Path(path)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise NicError(f"refusing to overwrite the input {source}")
    try:
        _check_target(path, force)
    except OSError as error:
        raise NicError(f"cannot write {path}: {error.strerror or error}") from None


def output_path_for(input_path, suffix: str) -> Path:
    """The default output beside the input: a.nic -> a.png for suffix ".png" (or "png")."""
    if not suffix.startswith("."):
        suffix = "." + suffix
    return Path(input_path).with_suffix(suffix)


def names_folder(text: str) -> bool:
    """True if an -o value names a folder: it ends in a separator or is an existing folder."""
    return text.endswith(("/", os.sep)) or Path(text).is_dir()


def image_format(path) -> str:
    """The Pillow format an output name asks for by its extension, or NicUsageError."""
    suffix = Path(path).suffix.lower()
    if suffix not in IMAGE_FORMATS:
        known = " ".join(IMAGE_FORMATS)
        what = f"extension {suffix}" if suffix else "no extension"
        raise NicUsageError(f"{path} has {what}: decode writes {known} (or - for PNG on stdout)")
    return IMAGE_FORMATS[suffix]


def image_bytes(grey, path=".png") -> bytes:
    """Grey uint8 (H, W) pixels as the bytes of an image file in the format path's extension
    names (PNG, JPEG, WebP lossless, TIFF, BMP)."""
    import io

    import numpy as np
    from PIL import Image

    name = image_format(path)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(grey)).save(buffer, format=name,
                                                      **_SAVE_OPTIONS.get(name, {}))
    return buffer.getvalue()


def free_name(path, tag: str = "decoded") -> Path:
    """A name beside path that does not exist yet: d.png -> d.decoded.png, d.decoded-2.png..."""
    path = Path(path)
    for n in range(1, 1000):
        candidate = path.with_name(f"{path.stem}.{tag}{'' if n == 1 else f'-{n}'}{path.suffix}")
        if not (candidate.exists() or candidate.is_symlink()):
            return candidate
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def _check_target(path: Path, force: bool) -> None:
    """The checks shared by write_atomic and check_writable."""
    if path.is_dir():
        raise NicError(f"{path} is a directory")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise NicError(f"cannot write {path}: folder {folder} {what}")
    # is_symlink: a dangling link still names something the user made.
    if not force and (path.exists() or path.is_symlink()):
        raise NicExistsError(path)


def _write_temp(path: Path, data: bytes) -> Path:
    """Write data to a new hidden temporary file beside path, synced to disk; return its path."""
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    ) as handle:
        temp = Path(handle.name)
        try:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            # NamedTemporaryFile makes 0o600; the output should look like any new file.
            os.chmod(handle.fileno(), _FILE_MODE & ~_umask())
        except BaseException:
            handle.close()
            _remove(temp)
            raise
    return temp


def _commit(temp: Path, path: Path, force: bool) -> None:
    """Give temp the name path: replace if forced, else link, which fails if path exists."""
    if force:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)
    except FileExistsError:
        raise NicExistsError(path) from None
    except OSError:
        # Some file systems (FAT, some network mounts) have no hard links: check, then replace.
        if path.exists() or path.is_symlink():
            raise NicExistsError(path) from None
        os.replace(temp, path)


def _remove(temp: Path) -> None:
    """Delete temp if it is still there."""
    try:
        temp.unlink()
    except FileNotFoundError:
        pass


def _sync_folder(folder: Path) -> None:
    """Make the new name itself durable; best effort, as not every system can open a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _same_file(a: Path, b: Path) -> bool:
    """True if a and b name the same file: same inode if both exist, else same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
