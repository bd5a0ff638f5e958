"""Issue 11, item 4: a treatment rule that contradicts another is rejected by `rules check` unless a precedence is
declared in the rule file (``overrides:``), and the declared precedence is what resolution applies."""

from __future__ import annotations

import pytest
from minibase import _HEAD, write_minibase

from cds.authoring.check import check_ruleset
from cds.cli import run
from cds.decision import decide
from cds.facts.patient import read_patient
from cds.rules.engine import load_rulebase

OFFER = (
    _HEAD.format(id="TRT-OFFER", title="Offer", layer="treatment")
    + """\
when: {evidence: adult}
then:
  - {treatment: clonazepam, status: option, reason: offered}
because: adult
tests:
  - {name: adult, given: {evidence: [adult]}, expect: {fires: true}}
  - {name: none, given: {}, expect: {fires: false}}
"""
)
AGAINST = (
    _HEAD.format(id="TRT-AGAINST", title="Against", layer="treatment")
    + """\
OVERRIDES
when:
  all:
    - {evidence: adult}
    - {field: symptoms.insomnia, is: true}
then:
  - {treatment: clonazepam, status: not_recommended, reason: against}
because: adult with insomnia
tests:
  - {name: adult, given: {evidence: [adult], symptoms.insomnia: true}, expect: {fires: true}}
  - {name: none, given: {}, expect: {fires: false}}
"""
)


def _base(tmp_path, overrides: str = ""):
    root = write_minibase(tmp_path / "mb")
    vocab = root / "knowledge" / "vocab.yaml"
    vocab.write_text(vocab.read_text().replace("reasons: {}", "reasons: {offered: offered, against: advised against}"))
    (root / "rules" / "4-treatment").mkdir()
    (root / "rules" / "4-treatment" / "TRT-OFFER.yaml").write_text(OFFER)
    (root / "rules" / "4-treatment" / "TRT-AGAINST.yaml").write_text(AGAINST.replace("OVERRIDES\n", overrides))
    return root


def _status(root) -> str:
    rulebase = load_rulebase(root / "rules", root / "knowledge")
    patient = read_patient(root / "cases" / "P2.yaml", knowledge=rulebase.kb)
    decision = decide(rulebase, patient, patient_sha256="x")
    treatment = decision.treatment("clonazepam")
    assert treatment is not None
    return treatment.status.value


def test_a_contradicting_treatment_rule_is_rejected(tmp_path, capsys):
    root = _base(tmp_path)
    report = check_ruleset(root / "rules", root / "knowledge")
    conflicts = [p for p in report.problems if p.code == "E404"]
    assert len(conflicts) == 1 and conflicts[0].is_error
    assert conflicts[0].message.startswith("conflicting treatment statuses: clonazepam is ")
    assert "declare which one stands" in conflicts[0].message
    assert run(["rules", "check", str(root / "rules"), "--knowledge", str(root / "knowledge")]) == 1
    assert "E404 conflicting treatment statuses: clonazepam" in capsys.readouterr().out
    assert _status(root) == "option"  # undeclared: the policy's most favourable proposal


def test_a_declared_precedence_is_accepted_and_applied(tmp_path):
    root = _base(tmp_path, "overrides: [TRT-OFFER]\n")
    report = check_ruleset(root / "rules", root / "knowledge")
    assert not [p for p in report.problems if p.code in ("E404", "E405")]
    assert _status(root) == "not_recommended"  # the declared precedence, not "most favourable wins"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ("overrides: [TRT-NOPE]\n", "overrides unknown rule TRT-NOPE"),
        ("overrides: [TRI-PSG]\n", "overrides TRI-PSG, which rates none of this rule's drugs"),
    ],
)
def test_a_bad_precedence_declaration_is_an_error(tmp_path, overrides, message):
    root = _base(tmp_path, overrides)
    problems = [p for p in check_ruleset(root / "rules", root / "knowledge").problems if p.code == "E405"]
    assert [p.message for p in problems] == [message]
    assert problems[0].path == "rules/4-treatment/TRT-AGAINST.yaml" and problems[0].line is not None


def test_the_shipped_rules_declare_every_treatment_precedence():
    report = check_ruleset()
    assert not [p for p in report.problems if p.code in ("E404", "E405")]
