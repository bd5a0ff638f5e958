from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from cds.errors import HypnogramError
from cds.io.edf import Annotation, read_annotations
from cds.io.export import write_events_edf
from cds.io.hypnogram import Hypnogram, check_hypnogram, hypnogram_from_annotations, read_hypnogram, stage_of


@pytest.mark.parametrize(
    ("label", "want"),
    [
        ("Sleep stage W", ("W", False)),
        ("Sleep stage N1", ("N1", False)),
        ("Sleep stage N2", ("N2", False)),
        ("Sleep stage N3", ("N3", False)),
        ("Sleep stage R", ("R", False)),
        ("Sleep stage 1", ("N1", True)),
        ("Sleep stage 2", ("N2", True)),
        ("Sleep stage 3", ("N3", True)),
        ("Sleep stage 4", ("N3", True)),
        ("Sleep stage ?", ("?", False)),
        ("Sleep stage M", ("M", False)),
        ("Movement time", ("M", False)),
        ("sleep_stage_w", ("W", False)),
        ("Lights off", None),
        ("Arousal", None),
    ],
)
def test_stage_labels_of_annotations(label, want):
    assert stage_of(label, prefixed_only=True) == want


def test_bare_labels_count_only_outside_edf_annotations():
    assert stage_of("Éveil") == ("W", False)
    assert stage_of("REM") == ("R", False)
    assert stage_of("2") == ("N2", True)
    assert stage_of("2", prefixed_only=True) is None
    assert stage_of("MJ") is None


def _ann(onset, duration, text, channel=None):
    return Annotation(onset, duration, text, channel)


def test_long_annotations_expand_and_gaps_stay_unscored():
    anns = [
        _ann(0.0, 90.0, "Sleep stage W"),
        _ann(50.0, 0.0, "Lights off", "EMG RAT"),
        _ann(90.0, 30.0, "Sleep stage 2"),
        _ann(150.0, 60.0, "Sleep stage 4"),  # epoch at 120 s not scored
        _ann(200.0, 1.0, "Arousal"),
        _ann(210.0, 30.0, "Movement time"),
        _ann(230.0, 0.0, "Lights on"),
    ]
    hyp = hypnogram_from_annotations(anns, source="h.edf")
    assert hyp.stages == ("W", "W", "W", "N2", "?", "N3", "N3", "M")
    assert (hyp.epoch_s, hyp.start_s, hyp.end_s) == (30.0, 0.0, 240.0)
    assert (hyp.lights_off_s, hyp.lights_on_s) == (50.0, 230.0)
    assert hyp.scheme == "rk" and hyp.source == "h.edf"


def test_aasm_scheme_and_offset_start():
    hyp = hypnogram_from_annotations(
        [_ann(30.0, 30.0, "Sleep stage N1"), _ann(60.0, 30.0, "Sleep stage R")], source="x"
    )
    assert hyp.stages == ("N1", "R") and hyp.start_s == 30.0 and hyp.scheme == "aasm"
    assert hyp.lights_off_s is None and hyp.lights_on_s is None


def test_no_stage_annotations_gives_none():
    assert hypnogram_from_annotations([], source="x") is None
    assert hypnogram_from_annotations([_ann(1.0, 2.0, "Lights off")], source="x") is None


def test_stage_durations_off_the_epoch_grid_are_refused():
    with pytest.raises(HypnogramError, match=r"x\.edf:annotation 2: stage durations 45 s are not whole multiples"):
        hypnogram_from_annotations([_ann(0, 30, "Sleep stage W"), _ann(30, 45, "Sleep stage N1")], source="x.edf")


def test_conflicting_stages_are_reported():
    hyp = hypnogram_from_annotations([_ann(0, 60, "Sleep stage W"), _ann(30, 30, "Sleep stage N1")], source="x")
    assert hyp.stages == ("W", "N1")
    assert [c.code for c in hyp.caveats] == ["hypnogram_overlaps"]


def test_stage_at_maps_times_to_epochs_and_unscored_outside():
    hyp = Hypnogram(("W", "N2", "R"), 30.0, 10.0, None, None, "x", "aasm")
    got = hyp.stage_at(np.array([0.0, 10.0, 39.99, 40.0, 99.99, 100.0, -5.0]))
    assert got.tolist() == ["?", "W", "W", "N2", "R", "?", "?"]
    assert hyp.stage_at(np.array([])).shape == (0,)
    assert hyp.stage_at(np.array([[10.0, 45.0]])).tolist() == [["W", "N2"]]


