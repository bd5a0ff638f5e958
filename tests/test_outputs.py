"""cds.outputs: output paths checked before any work, all-or-nothing writes (issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cds.errors import InputError, UsageError
from cds.outputs import StagedOutputs, check_not_inputs, check_output_dir, check_output_file


def test_output_file_checks(tmp_path: Path):
    assert check_output_file(tmp_path / "new" / "a.json", "JSON report") == tmp_path / "new" / "a.json"
    with pytest.raises(InputError, match=r"cannot write the JSON report: this is a folder"):
        check_output_file(tmp_path, "JSON report")
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(InputError, match=r"'f' on its path is a file, not a folder"):
        check_output_file(blocker / "a" / "b.json", "JSON report")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"pipe: cannot write the event export: not a regular file"):
        check_output_file(fifo, "event export")


def test_output_dir_checks(tmp_path: Path):
    blocker = tmp_path / "f"
    blocker.write_text("x")
    with pytest.raises(InputError, match=r"f: cannot write the output folder: this is a file, not a folder"):
        check_output_dir(blocker)
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"


def test_outputs_may_not_be_inputs_or_each_other(tmp_path: Path):
    rec = tmp_path / "night.edf"
    rec.write_bytes(b"0")
    with pytest.raises(UsageError, match=r"--json: would overwrite the recording file 'night.edf'"):
        check_not_inputs({"--json": tmp_path / "." / "night.edf"}, {"recording": rec, "--events": None})
    with pytest.raises(UsageError, match=r"--export-events: same path as --json \('x.csv'\)"):
        check_not_inputs({"--json": tmp_path / "x.csv", "--export-events": tmp_path / "x.csv"}, {})
    check_not_inputs({"--json": tmp_path / "a.json"}, {"recording": rec})


def test_staged_outputs_replace_earlier_ones_together(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "stale.txt").write_text("old stale")
    (out / "mine.txt").write_text("not ours")
    with StagedOutputs(out, {"a.txt": "new a", "b.txt": b"new b"}, stale=["stale.txt"]) as staged:
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a.txt", "mine.txt", "stale.txt"]
        written = staged.commit()
    assert sorted(written) == ["a.txt", "b.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt", "mine.txt"]
    assert (out / "a.txt").read_text() == "new a" and (out / "b.txt").read_bytes() == b"new b"


def test_a_failed_commit_puts_the_earlier_outputs_back(tmp_path: Path, monkeypatch):
    import cds.outputs

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "b.txt").write_text("old b")
    real = os.replace

    def fail_on_b(src, dst):
        if Path(dst) == out / "b.txt" and ".previous" not in str(src):
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(cds.outputs.os, "replace", fail_on_b)
    with StagedOutputs(out, {"a.txt": "new a", "b.txt": "new b"}) as staged, pytest.raises(OSError):
        staged.commit()
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert (out / "a.txt").read_text() == "old a" and (out / "b.txt").read_text() == "old b"


def test_a_folder_created_for_outputs_that_were_never_committed_is_removed(tmp_path: Path):
    out = tmp_path / "new"
    with StagedOutputs(out, {"a.txt": "a"}):
        assert out.is_dir()
    assert not out.exists()
