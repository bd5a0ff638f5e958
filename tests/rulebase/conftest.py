"""Fixtures: the tiny rule set and knowledge base under tests/rulebase/data (test content, not clinical)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
TINY_RULES = DATA / "rules"
TINY_KNOWLEDGE = DATA / "knowledge"


@pytest.fixture(scope="session")
def tiny_kb():
    from cds.kb import load_knowledge

    return load_knowledge(TINY_KNOWLEDGE)


@pytest.fixture(scope="session")
def tiny_rulebase():
    from cds.rules.engine import load_rulebase

    return load_rulebase(TINY_RULES, TINY_KNOWLEDGE)


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    """A writable copy of the tiny rule set (for byte surgery)."""
    target = tmp_path / "rules"
    shutil.copytree(TINY_RULES, target)
    return target
