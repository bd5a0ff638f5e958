from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from cds.errors import InputError, RecordingError, SignalError
from cds.io._header import read_header
from cds.io.channels import ChannelRole
from cds.io.edf import Annotation, read_annotations, read_recording, sha256_of
from cds.io.export import write_events_edf
from tests.io.conftest import START, Chan, header_field_offset, patch_field, sine_uv, write_edf

L, R, C = ChannelRole.LEFT_LEG, ChannelRole.RIGHT_LEG, ChannelRole.CHIN


def _quantum_uv(lo: float, hi: float, scale: float) -> float:
    return (hi - lo) * scale / 65535


def test_units_v_mv_uv_are_scaled_to_microvolts(three_channel_edf):
    rec = read_recording(three_channel_edf())
    left, right, chin = rec.signals[L], rec.signals[R], rec.signals[C]
    # same shape planted in each file unit: V (x1e6), mV (x1e3), µV (x1)
    np.testing.assert_allclose(
        left.data_uv, sine_uv(10, 200, 100.0, offset=-5000.0), atol=_quantum_uv(-0.01, 0.01, 1e6)
    )
    np.testing.assert_allclose(right.data_uv, sine_uv(10, 250, 50.0, offset=700.0), atol=_quantum_uv(-2, 2, 1e3))
    np.testing.assert_allclose(chin.data_uv, sine_uv(10, 100, 20.0), atol=_quantum_uv(-100, 100, 1))
    assert (left.unit, right.unit, chin.unit) == ("V", "mV", "uV")
    assert (left.physical_min_uv, left.physical_max_uv) == pytest.approx((-10000.0, 10000.0))
    assert (right.physical_min_uv, right.physical_max_uv) == pytest.approx((-2000.0, 2000.0))
    # issue 13: channels are kept as float32 (scaled in float64 first): half the memory, the filters' own type
    assert left.data_uv.dtype == np.float32


def test_each_signal_keeps_its_own_sampling_rate(three_channel_edf):
    rec = read_recording(three_channel_edf())
    assert {r: s.sfreq_hz for r, s in rec.signals.items()} == {L: 200.0, R: 250.0, C: 100.0}
    assert {r: s.data_uv.size for r, s in rec.signals.items()} == {L: 2000, R: 2500, C: 1000}


def test_recording_metadata_and_annotations(three_channel_edf):
    path = three_channel_edf()
    rec = read_recording(path)
    assert rec.name == "rec.edf" and rec.path == path
    assert rec.edf_type == "EDF+C" and rec.reader == "pyedflib"
    assert rec.duration_s == 10.0 and rec.start == START
    assert rec.labels == ("EMG LAT", "EMG RAT", "Chin", "ECG")
    assert rec.roles == {L: "EMG LAT", R: "EMG RAT", C: "Chin"}
    assert rec.caveats == ()
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == sha256_of(path)
    assert rec.annotations == (
        Annotation(2.0, 1.5, "Lights off", "EMG RAT"),
        Annotation(5.0, None, "Note", None),
    )


def test_only_the_requested_roles_are_read(three_channel_edf):
    rec = read_recording(three_channel_edf(), roles=[ChannelRole.CHIN])
    assert set(rec.signals) == {C}
    assert rec.roles[L] == "EMG LAT"  # resolved, but not loaded
    assert rec.caveats == ()


def test_missing_legs_stay_none_with_channel_missing_caveats(tmp_path):
    path = write_edf(tmp_path / "noleg.edf", [Chan("Chin", sine_uv(4, 100, 10.0))])
    rec = read_recording(path)
    assert rec.roles == {L: None, R: None, C: "Chin"}
    assert set(rec.signals) == {C}
    assert [(c.code, c.channel) for c in rec.caveats] == [
        ("channel_missing", "left_leg"),
        ("channel_missing", "right_leg"),
    ]
    assert "noleg.edf" in rec.caveats[0].text


