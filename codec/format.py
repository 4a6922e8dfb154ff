"""The .nic container: a few header bytes, the entropy-coded latent, a CRC-16.

The byte layout is specified in docs/FORMAT.md; this module is its one implementation.
`pack` and `unpack` are pure functions over bytes (stdlib only, no I/O), in the manner of
tfc's PackedTensors and the QOI reference decoder: every field is range-checked and any
malformed input, whatever it is, raises `NicFormatError` and nothing else.

Only the payload is opaque here: what its bytes mean is defined by the model that the
model id names (see README).
"""

import binascii
from dataclasses import dataclass

from .errors import NicFormatError

__all__ = [
    "MAGIC",
    "VERSION",
    "VERSIONS",
    "CHANNELS",
    "MAX_SIDE",
    "MAX_PIXELS",
    "MAX_PAYLOAD",
    "MAX_PAYLOAD_V3",
    "MAX_PAYLOAD_V4",
    "RESIDUAL_QUALITY",
    "DEFAULT_SIZE",
    "MIN_FILE_SIZE",
    "MIME_TYPE",
    "EXTENSION",
    "Header",
    "pack",
    "unpack",
    "header_size",
]

# A non-ASCII first byte, as in PNG, so a file mangled by a 7-bit text transfer fails the magic.
MAGIC = b"\x89N"
VERSION = 5  # the newest version this nic reads and writes
# Version 2 adds PLACEMENT and LEVELS; version 3 a mode byte in residual payloads (any size,
# coded without the network). A file is written in the oldest version that holds it.
# Version 4 adds a channels byte: colour (RGB) images. Version 5 writes version 2's fields in
# fewer bytes: the height and the placement side relative to what they usually are, and the
# paper and ink levels in one byte (16 steps each, every 17 grey levels).
VERSIONS = (1, 2, 3, 4, 5)
LEVEL_STEP = 17  # version 5 levels are multiples of this: 0, 17, ..., 255
CHANNELS = (1, 3)  # grey, RGB
MAX_SIDE = 8192
MAX_PIXELS = 16_777_216
MAX_PAYLOAD = 1 << 20
# Version 3 payloads may hold a whole image's pixels stored plainly, plus a few bytes.
MAX_PAYLOAD_V3 = MAX_PIXELS + 64
MAX_PAYLOAD_V4 = 3 * MAX_PIXELS + 64  # the same for three channels
RESIDUAL_QUALITY = 128  # quality bytes 128..255: the residual layer (version 3 requires one)
DEFAULT_SIZE = 28
DEFAULT_COLOUR_SIZE = 32
MIME_TYPE = "image/x-nic"
EXTENSION = ".nic"

_FLAG_INVERTED = 0x1
_FLAG_GEOMETRY = 0x2
_FLAG_PLACEMENT = 0x4  # version 2
_FLAG_LEVELS = 0x8  # version 2
_FLAGS_RESERVED = {1: 0xC, 2: 0x0, 3: 0x0, 4: 0xC, 5: 0x0}  # colour images are not normalised
MAX_PLACEMENT = 4 * MAX_SIDE  # bound of the placement square's side and offsets
_FIXED_SIZE = 5  # magic, version/flags, model id, quality
_CHECK_SIZE = 2
_MAX_VARINT_BYTES = 4
_TRUNCATED = "truncated .nic file"
# Magic, version/flags, model id, quality, a one-byte empty payload length, the check.
MIN_FILE_SIZE = _FIXED_SIZE + 1 + _CHECK_SIZE


