"""The .nic container by contract: exact round trips, and NicFormatError for anything malformed.

Crafted invalid files carry a correct CRC (see `_raw`) so that the field check under test, not
the integrity check, is what rejects them.
"""

import binascii
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codec.errors import NicError, NicFormatError
from codec.format import (
    DEFAULT_SIZE,
    MAGIC,
    MAX_PAYLOAD,
    MAX_PIXELS,
    MAX_SIDE,
    VERSION,
    Header,
    header_size,
    pack,
    unpack,
)

FORMAT_MD = Path(__file__).resolve().parents[1] / "docs" / "FORMAT.md"
EXAMPLE_PAYLOAD = bytes.fromhex("123456789abcdef0")

SAMPLES = [
    (Header(1, 4), EXAMPLE_PAYLOAD),
    (Header(255, 255), b""),
    (Header(3, 2, inverted=True), bytes(range(40))),
    (Header(7, 1, width=300, height=40), bytes(range(256)) + bytes(44)),  # 2-byte varints
    (Header(2, 9, width=1, height=1, inverted=True), b"\xff"),
    (Header(9, 3, width=28, height=29), b"\x00\x01"),
    (Header(4, 5, width=MAX_SIDE, height=MAX_PIXELS // MAX_SIDE), b"\x55" * 7),
    # A normalised image's placement square and paper/ink levels: version 5 unless the levels
    # are not multiples of 17, which only version 2 holds.
    (Header(1, 5, width=200, height=150, placement=(-12, 30, 90)), b"\x01\x02"),
    (Header(1, 5, levels=(200, 30)), EXAMPLE_PAYLOAD),
    (Header(2, 140, width=400, height=400, placement=(100, -7, 300), levels=(0, 180)), b"\x09"),
    # Version 5: the same fields in fewer bytes, levels in steps of 17 (what encoders write now).
    (Header(15, 5, width=120, height=90, placement=(3, -4, 100), levels=(221, 34)), b"\x07"),
]
SAMPLE_IDS = [f"{h.width}x{h.height}-inv{int(h.inverted)}-{len(p)}B" for h, p in SAMPLES]
FILES = [pack(h, p) for h, p in SAMPLES]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _raw(*parts: bytes | int) -> bytes:
    """Raw file bytes from parts (ints are single bytes) followed by their correct CRC-16."""
    body = b"".join(bytes([p]) if isinstance(p, int) else p for p in parts)
    return body + binascii.crc_hqx(body, 0).to_bytes(2, "big")


def _rejects(data, match: str | None = None) -> NicFormatError:
    with pytest.raises(NicFormatError, match=match) as info:
        unpack(data)
    return info.value


# --- round trips and sizes ---------------------------------------------------------------


@pytest.mark.parametrize(("header", "payload"), SAMPLES, ids=SAMPLE_IDS)
def test_round_trip_is_identity(header, payload):
    data = pack(header, payload)
    assert unpack(data) == (header, payload)
    assert pack(*unpack(data)) == data


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_unpack_accepts_byte_buffers(wrap):
    header, payload = unpack(wrap(FILES[0]))
    assert (header, payload) == SAMPLES[0]
    assert type(payload) is bytes


def test_unpack_accepts_a_memoryview_slice():
    padded = b"xx" + FILES[2] + b"yy"
    assert unpack(memoryview(padded)[2:-2]) == SAMPLES[2]


def test_default_28x28_costs_8_bytes_of_overhead():
    header, payload = SAMPLES[0]
    assert len(pack(header, payload)) == len(payload) + 8
    assert header_size(header) == 6


@pytest.mark.parametrize(("header", "payload"), SAMPLES, ids=SAMPLE_IDS)
def test_header_size_counts_the_bytes_before_the_payload(header, payload):
    assert header_size(header, len(payload)) == len(pack(header, payload)) - len(payload) - 2


def test_large_payload_length_takes_two_varint_bytes():
    data = pack(Header(1, 1), bytes(300))
    assert data[5:7] == b"\xac\x02"  # 300 = 0b10_0101100
    assert header_size(Header(1, 1), 300) == 7


def test_maximum_payload_round_trips():
    payload = bytes(MAX_PAYLOAD)
    assert unpack(pack(Header(1, 1), payload))[1] == payload


def test_worked_example_in_the_spec_matches_pack():
    data = pack(Header(1, 4), EXAMPLE_PAYLOAD)
    assert data.hex(" ") == "89 4e 10 01 04 08 12 34 56 78 9a bc de f0 46 5c"
    spec = FORMAT_MD.read_text(encoding="utf-8")
    assert data.hex(" ") in spec
    geometry = pack(Header(2, 3, width=32, height=300, inverted=True), b"\xab\xcd")
    assert geometry.hex(" ") in spec


def test_crc_is_xmodem_with_the_documented_check_value():
    assert binascii.crc_hqx(b"123456789", 0) == 0x31C3
    assert "0x31C3" in FORMAT_MD.read_text(encoding="utf-8")


def test_error_type_is_a_value_error_and_a_nic_error():
    error = _rejects(b"GIF89a....")
    assert isinstance(error, ValueError) and isinstance(error, NicError)


# --- damage to valid files ---------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x89", b"\x89P", b"GIF89a", b"\x09N\x10\x01\x04\x00\x00\x00", b"PK\x03\x04" * 4])
def test_bad_magic_is_rejected(data):
    if data[:2] == MAGIC[: len(data)]:
        _rejects(data, "^truncated")
    else:
        _rejects(data, "^not a .nic file: bad magic$")


@pytest.mark.parametrize("data", FILES, ids=SAMPLE_IDS)
def test_every_single_bit_flip_is_rejected(data):
    for bit in range(8 * len(data)):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        _rejects(damaged)


@pytest.mark.parametrize("data", FILES, ids=SAMPLE_IDS)
def test_every_truncation_is_rejected_as_truncated(data):
    for size in range(len(data)):
        _rejects(data[:size], "^truncated .nic file")


@pytest.mark.parametrize("data", FILES, ids=SAMPLE_IDS)
def test_every_single_byte_insertion_is_rejected(data):
    for pos in range(len(data) + 1):
        for byte in {0x00, 0xFF, 0x80, data[min(pos, len(data) - 1)]}:
            _rejects(data[:pos] + bytes([byte]) + data[pos:])


def test_appended_zero_byte_is_caught_by_the_length_not_the_crc():
    # XMODEM has no final xor, so the CRC of body + one 0x00 byte ends like the old CRC: only
    # the exact length check stands between a zero-padded file and acceptance.
    _rejects(FILES[0] + b"\x00", "^trailing data: the header promises 16 bytes but the file has 17$")


def test_corruption_message_is_clear():
    damaged = bytearray(FILES[0])
    damaged[9] ^= 0x10
    _rejects(damaged, "^integrity check failed: the file is corrupt$")


# --- crafted invalid fields (correct CRC) ------------------------------------------------


@pytest.mark.parametrize("version", [0, 6, 15])
def test_unknown_version_is_named(version):
    error = _rejects(_raw(MAGIC, version << 4, 1, 1, 0))
    assert str(error).startswith(f"unsupported .nic format version {version}")
    assert "this nic reads versions 1 to 5" in str(error)
    assert ("newer nic" in str(error)) is (version > VERSION)


@pytest.mark.parametrize("flags", [0x4, 0x8, 0xC, 0xF])
def test_reserved_flag_bits_of_version_1_are_rejected(flags):
    _rejects(_raw(MAGIC, 0x10 | flags, 1, 1, 0), "^reserved flag bits are set")


def test_headers_without_placement_or_levels_are_written_as_version_1():
    # Readers from before version 2 keep reading every file that does not need it.
    assert [data[2] >> 4 for data in FILES] == [1] * 7 + [5, 2, 2, 5]
    _rejects(_raw(MAGIC, 0x20, 1, 1, 0), "^non-canonical version")
    _rejects(_raw(MAGIC, 0x50, 1, 1, 0), "^non-canonical version")


def test_version_3_is_chosen_by_the_writer_for_residual_payloads_only():
    data = pack(Header(1, 128, width=3, height=7, version=3), b"\x00")
    assert data[:-2] == bytes([0x89, 0x4E, 0x32, 1, 128, 3, 7, 1, 0])
    assert unpack(data) == (Header(1, 128, width=3, height=7, version=3), b"\x00")
    assert unpack(pack(Header(1, 128), b""))[0].version == 1  # the old residual layout
    _rejects(_raw(MAGIC, 0x30, 1, 5, 0), "^non-canonical version: a file without a residual layer")
    with pytest.raises(NicFormatError, match="^non-canonical version"):
        Header(1, 5, version=3)


def test_version_3_payloads_may_hold_a_whole_image():
    # A stored image of MAX_PAYLOAD pixels and its mode byte: too long for versions 1 and 2.
    header = Header(1, 128, width=1024, height=1024, version=3)
    payload = bytes(MAX_PAYLOAD + 1)
    assert unpack(pack(header, payload)) == (header, payload)
    with pytest.raises(NicFormatError, match="exceeds the limit"):
        pack(Header(1, 128, width=1024, height=1024), payload)


def test_version_2_fields_are_laid_out_as_the_spec_says():
    # PLACEMENT: zigzag varints left -12 -> 23, top 30 -> 60, then side 90; LEVELS: two bytes.
    data = pack(Header(1, 5, width=200, height=150, placement=(-12, 30, 90), levels=(200, 30)), b"")
    assert data[:-2] == bytes([0x89, 0x4E, 0x2E, 1, 5, 0xC8, 0x01, 0x96, 0x01, 23, 60, 90, 200, 30, 0])


def test_version_5_fields_are_laid_out_as_the_spec_says():
    # Height 150 as its difference from the width, -50 -> 99; left -12 -> 23, top 30 -> 60; side
    # 90 as its difference from the longer side 200, -110 -> 219 (2 bytes); levels 204 and 34
    # as steps 12 and 2 in one byte.
    header = Header(1, 5, width=200, height=150, placement=(-12, 30, 90), levels=(204, 34))
    data = pack(header, b"")
    assert data[:-2] == bytes([0x89, 0x4E, 0x5E, 1, 5, 0xC8, 0x01, 99, 23, 60, 0xDB, 0x01, 0xC2, 0])
    assert unpack(data) == (header, b"")
    assert header.version == 5


def test_version_5_holds_levels_in_steps_of_17_only():
    with pytest.raises(NicFormatError, match="not multiples of 17"):
        Header(1, 5, levels=(200, 30), version=5)
    assert Header(1, 5, levels=(200, 30)).version == 2  # a version 2 file's levels, passed on
    legacy = Header(1, 5, levels=(204, 34), version=2)  # old files keep their version
    assert unpack(pack(legacy, b"\x01")) == (legacy, b"\x01")


def test_version_5_height_and_side_out_of_range_are_rejected():
    # width 1, height difference -2 -> height -1; then a side difference making side 0
    _rejects(_raw(MAGIC, 0x56, 1, 5, 1, 3, 0, 0, 0, 0), "^height must be in 1..8192, got -1$")
    _rejects(_raw(MAGIC, 0x56, 1, 5, 40, 0, 0, 0, 79, 0), "^placement side must be in 1..32768, got 0$")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"placement": (0, 0, 0)}, "placement side must be in"),
        ({"placement": (28, 0, 10)}, "does not overlap"),
        ({"placement": (-10, 0, 10)}, "does not overlap"),
        ({"levels": (0, 255)}, "non-canonical levels"),
        ({"levels": (10, 300)}, "ink level must be in 0..255"),
        ({"levels": (10, 200), "inverted": True}, "levels carry the polarity"),
    ],
)
def test_invalid_version_2_fields_are_rejected(fields, message):
    with pytest.raises(NicFormatError, match=message):
        Header(1, 1, **fields)


