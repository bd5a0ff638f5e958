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
    write_synthetic_psg(
        path, SynthConfig.preset("sparse").replace(hours=0.2, flat_roles=("left_leg", "right_leg")), seed=1
    )
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
    header = {
        "dimension": "uV",
        "sample_frequency": 256,
        "physical_max": 100,
        "physical_min": -100,
        "digital_max": 32767,
        "digital_min": -32768,
        "transducer": "",
        "prefilter": "",
    }
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


# --- issue 16: every bad input refused or named, usage errors exit 2 ---------------------------------------------


@pytest.fixture(scope="module")
def staged_night(tmp_path_factory):
    """A 12-minute night with its stages in a separate CSV (``onset_s,duration_s,type``, 'Sleep stage X')."""
    path = tmp_path_factory.mktemp("staged") / "staged.edf"
    truth = write_synthetic_psg(path, SynthConfig.preset("periodic").replace(hours=0.2, hypnogram_in_edf=False), seed=5)
    return path, truth


def _usage_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cds: usage error:"), err
    return err[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--channel", "left_leg=Leg L", "--channel", "right_leg=Leg L"], "label 'Leg L' given for both left_leg"),
        (["--channel", "left_leg=Leg L", "--channel", "left_leg=Leg R"], "channel role left_leg given twice"),
        (["--channel", "Leg L"], "bad channel override 'Leg L': expected ROLE=LABEL"),
        (["--channel", "knee=Leg L"], "unknown channel role 'knee'"),
        (["--export-events", "events.txt"], "--export-events: 'events.txt': the file name must end in .edf"),
        (["--standard", "rk1968"], "Invalid value for '--standard'"),
    ],
)
def test_usage_errors_exit_2_with_one_line(night, capsys, args, message):
    """Regression (issue 16): the same signal for both legs gave PLMS 45.0 -> 8.3/h with exit 0; a role given
    twice: last wins; ``analyze --channel LAT`` exited 3 instead of 2."""
    path, _ = night
    assert run(["analyze", str(path), *args]) == 2
    assert message in _usage_line(capsys)


def test_outputs_that_would_overwrite_an_input_are_usage_errors(night, capsys):
    path, _ = night
    before = path.read_bytes()
    assert run(["analyze", str(path), "--json", str(path)]) == 2
    assert "--json: would overwrite the recording file 'night.edf'" in _usage_line(capsys)
    assert run(["analyze", str(path), "--export-events", str(path)]) == 2
    assert "--export-events: would overwrite the recording file" in _usage_line(capsys)
    assert path.read_bytes() == before


@pytest.mark.parametrize("option", ["--json", "--export-events"])
def test_unwritable_output_paths_exit_3_with_one_line_before_the_analysis(night, tmp_path, capsys, option):
    """Regression (issue 16): ``--json DIR``, ``--export-events DIR`` and unwritable paths ended in exit 4."""
    path, _ = night
    folder = tmp_path / "out.csv"
    folder.mkdir()
    assert run(["analyze", str(path), option, str(folder)]) == 3
    line = _one_error_line(capsys)
    assert "out.csv: cannot write the" in line and "this is a folder" in line
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert run(["analyze", str(path), option, str(blocker / "sub" / "out.csv")]) == 3
    assert "'file' on its path is a file, not a folder" in _one_error_line(capsys)
    assert blocker.read_text() == "x"


def test_a_folder_as_json_output_names_it(night, tmp_path, capsys):
    path, _ = night
    assert run(["analyze", str(path), "--json", str(tmp_path)]) == 3
    line = _one_error_line(capsys)
    assert line.endswith(f"{tmp_path}: cannot write the JSON report: this is a folder (give a file name)")


def test_write_failure_after_the_analysis_is_one_line_exit_3(night, tmp_path, capsys, monkeypatch):
    import cds.files

    def full_disk(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cds.files, "write_atomic", full_disk)
    path, _ = night
    assert run(["analyze", str(path), "--json", str(tmp_path / "a.json")]) == 3
    assert "a.json: cannot write the json output: No space left on device" in _one_error_line(capsys)


