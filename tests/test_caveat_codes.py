"""Every caveat code the Python code raises is defined in knowledge/vocab.yaml (``caveats:``) and documented in
docs/analysis-report.md (recording caveats) - a code nobody can look up would be a silent limitation."""

from __future__ import annotations

import re
from pathlib import Path

from cds.kb import load_knowledge

REPO = Path(__file__).resolve().parents[1]
_RAISED = re.compile(r"""Caveat\(\s*["']([a-z][a-z0-9_]*)["']""")
_TABLE = re.compile(r"""\(\s*["']([a-z]+_signal)["'],""")  # quality.py: (code, share, what) rows


def _codes(folder: Path) -> set[str]:
    codes: set[str] = set()
    for path in folder.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        codes |= set(_RAISED.findall(text))
        if "Caveat" in text:
            codes |= set(_TABLE.findall(text))
    return codes


def test_every_raised_caveat_code_is_in_the_vocabulary():
    raised = _codes(REPO / "cds")
    assert {"hypnogram_beyond_recording", "events_outside_recording", "sampling_rate_too_low"} <= raised
    defined = set(load_knowledge().vocab["caveats"])
    assert raised - defined == set()


def test_every_recording_caveat_code_is_documented():
    raised = _codes(REPO / "cds") - _codes(REPO / "cds" / "facts")  # facts' caveats come from the patient file
    doc = (REPO / "docs" / "analysis-report.md").read_text(encoding="utf-8")
    assert {code for code in raised if f"`{code}`" not in doc} == set()