def test_check_hypnogram():
    hyp = Hypnogram(("W",) * 10, 30.0, 0.0, None, None, "h.csv", "aasm")
    assert check_hypnogram(hyp, 300.0, path="h.csv") == ()
    assert check_hypnogram(hyp, 330.0, path="h.csv") == ()  # within two epochs
    with_reading_caveat = hypnogram_from_annotations(
        [_ann(0, 300, "Sleep stage W"), _ann(0, 30, "Sleep stage N1")], source="h.csv"
    )
    assert [c.code for c in with_reading_caveat.caveats] == ["hypnogram_overlaps"]
    assert check_hypnogram(with_reading_caveat, 300.0, path="h.csv") == ()  # not repeated here
    (cav,) = check_hypnogram(hyp, 3600.0, path="h.csv")
    assert cav.code == "hypnogram_length_mismatch" and "5.0 min" in cav.text and "60.0 min" in cav.text
    late = Hypnogram(("W",) * 10, 30.0, 4000.0, None, None, "h.csv", "aasm")
    with pytest.raises(HypnogramError, match=r"h\.csv: hypnogram does not overlap the recording \(hypnogram 4000"):
        check_hypnogram(late, 3600.0, path="h.csv")


# --- files -------------------------------------------------------------------------------------------------


def test_csv_with_onsets_in_seconds(tmp_path: Path):
    path = tmp_path / "h.csv"
    path.write_text("onset,duration,stage\n0,30,W\n30,60,N2\n90,30,REM\n120,30,N3\n")
    hyp = read_hypnogram(path)
    assert hyp.stages == ("W", "N2", "N2", "R", "N3") and hyp.source == "h.csv" and hyp.caveats == ()


def test_tsv_with_clock_times_and_recording_start_across_midnight(tmp_path: Path):
    path = tmp_path / "h.tsv"
    path.write_text("onset\tduration\tstage\n23:59:30\t30\tW\n00:00:00\t30\tN1\n00:00:30\t30\tN2\n")
    hyp = read_hypnogram(path, recording_start=datetime(2024, 3, 1, 23, 59, 0))
    assert hyp.start_s == 30.0 and hyp.stages == ("W", "N1", "N2") and hyp.caveats == ()


def test_clock_times_without_start_are_relative_to_first_event_with_caveat(tmp_path: Path):
    path = tmp_path / "h.csv"
    path.write_text("onset,duration,stage\n22:00:00,30,W\n22:00:30,30,N1\n")
    hyp = read_hypnogram(path)
    assert hyp.start_s == 0.0 and hyp.stages == ("W", "N1")
    assert [c.code for c in hyp.caveats] == ["times_relative_to_first_event"]


def test_noxturnal_style_export_utf16(tmp_path: Path):
    text = (
        "Heure de début,Heure de fin,Événement,Durée,\n[],[],[],[s],\n"
        "01/02/2020 23:00:00,01/02/2020 23:00:30,Éveil,30,\n"
        "01/02/2020 23:00:10,01/02/2020 23:00:11,Micro-éveil,1,\n"
        "01/02/2020 23:00:30,01/02/2020 23:01:00,N1,30,\n"
        "01/02/2020 23:01:00,01/02/2020 23:01:30,REM,30,\n"
    )
    path = tmp_path / "nox.csv"
    path.write_bytes(text.encode("utf-16"))
    hyp = read_hypnogram(path, recording_start=datetime(2020, 2, 1, 22, 59, 0))
    assert hyp.stages == ("W", "N1", "R") and hyp.start_s == 60.0 and hyp.scheme == "aasm"


