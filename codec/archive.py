"""Archives: many images in one `.nicpack` file, each item decodable on its own.

    codec.write_archive(images, "set.nicpack", labels=y)   # options as for encode
    archive = codec.open_archive("set.nicpack")          # a read-only sequence of uint8 arrays
    archive[0], archive[-1], archive[10:20], len(archive), archive.labels

An item is exactly a .nic file with what the archive header already says taken out: the magic,
and the model id, quality, flags and geometry that items share (the header lists each distinct
combination once, as a "kind"). What is left, and a CRC-16, is the item's record. An index of
record lengths gives random access; the header and index carry their own CRC-32, and so do the
labels and names sections, so a damaged record costs that item only. The byte layout is
specified in docs/FORMAT.md ("The .nicpack archive"); `pack_archive` and `Archive` are its one
implementation. Coding is the .nic codec's own: `Archive.nic_file(i)` gives back the very bytes
`codec.encode` wrote for the item.
"""

import binascii
import mmap
import warnings
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import NicError, NicFidelityWarning, NicFormatError
# The .nic format's own field helpers: one definition of varints, zigzag and flag bits.
from .format import (_FLAG_GEOMETRY, _FLAG_INVERTED, _FLAG_LEVELS, _FLAG_PLACEMENT,
                     DEFAULT_COLOUR_SIZE, DEFAULT_SIZE, MAX_PAYLOAD_V4, RESIDUAL_QUALITY, VERSIONS,
                     Header, _decode_varint, _encode_varint, _read_placement, _zigzag, pack,
                     unpack)

__all__ = ["ARCHIVE_MAGIC", "ARCHIVE_VERSION", "ARCHIVE_EXTENSION", "Archive", "pack_archive",
           "open_archive", "write_archive"]

ARCHIVE_MAGIC = b"\x8bNPK"  # 0x8B, not .nic's 0x89: an archive is never taken for a .nic file
ARCHIVE_VERSION = 1
ARCHIVE_EXTENSION = ".nicpack"
MAX_ITEMS = (1 << 28) - 1  # the largest 4-byte varint
MAX_RECORD = MAX_PAYLOAD_V4 + 64  # the largest payload (colour lossless) and per-item fields
MAX_SECTION = (1 << 28) - 1
_SECTION_LABELS = 0x1
_SECTION_NAMES = 0x2
_CRC16, _CRC32 = 2, 4
_NIC_FLAGS = 0x0F
_LABEL_KINDS = "biuf"  # bool, signed, unsigned, float: what numpy stores as plain bytes
_TRUNCATED = "truncated archive"
_CHUNK = 256  # items decoded per batch call when iterating


@dataclass(frozen=True)
class _Kind:
    """What several items share: the .nic header fields besides placement and levels."""

    model_id: int
    quality: int
    flags: int  # the .nic version/flags byte: version above, INVERTED, GEOMETRY, PLACEMENT, LEVELS
    width: int = DEFAULT_SIZE
    height: int = DEFAULT_SIZE


# --- writing ---------------------------------------------------------------------------------


def pack_archive(files: Sequence[bytes], labels=None, names: Sequence[str] | None = None) -> bytes:
    """Serialise .nic files (and optional labels and names, one per file) into one archive.

    Args:
        files: the bytes of valid .nic files, in item order.
        labels: None, or an array of N numbers (bool, int, uint, float), N x ... for vectors.
        names: None, or N strings (the items' original file names).

    Returns:
        The archive's bytes. Raises NicFormatError for an invalid file, label or name.
    """
    parsed = [unpack(data) for data in files]
    kinds = list(dict.fromkeys(_kind_of(header) for header, _ in parsed))
    numbers = {kind: i for i, kind in enumerate(kinds)}
    records = [_record(header, payload, numbers[_kind_of(header)], len(kinds))
               for header, payload in parsed]
    sections = [_labels_section(labels, len(files)) if labels is not None else None,
                _names_section(names, len(files)) if names is not None else None]
    head = bytearray(ARCHIVE_MAGIC)
    head += bytes([ARCHIVE_VERSION, (_SECTION_LABELS if sections[0] else 0)
                   | (_SECTION_NAMES if sections[1] else 0)])
    head += _encode_varint(len(files)) + _encode_varint(len(kinds))
    for kind in kinds:
        head += _kind_bytes(kind)
    for record in records:
        head += _encode_varint(len(record))
    for section in sections:
        head += _encode_varint(len(section)) if section else b""
    head += zlib.crc32(head).to_bytes(_CRC32, "big")
    return bytes(head) + b"".join(records) + b"".join(s for s in sections if s)


