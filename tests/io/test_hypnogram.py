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
    with pytest.raises(HypnogramError, match=r"x\.edf: stage durations 45 s are not whole multiples"):
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
