"""REM sleep without atonia (issue 13): planted nights through the production path (``analyze_recording``), a
hand-made chin with a known answer, exclusions, FDS, and the null-with-reason cases.

The planted truth is computed by cds.synth.motor from what it planted (tonic epochs, phasic mini-epochs), not by
cds.detect; the hand-made case below is counted by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cds.analysis import analyze_recording
from cds.detect.preprocess import FilteredEmg
from cds.detect.rswa import detect_rem_emg_activity
from cds.errors import RuleFileError
from cds.stages import SleepStage
from cds.standards import load_rswa_rules, load_rswa_rules_file

FS = 256.0
R, N2 = SleepStage.R, SleepStage.N2


@pytest.mark.parametrize(
    ("seed", "tonic", "phasic"),
    [(2, 0.35, 0.2), (5, 0.1, 0.05), (7, 0.6, 0.3)],
)
def test_planted_tonic_phasic_and_any_within_two_points(synth_night, seed, tonic, phasic):
    path, truth = synth_night("rswa", seed=seed, hours=5.0, rswa_tonic_fraction=tonic, rswa_phasic_fraction=phasic)
    want = truth.motor.rswa_truth()
    got = analyze_recording(path).to_dict()["rswa"]
    assert got["rem_epochs"] == want["rem_epochs"] > 20
    # Montreal tonic and phasic on its own published grid: 20-s epochs, 2-s mini-epochs
    assert got["montreal_epochs"] == want["montreal_epochs"] > 30
    assert got["montreal_mini_epochs"] == 10 * want["montreal_epochs"]
    for key in ("tonic_chin_pct", "phasic_chin_pct", "any_chin_pct"):
        assert got[key] == pytest.approx(want[key], abs=2.0), key
    for key in ("aasm_sustained_epochs_pct", "aasm_transient_epochs_pct"):
        assert got[key] == pytest.approx(want[key], abs=2.0), key
    # no events file: respiratory events and arousals in REM could not be left out, so never a bare number
    assert got["indeterminate"] is True
    assert {r["code"] for r in got["indeterminate_reasons"]} == {"respiratory_not_scored", "arousals_not_scored"}


def test_running_background_follows_a_drifting_chin_gain(synth_night, monkeypatch):
    """The chin's gain triples over the night (atonic REM late in the night reads 3x the early level): the running
    background (SINBAR/Montreal: activity against the surrounding REM background) keeps every value within 2
    points of the truth; one background for the night reads late atonic REM as tonic activity."""
    import cds.analysis

    path, truth = synth_night("rswa", seed=3, hours=5.0, chin_gain_drift=2.0)
    want = truth.motor.rswa_truth()
    got = analyze_recording(path).to_dict()
    assert got["parameters"]["rswa"]["background"] == "running"
    for key in ("tonic_chin_pct", "phasic_chin_pct", "any_chin_pct"):
        assert got["rswa"][key] == pytest.approx(want[key], abs=2.0), key
    night = dataclasses.replace(load_rswa_rules(), background="global")
    monkeypatch.setattr(cds.analysis, "load_rswa_rules", lambda: night)
    flat = analyze_recording(path).to_dict()
    assert flat["parameters"]["rswa"]["background"] == "global"
    assert flat["rswa"]["tonic_chin_pct"] - want["tonic_chin_pct"] > 5.0
    assert flat["rswa"]["any_chin_pct"] - want["any_chin_pct"] > 10.0


def test_atonia_night_reads_near_zero_and_the_facts_carry_the_values(synth_night):
    from cds.facts.build import build_recording_facts
    from cds.kb import load_knowledge

    path, _ = synth_night("periodic", seed=3, hours=5.0)
    analysis = analyze_recording(path).to_dict()
    rswa = analysis["rswa"]
    assert rswa["tonic_chin_pct"] < 2.0 and rswa["phasic_chin_pct"] < 2.0 and rswa["any_chin_pct"] < 2.0
    facts = {d.field: d for d in build_recording_facts(analysis, load_knowledge())[0]}
    assert facts["psg.rswa_tonic_chin_pct"].value == pytest.approx(rswa["tonic_chin_pct"])
    assert facts["psg.rswa_any_chin_pct"].known and facts["psg.rswa_any_chin_pct"].source == "recording"
    assert analysis["parameters"]["rswa"]["mini_epoch_s"] == 3.0


def _chin(stages: list[SleepStage], level_uv: float = 1.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(len(stages) * 30 * FS)) * level_uv


def _filtered(x: np.ndarray) -> FilteredEmg:
    return FilteredEmg(x.astype(np.float32), FS, (10.0, 100.0), False, ())


def _burst(x: np.ndarray, onset_s: float, duration_s: float, rms_uv: float, seed: int) -> None:
    a, m = int(onset_s * FS), int(duration_s * FS)
    x[a : a + m] += rms_uv * np.random.default_rng(seed).standard_normal(m)


def test_hand_made_chin_known_answer():
    """20 N2 epochs then 20 REM epochs (one run: 30 Montreal 20-s epochs, 300 2-s mini-epochs). Tonic at 8x in
    REM epochs 3 and 7, mini-epochs 3-9 (21 s each: 99-120 s and 219-240 s into REM, so Montreal epochs 5 and 11
    are wholly tonic and 4 and 10 hold 1 s). Phasic 0.5-s bursts at 15x 1 s into mini-epoch 2 of epochs 10, 11, 12
    and mini-epochs 0-5 of epoch 15 (each inside one 2-s mini-epoch). By hand: Montreal tonic 2/30, phasic 9/300;
    SINBAR any (7 + 7 + 9) / 200 = 11.5 %; AASM sustained 2/20, transient 1/20 (epoch 15)."""
    stages = [N2] * 20 + [R] * 20
    x = _chin(stages)
    x[: 20 * 30 * int(FS)] *= 3.0  # NREM chin three times the REM level
    t0 = 20 * 30.0
    _burst(x, t0 + 3 * 30 + 9.0, 21.0, 8.0, 1)
    _burst(x, t0 + 7 * 30 + 9.0, 21.0, 8.0, 2)
    for k, (epoch, mini) in enumerate([(10, 2), (11, 2), (12, 2), *[(15, m) for m in range(6)]]):
        _burst(x, t0 + epoch * 30 + mini * 3 + 1.0, 0.5, 15.0, 10 + k)
    found = detect_rem_emg_activity(_filtered(x), stages, 30.0, 0.0, load_rswa_rules())
    assert found.rem_epochs == 20 and found.mini_epochs == 200
    assert found.montreal_epochs == 30 and found.montreal_mini_epochs == 300
    assert found.tonic_chin_pct == pytest.approx(100.0 * 2 / 30)
    assert found.phasic_chin_pct == pytest.approx(3.0)
    assert found.any_chin_pct == pytest.approx(11.5)
    assert found.aasm_transient_epochs_pct == pytest.approx(5.0)
    assert found.aasm_sustained_epochs_pct == pytest.approx(10.0)
    assert found.background_uv == pytest.approx(1.0, rel=0.1)
    assert found.any_chin_fds_pct is None and "FDS" in found.unavailable["any_chin_fds_pct"]


def test_montreal_epochs_are_cut_from_runs_of_rem():
    """Runs of 3, 1 and 2 REM epochs (90, 30, 60 s): 4 + 1 + 3 Montreal epochs from each run's start."""
    from cds.detect.rswa import rem_epoch_starts

    is_rem = np.array([1, 1, 1, 0, 1, 0, 0, 1, 1], dtype=bool)
    starts = np.arange(9) * 30.0
    got = rem_epoch_starts(starts, is_rem, 30.0, 20.0, 9 * 30.0)
    assert got.tolist() == [0.0, 20.0, 40.0, 60.0, 120.0, 210.0, 230.0, 250.0]
    assert rem_epoch_starts(starts, is_rem, 30.0, 30.0, 9 * 30.0).tolist() == [0.0, 30.0, 60.0, 120.0, 210.0, 240.0]