def test_one_leg_only_caveat(tmp_path):
    path = write_edf(tmp_path / "one.edf", [Chan("LAT", sine_uv(4, 200, 10.0)), Chan("Chin", sine_uv(4, 200, 5.0))])
    rec = read_recording(path)
    assert {c.code for c in rec.caveats} == {"channel_missing", "one_leg_only"}
    assert next(c for c in rec.caveats if c.code == "one_leg_only").channel == "left_leg"
    assert read_recording(path, roles=[L, C]).caveats == ()  # right leg not asked for: nothing to report


def test_plain_edf_without_annotations(tmp_path):
    path = write_edf(tmp_path / "plain.edf", [Chan("RAT", sine_uv(3, 200, 10.0))], plus=False)
    rec = read_recording(path, roles=[R])
    assert rec.edf_type == "EDF" and rec.annotations == () and rec.signals[R].data_uv.size == 600


def test_override_selects_an_unaliased_label(tmp_path):
    path = write_edf(tmp_path / "o.edf", [Chan("EMG L", sine_uv(2, 200, 30.0)), Chan("LAT", sine_uv(2, 200, 1.0))])
    rec = read_recording(path, roles=[L], overrides={L: "EMG L"})
    assert rec.signals[L].label == "EMG L"
    assert np.ptp(rec.signals[L].data_uv) == pytest.approx(60.0, abs=0.2)


def test_override_naming_an_absent_label(tmp_path):
    path = write_edf(tmp_path / "o.edf", [Chan("LAT", sine_uv(2, 200, 1.0))])
    with pytest.raises(RecordingError, match=r"o\.edf:left_leg: .*no such signal label.*'LAT'"):
        read_recording(path, overrides={L: "EMG L"})


def test_ambiguous_role_is_refused(tmp_path):
    path = write_edf(tmp_path / "a.edf", [Chan("LAT", sine_uv(2, 200, 1.0)), Chan("Leg L", sine_uv(2, 200, 1.0))])
    with pytest.raises(InputError, match="ambiguous left_leg"):
        read_recording(path)


def test_inverted_physical_range_is_ordered_and_values_keep_their_sign(tmp_path):
    path = write_edf(tmp_path / "inv.edf", [Chan("Chin", sine_uv(2, 100, 40.0, offset=10.0))])
    # swap the physical min and max: the file now states a negative gain (EDF allows it)
    off, width = header_field_offset(path, "pmin", 0)
    patch_field(path, off, width, b"1000")
    off, width = header_field_offset(path, "pmax", 0)
    patch_field(path, off, width, b"-1000")
    sig = read_recording(path, roles=[C]).signals[C]
    assert (sig.physical_min_uv, sig.physical_max_uv) == (-1000.0, 1000.0)
    # the digital samples are unchanged, so the physical values come out negated
    np.testing.assert_allclose(sig.data_uv, -sine_uv(2, 100, 40.0, offset=10.0), atol=0.05)


# --- bad input by byte surgery ----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(RecordingError, match=r"nope\.edf: file not found"):
        read_recording(tmp_path / "nope.edf")


def test_not_an_edf(tmp_path):
    path = tmp_path / "notes.edf"
    path.write_bytes(b"hello, this is a text file\n" * 20)
    with pytest.raises(RecordingError, match=r"notes\.edf: not an EDF file: version field"):
        read_recording(path)
    short = tmp_path / "short.edf"
    short.write_bytes(b"0       ")
    with pytest.raises(RecordingError, match="shorter than the 256-byte header"):
        read_recording(short)


def test_truncated_file(three_channel_edf):
    path = three_channel_edf()
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(RecordingError, match=r"rec\.edf: truncated file: header announces 10 data records.*holds 9"):
        read_recording(path)


def test_truncated_header(three_channel_edf):
    path = three_channel_edf()
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(RecordingError, match="truncated file: header needs"):
        read_recording(path)


def test_corrupt_signal_count(three_channel_edf):
    path = three_channel_edf()
    patch_field(path, 252, 4, b"abc")
    with pytest.raises(RecordingError, match="not a valid EDF header: number of signals is 'abc'"):
        read_recording(path)


