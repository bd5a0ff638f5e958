"""Fuzzed EDF headers: each header field of a small generated night mutated (numbers near and far from the
original, NaN, infinities, empty, text, non-ASCII and control bytes) and the file run through ``cds analyze``:
refused with exit 3 and one line, or scored with a finite JSON report; never an internal error or a Python
warning; the input file is never changed; the same file gives the same report."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.fuzzkit import TRIED, assert_clean_exit, fuzz, run_cds

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"), pytest.mark.filterwarnings("error::UserWarning")]

FIXED = {
    "version": (0, 8),
    "patient": (8, 80),
    "recording": (88, 80),
    "startdate": (168, 8),
    "starttime": (176, 8),
    "header_bytes": (184, 8),
    "reserved": (192, 44),
    "n_records": (236, 8),
    "record_duration": (244, 8),
    "n_signals": (252, 4),
}
PER_SIGNAL = [
    ("label", 16),
    ("transducer", 80),
    ("unit", 8),
    ("pmin", 8),
    ("pmax", 8),
    ("dmin", 8),
    ("dmax", 8),
    ("prefilter", 80),
    ("samples", 8),
    ("reserved", 32),
]
SPECIAL = [
    b"",
    b"0",
    b"-1",
    b"1",
    b"2",
    b"nan",
    b"inf",
    b"-inf",
    b"1e308",
    b"1e-300",
    b"-32769",
    b"32768",
    b"8388608",
    b"+5",
    b" 5 ",
    b"5.5",
    b"0x10",
    b"1e3",
    b"99999999",
    b"-0",
    b"EDF+D",
    b"EDF+C",
    b"uV",
    b"mV",
    b"V",
    b"furlong",
    b"Leg L",
    b"Leg R",
    b"Chin",
    b"EDF Annotations",
    b"31.12.99",
    b"24.61.61",
    b"\xff\xfe",
    b"\x00\x00",
    "Électrode".encode(),
    b"Startdate 01-MAR-2024 X X X",
]


def _field(header: bytes, name: str, signal: int) -> tuple[int, int]:
    if name in FIXED:
        return FIXED[name]
    ns = int(header[252:256])
    offset = 256
    for field, width in PER_SIGNAL:
        if field == name:
            return offset + signal * width, width
        offset += ns * width
    raise KeyError(name)


@st.composite
def mutations(draw) -> list[tuple[str, int, bytes]]:
    out = []
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from([*FIXED, *(f for f, _ in PER_SIGNAL), "samples", "pmin", "dmin", "label"]))
        signal = draw(st.integers(0, 3))
        value = draw(
            st.one_of(
                st.sampled_from(SPECIAL),
                st.integers(-(10**7), 10**7).map(lambda n: str(n).encode()),
                st.floats(allow_nan=True, allow_infinity=True).map(lambda x: repr(x).encode()),
                st.binary(max_size=8),
                st.text(max_size=8).map(lambda t: t.encode("utf-8")),
            )
        )
        out.append((name, signal, value))
    return out


def _mutate(base: bytes, changes: list[tuple[str, int, bytes]]) -> bytes:
    """``base`` with each change written into its field (positions from the unmutated header)."""
    data = bytearray(base)
    for name, signal, value in changes:
        offset, width = _field(base, name, signal)
        data[offset : offset + width] = value[:width].ljust(width, b" ")
    return bytes(data)


def _finite(value) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@fuzz(100)
@given(changes=mutations())
def test_mutated_edf_headers_are_refused_or_scored(tmp_path_factory, fuzz_night, changes):
    TRIED["EDF headers"] += 1
    night, _ = fuzz_night
    path = tmp_path_factory.mktemp("edf") / "mutated.edf"
    data = _mutate(night.read_bytes(), changes)
    path.write_bytes(data)
    ran = run_cds(["analyze", path, "--json", "-"])
    assert_clean_exit(ran, (0, 3))
    assert path.read_bytes() == data
    if ran.code == 0:
        report = json.loads(ran.out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON report"))
        assert _finite(report) and report["recording"]["duration_s"] > 0


@fuzz(10)
@given(changes=mutations())
def test_the_same_mutated_file_gives_the_same_answer(tmp_path_factory, fuzz_night, changes):
    TRIED["EDF headers run twice"] += 1
    night, _ = fuzz_night
    path = tmp_path_factory.mktemp("edf") / "mutated.edf"
    path.write_bytes(_mutate(night.read_bytes(), changes))
    first, second = run_cds(["analyze", path, "--json", "-"]), run_cds(["analyze", path, "--json", "-"])
    assert (first.code, first.out, first.err.replace(str(path), "")) == (
        second.code,
        second.out,
        second.err.replace(str(path), ""),
    )


def test_every_header_field_is_mutated_at_least_once(fuzz_night):
    """The strategy reaches every field (a field left out of FIXED/PER_SIGNAL would never be fuzzed)."""
    header = fuzz_night[0].read_bytes()
    ns = int(header[252:256])
    covered = sum(width for _, width in FIXED.values()) + ns * sum(width for _, width in PER_SIGNAL)
    assert covered == 256 * (ns + 1) == int(header[184:192])


TAL_BYTES = st.sampled_from(
    [
        b"+",
        b"-",
        b"\x14",
        b"\x15",
        b"\x00",
        b"0",
        b"9",
        b".",
        b"e",
        b"nan",
        b"Sleep stage N2",
        b"Sleep stage N5",
        b"Apnea",
        b"\xff",
        b"+1e300",
        b"+-5",
    ]
)


@fuzz(60)
@given(data=st.data())
def test_mutated_edf_annotations_are_refused_or_scored(tmp_path_factory, fuzz_night, data):
    """Bytes of the EDF+ annotation signal (time-keeping and stage TALs) overwritten: refused with exit 3 and one
    line or scored, never an internal error."""
    TRIED["EDF+ annotation signals"] += 1
    night, _ = fuzz_night
    raw = bytearray(night.read_bytes())
    ns = int(raw[252:256])
    header = 256 * (ns + 1)
    spr = [int(raw[header - ns * 32 - ns * 8 + 8 * i : header - ns * 32 - ns * 8 + 8 * (i + 1)]) for i in range(ns)]
    record = 2 * sum(spr)
    n_records = int(raw[236:244])
    ann_at = 2 * sum(spr[:-1])  # the annotation signal is the last one
    for _ in range(data.draw(st.integers(1, 4))):
        k = data.draw(st.integers(0, n_records - 1))
        offset = header + k * record + ann_at + data.draw(st.integers(0, 2 * spr[-1] - 1))
        chunk = data.draw(st.one_of(TAL_BYTES, st.binary(min_size=1, max_size=6)))
        chunk = chunk[: header + (k + 1) * record - offset]
        raw[offset : offset + len(chunk)] = chunk
    path = tmp_path_factory.mktemp("ann") / "night.edf"
    path.write_bytes(bytes(raw))
    ran = run_cds(["analyze", path, "--json", "-"])
    assert_clean_exit(ran, (0, 3))
