"""Which nights a batch scores: folders with companion files, globs and manifests; bad manifests refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.batch.cohort import discover_nights
from cds.cli import run
from cds.errors import InputError, UsageError


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folder_nights_with_their_companion_files(tmp_path):
    for name in ("b.edf", "a.edf", "a.hypnogram.csv", "a.events.csv", "a.patient.yaml", "a.hypnogram.edf"):
        _touch(tmp_path / name)
    _touch(tmp_path / "sub" / "c.edf")
    nights = discover_nights(tmp_path)
    assert [n.night_id for n in nights] == ["a", "b", "sub--c"]  # a.hypnogram.edf is a's hypnogram, not a night
    a = nights[0]
    assert (a.hypnogram.name, a.events.name, a.patient.name) == ("a.hypnogram.csv", "a.events.csv", "a.patient.yaml")
    assert nights[1].hypnogram is None and nights[1].patient is None


def test_glob_and_manifest(tmp_path):
    for name in ("n1.edf", "n2.edf", "p1.yaml"):
        _touch(tmp_path / name)
    assert [n.night_id for n in discover_nights(str(tmp_path / "n*.edf"))] == ["n1", "n2"]
    manifest = _touch(tmp_path / "cohort.csv", "id,recording,patient\nS-01,n1.edf,p1.yaml\n\nS-02,n2.edf,\n")
    nights = discover_nights(manifest)
    assert [(n.night_id, n.recording, n.patient) for n in nights] == [
        ("S-01", tmp_path / "n1.edf", tmp_path / "p1.yaml"),
        ("S-02", tmp_path / "n2.edf", None),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("recording,hypnogramm\nn1.edf,h.csv\n", "unknown column(s) 'hypnogramm'"),
        ("id,patient\nS1,p.yaml\n", "no 'recording' column"),
        ("id,recording\nS1,\n", "line 2: empty 'recording' cell"),
        ("id,recording\nS1,a.edf\nS1,b.edf\n", "two nights share the id 'S1'"),
        ("id,recording\n../up,a.edf\n", "cannot name a result folder"),
    ],
)
def test_bad_manifests_are_refused_naming_the_problem(tmp_path, text, problem):
    manifest = _touch(tmp_path / "m.csv", text)
    with pytest.raises(InputError, match=None) as info:
        discover_nights(manifest)
    assert problem in str(info.value)


def test_no_recordings_is_a_usage_error_and_a_missing_source_exit_3(tmp_path, capsys):
    with pytest.raises(UsageError, match="no recordings"):
        discover_nights(tmp_path)
    assert run(["batch", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--workers", "0"]) == 3
    assert "not found" in capsys.readouterr().err


def test_a_missing_optional_package_names_the_install_command(monkeypatch, cohort6, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name, *a))
    assert run(["batch", str(cohort6), "--out", str(tmp_path / "o"), "--workers", "2", "--no-log"]) == 3
    assert 'needs distributed, which is not installed: pip install -e ".[batch]"' in capsys.readouterr().err