def test_unknown_unit_of_a_needed_channel(three_channel_edf):
    path = three_channel_edf()
    off, width = header_field_offset(path, "unit", 2)  # Chin
    patch_field(path, off, width, b"furlong")
    with pytest.raises(SignalError, match=r"rec\.edf:Chin: unknown physical unit 'furlong' for the chin channel"):
        read_recording(path)
    assert set(read_recording(path, roles=[L, R]).signals) == {L, R}  # not needed: not refused


def test_digital_minimum_not_a_number(three_channel_edf):
    path = three_channel_edf()
    off, width = header_field_offset(path, "dmin", 0)
    patch_field(path, off, width, b"xyz")
    with pytest.raises(RecordingError, match="not a valid EDF header: digital minimum of 'EMG LAT' is 'xyz'"):
        read_recording(path)


def test_empty_range_refused_only_for_a_needed_channel(three_channel_edf):
    path = three_channel_edf()
    off, width = header_field_offset(path, "pmax", 2)  # Chin: physical max = physical min
    patch_field(path, off, width, b"-100")
    with pytest.raises(SignalError, match=r"rec\.edf:Chin: the chin channel 'Chin' has an empty range"):
        read_recording(path)
    rec = read_recording(path, roles=[L, R])
    np.testing.assert_allclose(rec.signals[L].data_uv, sine_uv(10, 200, 100.0, offset=-5000.0), atol=0.31)


def test_edf_plus_d_with_a_gap_is_refused(three_channel_edf):
    path = three_channel_edf()
    patch_field(path, 192, 44, b"EDF+D")
    raw = path.read_bytes()
    assert raw.count(b"+5\x14\x14\x00") == 1  # time-keeping TAL of data record 5
    path.write_bytes(raw.replace(b"+5\x14\x14\x00", b"+7\x14\x14\x00"))
    with pytest.raises(
        RecordingError, match=r"EDF\+D \(discontinuous\) recording: data record 5 starts at 7 s, expected 5"
    ):
        read_recording(path)


def test_edf_plus_d_without_gaps_is_read_as_continuous(three_channel_edf):
    good = read_recording(three_channel_edf("c.edf"))
    path = three_channel_edf("d.edf")
    patch_field(path, 192, 44, b"EDF+D")
    rec = read_recording(path)
    assert rec.edf_type == "EDF+D" and [c.code for c in rec.caveats] == ["edf_plus_d_contiguous"]
    np.testing.assert_array_equal(rec.signals[L].data_uv, good.signals[L].data_uv)


def test_conflicting_start_dates_keep_the_header_date_with_a_caveat(three_channel_edf):
    path = three_channel_edf()
    assert path.read_bytes()[88:110] == b"Startdate 01-MAR-2024 "
    patch_field(path, 168, 8, b"02.03.24")
    rec = read_recording(path)
    assert rec.start == START.replace(day=2)
    assert [c.code for c in rec.caveats] == ["start_date_conflict"]
    assert "02.03.24 differs from the EDF+ recording field 'Startdate 01-MAR-2024'" in rec.caveats[0].text


@pytest.mark.parametrize(
    ("offset", "width", "value", "message"),
    [
        (236, 8, b"0", "no data records: the recording is empty"),
        (244, 8, b"0", "not a valid EDF header: data-record duration 0 s"),
        (184, 8, b"512", "header size 512 does not match 5 signals"),
    ],
)
def test_broken_header_fields(three_channel_edf, offset, width, value, message):
    path = three_channel_edf()
    patch_field(path, offset, width, value)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)


def test_annotation_only_file_is_not_a_recording(tmp_path):
    path = tmp_path / "ann.edf"
    write_events_edf(path, [(1.0, 2.0, "Sleep stage W")], duration_s=30, start=None)
    with pytest.raises(RecordingError, match="without signals"):
        read_recording(path)
    assert read_annotations(path) == (Annotation(1.0, 2.0, "Sleep stage W", None),)


