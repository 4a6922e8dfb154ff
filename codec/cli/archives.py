"""`nic pack` and `nic unpack`: many images in one archive, and back."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import NicError, NicExistsError
from .common import (
    Force, Jobs, Lossless, MaxError, ModelsDir, STDIO, _check_model_name, _progress, _quality,
    _use_models_dir, app, check_modes, fail, make_folder, one_line_errors, usage)


ARRAY_SUFFIXES = (".npz", ".npy")


@app.command()
@one_line_errors
def pack(
    sources: Annotated[list[str], typer.Argument(
        help="A folder of images, images or quoted globs; or one .npz or .npy array of images.",
        show_default=False, metavar="SOURCE")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="The archive (NAME.nicpack), or a folder for it. Default: "
        "beside the source, named after it.")] = None,
    array: Annotated[Optional[str], typer.Option(
        "--array", help="The .npz array of images (default: its only image array).")] = None,
    labels: Annotated[Optional[str], typer.Option(
        "--labels", help="The .npz array of labels to keep, or none (default: y_NAME for "
        "x_NAME, or labels, or y).")] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Model name (see nic models), or auto, as for encode.")] = "auto",
    quality: Annotated[Optional[str], typer.Option(
        "--quality", "-q", callback=_quality, help="auto or a level 1-14, as for encode.")
    ] = "auto",
    max_error: MaxError = None,
    lossless: Lossless = False,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Leave out (and report) an image whose file would not decode to what "
        "it shows, instead of warning.")] = False,
    force: Force = False,
    jobs: Jobs = None,
    models_dir: ModelsDir = None,
) -> None:
    """Pack many images into one .nicpack archive: one header for what they share, an index
    for random access, a check per image; labels of an .npz and file names are kept.

    Options as for encode. An image that cannot be coded is reported and left out (exit 1);
    the others are packed. Read it back with nic unpack, or in Python with
    codec.open_archive.
    """
    _use_models_dir(models_dir)
    check_modes(quality, max_error, lossless)
    _check_model_name(model)
    target = _archive_target(sources, output)
    arrays = len(sources) == 1 and Path(sources[0]).suffix.lower() in ARRAY_SUFFIXES
    if not arrays and (array or labels):
        usage("--array and --labels choose arrays of an .npz source")
    from ..files import check_writable

    check_writable(target, force=force, inputs=sources if not arrays else [sources[0]])
    images, kept, names = (_array_source(Path(sources[0]), array, labels) if arrays
                           else _image_files(sources))
    modes = {"model": model, "quality": quality, "max_error": max_error, "lossless": lossless,
             "strict": strict}
    results = _encode_with_progress(images, jobs, modes)
    _write_pack(target, sources, results, kept, names, force)


def _archive_target(sources: list[str], output: Optional[str]) -> Path:
    """The archive to write: -o, or a folder for it, or beside a single source (exit 2 when
    it cannot be an archive name)."""
    from ..archive import ARCHIVE_EXTENSION
    from ..files import names_folder

    if STDIO in sources or output == STDIO:
        usage("pack reads files and writes a file: - is not supported")
    source = _named(sources[0]) if len(sources) == 1 else None
    stem = source.stem if source is not None else None
    if output is not None and names_folder(output):
        if stem is None or _is_glob(sources[0]):
            usage("several sources: name the archive with -o NAME.nicpack")
        return Path(output) / (stem + ARCHIVE_EXTENSION)
    if output is None:
        if stem is None or _is_glob(sources[0]):
            usage("several sources or a glob: name the archive with -o NAME.nicpack")
        return source.parent / (stem + ARCHIVE_EXTENSION)
    if Path(output).suffix.lower() != ARCHIVE_EXTENSION:
        usage(f"{output}: pack writes archives: name the output NAME{ARCHIVE_EXTENSION}")
    return Path(output)


def _named(source: str) -> Path | None:
    """A source as a path with a name to give its archive: "." and ".." are the folders they
    stand for (not a hidden ".nicpack"); None for the root, which has none."""
    path = Path(source.rstrip("/") or "/")
    if path.name in ("", ".", ".."):
        path = path.resolve()
    return path if path.name else None


def _is_glob(text: str) -> bool:
    import glob

    return glob.has_magic(text) and not Path(text).exists()


def _image_files(sources: list[str]) -> tuple[list, None, list[str]]:
    """Images, folders and globs -> (paths, no labels, their file names)."""
    from ..batch import expand_inputs
    from ..images import image_suffixes

    files = expand_inputs(sources, image_suffixes() - {".nic"})
    if not files:
        fail(f"no input files in {', '.join(sources)}")
    return files, None, [path.name for path in files]


def _array_source(path: Path, array: Optional[str], labels: Optional[str]):
    """An .npz or .npy file -> (its images, their labels or None, no names)."""
    import numpy as np

    from ..files import read_input

    read_input(path)  # missing, a folder, unreadable: one line
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise NicError(f"{path} is not a numpy .npz or .npy file ({error})") from None
    if isinstance(loaded, np.ndarray):
        return _checked_images(loaded, path.name), None, None
    with loaded:
        name = array or _only_image_array(loaded, path)
        if name not in loaded.files:
            usage(f"{path} has no array {name!r} (it has {', '.join(loaded.files)})")
        images = _checked_images(loaded[name], f"{path.name}[{name}]")
        label_name = _label_array(loaded, name, labels, path)
        kept = None if label_name is None else loaded[label_name]
    if kept is not None and len(kept) != len(images):
        usage(f"{path}: {label_name} has {len(kept)} labels for {len(images)} images")
    return images, kept, None


def _only_image_array(loaded, path: Path) -> str:
    candidates = [k for k in loaded.files if loaded[k].ndim in (3, 4) and loaded[k].dtype == "uint8"]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        usage(f"{path} holds no uint8 image array (N, H, W): name one with --array")
    usage(f"{path} holds several image arrays ({', '.join(candidates)}): pick one with --array")


def _label_array(loaded, name: str, labels: Optional[str], path: Path) -> Optional[str]:
    """The labels to keep: --labels, or none, or the array named like the images' own."""
    if labels == "none":
        return None
    if labels is not None:
        if labels not in loaded.files:
            usage(f"{path} has no array {labels!r} (it has {', '.join(loaded.files)})")
        return labels
    guesses = ([f"y_{name[2:]}"] if name.startswith("x_") else []) + ["labels", "y"]
    return next((g for g in guesses if g in loaded.files and g != name), None)