def _kind_of(header: Header) -> _Kind:
    flags = ((_FLAG_INVERTED if header.inverted else 0)
             | (_FLAG_GEOMETRY if header.has_geometry else 0)
             | (_FLAG_PLACEMENT if header.placement is not None else 0)
             | (_FLAG_LEVELS if header.levels is not None else 0))
    # The version says how the payload is laid out (3: a residual mode byte; 4: colour).
    return _Kind(header.model_id, header.quality, header.version << 4 | flags, header.width,
                 header.height)


def _kind_bytes(kind: _Kind) -> bytes:
    out = bytes([kind.model_id, kind.quality, kind.flags])
    if kind.flags & _FLAG_GEOMETRY:
        out += _encode_varint(kind.width) + _encode_varint(kind.height)
    return out


def _record(header: Header, payload: bytes, number: int, kinds: int) -> bytes:
    """One item: its kind number (when there are several kinds), placement, levels, payload,
    CRC-16 of those bytes."""
    out = bytearray(_encode_varint(number) if kinds > 1 else b"")
    if header.placement is not None:
        left, top, side = header.placement
        out += _encode_varint(_zigzag(left)) + _encode_varint(_zigzag(top)) + _encode_varint(side)
    if header.levels is not None:
        out += bytes(header.levels)
    out += payload
    return bytes(out + binascii.crc_hqx(out, 0).to_bytes(_CRC16, "big"))


def _labels_section(labels, count: int) -> bytes:
    array = np.asarray(labels)
    if array.dtype.kind not in _LABEL_KINDS or array.ndim == 0 or len(array) != count:
        raise NicFormatError(f"labels must be an array of {count} numbers (one per image), got "
                             f"{array.dtype} of shape {array.shape}")
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    dtype = little.dtype.str.encode("ascii")  # e.g. |u1, <i8, <f4
    out = bytearray([len(dtype)]) + dtype + bytes([array.ndim - 1])
    for side in array.shape[1:]:
        out += _encode_varint(side)
    out += np.ascontiguousarray(little).tobytes()
    return bytes(out + zlib.crc32(out).to_bytes(_CRC32, "big"))