def test_read_annotations_of_plain_edf_is_empty(tmp_path):
    path = write_edf(tmp_path / "plain.edf", [Chan("RAT", sine_uv(1, 200, 10.0))], plus=False)
    assert read_annotations(path) == ()


def test_non_ascii_label_falls_back_to_edfio_with_identical_values(three_channel_edf):
    good = three_channel_edf("good.edf")
    bad = three_channel_edf("bad.edf")
    off, width = header_field_offset(bad, "label", 3)  # ECG, not needed
    patch_field(bad, off, width, "ECG Impédance".encode("latin-1"))
    rec_good, rec_bad = read_recording(good), read_recording(bad)
    assert (rec_good.reader, rec_bad.reader) == ("pyedflib", "edfio")
    assert rec_bad.labels[3] == "ECG Impédance"
    for role in (L, R, C):
        np.testing.assert_array_equal(rec_bad.signals[role].data_uv, rec_good.signals[role].data_uv)
        assert rec_bad.signals[role].sfreq_hz == rec_good.signals[role].sfreq_hz
    assert rec_bad.annotations == rec_good.annotations
    assert rec_bad.start == rec_good.start


# --- real files --------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_subject1_nox_a1_through_edfio_with_dc_offsets(real_data_dir: Path):
    rec = read_recording(real_data_dir / "sleepr-testdata" / "subject1.edf")
    assert rec.reader == "edfio" and rec.edf_type == "EDF+C"
    assert rec.roles == {L: "Left Leg", R: "Right Leg", C: "1-2"}
    assert len(rec.labels) == 89 and "1 Impédance" in rec.labels
    assert rec.duration_s == 120.0
    left, right = rec.signals[L], rec.signals[R]
    assert left.unit == "V" and left.sfreq_hz == 200.0 and left.data_uv.size == 24000
    assert np.median(left.data_uv) == pytest.approx(720, abs=100)
    assert np.median(right.data_uv) == pytest.approx(-5500, abs=150)
    # independent check: the int16 samples straight from the data records, scaled by the header by hand
    header = read_header(rec.path)
    raw = np.fromfile(rec.path, dtype="<i2", offset=header.header_bytes).reshape(header.n_records, -1)
    for sig in (left, right, rec.signals[C]):
        i = header.labels.index(sig.label)
        first = sum(header.samples_per_record[:i])
        digital = raw[:, first : first + header.samples_per_record[i]].ravel().astype(np.float64)
        gain = (header.physical_max[i] - header.physical_min[i]) / (header.digital_max[i] - header.digital_min[i])
        physical_v = header.physical_min[i] + (digital - header.digital_min[i]) * gain
        np.testing.assert_allclose(sig.data_uv, physical_v * 1e6, rtol=1e-7, atol=1e-6)  # float32 storage (issue 13)
    assert (left.physical_min_uv, left.physical_max_uv) == pytest.approx((-1_024_000, 1_024_000), rel=1e-5)
    # 16 bits over ±1.024 V: 31.25 µV per digital step, coarser than the 8-µV LM threshold (AASM)
    assert left.resolution_uv == pytest.approx(31.25, rel=1e-3) and right.resolution_uv == pytest.approx(
        31.25, rel=1e-3
    )
    assert rec.signals[C].resolution_uv == pytest.approx(6546 / 65534, rel=1e-9)  # chin: -3270..3276 µV
    assert rec.caveats == ()


@pytest.mark.realdata
def test_header_matches_edfio_reference_dump(real_data_dir: Path):
    ref = json.loads((real_data_dir / "edfio-testdata" / "short_psg_header_reference.json").read_text())
    header = read_header(real_data_dir / "edfio-testdata" / "short_psg.edf")
    assert header.labels == tuple(r["label"] for r in ref)
    assert header.units == tuple(r["physical_dimension"] for r in ref)
    assert header.physical_min == tuple(float(r["physical_min"]) for r in ref)
    assert header.physical_max == tuple(float(r["physical_max"]) for r in ref)
    assert header.samples_per_record == tuple(r["samples_per_data_record"] for r in ref)
    rates = tuple(n / header.record_duration_s for n in header.samples_per_record)
    assert rates == tuple(r["sampling_frequency"] for r in ref)


