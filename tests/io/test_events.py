from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from cds.errors import InputError
from cds.io.edf import Annotation
from cds.io.events import events_from_annotations, read_event_table, read_events
from cds.io.export import write_events_csv, write_events_edf


def test_annotations_are_sorted_into_event_kinds():
    anns = [
        Annotation(300.0, 12.0, "Hypopnea"),
        Annotation(100.0, 15.0, "Obstructive Apnea"),
        Annotation(120.0, 3.0, "Arousal (ARO SPONT)"),
        Annotation(130.0, 1.5, "Limb Movement (Left)"),
        Annotation(200.0, 20.0, "Central apnea"),
        Annotation(210.0, 8.0, "RERA"),
        Annotation(0.0, 30.0, "Sleep stage W"),
        Annotation(50.0, 0.0, "Lights off", "EMG RAT"),
        Annotation(400.0, None, "PLM"),
    ]
    ev = events_from_annotations(anns, source="x.edf")
    np.testing.assert_array_equal(ev.respiratory, [[100, 15], [200, 20], [210, 8], [300, 12]])
    np.testing.assert_array_equal(ev.arousals, [[120, 3]])
    np.testing.assert_array_equal(ev.leg_movements, [[130, 1.5], [400, np.nan]])  # unknown duration stays NaN
    assert ev.has_respiratory_scoring and ev.source == "x.edf"
    assert ev.to_dict() == {
        "source": "x.edf",
        "n_respiratory": 4,
        "n_arousals": 1,
        "n_leg_movements": 2,
        "has_respiratory_scoring": True,
        "caveats": [],
    }


def test_no_events():
    ev = events_from_annotations([], source="x")
    assert ev.respiratory.shape == ev.arousals.shape == ev.leg_movements.shape == (0, 2)
    assert not ev.has_respiratory_scoring


def test_desaturations_alone_mean_respiratory_scoring_was_done():
    ev = events_from_annotations([Annotation(10.0, 20.0, "Désat")], source="x")
    assert ev.has_respiratory_scoring and ev.respiratory.shape == (0, 2)


def test_csv_round_trip(tmp_path: Path):
    events = [(12.5, 10.25, "Obstructive Apnea"), (3.0, 2.0, "Arousal"), (40.0, None, "LM")]
    path = tmp_path / "ev.csv"
    write_events_csv(path, events)
    assert path.read_text().splitlines() == [
        "onset_s,duration_s,type",
        "3,2,Arousal",
        "12.5,10.25,Obstructive Apnea",
        "40,,LM",
    ]
    ev = read_events(path)
    np.testing.assert_array_equal(ev.respiratory, [[12.5, 10.25]])
    np.testing.assert_array_equal(ev.arousals, [[3.0, 2.0]])
    np.testing.assert_array_equal(ev.leg_movements, [[40.0, np.nan]])


def test_edf_events_round_trip(tmp_path: Path):
    path = tmp_path / "ev.edf"
    write_events_edf(path, [(5.0, 12.0, "Hypopnea"), (30.0, 2.0, "Micro-éveil")], duration_s=60, start=None)
    ev = read_events(path)
    np.testing.assert_array_equal(ev.respiratory, [[5.0, 12.0]])
    np.testing.assert_array_equal(ev.arousals, [[30.0, 2.0]])


def test_tsv_with_semicolon_and_clock_times(tmp_path: Path):
    path = tmp_path / "ev.txt"
    path.write_text("onset;duration;event\n23:00:10;12;Hypopnée\n23:01:00;3;Arousal\n", encoding="latin-1")
    rows, caveats = read_event_table(path, recording_start=datetime(2024, 1, 1, 23, 0, 0))
    assert rows == [(10.0, 12.0, "Hypopnée", "2"), (60.0, 3.0, "Arousal", "3")] and caveats == []


def test_bad_tables(tmp_path: Path):
    with pytest.raises(InputError, match=r"none\.csv: file not found"):
        read_events(tmp_path / "none.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty event table"):
        read_events(empty)
    short = tmp_path / "short.csv"
    short.write_text("onset,duration,type\n1,2,Arousal\n3\n")
    with pytest.raises(InputError, match=r"short\.csv:3: row has fewer than 3 columns"):
        read_events(short)
    baddur = tmp_path / "baddur.csv"
    baddur.write_text("onset,duration,type\n1,long,Arousal\n")
    with pytest.raises(InputError, match=r"baddur\.csv:2: duration 'long' is not a number"):
        read_events(baddur)