def _checked_images(images, label: str):
    if images.dtype != "uint8" or images.ndim not in (3, 4):
        raise NicError(f"{label} must be uint8 images (N, H, W) or (N, H, W, C), got "
                       f"{images.dtype} of shape {images.shape}")
    return images


def _encode_with_progress(images, jobs, modes: dict) -> list:
    """encode_detailed over all images in steps (a progress bar on stderr); per-image errors
    come back in place."""
    from ..api import encode_detailed
    from ..batch import step_for

    step, results = step_for(len(images), jobs), []
    with _progress() as progress:
        task = progress.add_task("packing", total=len(images))
        for start in range(0, len(images), step):
            part = list(images[start : start + step])
            results += encode_detailed(part, errors="collect", jobs=jobs, **modes)
            progress.advance(task, len(part))
    return results


def _write_pack(target: Path, sources, results, labels, names, force: bool) -> None:
    """Report failures and warnings, write the archive of the rest, print the summary."""
    from ..archive import pack_archive
    from ..files import write_atomic

    failed = [i for i, r in enumerate(results) if isinstance(r, NicError)]
    for i in failed:
        label = names[i] if names else f"image {i}"
        typer.echo(f"nic: error: {label}: {results[i]}", err=True)
    kept = [i for i, r in enumerate(results) if not isinstance(r, NicError)]
    if not results:
        fail(f"{', '.join(map(str, sources))} holds no images: nothing written")
    if not kept:  # an archive of nothing would only hide that every image failed
        if len(failed) == 1:  # its own line said why
            raise typer.Exit(code=1)
        fail(f"none of the {len(failed)} images could be coded: nothing written")
    warned = [(i, w) for i in kept for w in results[i].warnings]
    for i, warning in warned:
        typer.echo(f"nic: warning: {names[i] if names else f'image {i}'}: {warning}", err=True)
    data = pack_archive([results[i].data for i in kept],
                        None if labels is None else labels[kept],
                        None if names is None else [names[i] for i in kept])
    make_folder(target.parent)  # only now: a pack that writes nothing leaves no folder behind
    write_atomic(target, data, force=force)
    escalated = sum(results[i].escalated for i in kept)
    typer.echo(f"{', '.join(map(str, sources))} -> {target}: {_count(len(kept), 'image')}"
               f"{'' if labels is None else ' with labels'}, {len(data):,} bytes "
               f"({len(data) / max(len(kept), 1):.1f} per image)"
               + (f", {escalated} at a higher level to stay faithful" if escalated else "")
               + (f", {len(warned)} warned" if warned else "")
               + (f", {len(failed)} failed" if failed else ""))
    if failed:
        raise typer.Exit(code=1)