@pytest.mark.realdata
def test_sleep_edf_chin_is_a_1_hz_envelope(real_data_dir: Path):
    rec = read_recording(real_data_dir / "edfio-testdata" / "short_psg.edf", roles=[C])
    chin = rec.signals[C]
    assert (chin.label, chin.unit, chin.sfreq_hz, chin.data_uv.size) == ("EMG submental", "uV", 1.0, 300)
    assert chin.physical_min_uv <= chin.data_uv.min() <= chin.data_uv.max() <= chin.physical_max_uv


# file -> expected outcome: "signals" (read with these roles found), or the RecordingError text
REAL_EDF = {
    "edfio-testdata/SC4001EC-Hypnogram.edf": "without signals",
    "edfio-testdata/short_psg.edf": {C: "EMG submental"},
    "edfio-testdata/test_subsecond.edf": {},
    "sleepr-testdata/ST7132JR-Hypnogram.edf": "without signals",
    "sleepr-testdata/subject1.edf": {L: "Left Leg", R: "Right Leg", C: "1-2"},
    **{f"psg-ipa-SN1-stages/SN1_SleepStages_manual_scorer{i}.edf": "without signals" for i in range(1, 13)},
}


@pytest.mark.realdata
def test_every_real_edf_is_read_or_refused_with_a_reason(real_data_dir: Path):
    found = {p.relative_to(real_data_dir).as_posix() for p in real_data_dir.rglob("*.edf")}
    assert found == set(REAL_EDF)
    for rel, want in REAL_EDF.items():
        path = real_data_dir / rel
        if isinstance(want, str):
            with pytest.raises(RecordingError, match=want):
                read_recording(path)
            assert read_annotations(path), rel
        else:
            rec = read_recording(path)
            assert {r: lab for r, lab in rec.roles.items() if lab} == want, rel
            assert set(rec.signals) == set(want), rel


def test_recording_to_dict_carries_file_facts_without_samples(three_channel_edf):
    rec = read_recording(three_channel_edf(), roles=[L, R])
    d = rec.to_dict()
    assert d["roles"] == {"left_leg": "EMG LAT", "right_leg": "EMG RAT", "chin": "Chin"}
    assert d["signals"] == {
        "left_leg": {
            "label": "EMG LAT",
            "sfreq_hz": 200.0,
            "unit": "V",
            "n_samples": 2000,
            "resolution_uv": pytest.approx(20000 / 65535),
        },
        "right_leg": {
            "label": "EMG RAT",
            "sfreq_hz": 250.0,
            "unit": "mV",
            "n_samples": 2500,
            "resolution_uv": pytest.approx(4000 / 65535),
        },
    }
    assert (d["start"], d["duration_s"], d["n_signals"], d["n_annotations"]) == ("2024-03-01T22:30:00", 10.0, 4, 2)
    assert d["sha256"] == rec.sha256 and d["caveats"] == []


@pytest.mark.realdata
def test_every_real_file_is_covered_by_a_reader(real_data_dir: Path):
    """Besides the EDFs above: the event tables read as events and hypnograms, the JSON is the header reference."""
    from cds.io.events import read_events
    from cds.io.hypnogram import read_hypnogram

    others = {p.relative_to(real_data_dir).as_posix() for p in real_data_dir.rglob("*") if p.is_file()} - set(REAL_EDF)
    tables = {p for p in others if p.endswith(".csv")}
    assert others - tables == {"README.md", "edfio-testdata/short_psg_header_reference.json"}
    assert len(tables) == 3
    for rel in sorted(tables):
        assert len(read_hypnogram(real_data_dir / rel).stages) > 800, rel
        assert read_events(real_data_dir / rel).arousals.size > 0, rel


