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
    assert rows == [(10.0, 12.0, "Hypopnée"), (60.0, 3.0, "Arousal")] and caveats == []


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
    labels = Counter(label for _, _, label in rows)
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