def test_bad_files(tmp_path: Path):
    with pytest.raises(HypnogramError, match=r"none\.csv: file not found"):
        read_hypnogram(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("when,what\n1,W\n")
    with pytest.raises(HypnogramError, match="unrecognised event table header"):
        read_hypnogram(bad)
    nostage = tmp_path / "nostage.csv"
    nostage.write_text("onset,duration,stage\n0,30,Arousal\n")
    with pytest.raises(HypnogramError, match="no sleep-stage labels found"):
        read_hypnogram(nostage)
    badonset = tmp_path / "badonset.csv"
    badonset.write_text("onset,duration,stage\nsoon,30,W\n")
    with pytest.raises(HypnogramError, match="onset 'soon' is neither seconds nor a clock time"):
        read_hypnogram(badonset)


def test_annotation_only_edf_written_by_export(tmp_path: Path):
    path = tmp_path / "stages.edf"
    events = [(0.0, 60.0, "Sleep stage W"), (60.0, 30.0, "Sleep stage N3"), (10.0, 0.0, "Lights off@@EMG RAT")]
    write_events_edf(path, events, duration_s=90.0, start=None)
    hyp = read_hypnogram(path)
    assert hyp.stages == ("W", "W", "N3") and hyp.lights_off_s == 10.0


# --- real files --------------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_psg_ipa_twelve_scorers_same_epochs_and_lights(real_data_dir: Path):
    hyps = [
        read_hypnogram(real_data_dir / "psg-ipa-SN1-stages" / f"SN1_SleepStages_manual_scorer{i}.edf")
        for i in range(1, 13)
    ]
    assert {len(h.stages) for h in hyps} == {901}
    assert {(h.start_s, h.epoch_s, h.scheme) for h in hyps} == {(0.0, 30.0, "aasm")}
    for h in hyps:
        assert (h.lights_off_s, h.lights_on_s) == pytest.approx((83.21, 26980.45))
    # scorers disagree on stages (that is the point of the data set), not on the epoch grid
    assert len({h.stages for h in hyps}) == 12
    # scorer 1 by hand from the raw annotation counts
    assert Counter(hyps[0].stages) == {"N2": 475, "R": 172, "N3": 159, "N1": 47, "W": 46, "?": 2}


@pytest.mark.realdata
def test_sleep_edf_rk_mapping(real_data_dir: Path):
    path = real_data_dir / "edfio-testdata" / "SC4001EC-Hypnogram.edf"
    hyp = read_hypnogram(path)
    assert hyp.scheme == "rk" and hyp.epoch_s == 30.0
    raw = [a for a in read_annotations(path) if a.text.startswith("Sleep stage")]
    per_label = Counter()
    for a in raw:
        per_label[a.text] += round(a.duration_s / 30)
    got = Counter(hyp.stages)
    assert got["N3"] == per_label["Sleep stage 3"] + per_label["Sleep stage 4"]
    assert got["N1"] == per_label["Sleep stage 1"] and got["W"] == per_label["Sleep stage W"]
    assert len(hyp.stages) == sum(per_label.values())  # contiguous, no gaps
    # first annotation: W for 30630 s, then 'Sleep stage 1' for 120 s, then 'Sleep stage 2'
    assert hyp.stage_at(np.array([0.0, 30629.0, 30630.0, 30749.0, 30750.0])).tolist() == ["W", "W", "N1", "N1", "N2"]


@pytest.mark.realdata
def test_sleep_edf_telemetry_hypnogram_through_edfio(real_data_dir: Path):
    hyp = read_hypnogram(real_data_dir / "sleepr-testdata" / "ST7132JR-Hypnogram.edf")
    assert hyp.start_s == 30.0 and len(hyp.stages) == 852 and hyp.scheme == "rk"
    assert hyp.stage_at(np.array([30.0, 1229.0, 1230.0])).tolist() == ["W", "W", "N1"]


@pytest.mark.realdata
def test_noxturnal_exports(real_data_dir: Path):
    nox = real_data_dir / "sleepr-testdata"
    hyp = read_hypnogram(nox / "noxturnal_events_example_unicode_2.csv")
    assert Counter(hyp.stages) == {"N2": 354, "W": 169, "R": 146, "N3": 141, "N1": 38}
    assert hyp.start_s == 20.0  # first stage 23:46:00, first event 23:45:40
    assert [c.code for c in hyp.caveats] == ["times_relative_to_first_event"]
    started = read_hypnogram(
        nox / "noxturnal_events_example_unicode_2.csv", recording_start=datetime(2018, 7, 25, 23, 45)
    )
    assert started.start_s == 60.0 and started.caveats == () and started.stages == hyp.stages
    # file 1 has four gaps in its staging: they stay unscored, not filled
    gappy = read_hypnogram(nox / "noxturnal_events_example_unicode.csv")
    assert Counter(gappy.stages)["?"] == 139 and len(gappy.stages) == 1497


def test_edf_hypnogram_is_moved_to_the_recording_time_base(tmp_path: Path):
    path = tmp_path / "stages.edf"
    write_events_edf(path, [(0.0, 60.0, "Sleep stage W")], duration_s=60, start=datetime(2024, 1, 1, 22, 0, 0))
    assert read_hypnogram(path).start_s == 0.0
    hyp = read_hypnogram(path, recording_start=datetime(2024, 1, 1, 21, 59, 0))
    assert hyp.start_s == 60.0 and hyp.stages == ("W", "W") and hyp.caveats == ()
    far = read_hypnogram(path, recording_start=datetime(2023, 6, 1, 22, 0, 0))
    assert far.start_s == 0.0 and [c.code for c in far.caveats] == ["start_dates_differ"]


def test_epoch_is_30_s_unless_the_file_uses_shorter_epochs():
    long_only = hypnogram_from_annotations([_ann(0, 60, "Sleep stage W"), _ann(60, 90, "Sleep stage 2")], source="x")
    assert long_only.epoch_s == 30.0 and long_only.stages == ("W", "W", "N2", "N2", "N2")
    rk20 = hypnogram_from_annotations([_ann(0, 20, "Sleep stage W"), _ann(20, 40, "Sleep stage 1")], source="x")
    assert rk20.epoch_s == 20.0 and rk20.stages == ("W", "N1", "N1")


def test_hypnogram_to_dict():
    hyp = Hypnogram(("W", "N2", "R"), 30.0, 10.0, 12.0, None, "h.csv", "aasm")
    assert hyp.to_dict() == {
        "source": "h.csv",
        "scheme": "aasm",
        "epoch_s": 30.0,
        "start_s": 10.0,
        "end_s": 100.0,
        "n_epochs": 3,
        "lights_off_s": 12.0,
        "lights_on_s": None,
        "caveats": [],
    }


# --- issue 16: unknown labels, epoch grid, length and times against the recording ---------------------------


def _csv(tmp_path: Path, name: str, rows: list[str], header: str = "onset,duration,stage") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_unknown_label_in_a_stage_column_is_refused_with_line_label_and_vocabulary(tmp_path: Path):
    """Regression (issue 16): 'N5' for N2 was dropped, TST 50 -> 20 min, PLMS index 32.4 -> 54.0/h."""
    path = _csv(tmp_path, "h.csv", ["0,60,W", "60,30,N1", "90,90,N5", "180,30,N2"])
    with pytest.raises(HypnogramError) as err:
        read_hypnogram(path)
    message = str(err.value)
    assert "h.csv:4: unknown sleep-stage label 'N5' (allowed: W: awake, eveil, w, wake; N1:" in message
    assert "N2: 2, n2, s2" in message and "--stage-labels" in message


def test_unknown_label_filling_epochs_of_a_mixed_table_is_refused(tmp_path: Path):
    """Regression (issue 16): REM written as 'sleepy' in an event-style table was dropped with no caveat."""
    rows = ["0,60,Sleep stage W", "60,60,Sleep stage N2", "120,60,sleepy", "180,30,Sleep stage N2"]
    path = _csv(tmp_path, "h.csv", rows, header="onset_s,duration_s,type")
    with pytest.raises(HypnogramError, match=r"h\.csv:4: unknown sleep-stage label 'sleepy' where no stage is scored"):
        read_hypnogram(path)


@pytest.mark.parametrize("label", ["N5", "Sleep stage 9", "sleep_stage_x", "S7"])
def test_labels_that_look_like_stages_are_refused_even_in_mixed_tables(tmp_path: Path, label: str):
    path = _csv(tmp_path, "h.csv", ["0,30,W", f"30,30,{label}", "60,30,N2"], header="onset_s,duration_s,type")
    with pytest.raises(HypnogramError, match=rf"h\.csv:3: unknown sleep-stage label '{label}'"):
        read_hypnogram(path)


def test_unrelated_events_in_a_mixed_table_are_not_stages(tmp_path: Path):
    rows = ["0,30,W", "10,3,Arousal", "12,1,Notification", "30,30,N2", "40,5,Dos", "60,30,REM", "75,1,Snore"]
    hyp = read_hypnogram(_csv(tmp_path, "h.csv", rows, header="onset_s,duration_s,type"))
    assert hyp.stages == ("W", "N2", "R") and hyp.caveats == ()


def test_edf_annotation_with_an_unknown_stage_is_refused():
    anns = [_ann(0, 30, "Sleep stage W"), _ann(30, 30, "Sleep stage N5"), _ann(60, 30, "Apnea")]
    with pytest.raises(HypnogramError, match=r"rec\.edf:annotation 2: unknown sleep-stage label 'Sleep stage N5'"):
        hypnogram_from_annotations(anns, source="rec.edf")


def test_user_vocabulary_maps_a_label_to_a_stage(tmp_path: Path):
    from cds.io.labels import load_labels

    extra = tmp_path / "labels.yaml"
    extra.write_text("stages:\n  N2: [N5, 'stade 2']\n  R: [sleepy]\n", encoding="utf-8")
    path = _csv(tmp_path, "h.csv", ["0,60,W", "60,30,N5", "90,30,Stade 2", "120,30,sleepy"])
    hyp = read_hypnogram(path, labels=load_labels(extra))
    assert hyp.stages == ("W", "W", "N2", "N2", "R")


def test_stage_off_the_epoch_grid_is_refused_with_its_line(tmp_path: Path):
    path = _csv(tmp_path, "h.csv", ["0,30,W", "45,30,N1", "75,30,N2"])
    with pytest.raises(HypnogramError, match=r"h\.csv:3: stage 'N1' starts at 45 s, off the 30-s epoch grid"):
        read_hypnogram(path)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("nan", r"h\.csv:3: onset nan of 'N2' is not a time"),
        ("inf", r"h\.csv:3: onset inf of 'N2' is not a time"),
        ("-inf", r"h\.csv:3: onset -inf of 'N2' is not a time"),
        ("1e300", r"h\.csv:3: onset 1e\+300 s of 'N2' is more than 7 days from the recording start"),
    ],
)
def test_onsets_that_are_not_times_are_refused(tmp_path: Path, cell: str, message: str):
    """Regression (issue 16): NaN, inf or 1e300 onsets ended in an internal error (exit 4)."""
    path = _csv(tmp_path, "h.csv", ["0,30,W", f"{cell},30,N2", "60,30,N2"])
    with pytest.raises(HypnogramError, match=message):
        read_hypnogram(path, recording_duration_s=90.0)
    with pytest.raises(HypnogramError, match=message):
        read_hypnogram(path)