def test_indeterminate_values_say_why():
    """Values are kept but flagged: no respiratory events or arousals scored, REM-AHI >= 15/h, REM < 15 min."""
    stages = [N2] * 20 + [R] * 40  # 20 min of REM
    x = _chin(stages)
    rules = load_rswa_rules()
    clean = detect_rem_emg_activity(
        _filtered(x), stages, 30.0, 0.0, rules, arousals_s=np.array([[10.0, 13.0]]), respiratory_s=np.zeros((0, 2))
    )
    assert clean.indeterminate == {} and clean.rem_ahi_per_h == 0.0
    assert clean.to_dict()["indeterminate"] is False
    bare = detect_rem_emg_activity(_filtered(x), stages, 30.0, 0.0, rules)
    assert set(bare.indeterminate) == {"respiratory_not_scored", "arousals_not_scored"}
    assert bare.rem_ahi_per_h is None and bare.tonic_chin_pct is not None
    assert bare.to_dict()["indeterminate"] is True
    # 6 apneas starting in 20 min of REM: REM-AHI 18/h (one starting in N2 does not count)
    apneas = np.array([[100.0, 115.0], *[[600.0 + 150.0 * k, 600.0 + 150.0 * k + 12.0] for k in range(6)]])
    high = detect_rem_emg_activity(
        _filtered(x), stages, 30.0, 0.0, rules, arousals_s=np.array([[10.0, 13.0]]), respiratory_s=apneas
    )
    assert high.rem_ahi_per_h == pytest.approx(18.0)
    assert set(high.indeterminate) == {"rem_ahi_high"} and "18.0/h" in high.indeterminate["rem_ahi_high"]
    short = [N2] * 20 + [R] * 20  # 10 min of REM: values, flagged
    found = detect_rem_emg_activity(
        _filtered(_chin(short)), short, 30.0, 0.0, rules, arousals_s=np.array([[10.0, 13.0]]), respiratory_s=apneas[:1]
    )
    assert found.any_chin_pct is not None and set(found.indeterminate) == {"rem_too_short"}
    assert "10.0 min of scorable REM" in found.indeterminate["rem_too_short"]