@pytest.mark.parametrize("threads", ["1", "2"])
def test_sha256_is_the_files_when_hashed_beside_the_read(tmp_path, monkeypatch, threads):
    """The direct reader hashes chunk after chunk in a helper thread while it converts the next one (two buffers
    in turn); with small chunks (many turns, a last partial one) the digest is still the file's and the samples
    pyedflib's."""
    import pyedflib

    import cds.io.edf as edf

    rng = np.random.default_rng(1)
    chans = [Chan(label, rng.uniform(-900.0, 900.0, 200 * 61)) for label in ("Leg L", "Leg R", "Chin")]
    path = write_edf(tmp_path / "plain.edf", chans, plus=False)
    monkeypatch.setattr(edf, "_CHUNK_BYTES", 2 * 3 * 400)  # two 1-s records per chunk: 31 turns
    monkeypatch.setenv("CDS_THREADS", threads)
    rec = edf.read_recording(path)
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with pyedflib.EdfReader(str(path)) as reader:
        for i, label in enumerate(reader.getSignalLabels()):
            sig = next(s for s in rec.signals.values() if s.label == label)
            np.testing.assert_array_equal(sig.data_uv, reader.readSignal(i).astype(np.float32))  # float32 storage


def test_direct_read_gives_pyedflibs_values_for_millivolts_and_odd_ranges(tmp_path, caplog):
    """Every 16-bit digital value maps through one table computed with edflib's arithmetic (offset, bit value,
    then x1000 for mV): the samples equal pyedflib's, bit for bit, over the whole digital range, with no
    fall-back to pyedflib (which the reader would log)."""
    import pyedflib

    rng = np.random.default_rng(7)
    chans = [
        Chan("Leg L", rng.uniform(-3.2, 3.2, 200 * 20), unit="mV", physical_min=-3.2768, physical_max=3.2767),
        Chan("Leg R", rng.uniform(-499.0, 1200.0, 200 * 20), physical_min=-500.0, physical_max=1250.5),
        Chan("Chin", np.linspace(-1000.0, 1000.0, 200 * 20)),  # every step of the range, both ends included
    ]
    path = write_edf(tmp_path / "odd.edf", chans)
    with caplog.at_level("WARNING", logger="cds.io.edf"):
        rec = read_recording(path)
    assert not [r for r in caplog.records if "differs from pyedflib" in r.getMessage()]
    with pyedflib.EdfReader(str(path)) as reader:
        for i, label in enumerate(reader.getSignalLabels()):
            sig = next(s for s in rec.signals.values() if s.label == label)
            scale = 1000.0 if label == "Leg L" else 1.0
            np.testing.assert_array_equal(sig.data_uv, (reader.readSignal(i) * scale).astype(np.float32))


def test_a_recording_without_the_samples_it_no_longer_needs_keeps_their_facts(tmp_path):
    """analyze_recording lets the raw leg samples go once the legs are scored: the signals' counts, durations and
    the recording's facts stay as read."""
    rng = np.random.default_rng(3)
    path = write_edf(tmp_path / "rec.edf", [Chan(label, rng.normal(0, 5, 200 * 30)) for label in ("Leg L", "Leg R")])
    rec = read_recording(path)
    light = rec.without_samples([ChannelRole.LEFT_LEG])
    left, before = light.signals[ChannelRole.LEFT_LEG], rec.signals[ChannelRole.LEFT_LEG]
    assert left.data_uv.size == 0 and left.n_samples == before.n_samples == 200 * 30
    assert left.duration_s == before.duration_s == 30.0
    assert light.signals[ChannelRole.RIGHT_LEG] is rec.signals[ChannelRole.RIGHT_LEG]
    assert light.to_dict() == rec.to_dict()


# --- issue 16: header fields that break the record layout or the scaling --------------------------------------


