"""Many files in one command: expand folders and globs, code in chunks, keep going past bad files.

The CLI's `nic encode a.png b.png folder/ -o OUTDIR` and `nic decode *.nic -o OUTDIR` call these.
Each chunk of images goes through the batch API in one network call; every output is written
atomically; a file that cannot be read or written is reported and skipped, and the summary
counts it so the command can end with exit code 1.
"""

import glob
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .api import decode_batch, encode_detailed
from .errors import NicError, NicExistsError, NicFidelityError
from .files import check_writable, read_input, write_atomic
from .images import save_png_bytes
from .parallel import CHUNK, MIN_PARALLEL, workers_for

__all__ = ["Summary", "expand_inputs", "encode_files", "decode_files"]


@dataclass
class Summary:
    """What a batch run did: counts, bytes and the one-line reason of each failure."""

    files: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # "path: what may not be kept"
    escalated: int = 0  # files that auto quality coded above the model's default level

    @property
    def ratio(self) -> float:
        return self.bytes_in / self.bytes_out if self.bytes_out else 0.0

    def line(self) -> str:
        # "3 of 5 files" when some failed: the bytes and the ratio count the coded ones only.
        given = self.files + len(self.failures)
        counted = f"{self.files} of {given}" if self.failures else f"{self.files}"
        text = (
            f"{counted} file{'' if given == 1 else 's'}, {self.bytes_in:,} bytes in, "
            f"{self.bytes_out:,} bytes out"
        )
        # A compression ratio (decoding, whose PNGs outweigh their files, has none), written
        # out: 3,421:1, not 3.42e+03:1.
        if self.bytes_out and self.bytes_in >= self.bytes_out:
            shown = f"{self.ratio:,.0f}" if self.ratio >= 100 else f"{self.ratio:.3g}"
            text += f", ratio {shown}:1"
        if self.escalated:
            text += f", {self.escalated} at a higher level to stay faithful"
        if self.warnings:
            text += f", {len(self.warnings)} warned"
        return text + (f", {len(self.failures)} failed" if self.failures else "")


def expand_inputs(arguments: Iterable[str | Path], suffixes: set[str] | None = None) -> list[Path]:
    """Paths, folders (their files with one of `suffixes`, sorted) and quoted globs -> files.

    A path that does not exist is kept, so that it is reported as missing, not dropped silently.
    """
    found: list[Path] = []
    for argument in map(str, arguments):
        if Path(argument).is_dir():
            found += sorted(
                p for p in Path(argument).iterdir()
                if p.is_file() and (suffixes is None or p.suffix.lower() in suffixes)
            )
        elif glob.has_magic(argument) and not Path(argument).exists():
            found += sorted(Path(p) for p in glob.glob(argument) if Path(p).is_file())
        else:
            found.append(Path(argument))
    return found


def output_for(source: Path, out_dir: Path | None, suffix: str) -> Path:
    """Where a batch output goes: OUTDIR/name.suffix, or beside its source."""
    return (out_dir or source.parent) / (source.stem + suffix)


def encode_files(sources, out_dir, *, model="auto", force=False, jobs: int | None = None,
                 advance: Callable[[int], None] = lambda n: None, **modes) -> Summary:
    """Encode image files to .nic files; returns the summary, never raises for one bad file.

    `modes` are encode_detailed's quality, max_error, lossless and strict; jobs: worker
    processes (None: all cores).
    """
    # The API reads each path itself, so the file records the image's original size.
    return _run(sources, out_dir, ".nic", force, advance, read=lambda path: path,
                code=lambda items: encode_detailed(items, model=model, errors="collect",
                                                   jobs=jobs, **modes),
                step=step_for(len(sources), jobs))


def decode_files(sources, out_dir, *, force=False, jobs: int | None = None,
                 advance: Callable[[int], None] = lambda n: None) -> Summary:
    """Decode .nic files to PNG files; returns the summary, never raises for one bad file."""
    def code(items):
        return [p if isinstance(p, NicError) else save_png_bytes(p)
                for p in decode_batch(items, errors="collect", jobs=jobs)]

    return _run(sources, out_dir, ".png", force, advance, read=read_input, code=code,
                step=step_for(len(sources), jobs))


def step_for(items: int, jobs: int | None) -> int:
    """Items per batch-API call: one chunk in this process; with workers, enough chunks to
    keep each busy between progress updates."""
    workers = workers_for(items, jobs)
    return CHUNK if workers == 1 else max(MIN_PARALLEL, 4 * CHUNK * workers)


def _run(sources, out_dir, suffix, force, advance, read, code, step=CHUNK) -> Summary:
    summary = Summary()
    targets = _targets(sources, out_dir, suffix, summary)
    advance(len(sources) - len(targets))  # the ones refused before any work
    order = list(targets)
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        ready = [item for item in (_prepare(s, targets[s], force, read, summary) for s in chunk)
                 if item is not None]
        coded = code([item for _, _, item in ready]) if ready else []
        for (source, target, _), outputs in zip(ready, coded):
            if isinstance(outputs, NicError):
                _fail(summary, source, outputs)
                continue
            summary.warnings += [f"{source}: {w}" for w in getattr(outputs, "warnings", [])]
            summary.escalated += bool(getattr(outputs, "escalated", False))
            outputs = getattr(outputs, "data", outputs)  # an api.Encoded, or bytes
            try:
                write_atomic(target, outputs, force=force)
            except NicError as error:
                _fail(summary, source, error)
                continue
            summary.files += 1
            summary.bytes_in += source.stat().st_size
            summary.bytes_out += len(outputs)
        advance(len(chunk))
    return summary


def _targets(sources, out_dir, suffix, summary) -> dict:
    """Source -> output path; a source whose output another source already takes (a.png and
    a.jpg -> a.nic) fails here, before anything is written, naming both."""
    targets, taken = {}, {}
    for source in sources:
        target = output_for(source, out_dir, suffix)
        key = os.path.normcase(os.path.abspath(target))
        if key in taken and taken[key] == source:
            continue  # the same file given twice: code it once
        if key in taken:
            summary.failures.append(
                f"{source}: skipped: its output {target} is also {taken[key]}'s; "
                "rename one of them or code it on its own with -o")
            continue
        taken[key] = source
        targets[source] = target
    return targets


def _fail(summary, source, error) -> None:
    """Record one failure, naming the source once (most messages already name it)."""
    message = str(error)
    if isinstance(error, NicFidelityError):
        message = f"refused (--strict): {message}"
    if isinstance(error, NicExistsError):
        original = "" if Path(error.path).suffix == ".nic" else " (it may be your original)"
        message = f"{error.path} exists{original}; pick another output folder with -o"
    summary.failures.append(message if str(source) in message else f"{source}: {message}")


def _prepare(source, target, force, read, summary):
    """Read one input and check its output path; on failure, record it and return None."""
    try:
        check_writable(target, force=force, inputs=[source])
        return source, target, read(source)
    except NicError as error:
        _fail(summary, source, error)
        return None
    except OSError as error:
        _fail(summary, source, f"cannot read: {error.strerror or error}")
        return None