def test_arousals_and_artefacts_leave_their_mini_epochs_out():
    stages = [R] * 20
    x = _chin(stages)
    for epoch in range(4):
        _burst(x, epoch * 30 + 10.0, 0.5, 15.0, epoch)  # phasic bursts in mini-epoch 3 of epochs 0-3
    x[int(451 * FS) : int(451 * FS) + 100] = 2000.0  # an artefact in epoch 15, mini-epoch 0
    arousals = np.array([[9.0, 11.0], [39.5, 41.0]])  # over the bursts of epochs 0 and 1
    found = detect_rem_emg_activity(_filtered(x), stages, 30.0, 0.0, load_rswa_rules(), arousals_s=arousals)
    assert found.excluded_mini_epochs == {"arousal": 2, "artefact": 1, "flat": 0, "respiratory": 0}
    assert found.scorable_mini_epochs == 197
    # Montreal phasic on 2-s mini-epochs: each arousal covers two of them, the artefact one; bursts of epochs 2, 3
    assert found.montreal_scorable_mini_epochs == 295
    assert found.phasic_chin_pct == pytest.approx(100.0 * 2 / 295)


def test_fds_phasic_bursts_add_to_any_chin():
    stages = [R] * 20
    chin = _chin(stages)
    arm = _chin(stages, seed=5)
    for epoch in range(10):
        _burst(arm, epoch * 30 + 4.0, 0.8, 12.0, epoch)
    found = detect_rem_emg_activity(_filtered(chin), stages, 30.0, 0.0, load_rswa_rules(), fds=[_filtered(arm)])
    assert found.any_chin_pct == pytest.approx(0.0)
    assert found.any_chin_fds_pct == pytest.approx(100.0 * 10 / 200)


