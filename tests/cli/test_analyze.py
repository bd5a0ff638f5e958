"""``cds analyze`` through cds.cli.run: summary, JSON, export, and bad input -> exit 3 with one line."""

from __future__ import annotations

import json

import pytest

from cds.cli import run
from cds.synth.config import SynthConfig
from cds.synth.generate import write_synthetic_psg


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "night.edf"
    return path, write_synthetic_psg(path, SynthConfig.preset("periodic").replace(hours=0.3), seed=3)


def test_summary_json_file_and_export(night, tmp_path, capsys):
    path, truth = night
    out, events = tmp_path / "a.json", tmp_path / "ev.csv"
    code = run(["analyze", str(path), "--json", str(out), "--export-events", str(events), "--standard", "wasm2016"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "PLMS index" in printed and "standard wasm2016" in printed
    data = json.loads(out.read_text())
    assert data["parameters"]["standard"] == "wasm2016"
    assert abs(data["leg_movements"]["plms_index"] - truth.plms_index["wasm2016"]) <= max(
        2.0, 0.1 * truth.plms_index["wasm2016"]
    )
    assert events.read_text().startswith("onset_s,duration_s,type")


def test_json_to_stdout_is_only_json(night, capsys):
    path, _ = night
    assert run(["analyze", str(path), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "cds.analysis/v1"


def test_channel_override_picks_the_named_label(tmp_path, capsys):
    path = tmp_path / "odd.edf"
    write_synthetic_psg(path, SynthConfig.preset("sparse").replace(hours=0.2, labels=("EMG5", "EMG6", "Chin")), seed=1)
    assert run(["analyze", str(path)]) == 3
    assert "no leg EMG channel" in capsys.readouterr().err
    code = run(["analyze", str(path), "--channel", "left_leg=EMG5", "--channel", "right_leg=EMG6", "--json", "-"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["channels"]["left_leg"] == "EMG5"


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cds: error:")
    return err[0]


def test_saturated_legs_exit_3(tmp_path, capsys):
    path = tmp_path / "sat.edf"
    write_synthetic_psg(path, SynthConfig.preset("sparse").replace(hours=0.2, clip_uv=2.0), seed=1)
    assert run(["analyze", str(path)]) == 3
    assert "no usable leg EMG channel" in _one_error_line(capsys)


def test_flat_legs_exit_3(tmp_path, capsys):
    path = tmp_path / "flat.edf"
    write_synthetic_psg(path, SynthConfig.preset("sparse").replace(hours=0.2, flat_roles=("left_leg", "right_leg")),
                        seed=1)  # fmt: skip
    assert run(["analyze", str(path)]) == 3
    assert "flat" in _one_error_line(capsys)


def test_unknown_unit_exit_3(night, tmp_path, capsys):
    path, _ = night
    data = bytearray(path.read_bytes())
    n = int(data[252:256].decode())
    start = 256 + n * (16 + 80)  # physical-dimension fields follow the label and transducer fields
    assert data[start : start + 8] == b"uV      "
    data[start : start + 8] = b"furlong "
    bad = tmp_path / "bad-unit.edf"
    bad.write_bytes(bytes(data))
    assert run(["analyze", str(bad)]) == 3
    assert "furlong" in _one_error_line(capsys)


def test_missing_file_and_bad_standard(tmp_path, capsys):
    assert run(["analyze", str(tmp_path / "none.edf")]) == 3
    _one_error_line(capsys)
    assert run(["analyze", str(tmp_path / "none.edf"), "--standard", "rk1968"]) == 2


@pytest.mark.realdata
def test_real_nox_excerpt_with_31_uv_steps_is_refused(real_data_dir, capsys):
    # Nox A1 excerpt: leg channels stored in V over +/-1.024 V, i.e. 31 µV per digital step
    assert run(["analyze", str(real_data_dir / "sleepr-testdata" / "subject1.edf")]) == 3
    line = _one_error_line(capsys)
    assert "no usable leg EMG channel" in line and "31.25 µV per digital step" in line


def test_missing_hypnogram_file_exit_3(night, tmp_path, capsys):
    path, _ = night
    assert run(["analyze", str(path), "--hypnogram", str(tmp_path / "nope.csv")]) == 3
    assert "nope.csv" in _one_error_line(capsys)


def test_one_second_recording_exit_3(tmp_path, capsys):
    import numpy as np
    import pyedflib

    path = tmp_path / "short.edf"
    writer = pyedflib.EdfWriter(str(path), 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    header = {"dimension": "uV", "sample_frequency": 256, "physical_max": 100, "physical_min": -100,
              "digital_max": 32767, "digital_min": -32768, "transducer": "", "prefilter": ""}  # fmt: skip
    writer.setSignalHeaders([{**header, "label": "Leg L"}, {**header, "label": "Leg R"}])
    writer.writeSamples([np.zeros(256), np.zeros(256)])
    writer.close()
    assert run(["analyze", str(path)]) == 3
    assert "at least 2 s needed" in _one_error_line(capsys)


def test_night_without_sleep_gives_reasons_for_every_null(tmp_path, capsys):
    path = tmp_path / "awake.edf"
    write_synthetic_psg(path, SynthConfig.preset("sparse").replace(hours=0.1, initial_wake_min=10.0), seed=1)
    assert run(["analyze", str(path), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    for section in ("sleep", "leg_movements", "sleep_onset_jerks", "fragmentary_myoclonus"):
        nulls = {k for k, v in data[section].items() if v is None}
        assert nulls <= set(data[section]["unavailable"]), (section, nulls)