@dataclass(frozen=True)
class Header:
    """Everything a .nic file says besides its payload; invalid values raise on construction."""

    model_id: int
    quality: int
    width: int = DEFAULT_SIZE
    height: int = DEFAULT_SIZE
    inverted: bool = False
    # (left, top, side) of the square of the image that the model's field covers; None: the
    # whole image fitted into it. (paper, ink): the grey levels of model values 0 and 255.
    placement: tuple[int, int, int] | None = None
    levels: tuple[int, int] | None = None
    channels: int = 1  # 3: RGB, version 4
    # None: the oldest version that holds the fields above. 3 is chosen by the writer: a
    # residual-mode payload that begins with a mode byte (docs/FORMAT.md).
    version: int | None = None

    def __post_init__(self) -> None:
        _check_int("model id", self.model_id, 1, 255)
        _check_int("quality", self.quality, 1, 255)
        _check_int("width", self.width, 1, MAX_SIDE)
        _check_int("height", self.height, 1, MAX_SIDE)
        if self.width * self.height > MAX_PIXELS:
            raise NicFormatError(
                f"image of {self.width}x{self.height} pixels exceeds the limit of {MAX_PIXELS} pixels"
            )
        if not isinstance(self.inverted, bool):
            raise NicFormatError(f"inverted must be a bool, got {type(self.inverted).__name__}")
        if self.placement is not None:
            _check_placement(self.placement, self.width, self.height)
        if self.levels is not None:
            _check_levels(self.levels, self.inverted)
        _check_channels(self)
        object.__setattr__(self, "version", self._checked_version())

    def _checked_version(self) -> int:
        """The version asked for, or the oldest that holds the fields (older readers keep
        working); placement and levels are written as version 5, unless the levels are not
        multiples of LEVEL_STEP (a version 2 file's, passed on): then as version 2."""
        normalised = self.placement is not None or self.levels is not None
        oldest = 2 if normalised else 1
        if self.channels == 3:
            oldest = 4
        if self.version is None:
            return 5 if normalised and _compact_levels(self.levels) else oldest
        if (self.version == 4) != (self.channels == 3):
            raise NicFormatError("version 4 is for colour images and colour images are version 4")
        if self.version not in VERSIONS:
            raise NicFormatError(_unsupported(self.version))
        if self.version == 3 and self.quality < RESIDUAL_QUALITY:
            raise NicFormatError("non-canonical version: a file without a residual layer is "
                                 "version 1 or 2")
        if self.version < oldest or (self.version in (2, 5) and oldest == 1):
            raise NicFormatError("non-canonical version: a file without placement or levels is "
                                 "version 1")
        if self.version == 5 and not _compact_levels(self.levels):
            raise NicFormatError(f"levels {self.levels} are not multiples of {LEVEL_STEP}, as "
                                 "version 5 stores them")
        return self.version

    @property
    def has_geometry(self) -> bool:
        """Whether the size differs from the default (28x28 grey, 32x32 colour) and so must be stored."""
        return (self.width, self.height) != _default_size(self.channels)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    # bool is an int subclass; True as a model id is a caller bug, not model 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise NicFormatError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise NicFormatError(f"{name} must be in {low}..{high}, got {value}")


def _default_size(channels: int) -> tuple[int, int]:
    """The size a file without GEOMETRY has: the grey models' 28x28, the colour model's 32x32."""
    side = DEFAULT_COLOUR_SIZE if channels == 3 else DEFAULT_SIZE
    return side, side


def _check_channels(header: "Header") -> None:
    if header.channels not in CHANNELS or isinstance(header.channels, bool):
        raise NicFormatError(f"channels must be 1 or 3, got {header.channels!r}")
    if header.channels == 3 and (header.placement or header.levels or header.inverted):
        raise NicFormatError("a colour image has no placement, levels or inversion")


def _check_placement(placement, width: int, height: int) -> None:
    if not isinstance(placement, tuple) or len(placement) != 3:
        raise NicFormatError(f"placement must be a (left, top, side) tuple, got {placement!r}")
    left, top, side = placement
    _check_int("placement side", side, 1, MAX_PLACEMENT)
    _check_int("placement left", left, -MAX_PLACEMENT, MAX_PLACEMENT)
    _check_int("placement top", top, -MAX_PLACEMENT, MAX_PLACEMENT)
    if left >= width or top >= height or left + side <= 0 or top + side <= 0:
        raise NicFormatError(f"placement {placement} does not overlap the {width}x{height} image")