def test_model_id_zero_is_rejected():
    _rejects(_raw(MAGIC, 0x10, 0, 1, 0), "^model id 0 is invalid")


def test_quality_zero_is_rejected():
    _rejects(_raw(MAGIC, 0x10, 1, 0, 0), "^quality 0 is invalid")


@pytest.mark.parametrize(
    ("length_field", "message"),
    [
        (b"\x88\x00", "^payload length field is not minimally encoded$"),
        (b"\x80\x00", "^payload length field is not minimally encoded$"),
        (b"\x81\x80\x80\x00", "^payload length field is not minimally encoded$"),
        (b"\x80\x80\x80\x80\x01", "^payload length field is longer than 4 bytes$"),
        (b"\x81\x80\xc0\x00", "^payload length field is not minimally encoded$"),
        (b"\x81\x80\x40", f"^payload length {MAX_PAYLOAD + 1} exceeds the limit of {MAX_PAYLOAD}$"),
        (b"\xff\xff\xff\x7f", f"^payload length {(1 << 28) - 1} exceeds the limit"),
        (b"\x09", "^truncated .nic file: its header promises 17 bytes but only 16 are present$"),
        (b"\x07", "^trailing data: the header promises 15 bytes but the file has 16$"),
        (b"\x88", "^truncated .nic file: it ends inside the payload length field$"),
    ],
)
def test_bad_payload_length_fields_are_rejected(length_field, message):
    payload = EXAMPLE_PAYLOAD if length_field[-1] < 0x80 else b""
    _rejects(_raw(MAGIC, 0x10, 1, 1, length_field, payload), message)


