"""Property-based fuzzing of every input kind (issue 16): patient files, hypnogram and event tables, EDF headers
and command-line option combinations, each run through ``cds`` as a user would.

Reproducible in CI: derandomized (the inputs follow from each test's source, no example database), no deadline.
The number of inputs tried and their outcomes are printed at the end of the run (tests/conftest.py adds them up
over parallel workers). For a deeper local run:
``CDS_FUZZ_SCALE=10 CDS_FUZZ_RANDOM=1 python -m pytest tests/fuzz`` (ten times the inputs, new ones each run).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fuzz_night(tmp_path_factory) -> tuple[Path, float]:
    """A 3-minute synthetic night (200 Hz, stages in the EDF+ annotations) and its duration in seconds."""
    from cds.synth import SynthConfig, write_synthetic_psg

    path = tmp_path_factory.mktemp("fuzz-night") / "night.edf"
    write_synthetic_psg(path, SynthConfig.preset("periodic").replace(hours=0.05, sfreq_hz=200), seed=7)
    return path, 180.0