@pytest.mark.parametrize(
    ("field", "signal", "value", "message"),
    [
        ("samples", 0, b"0", r"rec\.edf:signal 1: not a valid EDF header: samples per data record of 'EMG LAT' is 0"),
        ("samples", 4, b"0", r"rec\.edf:signal 5: .*samples per data record of 'EDF Annotations' is 0"),
        ("samples", 1, b"-4", r"rec\.edf:signal 2: .*samples per data record of 'EMG RAT' is -4"),
        ("samples", 0, b"199", r"rec\.edf: file size \d+ bytes does not match its header: .*'EMG LAT' 199"),
        ("samples", 0, b"1", r"rec\.edf: file size \d+ bytes does not match its header"),
        ("pmin", 0, b"nan", r"rec\.edf:signal 1: not a valid EDF header: physical minimum of 'EMG LAT' is nan"),
        ("pmax", 2, b"inf", r"rec\.edf:signal 3: not a valid EDF header: physical maximum of 'Chin' is inf"),
        ("dmin", 0, b"-99999", r"digital minimum of 'EMG LAT' is -99999, outside the EDF sample range"),
        ("dmax", 1, b"40000", r"digital maximum of 'EMG RAT' is 40000, outside the EDF sample range"),
    ],
)
def test_header_fields_that_break_the_layout_are_refused_naming_the_signal(
    three_channel_edf, field, signal, value, message
):
    """Regression (issue 16): samples-per-record 0 or mismatched on a leg (UnicodeDecodeError), 0 on the
    annotation signal (reshape error) ended in internal errors; NaN ranges scaled every sample to NaN."""
    path = three_channel_edf()
    offset, width = header_field_offset(path, field, signal)
    patch_field(path, offset, width, value)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)


@pytest.mark.parametrize(
    ("offset", "width", "value", "message"),
    [
        (244, 8, b"nan", "not a valid EDF header: data-record duration nan s"),
        (244, 8, b"-1", "not a valid EDF header: data-record duration -1 s"),
        (236, 8, b"-5", "not a valid EDF header: number of data records is -5"),
        (236, 8, b"9", r"file size \d+ bytes does not match its header: 1536 header bytes \+ 9 data records"),
    ],
)
def test_record_fields_that_cannot_be_right_are_refused(three_channel_edf, offset, width, value, message):
    path = three_channel_edf()
    patch_field(path, offset, width, value)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)


def test_bytes_appended_to_a_recording_are_refused(three_channel_edf):
    path = three_channel_edf()
    path.write_bytes(path.read_bytes() + b"\x00" * 10)
    with pytest.raises(RecordingError, match=r"file size \d+ bytes does not match its header"):
        read_recording(path)


def test_physical_limits_no_amplifier_has_are_refused_for_a_needed_channel(three_channel_edf):
    """Found by the header fuzzer (issue 16): physical minimum 1e308 overflowed float32 (RuntimeWarning, exit 4)."""
    path = three_channel_edf()
    offset, width = header_field_offset(path, "pmin", 2)
    patch_field(path, offset, width, b"-1e308")
    with pytest.raises(SignalError, match=r"rec\.edf:Chin: the chin channel 'Chin' has physical limits of 1e\+308 µV"):
        read_recording(path)


def test_a_record_duration_no_recording_has_is_refused(three_channel_edf):
    """Found by the header fuzzer (issue 16): a data-record duration of 1e308 s made the duration infinite."""
    path = three_channel_edf()
    patch_field(path, 244, 8, b"1e308")
    with pytest.raises(RecordingError, match=r"not a valid EDF header: data-record duration 1e\+308 s"):
        read_recording(path)
    patch_field(path, 244, 8, b"400000")
    with pytest.raises(RecordingError, match=r"10 data records of 400000 s, 46\.3 days: longer than any recording"):
        read_recording(path)


def test_a_data_signal_labelled_as_annotations_is_refused(three_channel_edf):
    """Found by the header fuzzer (issue 16): EMG samples parsed as EDF+ annotations raised UnicodeDecodeError."""
    path = three_channel_edf()
    offset, width = header_field_offset(path, "label", 0)
    patch_field(path, offset, width, b"EDF Annotations")
    with pytest.raises(RecordingError, match=r"rec\.edf: the EDF\+ annotation signal cannot be read"):
        read_recording(path)
