"""Inline rule tests and whole-patient scenarios; the selfcheck command."""

from __future__ import annotations

from pathlib import Path

from cds.authoring.scenarios import Coverage, run_inline_tests, run_scenarios
from cds.authoring.selfcheck import main
from cds.rules.load import load_rules
from tests.rulebase.conftest import TINY_KNOWLEDGE, TINY_RULES


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_inline_tests_pass_and_cover_every_rule(tiny_kb):
    rules = load_rules(TINY_RULES, tiny_kb)
    coverage = Coverage()
    results = run_inline_tests(rules, tiny_kb, coverage)
    assert len(results) == sum(len(r.tests) for r in rules.rules) == 28
    assert not [r for r in results if r.failed]
    assert coverage.never_fired(rules) == [] and coverage.never_blocked(rules) == []


def test_failing_inline_test_names_the_atom_and_actual_value(rules_copy, tiny_kb):
    edit(rules_copy / "2-findings" / "FND-PLMD.yaml", "psg.plms_index: 34,", "psg.plms_index: 12,")
    results = run_inline_tests(load_rules(rules_copy, tiny_kb), tiny_kb)
    (bad,) = [r for r in results if r.failed]
    assert bad.where == "rules/2-findings/FND-PLMD.yaml:22:5"
    assert bad.problems == (
        "expected to fire; failed at {field: psg.plms_index, gt: {'threshold': 'plms_index_adult_per_h'}} (actual: 12)",
    )


def test_source_suffix_in_given(tiny_kb):
    rules = load_rules(TINY_RULES, tiny_kb)
    results = {r.name: r for r in run_inline_tests(rules, tiny_kb)}
    assert results["FND-NO-RESP-CAVEAT: reported only"].passed
    assert results["FND-NO-RESP-CAVEAT: recording"].passed


def test_scenarios_pass_todo_and_failures(tiny_rulebase, rules_copy):
    results = run_scenarios(tiny_rulebase, TINY_RULES)
    assert [(r.name, r.passed, r.todo) for r in results] == [
        ("adult PLMD with low ferritin", True, False),
        ("pregnant woman with PLMD", True, False),
        ("a known gap", False, True),
    ]
    scenario = rules_copy / "4-treatment" / "plmd.scenario.yaml"
    edit(scenario, "sodium_valproate: contraindicated", "sodium_valproate: option")
    results = run_scenarios(tiny_rulebase, rules_copy)
    bad = [r for r in results if r.failed]
    assert [r.problems for r in bad] == [("want treatment sodium_valproate option: got contraindicated",)]
    assert bad[0].where == "rules/4-treatment/plmd.scenario.yaml:7:5"


def test_scenario_with_bad_patient_reports_the_patient_error(tiny_rulebase, rules_copy):
    scenario = rules_copy / "4-treatment" / "plmd.scenario.yaml"
    edit(scenario, "symptoms: {insomnia: true}, labs", "symptoms: {insomia: true}, labs")
    (bad,) = [r for r in run_scenarios(tiny_rulebase, rules_copy) if r.failed]
    assert "symptoms.insomia: unknown key (did you mean 'insomnia'?)" in bad.problems[0]
    assert "plmd.scenario.yaml:4:" in bad.problems[0]


def test_selfcheck_ok_and_failure(rules_copy, capsys):
    assert main([str(TINY_RULES), str(TINY_KNOWLEDGE)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "OK"
    edit(rules_copy / "2-findings" / "FND-PLMD.yaml", "field: psg.plms_index,", "field: psg.plms_indx,")
    assert main([str(rules_copy), str(TINY_KNOWLEDGE)]) == 1
    out = capsys.readouterr().out
    assert "rules/2-findings/FND-PLMD.yaml:12:8: unknown field 'psg.plms_indx'" in out
    assert out.splitlines()[-1].startswith("FAILED:")