@pytest.mark.parametrize("cell", ["nan", "-30", "inf"])
def test_durations_that_are_not_lengths_are_refused(tmp_path: Path, cell: str):
    path = _csv(tmp_path, "h.csv", ["0,30,W", f"30,{cell},N2"])
    with pytest.raises(HypnogramError, match=rf"h\.csv:3: duration {cell.lstrip('+')}.* is not a length of time"):
        read_hypnogram(path)


def test_binary_bytes_as_a_table_are_refused(tmp_path: Path):
    path = tmp_path / "h.csv"
    path.write_bytes(b"onset,duration,stage\n0,30,W\n" + bytes(range(256)) * 4)
    with pytest.raises(HypnogramError, match=r"h\.csv:3: not a text table: control character 0x00"):
        read_hypnogram(path)


def test_hypnogram_far_longer_than_the_recording_is_refused():
    """Regression (issue 16): 200 000 epochs for a 1-hour recording gave TST 100 000 min and efficiency 100 %."""
    anns = [_ann(0.0, 200_000 * 30.0, "Sleep stage 2")]
    with pytest.raises(HypnogramError, match=r"99940\.0 min of scored stages lie outside the recording \(0-3600 s"):
        hypnogram_from_annotations(anns, source="h.edf", recording_duration_s=3600.0)