def test_too_little_rem_is_null_with_the_reason():
    stages = [N2] * 10 + [R] * 6  # 3 min of REM
    found = detect_rem_emg_activity(_filtered(_chin(stages)), stages, 30.0, 0.0, load_rswa_rules())
    assert found.tonic_chin_pct is None and "3.0 min of scorable REM" in found.unavailable["tonic_chin_pct"]


def test_no_hypnogram_gives_nulls_with_reason(synth_night, tmp_path):
    path, _ = synth_night("periodic", seed=4, hours=1.0, hypnogram_in_edf=False)
    rswa = analyze_recording(path).to_dict()["rswa"]
    assert (
        rswa["tonic_chin_pct"] is None and rswa["unavailable"]["tonic_chin_pct"] == "no hypnogram: REM epochs unknown"
    )


def test_rules_file_is_strict(tmp_path):
    from cds.paths import knowledge_dir

    text = (knowledge_dir() / "standards" / "rswa.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "rswa.yaml"
    broken.write_text(text.replace("phasic_ratio: 4.0", "phasic_ratoi: 4.0"), encoding="utf-8")
    with pytest.raises(RuleFileError, match="missing: \\['phasic_ratio'\\], unknown: \\['phasic_ratoi'\\]"):
        load_rswa_rules_file(broken)
    broken.write_text(text.replace("mini_epoch_s: 3.0", "mini_epoch_s: 7.0"), encoding="utf-8")
    with pytest.raises(RuleFileError, match="whole number of mini-epochs"):
        load_rswa_rules_file(broken)
    assert dataclasses.asdict(load_rswa_rules())["epoch_s"] == 30.0


def test_fds_channels_are_found_by_label_and_add_to_sinbar_any(tmp_path):
    """A recording with 'FDS L' / 'FDS R' (SINBAR montage): both read as optional roles, their phasic bursts added
    to the chin's "any" activity; a recording without them gets no caveat for the missing FDS."""
    from cds.analysis import analyze_recording
    from tests.io.conftest import Chan, write_edf

    stages = [N2] * 20 + [R] * 20
    n = int(len(stages) * 30 * FS)
    rng = np.random.default_rng(9)
    legs = [rng.standard_normal(n) * 2.0 for _ in range(2)]
    chin = _chin(stages, seed=10)
    arm = _chin(stages, seed=11)
    for epoch in range(20, 30):  # REM epochs 0-9: one phasic FDS burst each, in mini-epoch 1
        _burst(arm, epoch * 30 + 4.0, 0.8, 12.0, epoch)
    annotations = [(i * 30.0, 30.0, f"Sleep stage {s.value}") for i, s in enumerate(stages)]
    chans = [
        Chan("Leg L", legs[0], FS),
        Chan("Leg R", legs[1], FS),
        Chan("Chin", chin, FS),
        Chan("EMG FDS-L", arm, FS),
        Chan("EMG FDS-R", _chin(stages, seed=12), FS),
    ]
    path = write_edf(tmp_path / "sinbar.edf", chans, annotations=annotations)
    doc = analyze_recording(path).to_dict()
    assert doc["channels"]["left_fds"] == "EMG FDS-L" and doc["channels"]["right_fds"] == "EMG FDS-R"
    rswa = doc["rswa"]
    assert rswa["channels"] == ["chin", "left_fds", "right_fds"]
    assert rswa["any_chin_pct"] == pytest.approx(0.0, abs=1.0)
    assert rswa["any_chin_fds_pct"] == pytest.approx(100.0 * 10 / 200, abs=1.0)
    plain = write_edf(tmp_path / "plain.edf", chans[:3], annotations=annotations)
    doc = analyze_recording(plain).to_dict()
    assert doc["channels"]["left_fds"] is None and "left_fds" in doc["channels"]["unavailable"]
    assert not [c for c in doc["caveats"] if c.get("channel") in ("left_fds", "right_fds")]
    assert doc["rswa"]["any_chin_fds_pct"] is None


def test_indeterminate_flag_reaches_the_report_facts_and_letter(synth_night, tmp_path):
    """A night scored without events: the rswa values carry indeterminate with reasons, the caveat
    rswa_values_indeterminate (which travels to the decision and the letter), and the letter's RSWA lines say
    INDETERMINATE. With scored apneas in REM (REM-AHI >= 15/h) REM-AHI becomes the fact psg.rem_ahi."""
    from cds.facts.build import build_recording_facts
    from cds.kb import load_knowledge
    from cds.letter.view_sections import recording_view
    from cds.synth.motor import EPOCH_S

    path, truth = synth_night("rswa", seed=2, hours=5.0)
    doc = analyze_recording(path).to_dict()
    assert doc["rswa"]["indeterminate"] is True and doc["rswa"]["rem_ahi_per_h"] is None
    caveat = next(c for c in doc["caveats"] if c["code"] == "rswa_values_indeterminate")
    assert "no respiratory events scored" in caveat["text"] and caveat["channel"] == "chin"
    facts, caveats = build_recording_facts(doc, load_knowledge())
    assert "rswa_values_indeterminate" in {c.code for c in caveats}
    assert not next(f for f in facts if f.field == "psg.rem_ahi").known
    lines = [label for label, _, _ in recording_view(doc, None)["numbers"] if "REM without atonia" in label]
    assert len(lines) == 3 and all("INDETERMINATE" in label for label in lines)

    rem = [i for i, s in enumerate(truth.hypnogram.stages) if s == SleepStage.R]
    rows = ["onset_s,duration_s,type"]
    rows += [f"{e * EPOCH_S + 5.0},12.0,Obstructive apnea" for e in rem[::4]]  # one apnea per 2 min of REM: 30/h
    rows += [f"{e * EPOCH_S + 20.0},3.0,Arousal" for e in rem[1::40]]
    events = tmp_path / "events.csv"
    events.write_text("\n".join(rows) + "\n", encoding="utf-8")
    doc = analyze_recording(path, events_path=events).to_dict()
    want = len(rem[::4]) / (len(rem) * EPOCH_S / 3600.0)
    assert doc["rswa"]["rem_ahi_per_h"] == pytest.approx(want, abs=0.01) and want >= 15.0
    assert {r["code"] for r in doc["rswa"]["indeterminate_reasons"]} == {"rem_ahi_high"}
    facts, _ = build_recording_facts(doc, load_knowledge())
    assert next(f for f in facts if f.field == "psg.rem_ahi").value == pytest.approx(want, abs=0.01)
    lines = [label for label, _, _ in recording_view(doc, None)["numbers"] if "REM without atonia" in label]
    assert all("INDETERMINATE" in label for label in lines)


def test_indeterminate_limits_are_the_rule_base_thresholds():
    """rswa.yaml repeats two numbers of thresholds.yaml (the detector cannot read the rule base's knowledge): a
    change to one without the other fails here."""
    from cds.kb import load_knowledge

    thresholds, rules = load_knowledge().thresholds, load_rswa_rules()
    assert rules.indeterminate_rem_minutes == thresholds["rem_min_minutes"]["value"]
    assert rules.indeterminate_rem_ahi_per_h == thresholds["rem_ahi_rswa_confound_per_h"]["value"]
    assert {"PubMed-34984464", "FernandezArcos-2016", "Ferri-2010-RAI"} <= set(rules.references)
    assert set(rules.references) <= set(load_knowledge().references)  # every cited key is in references.yaml