def test_overlong_length_with_matching_size_is_still_rejected():
    # 0x88 0x00 means 8, and 8 payload bytes follow: only minimality rejects it.
    _rejects(_raw(MAGIC, 0x10, 1, 1, b"\x88\x00", EXAMPLE_PAYLOAD), "not minimally encoded")


def _geometry(width: bytes, height: bytes) -> bytes:
    return _raw(MAGIC, 0x12, 1, 1, width, height, b"\x01\xaa")


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (b"\x00", b"\x10", "^width must be in 1..8192, got 0$"),
        (b"\x10", b"\x00", "^height must be in 1..8192, got 0$"),
        (b"\x81\x40", b"\x10", f"^width {MAX_SIDE + 1} exceeds the limit of {MAX_SIDE}$"),
        (b"\x10", b"\xff\xff\x03", "^height 65535 exceeds the limit"),
        (b"\x80\x40", b"\x81\x10", f"^image of 8192x2049 pixels exceeds the limit of {MAX_PIXELS} pixels$"),
        (b"\x9c\x00", b"\x10", "^width field is not minimally encoded$"),
        (b"\x80\x80\x80\x80\x01", b"\x10", "^width field is longer than 4 bytes$"),
        (bytes([DEFAULT_SIZE]), bytes([DEFAULT_SIZE]), "^non-canonical geometry"),
    ],
)
def test_bad_geometry_is_rejected(width, height, message):
    _rejects(_geometry(width, height), message)


