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
    for key in ("tonic_chin_pct", "phasic_chin_pct", "any_chin_pct"):
        assert got[key] == pytest.approx(want[key], abs=2.0), key
    assert got["aasm_sustained_epochs_pct"] == pytest.approx(want["aasm_sustained_epochs_pct"], abs=2.0)


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
    """20 N2 epochs then 20 REM epochs. REM epoch 3 (whole) and 7 (mini-epochs 0-6) tonic at 8x; phasic 0.5-s
    bursts at 15x in mini-epoch 2 of epochs 10, 11, 12 and in mini-epochs 0-5 of epoch 15 (an AASM transient
    epoch). By hand: tonic 2/20 = 10 %; phasic 9/200 = 4.5 %; any (10 + 7 + 9) / 200 = 13 %; transient 1/20."""
    stages = [N2] * 20 + [R] * 20
    x = _chin(stages)
    x[: 20 * 30 * int(FS)] *= 3.0  # NREM chin three times the REM level
    t0 = 20 * 30.0
    _burst(x, t0 + 3 * 30, 30.0, 8.0, 1)
    _burst(x, t0 + 7 * 30, 21.0, 8.0, 2)
    for k, (epoch, mini) in enumerate([(10, 2), (11, 2), (12, 2), *[(15, m) for m in range(6)]]):
        _burst(x, t0 + epoch * 30 + mini * 3 + 1.0, 0.5, 15.0, 10 + k)
    found = detect_rem_emg_activity(_filtered(x), stages, 30.0, 0.0, load_rswa_rules())
    assert found.rem_epochs == 20 and found.mini_epochs == 200
    assert found.tonic_chin_pct == pytest.approx(10.0)
    assert found.phasic_chin_pct == pytest.approx(4.5)
    assert found.any_chin_pct == pytest.approx(13.0)
    assert found.aasm_transient_epochs_pct == pytest.approx(5.0)
    assert found.aasm_sustained_epochs_pct == pytest.approx(10.0)
    assert found.background_uv == pytest.approx(1.0, rel=0.1)
    assert found.any_chin_fds_pct is None and "FDS" in found.unavailable["any_chin_fds_pct"]


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
    assert found.phasic_chin_pct == pytest.approx(100.0 * 2 / 197)


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