@app.command()
@one_line_errors
def unpack(
    source: Annotated[str, typer.Argument(help="A .nicpack archive.", show_default=False,
                                          metavar="ARCHIVE")],
    output: Annotated[Optional[str], typer.Option(
        "--output", "-o", help="A folder for PNG files (created when missing), or NAME.npz for "
        "arrays (x: images, y: labels, names). Default: a folder beside the archive, named "
        "after it.")] = None,
    force: Force = False,
    jobs: Jobs = None,
    models_dir: ModelsDir = None,
) -> None:
    """Unpack a .nicpack archive into PNG files (named as the packed files were, else by
    index) or into one .npz of arrays, labels included.

    A damaged item is reported in one line and left out (exit 1); the others are unpacked.
    """
    from ..archive import open_archive

    _use_models_dir(models_dir)
    if STDIO in (source, output):
        usage("unpack reads a file and writes files: - is not supported")
    to_npz = output is not None and Path(output).suffix.lower() == ".npz"
    if output is not None and not to_npz and Path(output).suffix and not Path(output).is_dir():
        usage(f"{output}: unpack writes a folder of PNG files or an .npz")
    target = Path(output) if output else Path(source).with_suffix("")
    if to_npz:
        from ..files import check_writable

        check_writable(target, force=force, inputs=[source])
    with open_archive(source, jobs=jobs) as archive:
        names = _png_names(archive, target) if not to_npz else None
        if names is not None:
            _check_free(list(names.values()), force)
        decoded = _decode_with_progress(archive, jobs)
        failed = [i for i, d in enumerate(decoded) if isinstance(d, NicError)]
        for i in failed:
            typer.echo(f"nic: error: {decoded[i]}", err=True)
        if to_npz:
            _write_npz(target, archive, decoded, force)
        else:
            _write_pngs(target, names, decoded, force)
    typer.echo(f"{source} -> {target}: {_count(len(decoded) - len(failed), 'image')}"
               + (f", {len(failed)} failed" if failed else ""))
    if failed:
        raise typer.Exit(code=1)


def _decode_with_progress(archive, jobs) -> list:
    from ..batch import step_for

    step, decoded = step_for(len(archive), jobs), []
    with _progress() as progress:
        task = progress.add_task("unpacking", total=len(archive))
        for start in range(0, len(archive), step):
            part = archive[start : start + step].images(errors="collect")
            decoded += list(part)
            progress.advance(task, len(part))
    return decoded


def _png_names(archive, folder: Path) -> dict[int, Path]:
    """Item -> its PNG: the packed file's name with .png for its extension (its last part
    only: an archive never writes outside the folder), else the item's index, zero-padded.
    Where two items would share a name (a.png and a.jpg, packed together), a PNG keeps its own
    and the other its whole name (a.jpg.png), or failing that its index too (a.3.png). Names
    that differ only in case count as the same: they are one file on macOS and Windows."""
    names = archive.names
    width = len(str(max(len(archive) - 1, 0)))
    out, taken = {}, set()
    pngs_first = sorted(range(len(archive)),
                        key=lambda i: not (names and names[i].lower().endswith(".png")))
    for i in pngs_first:
        name = Path(names[i]).name if names else ""
        stem = Path(name).stem
        if not stem or stem in (".", "..") or "\\" in name:
            name = stem = f"{i:0{width}d}"
        whole = [] if name.lower().endswith(".png") else [f"{name}.png"]
        free = [folder / c for c in [f"{stem}.png", *whole, f"{stem}.{i}.png"]
                if c.casefold() not in taken]
        if not free:  # only when other items are named like this one's every choice
            fail(f"item {i} has no free name in {folder}: unpack to an .npz instead")
        path = out[i] = free[0]
        taken.add(path.name.casefold())
    return dict(sorted(out.items()))


def _check_free(paths: list[Path], force: bool) -> None:
    """Refuse, before decoding anything, outputs that exist (one line for all of them)."""
    if force:
        return
    existing = [p for p in paths if p.exists() or p.is_symlink()]
    if existing:
        more = f" (and {len(existing) - 1:,} more)" if len(existing) > 1 else ""
        raise NicExistsError(existing[0], f"{existing[0]} exists{more}; pick another folder with -o")


def _write_pngs(folder: Path, names: dict, decoded: list, force: bool) -> None:
    from ..files import write_atomic
    from ..images import save_png_bytes

    make_folder(folder)
    for i, pixels in enumerate(decoded):
        if not isinstance(pixels, NicError):
            write_atomic(names[i], save_png_bytes(pixels), force=force)


def _write_npz(target: Path, archive, decoded: list, force: bool) -> None:
    """x: the images; y: the labels; names; and, when items failed, index: the positions of
    the ones present."""
    import io

    import numpy as np

    from ..files import write_atomic

    kept = [i for i, d in enumerate(decoded) if not isinstance(d, NicError)]
    shapes = {decoded[i].shape for i in kept}
    if len(shapes) > 1:
        fail(f"{archive.path} holds images of {len(shapes)} sizes, which one array cannot: "
             "unpack to a folder")
    arrays = {"x": np.stack([decoded[i] for i in kept]) if kept else np.zeros((0, 28, 28), np.uint8)}
    labels, names = archive.labels, archive.names
    if labels is not None:
        arrays["y"] = labels[kept]
    if names is not None:
        arrays["names"] = np.array([names[i] for i in kept], dtype=str)
    if len(kept) < len(decoded):
        arrays["index"] = np.array(kept, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(target, buffer.getvalue(), force=force)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
