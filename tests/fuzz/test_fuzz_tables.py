"""Fuzzed hypnogram and event tables through ``cds analyze``: refused (exit 3, one line) or accepted with every
time outside the recording either refused or named by a caveat; never an internal error; a refused run leaves
an earlier JSON report untouched; the same input gives the same report."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.fuzzkit import OUTCOMES, TRIED, assert_clean_exit, fuzz, run_cds

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"), pytest.mark.filterwarnings("error::UserWarning")]

STAGE_LABELS = [
    "W",
    "N1",
    "N2",
    "N3",
    "R",
    "REM",
    "Sleep stage 2",
    "Sleep stage W",
    "?",
    "Movement time",
    "1",
    "4",
    "Éveil",
    "wake",
]
OTHER_LABELS = [
    "N5",
    "sleepy",
    "Sleep stage 9",
    "",
    "Arousal",
    "Lights off",
    "Lights on",
    "Obstructive apnea",
    "Hypopnea",
    "Désat",
    "PLM",
    "Notification",
    "OA",
    "S7",
    "stage X",
    "x" * 200,
    'a "quoted", label',
]
EVENT_LABELS = [
    "Obstructive apnea",
    "Hypopnea",
    "Central apnea",
    "RERA",
    "Arousal",
    "Micro-éveil",
    "Désat",
    "PLM",
    "LM",
    "OA",
    "Snore",
    "Dos",
    "Sleep stage N2",
    "Lights off",
]
HEADERS = [
    "onset,duration,stage",
    "onset_s,duration_s,type",
    "onset;duration;event",
    "onset\tduration\tlabel",
    "when,what",
]
USED_KINDS = ("respiratory", "desaturation", "arousal", "leg_movement")

_epochs = st.integers(-12, 14).map(lambda k: 30.0 * k)
_weird = st.sampled_from([1e300, -1e300, 15.0, 0.5, 179.9, 180.0, 6e6, -0.0])
ONSETS = st.one_of(_epochs, _epochs, _epochs, _weird, st.floats(allow_nan=True, allow_infinity=True))
DURATIONS = st.one_of(
    st.none(),
    st.integers(0, 10).map(lambda k: 30.0 * k),
    st.integers(0, 10).map(lambda k: 30.0 * k),
    st.sampled_from([-30.0, 1e12, 45.0, 0.25]),
    st.floats(allow_nan=True, allow_infinity=True),
)


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if math.isfinite(value) and value == int(value) and abs(value) < 1e15 else repr(value)


def _write(path: Path, header: str, rows: list[tuple[float, float | None, str]], junk: bytes) -> None:
    delimiter = "\t" if "\t" in header else (";" if ";" in header else ",")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    for onset, duration, label in rows:
        writer.writerow([_cell(onset), _cell(duration), label])
    path.write_bytes((header + "\n" + buffer.getvalue()).encode("utf-8") + junk)


def _hostile_label(labels: list[str]):
    return st.one_of(st.sampled_from(labels), st.sampled_from(OTHER_LABELS), st.text(max_size=8))


@st.composite
def _stage_rows(draw) -> list[tuple[float, float | None, str]]:
    """A well-formed staging of whole 30-s epochs near the 3-minute recording (it may start early or run late)."""
    k, end = draw(st.integers(-1, 1)), draw(st.integers(4, 9))  # the recording has 6 epochs
    rows = []
    while k < end:
        length = draw(st.integers(1, 3))
        rows.append((30.0 * k, 30.0 * length, draw(st.sampled_from(STAGE_LABELS))))
        k += length
    return rows


@st.composite
def _event_rows(draw) -> list[tuple[float, float | None, str]]:
    """Well-formed events inside the recording."""
    onsets = st.one_of(*[st.integers(0, 170)] * 4, st.integers(-60, 300)).map(float)  # now and then outside
    events = st.tuples(onsets, st.one_of(st.none(), st.integers(0, 10).map(float)), st.sampled_from(EVENT_LABELS))
    return draw(st.lists(events, max_size=8))


@st.composite
def _mutated(draw, base, labels: list[str]):
    """A well-formed table with 0-3 hostile changes: an onset, a duration or a label replaced, or a row added."""
    rows = list(draw(base))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        what = draw(st.sampled_from(["onset", "duration", "label", "row"]))
        if what == "row" or not rows:
            rows.insert(draw(st.integers(0, len(rows))), (draw(ONSETS), draw(DURATIONS), draw(_hostile_label(labels))))
            continue
        i = draw(st.integers(0, len(rows) - 1))
        onset, duration, label = rows[i]
        if what == "onset":
            onset = draw(ONSETS)
        elif what == "duration":
            duration = draw(DURATIONS)
        else:
            label = draw(_hostile_label(labels))
        rows[i] = (onset, duration, label)
    return rows


def _tables(labels: list[str]):
    base = _stage_rows() if labels is STAGE_LABELS else _event_rows()
    header = st.sampled_from(HEADERS[:4] * 5 + HEADERS[4:])
    junk = st.one_of(st.just(b""), st.just(b""), st.just(b""), st.just(b""), st.binary(max_size=40))
    return st.tuples(header, _mutated(base, labels), junk)


def _finite(value) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def _analyze(night: Path, option: str, table: Path, out: Path):
    out.write_text("earlier report\n", encoding="utf-8")
    ran = run_cds(["analyze", night, option, table, "--json", out])
    assert_clean_exit(ran, (0, 3))
    if ran.code != 0:
        assert out.read_text(encoding="utf-8") == "earlier report\n"
        return ran, None
    text = out.read_text(encoding="utf-8")
    report = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON report"))
    assert _finite(report)
    return ran, report


@fuzz(100)
@given(table=_tables(STAGE_LABELS))
def test_fuzzed_hypnograms_are_refused_or_fit_the_recording(tmp_path_factory, fuzz_night, table):
    from cds.io.labels import load_labels

    TRIED["hypnogram tables"] += 1
    night, duration_s = fuzz_night
    header, rows, junk = table
    folder = tmp_path_factory.mktemp("h")
    path = folder / "stages.csv"
    _write(path, header, rows, junk)
    _, report = _analyze(night, "--hypnogram", path, folder / "a.json")
    if report is None:
        return
    sleep, codes = report["sleep"], {c["code"] for c in report["caveats"]}
    assert sleep["total_sleep_time_min"] <= duration_s / 60 + 1e-9
    hyp = report["hypnogram"]
    assert hyp["start_s"] > -hyp["epoch_s"] and hyp["start_s"] + hyp["epochs"] * hyp["epoch_s"] < duration_s + 60
    labels = load_labels()
    stage_rows_after_the_end = [
        r for r in rows if math.isfinite(r[0]) and r[0] >= duration_s and (labels.stage(r[2]) or ("?",))[0] != "?"
    ]
    if stage_rows_after_the_end and not junk:
        OUTCOMES["hypnograms accepted with stages past the end (caveat checked)"] += 1
        assert "hypnogram_beyond_recording" in codes, (rows, codes)


@fuzz(100)
@given(table=_tables(EVENT_LABELS))
def test_fuzzed_event_tables_are_refused_or_fit_the_recording(tmp_path_factory, fuzz_night, table):
    from cds.io.events import event_kind

    TRIED["event tables"] += 1
    night, duration_s = fuzz_night
    header, rows, junk = table
    folder = tmp_path_factory.mktemp("e")
    path = folder / "events.csv"
    _write(path, header, rows, junk)
    _, report = _analyze(night, "--events", path, folder / "a.json")
    if report is None:
        return
    codes = {c["code"] for c in report["caveats"]}
    used = [r for r in rows if event_kind(r[2]) in USED_KINDS]
    assert all(r[1] is None or r[1] <= duration_s for r in used), "an event longer than the recording was accepted"
    outside = [r for r in used if r[0] >= duration_s or r[0] + (r[1] or 0.0) < 0]
    if outside:
        OUTCOMES["event tables accepted with events outside (caveat checked)"] += 1
        assert "events_outside_recording" in codes
    if report["respiratory"]["scored"]:
        inside = [r for r in used if r not in outside and event_kind(r[2]) in ("respiratory", "desaturation")]
        assert inside, "respiratory scoring claimed from events outside the night"


@fuzz(10)
@given(table=_tables(STAGE_LABELS))
def test_the_same_table_gives_the_same_report(tmp_path_factory, fuzz_night, table):
    TRIED["hypnogram tables run twice"] += 1
    night, _ = fuzz_night
    header, rows, junk = table
    folder = tmp_path_factory.mktemp("d")
    path = folder / "stages.csv"
    _write(path, header, rows, junk)
    first = run_cds(["analyze", night, "--hypnogram", path, "--json", "-"])
    second = run_cds(["analyze", night, "--hypnogram", path, "--json", "-"])
    assert (first.code, first.out, first.err) == (second.code, second.out, second.err)