def _names_section(names, count: int) -> bytes:
    names = list(names)
    if len(names) != count or not all(isinstance(n, str) for n in names):
        raise NicFormatError(f"names must be {count} strings (one per image)")
    out = bytearray()
    for name in names:
        text = name.encode("utf-8")
        out += _encode_varint(len(text)) + text
    return bytes(out + zlib.crc32(out).to_bytes(_CRC32, "big"))


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where everything is, from the (CRC-checked) header and index."""

    kinds: tuple[_Kind, ...]
    offsets: np.ndarray  # N + 1 record boundaries, absolute
    labels: tuple[int, int] | None  # (start, end) of the section
    names: tuple[int, int] | None
    size: int


def _read_layout(view: memoryview) -> _Layout:
    """Parse and check the header and index; NicFormatError for anything malformed."""
    if view[: len(ARCHIVE_MAGIC)] != ARCHIVE_MAGIC[: len(view)]:
        raise NicFormatError("not a .nicpack archive: bad magic")
    if len(view) < len(ARCHIVE_MAGIC) + 2:
        raise NicFormatError(f"{_TRUNCATED}: {len(view)} bytes")
    if view[4] != ARCHIVE_VERSION:
        raise NicFormatError(f"unsupported .nicpack version {view[4]} (this nic reads version "
                             f"{ARCHIVE_VERSION})")
    sections = view[5]
    if sections & ~(_SECTION_LABELS | _SECTION_NAMES):
        raise NicFormatError(f"reserved section bits are set (0x{sections:x})")
    count, pos = _varint(view, 6, "item count", MAX_ITEMS)
    kinds, pos = _read_kinds(view, pos, count)
    lengths = []
    for _ in range(count):
        length, pos = _varint(view, pos, "record length", MAX_RECORD)
        lengths.append(length)
    spans = []
    for flag, name in ((_SECTION_LABELS, "labels"), (_SECTION_NAMES, "names")):
        spans.append(_varint(view, pos, f"{name} length", MAX_SECTION) if sections & flag else None)
        pos = spans[-1][1] if spans[-1] else pos
    _check_crc32(view, pos, "the archive header is corrupt: no item can be located")
    start = pos + _CRC32
    offsets = start + np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    end, places = int(offsets[-1]), []
    for span in spans:
        places.append((end, end + span[0]) if span else None)
        end += span[0] if span else 0
    if end != len(view):
        raise NicFormatError(_size_mismatch(end, len(view)))
    return _Layout(tuple(kinds), offsets, places[0], places[1], end)


def _read_kinds(view: memoryview, pos: int, count: int) -> tuple[list[_Kind], int]:
    number, pos = _varint(view, pos, "kind count", max(count, 0))
    if (number == 0) != (count == 0):
        raise NicFormatError(f"{number} kinds for {count} items")
    kinds = []
    for _ in range(number):
        if pos + 3 > len(view):
            raise NicFormatError(f"{_TRUNCATED}: it ends inside a kind")
        model_id, quality, flags = view[pos], view[pos + 1], view[pos + 2]
        pos += 3
        width = height = DEFAULT_COLOUR_SIZE if flags >> 4 == 4 else DEFAULT_SIZE
        if flags & _FLAG_GEOMETRY:
            width, pos = _varint(view, pos, "width", 1 << 13)
            height, pos = _varint(view, pos, "height", 1 << 13)
        kinds.append(_checked_kind(_Kind(model_id, quality, flags, width, height)))
    return kinds, pos


def _checked_kind(kind: _Kind) -> _Kind:
    """A kind must be what some valid .nic header would give."""
    version = kind.flags >> 4
    if version not in VERSIONS:
        raise NicFormatError(f"a kind names .nic version {version} (this nic reads "
                             f"{VERSIONS[0]} to {VERSIONS[-1]})")
    if kind.flags & 0x0F & ~_NIC_FLAGS or (version == 4 and kind.flags & ~_FLAG_GEOMETRY & 0x0F) \
            or (version == 1 and kind.flags & (_FLAG_PLACEMENT | _FLAG_LEVELS)):
        raise NicFormatError(f"reserved flag bits are set in a kind (flags 0x{kind.flags:x})")
    if version in (2, 5) and not kind.flags & (_FLAG_PLACEMENT | _FLAG_LEVELS):
        raise NicFormatError("non-canonical version: a kind without placement or levels is version 1")
    if version == 3 and kind.quality < RESIDUAL_QUALITY:
        raise NicFormatError("non-canonical version: a version 3 kind has a residual quality")
    default = DEFAULT_COLOUR_SIZE if version == 4 else DEFAULT_SIZE
    if kind.flags & _FLAG_GEOMETRY and (kind.width, kind.height) == (default, default):
        raise NicFormatError(f"non-canonical geometry: a {default}x{default} kind must omit "
                             "width and height")
    if kind.flags & _FLAG_LEVELS and kind.flags & _FLAG_INVERTED:
        raise NicFormatError("levels carry the polarity: a kind with levels cannot be inverted")
    if kind.model_id == 0 or kind.quality == 0:
        raise NicFormatError("model id and quality must be 1..255 in every kind")
    Header(kind.model_id, kind.quality, kind.width, kind.height,  # the size limits
           channels=3 if version == 4 else 1)
    return kind


def _varint(view: memoryview, pos: int, name: str, limit: int) -> tuple[int, int]:
    """format's varint reader, its messages naming the archive rather than a .nic file."""
    try:
        return _decode_varint(view, pos, name, limit)
    except NicFormatError as error:
        raise NicFormatError(str(error).replace("truncated .nic file", _TRUNCATED)) from None


def _check_crc32(view: memoryview, end: int, message: str) -> None:
    if end + _CRC32 > len(view):
        raise NicFormatError(f"{_TRUNCATED}: it ends inside the header")
    if zlib.crc32(view[:end]) != int.from_bytes(view[end : end + _CRC32], "big"):
        raise NicFormatError(message)


def _size_mismatch(expected: int, actual: int) -> str:
    if expected > actual:
        return f"{_TRUNCATED}: its header promises {expected} bytes but only {actual} are present"
    return f"trailing data: the archive header promises {expected} bytes but the file has {actual}"


