"""Shared fixtures. Real recordings come from ../shared/data/real through the ``real_data_dir`` fixture:
skipped with a reason when absent locally, a failure under CI=true where they must be present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if SHARED_REAL.is_dir():
        return SHARED_REAL
    if os.environ.get("CI") == "true":
        pytest.fail(f"real test data missing under CI: expected {SHARED_REAL.name} in ../shared/data")
    pytest.skip("real recordings (../shared/data/real) not present on this machine")
