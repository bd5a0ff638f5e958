"""A small generated cohort, written once per session (short nights: the batch machinery is under test here,
the detectors have their own planted-truth tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from cds.cli import run
from cds.synth.cohort import write_cohort

NIGHT_HOURS = 0.25


@pytest.fixture(scope="session")
def cohort6(tmp_path_factory) -> Path:
    """6 nights: 5 readable (patient files beside nights 2 and 4), night-006.edf not an EDF."""
    folder = tmp_path_factory.mktemp("cohort6")
    write_cohort(folder, 6, hours=NIGHT_HOURS, corrupt=1)
    return folder


def minibase() -> ModuleType:
    spec = importlib.util.spec_from_file_location("minibase", Path(__file__).parents[1] / "rulebase" / "minibase.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sequential(cohort6, tmp_path_factory) -> Path:
    """cohort6 scored in this process: the reference every other backend must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("seq") / "out"
    assert run(["batch", str(cohort6), "--out", str(out), "--no-log", "--workers", "0"]) == 1  # one night failed
    return out
