"""Fixtures for facts tests: the tiny knowledge base of tests/rulebase/data and the files under data/."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
TINY_KNOWLEDGE = HERE.parent / "rulebase" / "data" / "knowledge"


@pytest.fixture(scope="session")
def tiny_kb():
    from cds.kb import load_knowledge

    return load_knowledge(TINY_KNOWLEDGE)