def _item_file(view: memoryview, layout: _Layout, index: int) -> bytes:
    """Item index as the complete .nic file it was packed from."""
    start, end = int(layout.offsets[index]), int(layout.offsets[index + 1])
    record = view[start:end]
    if len(record) < _CRC16 or \
            binascii.crc_hqx(record[:-_CRC16], 0) != int.from_bytes(record[-_CRC16:], "big"):
        raise NicFormatError(f"item {index}: integrity check failed: its record is corrupt")
    body, pos = record[:-_CRC16], 0
    number = 0
    if len(layout.kinds) > 1:
        number, pos = _varint(body, pos, "kind number", len(layout.kinds) - 1)
    kind = layout.kinds[number]
    placement = levels = None
    if kind.flags & _FLAG_PLACEMENT:
        placement, pos = _read_placement(body, pos)
    if kind.flags & _FLAG_LEVELS:
        if pos + 2 > len(body):
            raise NicFormatError(f"item {index}: its record ends inside the levels field")
        levels, pos = (body[pos], body[pos + 1]), pos + 2
    version = kind.flags >> 4
    header = Header(kind.model_id, kind.quality, kind.width, kind.height,
                    inverted=bool(kind.flags & _FLAG_INVERTED), placement=placement, levels=levels,
                    channels=3 if version == 4 else 1, version=version)
    return pack(header, body[pos:])


def _read_labels(view: memoryview, span: tuple[int, int], count: int) -> np.ndarray:
    section = view[span[0] : span[1]]
    if len(section) < _CRC32 + 2 or \
            zlib.crc32(section[:-_CRC32]) != int.from_bytes(section[-_CRC32:], "big"):
        raise NicFormatError("the labels section is corrupt (its integrity check failed)")
    body = section[:-_CRC32]
    size = body[0]
    dtype = np.dtype(bytes(body[1 : 1 + size]).decode("ascii"))
    pos, shape = 2 + size, [count]
    for _ in range(body[1 + size]):
        side, pos = _varint(body, pos, "label shape", MAX_ITEMS)
        shape.append(side)
    if dtype.kind not in _LABEL_KINDS or len(body) - pos != dtype.itemsize * int(np.prod(shape)):
        raise NicFormatError("the labels section does not match its dtype and shape")
    labels = np.frombuffer(body[pos:], dtype).reshape(shape)
    return labels.astype(dtype.newbyteorder("="))  # native order, and a copy off the mapping


def _read_names(view: memoryview, span: tuple[int, int], count: int) -> list[str]:
    section = view[span[0] : span[1]]
    if len(section) < _CRC32 or \
            zlib.crc32(section[:-_CRC32]) != int.from_bytes(section[-_CRC32:], "big"):
        raise NicFormatError("the names section is corrupt (its integrity check failed)")
    body, pos, names = section[:-_CRC32], 0, []
    for _ in range(count):
        size, pos = _varint(body, pos, "name length", MAX_SECTION)
        names.append(bytes(body[pos : pos + size]).decode("utf-8", "replace"))
        pos += size
    if pos != len(body):
        raise NicFormatError("the names section does not hold one name per item")
    return names