def test_unknown_stage_label_exits_3_naming_file_line_and_vocabulary(staged_night, tmp_path, capsys):
    """Regression (issue 16): N2 written as 'N5' changed TST and the PLMS index with exit 0."""
    path, truth = staged_night
    good = truth.hypnogram_path
    assert run(["analyze", str(path), "--hypnogram", str(good), "--json", "-"]) == 0
    tst = json.loads(capsys.readouterr().out)["sleep"]["total_sleep_time_min"]
    n2_min = sum(30 for s in truth.hypnogram.stages if s == "N2") / 60
    assert tst == pytest.approx(sum(30 for s in truth.hypnogram.stages if s in ("N1", "N2", "N3", "R")) / 60)
    bad = tmp_path / "n5.csv"
    lines = good.read_text().splitlines()
    first_n2 = next(i for i, line in enumerate(lines) if line.endswith("Sleep stage N2"))
    bad.write_text("\n".join(line.replace("Sleep stage N2", "N5") for line in lines) + "\n")
    assert run(["analyze", str(path), "--hypnogram", str(bad)]) == 3
    line = _one_error_line(capsys)
    assert f"n5.csv:{first_n2 + 1}: unknown sleep-stage label 'N5' (allowed: W:" in line and "--stage-labels" in line
    extra = tmp_path / "labels.yaml"
    extra.write_text("stages:\n  N2: [N5]\n")
    assert run(["analyze", str(path), "--hypnogram", str(bad), "--stage-labels", str(extra), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sleep"]["total_sleep_time_min"] == tst and n2_min > 0
    assert data["parameters"]["label_vocabulary"]["extension"]["name"] == "labels.yaml"


def test_a_stage_written_as_another_word_is_refused(staged_night, tmp_path, capsys):
    """Regression (issue 16): REM written as 'sleepy' was dropped with no caveat (here N1, which this night has)."""
    path, truth = staged_night
    lines = truth.hypnogram_path.read_text().splitlines()
    assert lines[2] == "240,120,Sleep stage N1"
    bad = tmp_path / "sleepy.csv"
    bad.write_text("\n".join(line.replace("Sleep stage N1", "sleepy") for line in lines) + "\n")
    assert run(["analyze", str(path), "--hypnogram", str(bad)]) == 3
    assert "sleepy.csv:3: unknown sleep-stage label 'sleepy' where no stage is scored" in _one_error_line(capsys)


def test_hypnogram_of_200000_epochs_for_a_short_recording_exits_3(staged_night, tmp_path, capsys):
    """Regression (issue 16): TST 100 000 min, efficiency 100 %, exit 0."""
    path, _ = staged_night
    long = tmp_path / "long.csv"
    long.write_text("onset,duration,stage\n0,6000000,N2\n")
    assert run(["analyze", str(path), "--hypnogram", str(long)]) == 3
    assert "long.csv: 99988.0 min of scored stages lie outside the recording (0-720 s, 12.0 min)" in (
        _one_error_line(capsys)
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["-50,10,Obstructive apnea"], "none of the 1 scored events falls within the recording"),
        (["100,1e12,Obstructive apnea"], "'Obstructive apnea' lasts 1e+12 s, longer than the whole recording"),
        (["nan,10,Obstructive apnea"], "onset nan of 'Obstructive apnea' is not a time"),
        (["100,-3,Hypopnea"], "duration -3.0 of 'Hypopnea' is not a length of time"),
    ],
)
def test_events_that_cannot_belong_to_the_night_exit_3(staged_night, tmp_path, capsys, rows, message):
    path, _ = staged_night
    events = tmp_path / "ev.csv"
    events.write_text("\n".join(["onset_s,duration_s,type", *rows]) + "\n")
    assert run(["analyze", str(path), "--events", str(events)]) == 3
    assert message in _one_error_line(capsys)


def test_events_partly_after_the_end_are_a_caveat_in_the_report(staged_night, tmp_path, capsys):
    path, _ = staged_night
    events = tmp_path / "ev.csv"
    events.write_text("onset_s,duration_s,type\n100,10,Obstructive apnea\n5000,10,Hypopnea\n")
    assert run(["analyze", str(path), "--events", str(events), "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["respiratory"]["respiratory_events"] == 1 and data["respiratory"]["scored"] is True
    assert "events_outside_recording" in {c["code"] for c in data["caveats"]}


@pytest.mark.parametrize("rate", [1, 10])
def test_leg_sampled_too_slowly_exits_3_naming_file_and_signal(tmp_path, capsys, rate):
    """Regression (issue 16): sampling rates of 1 or 10 Hz ended in a filter-design error (exit 4)."""
    import numpy as np

    from tests.io.conftest import Chan, write_edf

    noise = np.random.default_rng(0).normal(0, 3, 120 * 256)
    slow = np.random.default_rng(1).normal(0, 3, 120 * rate)
    path = write_edf(tmp_path / "slow.edf", [Chan("Leg L", slow, rate), Chan("Leg R", noise, 256)])
    assert run(["analyze", str(path)]) == 3
    line = _one_error_line(capsys)
    assert f"slow.edf:Leg L: sampling rate {rate} Hz of the left_leg channel 'Leg L' cannot carry" in line


def test_chin_sampled_too_slowly_is_a_caveat_without_python_warnings(tmp_path, capsys):
    import numpy as np

    from tests.io.conftest import Chan, write_edf

    rng = np.random.default_rng(0)
    chans = [
        Chan("Leg L", rng.normal(0, 3, 120 * 256), 256),
        Chan("Leg R", rng.normal(0, 3, 120 * 256), 256),
        Chan("Chin", rng.normal(0, 3, 120), 1),
    ]
    path = write_edf(tmp_path / "chin1.edf", chans, annotations=[(0, 60, "Sleep stage W"), (60, 60, "Sleep stage N2")])
    assert run(["analyze", str(path), "--json", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    caveats = {(c["code"], c["channel"]) for c in json.loads(captured.out)["caveats"]}
    assert ("sampling_rate_too_low", "chin") in caveats
