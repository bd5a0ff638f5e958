"""``cds batch``: a generated cohort with one corrupted file runs to a complete table with an error row; a rerun
does only what is left; a local cluster and a separately started scheduler give the same table."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cds.batch.table import COLUMNS
from cds.cli import run


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "cohort.csv").open(newline="") as handle:
        return {r["night_id"]: r for r in csv.DictReader(handle)}


def _batch(source: Path, out: Path, *extra: str) -> int:
    return run(["batch", str(source), "--out", str(out), "--no-log", *extra])


def test_complete_table_with_one_error_row(sequential, cohort6):
    rows = _rows(sequential)
    assert sorted(rows) == [f"night-00{i}" for i in range(1, 7)]
    bad = rows["night-006"]
    assert bad["status"] == "error"
    assert "night-006.edf" in bad["error"] and "EDF" in bad["error"]  # names the file and the problem
    assert bad["plms_index_per_h"] == ""  # unknown, not 0
    for night_id in ("night-001", "night-003", "night-005"):  # no patient file: analysis only
        assert sorted(p.name for p in (sequential / night_id).iterdir()) == [
            "analysis.json",
            "batch.json",
            "summary.txt",
        ]
    for night_id in ("night-002", "night-004"):  # a patient file beside the night: the triage outputs
        names = {p.name for p in (sequential / night_id).iterdir()}
        assert {"decision.json", "letter.html", "letter.md", "analysis.json", "patient.yaml"} <= names
        assert rows[night_id]["decision_action"] and rows[night_id]["ruleset_sha256"]
    assert not (sequential / "night-006").exists()


def test_row_values_are_those_of_the_nights_own_reports(sequential):
    """The table is a summary of the per-night files, not a second computation."""
    rows = _rows(sequential)
    for night_id in ("night-001", "night-002", "night-003"):
        analysis = json.loads((sequential / night_id / "analysis.json").read_text())
        lm = analysis["leg_movements"]
        row = rows[night_id]
        assert float(row["plms_index_per_h"]) == lm["plms_index"]
        assert int(row["lm_count"]) == lm["count"]
        assert row["recording_sha256"] == analysis["recording"]["sha256"]
        assert float(row["total_sleep_time_min"]) == analysis["sleep"]["total_sleep_time_min"]
    decision = json.loads((sequential / "night-002" / "decision.json").read_text())
    assert rows["night-002"]["decision_urgency"] == decision["conclusion"]["urgency"]


def test_parquet_has_the_same_rows_and_typed_nullable_columns(sequential):
    import pyarrow.parquet as pq

    table = pq.read_table(sequential / "cohort.parquet")
    assert table.column_names == list(COLUMNS)
    assert str(table.schema.field("plms_index_per_h").type) == "double"
    rows = {r["night_id"]: r for r in table.to_pylist()}
    assert rows["night-006"]["plms_index_per_h"] is None
    assert rows["night-001"]["plms_index_per_h"] == float(_rows(sequential)["night-001"]["plms_index_per_h"])


def test_rerun_skips_done_nights_and_redoes_a_changed_one(sequential, cohort6, tmp_path, capsys):
    source = tmp_path / "cohort"
    shutil.copytree(cohort6, source)
    out = tmp_path / "out"
    shutil.copytree(sequential, out)
    capsys.readouterr()
    assert _batch(source, out, "--workers", "0") == 1
    assert "0 scored, 5 already done, 1 failed" in capsys.readouterr().out  # the bad file is tried again
    before = (out / "cohort.csv").read_bytes()
    assert before == (sequential / "cohort.csv").read_bytes()
    shutil.copy(source / "night-001.edf", source / "night-003.edf")  # night 3's recording changed
    assert _batch(source, out, "--workers", "0") == 1
    assert "1 scored, 4 already done, 1 failed" in capsys.readouterr().out
    assert _rows(out)["night-003"]["recording_sha256"] == _rows(out)["night-001"]["recording_sha256"]


def test_killed_halfway_a_rerun_does_only_the_rest(cohort6, tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-c",
        "from cds.cli import main; main()",
        "batch",
        str(cohort6),
        "--out",
        str(out),
        "--workers",
        "0",
        "--no-log",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("*/batch.json"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(out.glob("*/batch.json")))
    assert 2 <= done < 5, "the batch must be killed halfway"
    assert not (out / "cohort.csv").exists()  # the table is written at the end
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 1
    assert f"{5 - done} scored, {done} already done, 1 failed" in finished.stdout
    assert len(_rows(out)) == 6


@pytest.mark.slow
def test_local_cluster_gives_the_same_table(sequential, cohort6, tmp_path, capsys):
    out = tmp_path / "out"
    assert _batch(cohort6, out, "--workers", "2") == 1
    assert "local Dask cluster (2 worker processes)" in capsys.readouterr().err
    assert (out / "cohort.csv").read_bytes() == (sequential / "cohort.csv").read_bytes()
    for night_id in ("night-002", "night-004"):
        for name in ("decision.json", "letter.md", "analysis.json"):
            assert (out / night_id / name).read_bytes() == (sequential / night_id / name).read_bytes()


def _start(args: list[str], log: Path) -> subprocess.Popen:
    handle = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", *args], stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.mark.slow
def test_same_command_on_a_separately_started_scheduler_with_two_workers(sequential, cohort6, tmp_path, capsys):
    scheduler_file = tmp_path / "scheduler.json"
    procs = [
        _start(
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            tmp_path / "scheduler.log",
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(2):
            procs.append(
                _start(
                    [
                        "distributed.cli.dask_worker",
                        address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--host",
                        "127.0.0.1",
                    ],
                    tmp_path / f"worker{i}.log",
                )
            )
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "out"
        assert _batch(cohort6, out, "--scheduler", address) == 1
        assert f"Dask scheduler {address} (2 workers)" in capsys.readouterr().err
        assert (out / "cohort.csv").read_bytes() == (sequential / "cohort.csv").read_bytes()
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_logged_triage_nights_carry_their_log_record(cohort6, tmp_path, capsys):
    """Without --no-log each triaged night is a signed log record; its id is in the row, decision.json and the
    letter, and the log verifies."""
    log = tmp_path / "decisions.sqlite"
    out = tmp_path / "out"
    assert run(["batch", str(cohort6), "--out", str(out), "--workers", "0", "--log", str(log)]) == 1
    assert "2 decisions logged" in capsys.readouterr().out
    rows = _rows(out)
    for night_id in ("night-002", "night-004"):
        record = rows[night_id]["log_record"]
        assert record
        assert json.loads((out / night_id / "decision.json").read_text())["record"]["id"] == record
        assert record in (out / night_id / "letter.md").read_text()
    assert rows["night-001"]["log_record"] == ""  # analysis only: nothing to log
    assert run(["audit", "verify", "--log", str(log)]) == 0


def test_workers_and_scheduler_together_are_refused(cohort6, tmp_path, capsys):
    assert _batch(cohort6, tmp_path / "o", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1") == 2
    assert "not both" in capsys.readouterr().err


def test_unreachable_scheduler_exit_3(cohort6, tmp_path, capsys):
    assert _batch(cohort6, tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9") == 3
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


@pytest.mark.slow
def test_fifty_nights_on_the_default_local_cluster_with_one_corrupted_file(tmp_path, capsys):
    """The issue's acceptance run: 50 generated nights (short ones: the batch is under test), one of them not
    an EDF, on the default local cluster: a complete table, one error row, every other night scored."""
    from cds.synth.cohort import write_cohort

    source = tmp_path / "nights"
    write_cohort(source, 50, hours=0.1, corrupt=1)
    out = tmp_path / "out"
    assert run(["batch", str(source), "--out", str(out), "--no-log"]) == 1
    captured = capsys.readouterr()
    assert "local Dask cluster" in captured.err
    assert "49 scored, 0 already done, 1 failed" in captured.out
    rows = _rows(out)
    assert len(rows) == 50
    assert [n for n, r in rows.items() if r["status"] == "error"] == ["night-050"]
    assert all(rows[n]["lm_count"] != "" for n in rows if n != "night-050")  # (indices: null on sleepless nights)
    assert sum(1 for r in rows.values() if r["decision_action"]) == 24  # the patient files beside nights 2..48