class Archive(Sequence):
    """A read-only sequence of the images in a .nicpack archive (uint8 arrays, decoded on
    access); slicing gives another Archive over those items, decoding nothing.

    Attributes:
        labels: the labels packed with the images (a numpy array, sliced as the archive is),
            or None.
        names: the items' original file names, or None.
        path: the archive file.
    """

    def __init__(self, path, *, jobs: int | None = None, _rows: range | None = None):
        self.path = Path(path)
        self.jobs = jobs
        self._view = _map(self.path)
        try:
            self._layout = _read_layout(self._view)
        except NicFormatError as error:
            raise NicFormatError(f"{self.path}: {error}") from None
        self._rows = range(len(self._layout.offsets) - 1) if _rows is None else _rows
        self._cache = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return self._view_of(self._rows[key])
        return self._decode([self._rows[key]], "raise")[0]  # range raises IndexError

    def __iter__(self):
        for start in range(0, len(self._rows), _CHUNK):
            yield from self._decode(self._rows[start : start + _CHUNK], "raise")

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.images(), dtype=dtype)

    def __repr__(self) -> str:
        return f"<Archive {self.path} {len(self)} images{'' if self.labels is None else ', labelled'}>"

    @property
    def labels(self) -> np.ndarray | None:
        span = self._layout.labels
        if span is None:
            return None
        if "labels" not in self._cache:  # read and checked once, shared with slices
            self._cache["labels"] = _read_labels(self._view, span, len(self._layout.offsets) - 1)
        return self._cache["labels"][np.asarray(self._rows, dtype=np.intp)]

    @property
    def names(self) -> list[str] | None:
        span = self._layout.names
        if span is None:
            return None
        names = _read_names(self._view, span, len(self._layout.offsets) - 1)
        return [names[i] for i in self._rows]

    def nic_file(self, i: int) -> bytes:
        """Item i as the complete .nic file it was packed from (NicFormatError if damaged)."""
        return self._file(self._rows[i])

    def images(self, *, errors: str = "raise"):
        """Every item decoded at once (with `jobs` worker processes for large archives): one
        uint8 array (N, H, W) when all have one size, else a list. With errors="collect", a
        damaged item comes back as its NicError in its place (the result is then a list)."""
        decoded = self._decode(self._rows, errors)
        shapes = {getattr(item, "shape", None) for item in decoded}
        if len(shapes) == 1 and None not in shapes:
            return np.stack(decoded) if decoded else np.zeros((0, 28, 28), np.uint8)
        return decoded

    def close(self) -> None:
        if isinstance(self._view.obj, mmap.mmap):
            self._view.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        # A mapping cannot cross processes (PyTorch DataLoader workers): reopen by path.
        return {"path": self.path, "jobs": self.jobs, "rows": self._rows}

    def __setstate__(self, state):
        self.__init__(state["path"], jobs=state["jobs"], _rows=state["rows"])

    def _view_of(self, rows: range) -> "Archive":
        part = object.__new__(Archive)
        part.path, part.jobs, part._view, part._layout, part._rows, part._cache = (
            self.path, self.jobs, self._view, self._layout, rows, self._cache)
        return part

    def _file(self, index: int) -> bytes:
        try:
            return _item_file(self._view, self._layout, index)
        except NicFormatError as error:
            message = str(error) if str(error).startswith("item ") else f"item {index}: {error}"
            raise NicFormatError(f"{self.path}: {message}") from None

    def _decode(self, rows: Iterable[int], errors: str) -> list:
        from .api import _one, decode_batch

        rows = list(rows)
        files = [_one(lambda: self._file(i)) for i in rows]
        good = [k for k, f in enumerate(files) if not isinstance(f, NicError)]
        decoded = decode_batch([files[k] for k in good], errors="collect", jobs=self.jobs)
        for k, item in zip(good, decoded):
            files[k] = item if not isinstance(item, NicError) else \
                type(item)(f"{self.path}: item {rows[k]}: {item}")
        if errors != "collect":
            for item in files:
                if isinstance(item, NicError):
                    raise item
        return files


def _map(path: Path) -> memoryview:
    """The archive's bytes, memory-mapped (random access reads only what it needs)."""
    from .files import read_input

    if path.is_file() and path.stat().st_size > 0:
        try:
            with open(path, "rb") as handle:
                return memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
        except OSError as error:
            raise NicError(f"cannot read {path}: {error.strerror or error}") from None
    return memoryview(read_input(path))  # missing, a folder, or empty: one clear line


def open_archive(path, *, jobs: int | None = None) -> Archive:
    """Open a .nicpack archive as a read-only sequence of uint8 images (see `Archive`).

    Args:
        path: the archive file.
        jobs: worker processes for bulk decoding (`images()`, iteration); None: all cores.
    Raises:
        NicFormatError: the file is not an archive, or its header or index is damaged (a
            damaged item raises only when that item is read).
    """
    return Archive(path, jobs=jobs)


def write_archive(images, path, labels=None, *, names=None, force: bool = False,
                  jobs: int | None = None, **options) -> int:
    """Encode images (as `codec.encode_batch` takes them) into one .nicpack archive.

    Args:
        images: arrays, PIL images or paths; a uint8 array (N, H, W) is N images.
        path: the archive to write (never replaced unless force).
        labels: one number (or vector) per image, kept in the archive; or None.
        names: one string per image (e.g. the original file names); or None.
        jobs: worker processes; None: all cores (small sets run in this process).
        **options: encode's model, quality, max_error, lossless, strict.
    Returns:
        The archive's size in bytes. Fidelity problems are reported as NicFidelityWarning.
    """
    from .api import encode_detailed
    from .files import check_writable, write_atomic

    check_writable(path, force=force)
    results = encode_detailed(list(images), jobs=jobs, **options)
    for result in results:
        for message in result.warnings:
            warnings.warn(message, NicFidelityWarning, stacklevel=2)
    data = pack_archive([r.data for r in results], labels, names)
    write_atomic(path, data, force=force)
    return len(data)
