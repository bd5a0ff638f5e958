"""``rules diff`` and decision replay (issue 5, items 5 and 7): two rule sets differing by one threshold."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from minibase import write_minibase

from cds.authoring.diff import (
    decision_outcomes,
    diff_cases,
    diff_outcomes,
    diff_rulesets,
    materialise,
    replay_decision,
)
from cds.decision import decide
from cds.errors import InputError
from cds.rules.engine import load_rulebase


def _pair(root: Path) -> tuple[Path, Path]:
    return root / "rules", root / "knowledge"


@pytest.fixture
def old_new(tmp_path) -> tuple[Path, Path]:
    return write_minibase(tmp_path / "old"), write_minibase(tmp_path / "new", adult_threshold=10)


def test_threshold_change_is_named_and_no_rule_changes(old_new):
    old, new = old_new
    report = diff_rulesets(_pair(old), _pair(new))
    assert report.rules == ()
    assert report.thresholds == ("threshold plms_index_adult_per_h: 15 -> 10 per_h",)


def test_identical_rule_sets_have_no_differences(old_new):
    old, _ = old_new
    report = diff_rulesets(_pair(old), _pair(old))
    assert (report.rules, report.thresholds) == ((), ())
    assert diff_cases(_pair(old), _pair(old), old / "cases") == []


def test_cases_name_exactly_the_decisions_that_change(old_new):
    old, new = old_new
    # P1 (PLMS 12 /h) crosses the new threshold 10; P2 (30) and P3 (5) are on the same side of both
    [change] = diff_cases(_pair(old), _pair(new), old / "cases")
    assert change.case == "P1.yaml"
    assert change.changes == (
        "finding plmd: none -> present",
        "recommendation polysomnography: none -> routine",
        "recommendation reassurance: routine -> none",
    )


def test_rule_added_removed_and_changed_in_plain_language(old_new):
    old, new = old_new
    rule = new / "rules" / "2-findings" / "FND-PLMD.yaml"
    rule.write_text(rule.read_text().replace("version: 1", "version: 2").replace("gt: {threshold", "gte: {threshold"))
    (new / "rules" / "3-triage" / "TRI-REASSURE.yaml").unlink()
    psg = (old / "rules" / "3-triage" / "TRI-PSG.yaml").read_text()
    (new / "rules" / "3-triage" / "TRI-PSG2.yaml").write_text(psg.replace("id: TRI-PSG", "id: TRI-PSG2"))
    report = diff_rulesets(_pair(old), _pair(new))
    kinds = {c.rule_id: c.kind for c in report.rules}
    assert kinds == {"FND-PLMD": "changed", "TRI-REASSURE": "removed", "TRI-PSG2": "added"}
    changed = next(c for c in report.rules if c.rule_id == "FND-PLMD")
    assert changed.details == (
        "-version 1",
        "+version 2",
        "-when   PLMS index > 15 /h (threshold plms_index_adult_per_h)",
        "+when   PLMS index ≥ 10 /h (threshold plms_index_adult_per_h)",
    )


def test_decision_outcomes_and_their_diff():
    old = {
        "findings": [{"code": "plmd"}],
        "recommendations": [{"action": "polysomnography", "urgency": "routine"}],
        "treatments": [{"drug": "clonazepam", "status": "option"}],
    }
    new = {
        "findings": [],
        "recommendations": [{"action": "polysomnography", "urgency": "urgent"}],
        "treatments": [{"drug": "clonazepam", "status": "contraindicated"}],
        "asks": [{"field": "age_years"}],
    }
    assert decision_outcomes(old) == {
        "finding plmd": "present",
        "recommendation polysomnography": "routine",
        "treatment clonazepam": "option",
    }
    assert diff_outcomes(old, new) == (
        "ask age_years: none -> asked",
        "finding plmd: present -> none",
        "recommendation polysomnography: routine -> urgent",
        "treatment clonazepam: option -> contraindicated",
    )
    assert diff_outcomes({}, {}) == ()


def test_missing_cases_folder_raises(old_new):
    old, new = old_new
    with pytest.raises(InputError, match="cases folder not found"):
        diff_cases(_pair(old), _pair(new), old / "no-such-cases")


def test_git_revisions_are_materialised(tmp_path, monkeypatch):
    repo = write_minibase(tmp_path / "repo")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "rules", "knowledge"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    write_minibase(repo, adult_threshold=10)
    subprocess.run([*git, "commit", "-qam", "v2"], check=True)
    monkeypatch.setenv("CDS_HOME", str(repo))
    with materialise("HEAD~1") as old, materialise("HEAD") as new:
        assert "value: 15" in (old[1] / "thresholds.yaml").read_text()
        assert diff_rulesets(old, new).thresholds == ("threshold plms_index_adult_per_h: 15 -> 10 per_h",)
        assert [c.case for c in diff_cases(old, new, repo / "cases")] == ["P1.yaml"]
    with pytest.raises(InputError, match="not a folder or a git revision"), materialise("no-such-revision"):
        pass


def test_replay_reruns_the_stored_patient_and_recording_facts(old_new):
    old, new = old_new
    before, after = load_rulebase(*_pair(old)), load_rulebase(*_pair(new))
    text = (old / "cases" / "P1.yaml").read_text()
    from cds.facts.patient import read_patient

    decision = json.loads(
        decide(
            before,
            read_patient(old / "cases" / "P1.yaml", knowledge=before.kb),
            patient_sha256="x",
            recording_name=None,
        ).to_json()
    )
    assert diff_outcomes(decision, replay_decision(decision, text, before)) == ()
    assert "recommendation reassurance: routine -> none" in diff_outcomes(
        decision, replay_decision(decision, text, after)
    )
    # no PLMS index in the patient file: the value measured from the recording is re-used from the stored facts
    bare = text.replace("polysomnography: {plms_index: 12}\n", "")
    measured = {
        "field": "psg.plms_index",
        "value": 40,
        "known": True,
        "source": "recording",
        "recording_sha256": "e" * 64,
        "method": "AASM",
    }
    logged = {**decision, "facts": [measured], "inputs": {**decision["inputs"], "recording": {"name": "n1.edf"}}}
    replayed = replay_decision(logged, bare, before)
    assert decision_outcomes(replayed)["finding plmd"] == "present"
    assert replayed["inputs"]["recording"] == {"name": "n1.edf"}


def test_case_files_with_a_patient_block_are_decided_and_unreadable_ones_listed(tmp_path):
    """Regression (issue 5): `rules diff --cases tests/cases` read the case files (patient under `patient:`)
    as patient files, failed on both rule sets alike and reported '0 cases change' silently."""
    from cds.authoring.diff import diff_cases
    from cds.paths import knowledge_dir, rules_dir

    cases = tmp_path / "cases"
    cases.mkdir()
    patient = "schema: cds.patient/v1\nid: C1\nage_years: 40\n"
    (cases / "a.yaml").write_text(
        "note: wrapped\npatient:\n" + "".join("  " + line + "\n" for line in patient.splitlines())
    )
    (cases / "b.yaml").write_text("schema: cds.patient/v1\nid: C2\nage_years: -3\n")
    same = (rules_dir(), knowledge_dir())
    changes = {c.case: c for c in diff_cases(same, same, cases)}
    assert "a.yaml" not in changes  # decided by both, identical outcome
    assert "not decided by either rule set" in changes["b.yaml"].changes[0]
