"""Issue 11, item 4: rule tests that assert outputs (findings, actions with urgency, treatment statuses, the
letter's phrase) and ``cds rules test RULE_ID``. A slip that changes what a shipped rule concludes while its
conditions still fire as before makes its tests fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds.cli import run

REPO = Path(__file__).resolve().parents[2]
ECLAMPSIA = "3-triage/TRI-ECLAMPSIA-EMERGENCY.yaml"


@pytest.fixture
def copy(tmp_path):
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "knowledge", tmp_path / "knowledge")
    return tmp_path


def _test(copy, *rule_ids):
    flags = [arg for rule_id in rule_ids for arg in ("--rule", rule_id)]
    return run(["rules", "test", str(copy / "rules"), "--knowledge", str(copy / "knowledge"), *flags])


def test_one_rules_tests_by_id(capsys):
    assert run(["rules", "test", "TRI-ECLAMPSIA-EMERGENCY"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("ok   rules/3-triage/TRI-ECLAMPSIA-EMERGENCY.yaml") == 2
    assert "TRI-ECLAMPSIA-EMERGENCY: 2 cases, 0 failed" in captured.err
    assert run(["rules", "test", "--rule", "NO-SUCH-RULE"]) == 2
    assert "no such rule: NO-SUCH-RULE" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("edits", "problem"),
    [
        (
            [("    urgency: emergency\n", "    urgency: urgent\n"), ("{interval:emergency}", "{interval:urgent}")],
            "want recommendations",
        ),
        ([("  - recommend: urgent_medical_review\n", "  - recommend: neurology_referral\n")], "want recommendations"),
        ([('eclampsia until proven otherwise"\n', 'consider eclampsia"\n')], "want because containing"),
    ],
    ids=["urgency", "action", "letter-phrase"],
)
def test_a_changed_conclusion_of_a_shipped_rule_fails_its_tests(copy, capsys, edits, problem):
    path = copy / "rules" / ECLAMPSIA
    text = path.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    assert _test(copy, "TRI-ECLAMPSIA-EMERGENCY") == 1
    out = capsys.readouterr().out
    assert "FAIL rules/3-triage/TRI-ECLAMPSIA-EMERGENCY.yaml" in out and problem in out


def test_a_changed_treatment_status_fails_its_tests(copy, capsys):
    path = copy / "rules" / "5-safety" / "SAF-PREGNANCY-VALPROATE.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("status: contraindicated", "status: not_recommended"), encoding="utf-8")
    assert _test(copy, "SAF-PREGNANCY-VALPROATE") == 1
    out = capsys.readouterr().out
    assert "- want treatments sodium_valproate=contraindicated" in out
    assert "+ got sodium_valproate=not_recommended" in out