def test_fifty_thousand_epochs_for_one_hour_are_refused_for_their_length(tmp_path: Path):
    path = _csv(tmp_path, "h.csv", [f"{30 * i},30,N2" for i in range(50_000)])
    with pytest.raises(HypnogramError, match=r"h\.csv: 24940\.0 min of scored stages lie outside the recording"):
        read_hypnogram(path, recording_duration_s=3600.0)


def test_two_hundred_thousand_rows_are_refused_before_they_are_parsed(tmp_path: Path):
    """Regression (issue 16): 200 000 epochs for a 1-hour recording gave TST 100 000 min; over the row limit
    (cds.limits.MAX_TABLE_ROWS) the file is refused from its line count alone."""
    path = _csv(tmp_path, "h.csv", [f"{30 * i},30,N2" for i in range(200_000)])
    with pytest.raises(HypnogramError, match=r"h\.csv: 200001 lines, more than a table of 100000 rows \(limit\)"):
        read_hypnogram(path, recording_duration_s=3600.0)


def test_a_few_epochs_past_the_end_are_dropped_with_a_caveat(tmp_path: Path):
    path = _csv(tmp_path, "h.csv", ["0,60,W", "60,240,N2", "300,60,R"])  # 360 s of stages, recording 300 s
    hyp = read_hypnogram(path, recording_duration_s=300.0)
    assert hyp.stages == ("W", "W", "N2", "N2", "N2", "N2", "N2", "N2", "N2", "N2")
    (cav,) = hyp.caveats
    assert cav.code == "hypnogram_beyond_recording"
    assert "2 scored epochs (1.0 min) (from line 4) lie outside the recording (0-300 s)" in cav.text