@pytest.mark.realdata
def test_noxturnal_2_counts(real_data_dir: Path):
    path = real_data_dir / "sleepr-testdata" / "noxturnal_events_example_unicode_2.csv"
    rows, _ = read_event_table(path)
    labels = Counter(row.label for row in rows)
    assert (labels["MJ"], labels["PLM"], labels["A. Obstructive"], labels["Hypopnée"]) == (29, 1, 114, 89)
    ev = read_events(path)
    assert ev.leg_movements.shape == (29 + 1, 2)
    assert ev.respiratory.shape == (114 + 89 + labels["A. Mixte"], 2)
    assert ev.arousals.shape == (labels["Micro-éveil"], 2) == (76, 2)
    assert ev.has_respiratory_scoring
    assert [c.code for c in ev.caveats] == ["times_relative_to_first_event"]
    assert np.all(np.diff(ev.respiratory[:, 0]) >= 0) and ev.respiratory[0, 0] > 0
    # the first 'MJ': 26/07/2018 00:21:35 with 2.722 s, first event of the file 25/07/2018 23:45:40
    assert ev.leg_movements[0].tolist() == [2155.0, 2.722]
    started = read_events(path, recording_start=datetime(2018, 7, 25, 23, 45, 0))
    np.testing.assert_allclose(started.leg_movements[:, 0], ev.leg_movements[:, 0] + 40.0)


@pytest.mark.realdata
def test_noxturnal_without_respiratory_scoring(real_data_dir: Path):
    ev = read_events(real_data_dir / "sleepr-testdata" / "noxturnal_events_example_unicode.csv")
    assert not ev.has_respiratory_scoring and ev.respiratory.shape == (0, 2) and ev.arousals.shape == (22, 2)


@pytest.mark.realdata
def test_psg_ipa_stage_files_have_no_scored_events(real_data_dir: Path):
    ev = read_events(real_data_dir / "psg-ipa-SN1-stages" / "SN1_SleepStages_manual_scorer1.edf")
    assert ev.respiratory.size == ev.arousals.size == ev.leg_movements.size == 0
    assert not ev.has_respiratory_scoring


def test_edf_events_are_moved_to_the_recording_time_base(tmp_path: Path):
    path = tmp_path / "ev.edf"
    write_events_edf(path, [(5.0, 12.0, "Hypopnea")], duration_s=60, start=datetime(2024, 1, 1, 0, 0, 10))
    ev = read_events(path, recording_start=datetime(2023, 12, 31, 23, 59, 50))
    np.testing.assert_array_equal(ev.respiratory, [[25.0, 12.0]])


# --- issue 16: events that cannot belong to the night ----------------------------------------------------------


def _table(tmp_path: Path, rows: list[str], name: str = "ev.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(["onset_s,duration_s,type", *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("nan,10,Obstructive apnea", r"ev\.csv:3: onset nan of 'Obstructive apnea' is not a time"),
        ("inf,10,Obstructive apnea", r"ev\.csv:3: onset inf of 'Obstructive apnea' is not a time"),
        ("100,nan,Obstructive apnea", r"ev\.csv:3: duration nan of 'Obstructive apnea' is not a length of time"),
        ("100,-5,Obstructive apnea", r"ev\.csv:3: duration -5.0 of 'Obstructive apnea' is not a length of time"),
        ("100,1e12,Obstructive apnea", r"ev\.csv:3: 'Obstructive apnea' lasts 1e\+12 s, longer than the whole"),
        ("1e300,10,Obstructive apnea", r"ev\.csv:3: onset 1e\+300 s of 'Obstructive apnea' is more than 7 days"),
    ],
)
def test_event_times_that_cannot_belong_to_the_night_are_refused(tmp_path: Path, row: str, message: str):
    """Regression (issue 16): NaN/negative durations passed, 1e12 s removed every movement (PLMS 45 -> 0/h),
    NaN/inf/1e300 onsets ended in an internal error."""
    path = _table(tmp_path, ["50,10,Hypopnea", row])
    with pytest.raises(InputError, match=message):
        read_events(path, recording_duration_s=3600.0)


@pytest.mark.parametrize("onset", ["-50", "3600", "7200", "-86400"])
def test_a_file_whose_only_events_lie_outside_the_recording_is_refused(tmp_path: Path, onset: str):
    """Regression (issue 16): an event before the start, after the end or on another date still made
    "respiratory scoring available"."""
    path = _table(tmp_path, [f"{onset},10,Obstructive apnea"])
    with pytest.raises(InputError, match=r"ev\.csv:2: none of the 1 scored events falls within the recording"):
        read_events(path, recording_duration_s=3600.0)