def test_geometry_flag_with_fields_cut_short_is_rejected():
    _rejects(_raw(MAGIC, 0x12, 1, 1, b"\x80"), "^truncated .nic file: it ends inside the width field$")
    _rejects(_raw(MAGIC, 0x12, 1, 1, 0x10), "ends inside the height field")


def test_huge_declared_payload_allocates_nothing():
    data = _raw(MAGIC, 0x10, 1, 1, b"\x80\x80\x40")  # claims MAX_PAYLOAD bytes, holds none
    tracemalloc.start()
    try:
        _rejects(data, "^truncated .nic file: its header promises")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


@pytest.mark.parametrize("data", ["\x89N", None, 42, [0x89, 0x4E], memoryview(FILES[0])[::2]])
def test_non_byte_input_is_a_format_error(data):
    _rejects(data)


# --- pack validates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_id": 0, "quality": 1}, "^model id must be in 1..255, got 0$"),
        ({"model_id": 256, "quality": 1}, "^model id must be in 1..255, got 256$"),
        ({"model_id": 1, "quality": 0}, "^quality must be in 1..255, got 0$"),
        ({"model_id": True, "quality": 1}, "^model id must be an int, got bool$"),
        ({"model_id": 1, "quality": 1.0}, "^quality must be an int, got float$"),
        ({"model_id": 1, "quality": 1, "width": 0}, "^width must be in 1..8192, got 0$"),
        ({"model_id": 1, "quality": 1, "height": MAX_SIDE + 1}, "^height must be in 1..8192"),
        ({"model_id": 1, "quality": 1, "width": MAX_SIDE, "height": MAX_SIDE}, "exceeds the limit of"),
        ({"model_id": 1, "quality": 1, "inverted": 1}, "^inverted must be a bool, got int$"),
    ],
)
def test_invalid_header_values_are_rejected(fields, message):
    with pytest.raises(NicFormatError, match=message):
        Header(**fields)


