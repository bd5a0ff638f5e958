"""The synthetic PSG generator: readable EDF+, planted truth, presets, units, labels, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cds.io.channels import ChannelRole
from cds.io.edf import read_recording
from cds.io.hypnogram import hypnogram_from_annotations, read_hypnogram
from cds.synth.config import SynthConfig
from cds.synth.generate import write_synthetic_psg


def test_periodic_night_is_readable_with_its_hypnogram_and_truth(tmp_path):
    path = tmp_path / "night.edf"
    truth = write_synthetic_psg(path, SynthConfig.preset("periodic"), seed=1)
    rec = read_recording(path)
    assert rec.duration_s == pytest.approx(1800.0)
    assert rec.roles[ChannelRole.LEFT_LEG] == "Leg L" and rec.roles[ChannelRole.CHIN] == "Chin"
    hyp = hypnogram_from_annotations(rec.annotations, source=path.name)
    assert hyp.stages == truth.hypnogram.stages
    assert (truth.events.kind == "periodic").sum() >= 8
    imis = np.diff(truth.events.onset_s[(truth.events.kind == "periodic") & (truth.events.side == "left")])
    assert truth.plms_index["aasm"] > 15
    # resting EMG of a few µV; leg movements of tens of µV
    leg = rec.signals[ChannelRole.LEFT_LEG].data_uv
    assert 1.0 < np.median(np.abs(leg - np.median(leg))) < 5.0
    assert imis.size > 0


@pytest.mark.parametrize(
    ("preset", "unit", "label", "sfreq"),
    [("noisy", "mV", "EMG Tib-L", 512), ("low_rate", "V", "LAT", 200), ("sparse", "uV", "Leg L", 256)],
)
def test_units_labels_and_rates(tmp_path, preset, unit, label, sfreq):
    path = tmp_path / f"{preset}.edf"
    write_synthetic_psg(path, SynthConfig.preset(preset).replace(hours=0.1), seed=2)
    sig = read_recording(path).signals[ChannelRole.LEFT_LEG]
    assert sig.unit == unit and sig.label == label and sig.sfreq_hz == sfreq


def test_rk_hypnogram_in_a_separate_file(tmp_path):
    path = tmp_path / "rk.edf"
    truth = write_synthetic_psg(path, SynthConfig.preset("low_rate").replace(hypnogram_in_edf=False), seed=3)
    assert hypnogram_from_annotations(read_recording(path).annotations, source="x") is None
    hyp = read_hypnogram(truth.hypnogram_path)
    assert hyp.scheme == "rk" and hyp.stages == truth.hypnogram.stages


def test_same_seed_same_file_and_different_seed_different_file(tmp_path):
    a, b, c = tmp_path / "a.edf", tmp_path / "b.edf", tmp_path / "c.edf"
    cfg = SynthConfig.preset("sparse").replace(hours=0.1)
    write_synthetic_psg(a, cfg, seed=5)
    write_synthetic_psg(b, cfg, seed=5)
    write_synthetic_psg(c, cfg, seed=6)
    assert a.read_bytes() == b.read_bytes()  # fixed synthetic start time: byte-identical files
    assert a.read_bytes()[256:] != c.read_bytes()[256:]


def test_demo_preset_is_a_full_night_with_periodic_movements_in_n2(tmp_path):
    truth = write_synthetic_psg(tmp_path / "demo.edf", SynthConfig.preset("demo"), seed=0)
    assert len(truth.hypnogram.stages) == 900  # 7.5 h of 30-s epochs
    assert truth.events.jerk_onset_s.size >= 1
    periodic = truth.events.kind == "periodic"
    stages = truth.hypnogram.stage_at(truth.events.onset_s[periodic])
    planted_in = set(stages.tolist())
    assert periodic.sum() >= 10 and "N2" in planted_in and planted_in <= {"N2", "N3"}  # series planted in NREM


def test_unknown_preset_raises():
    with pytest.raises(ValueError, match="unknown preset"):
        SynthConfig.preset("nope")


def test_module_cli_writes_edf_and_truth(tmp_path):
    out, truth = tmp_path / "x.edf", tmp_path / "truth.json"
    cmd = [
        sys.executable,
        "-m",
        "cds.synth",
        str(out),
        "--preset",
        "sparse",
        "--hours",
        "0.1",
        "--seed",
        "1",
        "--truth",
        str(truth),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    data = json.loads(truth.read_text())
    assert out.stat().st_size > 0 and data["seed"] == 1 and data["config"]["hours"] == 0.1
    assert {"plms_index", "leg_movement_components", "sleep_onset_jerks", "efm_excessive"} <= set(data)