def _check_levels(levels, inverted: bool) -> None:
    if not isinstance(levels, tuple) or len(levels) != 2:
        raise NicFormatError(f"levels must be a (paper, ink) tuple, got {levels!r}")
    for name, value in zip(("paper", "ink"), levels):
        _check_int(f"{name} level", value, 0, 255)
    if inverted:
        raise NicFormatError("levels carry the polarity: inverted must be False with levels")
    if levels in ((0, 255), (255, 0)):
        raise NicFormatError(f"non-canonical levels {levels}: use no levels (and INVERTED)")


def _compact_levels(levels) -> bool:
    """Whether version 5's one byte holds the levels (None holds trivially)."""
    return levels is None or all(level % LEVEL_STEP == 0 for level in levels)


def _zigzag(value: int) -> int:
    """Signed -> unsigned for varints: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ..."""
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


def _encode_varint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, high bit = more."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _decode_varint(data: memoryview, pos: int, name: str, limit: int) -> tuple[int, int]:
    """Read one minimal LEB128 varint of at most 4 bytes at pos; return (value, next pos)."""
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise NicFormatError(f"{_TRUNCATED}: it ends inside the {name} field")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            # A zero final group after the first byte adds nothing: an overlong encoding.
            if byte == 0 and i > 0:
                raise NicFormatError(f"{name} field is not minimally encoded")
            if value > limit:
                raise NicFormatError(f"{name} {value} exceeds the limit of {limit}")
            return value, pos + i + 1
    raise NicFormatError(f"{name} field is longer than {_MAX_VARINT_BYTES} bytes")


def header_size(header: Header, payload_size: int = 0) -> int:
    """Bytes before the payload; pass payload_size when it may be 128 or more (a longer length field)."""
    return len(_fields(header)) + len(_encode_varint(payload_size))


def _flags(header: Header) -> int:
    return ((_FLAG_INVERTED if header.inverted else 0)
            | (_FLAG_GEOMETRY if header.has_geometry else 0)
            | (_FLAG_PLACEMENT if header.placement is not None else 0)
            | (_FLAG_LEVELS if header.levels is not None else 0))