def test_pack_rejects_bad_payloads():
    with pytest.raises(NicFormatError, match="^payload of 1048577 bytes exceeds the limit of 1048576$"):
        pack(Header(1, 1), bytes(MAX_PAYLOAD + 1))
    with pytest.raises(NicFormatError, match="^payload must be bytes, got str$"):
        pack(Header(1, 1), "abc")
    with pytest.raises(NicFormatError, match="^header must be a Header, got dict$"):
        pack({"model_id": 1}, b"")


# --- properties --------------------------------------------------------------------------

headers = st.builds(
    Header,
    model_id=st.integers(1, 255),
    quality=st.integers(1, 255),
    width=st.one_of(st.just(DEFAULT_SIZE), st.integers(1, MAX_SIDE)),
    height=st.one_of(st.just(DEFAULT_SIZE), st.integers(1, MAX_PIXELS // MAX_SIDE)),
    inverted=st.booleans(),
)
placements = st.tuples(st.integers(-50, 27), st.integers(-50, 27), st.integers(51, 5000))
levels = st.tuples(st.integers(0, 255), st.integers(0, 255)).filter(
    lambda lv: lv not in ((0, 255), (255, 0)))
headers_v2 = st.builds(
    Header, model_id=st.integers(1, 255), quality=st.integers(1, 255),
    placement=st.one_of(st.none(), placements), levels=levels,
)
files = st.tuples(headers, st.binary(max_size=300)).map(lambda hp: pack(*hp))


def _accepts_only_canonical(data: bytes) -> None:
    """unpack raises NicFormatError, or returns what pack turns back into the same bytes."""
    try:
        header, payload = unpack(data)
    except NicFormatError:
        return
    assert pack(header, payload) == data


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_format_errors(data):
    _accepts_only_canonical(data)


@SETTINGS
@given(st.integers(0, 15), st.sampled_from([0x10, 0x20, 0x30, 0x50]), st.binary(max_size=60))
def test_arbitrary_fields_after_the_magic_raise_only_format_errors(flags, version, tail):
    # With a correct CRC, random bytes get past the integrity check into the field checks.
    _accepts_only_canonical(_raw(MAGIC, version | flags, tail))
    _accepts_only_canonical(MAGIC + bytes([version | flags]) + tail)


@SETTINGS
@given(st.one_of(headers, headers_v2), st.binary(max_size=300))
def test_round_trip_property(header, payload):
    assert unpack(pack(header, payload)) == (header, payload)


@SETTINGS
@given(files, st.data())
def test_up_to_three_bit_flips_are_always_rejected(data, draw):
    # CRC-16/XMODEM has Hamming distance 4 for codewords under 32767 bits: 1-3 flips never pass.
    bits = draw.draw(st.sets(st.integers(0, 8 * len(data) - 1), min_size=1, max_size=3))
    damaged = bytearray(data)
    for bit in bits:
        damaged[bit // 8] ^= 1 << (bit % 8)
    _rejects(damaged)


@SETTINGS
@given(files, st.data())
def test_truncations_and_insertions_are_always_rejected(data, draw):
    size = draw.draw(st.integers(0, len(data) - 1))
    _rejects(data[:size], "^truncated")
    pos = draw.draw(st.integers(0, len(data)))
    inserted = draw.draw(st.binary(min_size=1, max_size=1))
    _rejects(data[:pos] + inserted + data[pos:])


@SETTINGS
@given(files, st.data())
def test_damage_bursts_of_up_to_16_bits_are_always_rejected(data, draw):
    start = draw.draw(st.integers(0, len(data) - 2))
    burst = draw.draw(st.binary(min_size=2, max_size=2))
    damaged = data[:start] + burst + data[start + 2 :]
    if damaged == data:
        assert unpack(damaged) == unpack(data)
    else:
        _rejects(damaged)


@SETTINGS
@given(files, st.data())
def test_random_damage_yields_an_error_or_the_unchanged_original(data, draw):
    start = draw.draw(st.integers(0, len(data)))
    stop = draw.draw(st.integers(start, len(data)))
    damage = draw.draw(st.binary(max_size=2 * (stop - start) + 4))
    damaged = data[:start] + damage + data[stop:]
    if damaged == data:
        assert unpack(damaged) == unpack(data)
    else:
        # A longer random span can collide with the CRC (chance 2**-16); even then the result
        # must be a well-formed file, never an exception of another type.
        _accepts_only_canonical(damaged)


@SETTINGS
@given(files, st.data())
def test_valid_prefix_plus_garbage_yields_an_error_or_the_original(data, draw):
    size = draw.draw(st.integers(0, len(data)))
    garbage = draw.draw(st.one_of(st.binary(max_size=40), st.just(data[size:])))
    mutated = data[:size] + garbage
    if mutated == data:
        assert unpack(mutated) == unpack(data)
    else:
        _accepts_only_canonical(mutated)


def test_spec_lists_every_error_message_prefix():
    # The spec's validation section names each rejection, so users can map a message to a rule.
    spec = FORMAT_MD.read_text(encoding="utf-8")
    prefixes = ["not a .nic file", "truncated .nic file", "integrity check failed", "trailing data",
                "unsupported .nic format version", "reserved flag bits", "non-canonical geometry",
                "non-canonical version", "non-canonical levels", "does not overlap",
                "levels carry the polarity"]
    for prefix in prefixes:
        assert prefix in spec, prefix


# --- version 4: colour ---------------------------------------------------------------------


def test_a_colour_file_is_version_4_with_a_channels_byte_and_32x32_by_default():
    data = pack(Header(11, 5, 32, 32, channels=3), b"abc")
    assert data == _raw(MAGIC, 0x40, 11, 5, 3, 3, b"abc")
    header, payload = unpack(data)
    assert (header.version, header.channels, header.width, header.height) == (4, 3, 32, 32)
    assert payload == b"abc"
    other = unpack(pack(Header(11, 5, 28, 28, channels=3), b""))[0]
    assert (other.width, other.height) == (28, 28)  # 28x28 colour stores its size


def test_a_grey_file_never_becomes_version_4():
    assert unpack(pack(Header(1, 5), b"x"))[0].version == 1
    with pytest.raises(NicFormatError, match="version 4 is for colour"):
        Header(1, 5, version=4)
    with pytest.raises(NicFormatError, match="version 4 is for colour"):
        Header(11, 5, 32, 32, channels=3, version=3)


@pytest.mark.parametrize("channels", [0, 1, 2, 4, 255])
def test_version_4_accepts_three_channels_only(channels):
    _rejects(_raw(MAGIC, 0x40, 11, 5, channels, 0), f"^channels {channels} is invalid")
    if channels not in (1,):
        with pytest.raises(NicFormatError, match="channels must be 1 or 3"):
            Header(11, 5, channels=channels)


@pytest.mark.parametrize("flags", [0x1, 0x4, 0x8])
def test_colour_files_have_no_inversion_placement_or_levels(flags):
    _rejects(_raw(MAGIC, 0x40 | flags, 11, 5, 3, 0))


def test_a_colour_file_cut_before_its_channels_byte_is_truncated():
    _rejects(_raw(MAGIC, 0x40, 11, 5), "truncated")