def test_hypnogram_of_another_night_is_refused():
    anns = [_ann(90_000.0, 600.0, "Sleep stage 2")]
    with pytest.raises(HypnogramError, match=r"h\.edf: hypnogram does not overlap the recording"):
        hypnogram_from_annotations(anns, source="h.edf", recording_duration_s=3600.0)


def test_unscored_epochs_inside_the_night_are_named(tmp_path: Path):
    path = _csv(tmp_path, "h.csv", ["0,30,?", "30,30,W", "60,30,N2", "120,30,?", "150,30,N2", "180,30,?"])
    hyp = read_hypnogram(path)
    assert hyp.stages == ("?", "W", "N2", "?", "?", "N2", "?")
    (cav,) = hyp.caveats
    assert cav.code == "hypnogram_unscored_epochs"
    assert "2 epochs (1.0 min) between the first and the last scored epoch" in cav.text
    assert "1 with no stage in the file, 1 marked unscored" in cav.text


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["0,30,W", "20,0,Lights on", "25,0,Lights off"], r"lights on \(20 s\) is not after lights off \(25 s\)"),
        (["0,30,W", "400,0,Lights off"], r"lights off at 400 s is after the end of the recording \(300 s\)"),
    ],
)
def test_impossible_lights_are_refused(tmp_path: Path, rows: list[str], message: str):
    path = _csv(tmp_path, "h.csv", rows, header="onset_s,duration_s,type")
    with pytest.raises(HypnogramError, match=message):
        read_hypnogram(path, recording_duration_s=300.0)


def test_table_over_the_row_limit_is_refused_quickly(tmp_path: Path, monkeypatch):
    from cds.io import events

    monkeypatch.setattr(events, "MAX_TABLE_ROWS", 10)
    path = _csv(tmp_path, "h.csv", [f"{30 * i},30,N2" for i in range(50)])
    with pytest.raises(HypnogramError, match=r"h\.csv: 51 lines, more than a table of 10 rows \(limit\)"):
        read_hypnogram(path)
    quoted = _csv(tmp_path, "q.csv", [f'{30 * i},30,"N2"' for i in range(3)] + ['90,30,"a\nb\nc"'] * 12)
    with pytest.raises(HypnogramError, match=r"q\.csv: \d+ lines, more than a table of 10 rows"):
        read_hypnogram(quoted)


def test_table_over_the_size_limit_is_refused_before_reading(tmp_path: Path, monkeypatch):
    from cds.io import events

    monkeypatch.setattr(events, "MAX_TABLE_BYTES", 1024)
    path = _csv(tmp_path, "h.csv", [f"{30 * i},30,N2" for i in range(200)])
    with pytest.raises(HypnogramError, match=r"h\.csv: 2 182 bytes is larger than a hypnogram or event table can be"):
        read_hypnogram(path)


def test_lights_outside_the_recording_are_named(tmp_path: Path):
    path = _csv(
        tmp_path,
        "h.csv",
        ["0,60,W", "60,120,N2", "-20,0,Lights off", "10000,0,Lights on"],
        header="onset_s,duration_s,type",
    )
    hyp = read_hypnogram(path, recording_duration_s=180.0)
    (cav,) = hyp.caveats
    assert cav.code == "lights_outside_recording"
    assert (
        "lights off at -20 s is before the recording starts and lights on at 10000 s is after the recording ends"
        in (cav.text)
    )