def _fields(header: Header) -> bytearray:
    """Every header byte before the payload length."""
    out = bytearray(MAGIC)
    out += bytes([(header.version << 4) | _flags(header), header.model_id, header.quality])
    if header.version == 4:
        out.append(header.channels)
    compact = header.version == 5
    if header.has_geometry:
        height = _zigzag(header.height - header.width) if compact else header.height
        out += _encode_varint(header.width) + _encode_varint(height)
    if header.placement is not None:
        left, top, side = header.placement
        if compact:
            side = _zigzag(side - max(header.width, header.height))
        out += _encode_varint(_zigzag(left)) + _encode_varint(_zigzag(top)) + _encode_varint(side)
    if header.levels is not None:
        paper, ink = header.levels
        out += bytes([paper // LEVEL_STEP << 4 | ink // LEVEL_STEP]) if compact else bytes(header.levels)
    return out


def pack(header: Header, payload: bytes) -> bytes:
    """Serialise a header and an opaque payload into the bytes of a .nic file.

    Args:
        header: the validated header; its 28x28 default size is not stored.
        payload: the entropy-coded latent, at most MAX_PAYLOAD bytes.

    Returns:
        The complete file, CRC included.
    """
    if not isinstance(header, Header):
        raise NicFormatError(f"header must be a Header, got {type(header).__name__}")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise NicFormatError(f"payload must be bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    limit = _payload_limit(header.version)
    if len(payload) > limit:
        raise NicFormatError(f"payload of {len(payload)} bytes exceeds the limit of {limit}")
    out = _fields(header)
    out += _encode_varint(len(payload)) + payload
    out += binascii.crc_hqx(out, 0).to_bytes(2, "big")
    return bytes(out)


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Parse and fully validate a .nic file.

    Args:
        data: the whole file as bytes, bytearray or memoryview.

    Returns:
        The header and the payload (as bytes).

    Raises:
        NicFormatError: for any input that is not exactly a file `pack` could have written.
    """
    view = _as_bytes_view(data)
    # Magic first, on whatever prefix exists: a short foreign file is "not a .nic file".
    if view[: len(MAGIC)] != MAGIC[: len(view)]:
        from .archive import ARCHIVE_MAGIC  # here only: archive.py builds on this module

        if len(view) >= len(ARCHIVE_MAGIC) and view[: len(ARCHIVE_MAGIC)] == ARCHIVE_MAGIC:
            raise NicFormatError("not a .nic file but a .nicpack archive: nic unpack (or "
                                 "codec.open_archive) reads it")
        raise NicFormatError("not a .nic file: bad magic")
    if len(view) < MIN_FILE_SIZE:
        raise NicFormatError(f"{_TRUNCATED}: {len(view)} of at least {MIN_FILE_SIZE} bytes")
    if binascii.crc_hqx(view[:-_CHECK_SIZE], 0) != int.from_bytes(view[-_CHECK_SIZE:], "big"):
        raise NicFormatError(_diagnose_bad_check(view))
    # From here the bytes are as written, so a bad field is a bad writer, not bit rot.
    return _parse_fields(view)


def _as_bytes_view(data: object) -> memoryview:
    """A flat byte view of data without copying; anything else is a format error."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NicFormatError(f"expected bytes, bytearray or memoryview, got {type(data).__name__}")
    try:
        return memoryview(data).cast("B")
    except (TypeError, ValueError):
        raise NicFormatError("expected a contiguous byte buffer") from None


def _parse_fields(view: memoryview) -> tuple[Header, bytes]:
    """Decode the fields of a file whose magic and CRC are already known good."""
    version, flags = view[2] >> 4, view[2] & 0x0F
    if version not in VERSIONS:
        raise NicFormatError(_unsupported(version))
    if flags & _FLAGS_RESERVED[version]:
        raise NicFormatError(f"reserved flag bits are set (flags 0x{flags:x})")
    if version in (2, 5) and not flags & (_FLAG_PLACEMENT | _FLAG_LEVELS):
        raise NicFormatError("non-canonical version: a file without placement or levels is version 1")
    if version == 3 and view[4] < RESIDUAL_QUALITY:
        raise NicFormatError("non-canonical version: a file without a residual layer is version 1 or 2")
    body = view[:-_CHECK_SIZE]
    if view[3] == 0:
        raise NicFormatError("model id 0 is invalid (must be 1..255)")
    if view[4] == 0:
        raise NicFormatError("quality 0 is invalid (must be 1..255)")
    pos, channels = _FIXED_SIZE, 1
    if version == 4:
        if pos >= len(body):
            raise NicFormatError(f"{_TRUNCATED}: it ends inside the channels field")
        channels, pos = body[pos], pos + 1
        if channels != 3:
            raise NicFormatError(f"channels {channels} is invalid in version 4 (must be 3)")
        if flags & _FLAG_INVERTED:
            raise NicFormatError("a colour image cannot be inverted")
    width, height = _default_size(channels)
    if flags & _FLAG_GEOMETRY:
        width, height, pos = _read_geometry(body, pos, version)
        if (width, height) == _default_size(channels):
            raise NicFormatError(f"non-canonical geometry: a {width}x{height} image must omit the "
                                 "width and height fields")
    placement = levels = None
    if flags & _FLAG_PLACEMENT:
        placement, pos = _read_placement(body, pos, max(width, height) if version == 5 else None)
    if flags & _FLAG_LEVELS:
        levels, pos = _read_levels(body, pos, version)
    size, pos = _decode_varint(body, pos, "payload length", _payload_limit(version))
    if pos + size != len(body):
        raise NicFormatError(_size_mismatch(pos + size + _CHECK_SIZE, len(view)))
    header = Header(view[3], view[4], width, height, inverted=bool(flags & _FLAG_INVERTED),
                    placement=placement, levels=levels, channels=channels, version=version)
    return header, bytes(body[pos:])


def _read_geometry(body: memoryview, pos: int, version: int) -> tuple[int, int, int]:
    """(width, height, next pos); version 5 stores the height as its difference from the width."""
    width, pos = _decode_varint(body, pos, "width", MAX_SIDE)
    if version != 5:
        height, pos = _decode_varint(body, pos, "height", MAX_SIDE)
        return width, height, pos
    difference, pos = _decode_varint(body, pos, "height difference", 2 * MAX_SIDE)
    height = width + _unzigzag(difference)
    if not 1 <= height <= MAX_SIDE:
        raise NicFormatError(f"height must be in 1..{MAX_SIDE}, got {height}")
    return width, height, pos


def _read_placement(body: memoryview, pos: int,
                    longer_side: int | None = None) -> tuple[tuple[int, int, int], int]:
    """(left, top, side), next pos; with longer_side (version 5) the side is stored as its
    difference from the image's longer side."""
    left, pos = _decode_varint(body, pos, "placement left", 2 * MAX_PLACEMENT)
    top, pos = _decode_varint(body, pos, "placement top", 2 * MAX_PLACEMENT)
    if longer_side is None:
        side, pos = _decode_varint(body, pos, "placement side", MAX_PLACEMENT)
    else:
        difference, pos = _decode_varint(body, pos, "placement side difference", 4 * MAX_PLACEMENT)
        side = longer_side + _unzigzag(difference)
        if not 1 <= side <= MAX_PLACEMENT:
            raise NicFormatError(f"placement side must be in 1..{MAX_PLACEMENT}, got {side}")
    return (_unzigzag(left), _unzigzag(top), side), pos


def _read_levels(body: memoryview, pos: int, version: int) -> tuple[tuple[int, int], int]:
    """(paper, ink), next pos: two bytes, or (version 5) one byte of two 4-bit steps."""
    size = 1 if version == 5 else 2
    if pos + size > len(body):
        raise NicFormatError(f"{_TRUNCATED}: it ends inside the levels field")
    if version == 5:
        return ((body[pos] >> 4) * LEVEL_STEP, (body[pos] & 0x0F) * LEVEL_STEP), pos + 1
    return (body[pos], body[pos + 1]), pos + 2


def _payload_limit(version: int) -> int:
    return {3: MAX_PAYLOAD_V3, 4: MAX_PAYLOAD_V4}.get(version, MAX_PAYLOAD)


def _unsupported(version: int) -> str:
    newest = f"this nic reads versions {VERSIONS[0]} to {VERSIONS[-1]}"
    if version > VERSION:
        return f"unsupported .nic format version {version}: written by a newer nic ({newest})"
    return f"unsupported .nic format version {version} ({newest})"


def _diagnose_bad_check(view: memoryview) -> str:
    """Name the likely cause of a CRC mismatch: truncation if the length fields promise more bytes."""
    if view[2] >> 4 in VERSIONS:
        try:
            expected = _framed_size(view)
        except NicFormatError as error:
            if str(error).startswith(_TRUNCATED):
                return str(error)
        else:
            if expected > len(view):
                return _size_mismatch(expected, len(view))
    return "integrity check failed: the file is corrupt"


def _size_mismatch(expected: int, actual: int) -> str:
    if expected > actual:
        return f"{_TRUNCATED}: its header promises {expected} bytes but only {actual} are present"
    return f"trailing data: the header promises {expected} bytes but the file has {actual}"


def _framed_size(view: memoryview) -> int:
    """The file size that the (unchecked) length fields of a file promise."""
    pos, version = _FIXED_SIZE, view[2] >> 4
    pos += version == 4  # the channels byte
    width = height = DEFAULT_SIZE
    if view[2] & _FLAG_GEOMETRY:
        width, height, pos = _read_geometry(view, pos, version)
    if version >= 2 and view[2] & _FLAG_PLACEMENT:
        _, pos = _read_placement(view, pos, max(width, height) if version == 5 else None)
    if version >= 2 and view[2] & _FLAG_LEVELS:
        pos += 1 if version == 5 else 2
    size, pos = _decode_varint(view, pos, "payload length", _payload_limit(view[2] >> 4))
    return pos + size + _CHECK_SIZE