def test_events_of_another_date_are_refused(tmp_path: Path):
    path = tmp_path / "nox.csv"
    text = (
        "Heure de début,Heure de fin,Événement,Durée,\n[],[],[],[s],\n"
        "02/02/2021 23:10:00,02/02/2021 23:10:12,A. Obstructive,12,\n"
    )
    path.write_bytes(text.encode("utf-16"))
    with pytest.raises(InputError, match=r"nox\.csv:3: none of the 1 scored events falls within the recording"):
        read_events(path, recording_start=datetime(2024, 3, 1, 23, 0, 0), recording_duration_s=3600.0)


def test_events_partly_outside_are_dropped_with_a_caveat_naming_them(tmp_path: Path):
    path = _table(tmp_path, ["100,10,Obstructive apnea", "4000,10,Hypopnea", "200,3,Arousal"])
    ev = read_events(path, recording_duration_s=3600.0)
    np.testing.assert_array_equal(ev.respiratory, [[100, 10]])
    np.testing.assert_array_equal(ev.arousals, [[200, 3]])
    (cav,) = ev.caveats
    assert cav.code == "events_outside_recording"
    assert "1 of 3 scored events lie outside the recording (0-3600 s)" in cav.text and "(line 3)" in cav.text


def test_respiratory_scoring_is_not_claimed_from_events_outside_the_night(tmp_path: Path):
    path = _table(tmp_path, ["5000,10,Obstructive apnea", "200,3,Arousal"])
    ev = read_events(path, recording_duration_s=3600.0)
    assert not ev.has_respiratory_scoring and ev.respiratory.shape == (0, 2)
    assert [c.code for c in ev.caveats] == ["events_outside_recording"]


def test_unknown_event_labels_are_named_not_taken_for_none(tmp_path: Path):
    path = _table(tmp_path, ["100,10,OA", "150,12,OA", "300,8,H", "400,2,Arousal", "10,1,Dos"])
    ev = read_events(path, recording_duration_s=3600.0)
    assert not ev.has_respiratory_scoring
    (cav,) = ev.caveats
    assert cav.code == "event_labels_unrecognised" and "'OA' (2), 'H' (1)" in cav.text and "Dos" not in cav.text


def test_user_vocabulary_adds_event_labels(tmp_path: Path):
    from cds.io.labels import load_labels

    extra = tmp_path / "labels.yaml"
    extra.write_text("events:\n  respiratory: [OA, H]\n", encoding="utf-8")
    path = _table(tmp_path, ["100,10,OA", "300,8,H"])
    ev = read_events(path, recording_duration_s=3600.0, labels=load_labels(extra))
    np.testing.assert_array_equal(ev.respiratory, [[100, 10], [300, 8]])
    assert ev.has_respiratory_scoring and ev.caveats == ()


@pytest.mark.parametrize(
    "data",
    [bytes(range(256)) * 8, b"onset_s,duration_s,type\n1,2,Arousal\n\x00\x01\x02", b'a,"b\n' + b"x" * 200_000],
)
def test_binary_or_broken_tables_are_refused_with_one_line(tmp_path: Path, data: bytes):
    """Regression (issue 16): binary bytes given as a CSV ended in an internal error (csv.Error)."""
    path = tmp_path / "ev.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=r"ev\.csv(:\d+)?: (not a text table|not a readable table|unrecognised)"):
        read_events(path)


def test_the_recordings_own_annotations_are_left_out_and_named_not_refused():
    anns = [
        Annotation(100.0, 10.0, "Obstructive apnea"),
        Annotation(50.0, 1e12, "Hypopnea"),
        Annotation(4000.0, 5.0, "Arousal"),
    ]
    ev = events_from_annotations(anns, source="rec.edf", recording_duration_s=3600.0)
    np.testing.assert_array_equal(ev.respiratory, [[100, 10]])
    assert ev.arousals.shape == (0, 2)
    assert [c.code for c in ev.caveats] == ["events_longer_than_recording", "events_outside_recording"]
    assert "'Hypopnea' (annotation 2), lasts 1e+12 s" in ev.caveats[0].text
    only_outside = events_from_annotations(
        [Annotation(4000.0, 5.0, "Arousal")], source="rec.edf", recording_duration_s=3600.0
    )
    assert only_outside.arousals.shape == (0, 2) and [c.code for c in only_outside.caveats] == [
        "events_outside_recording"
    ]
