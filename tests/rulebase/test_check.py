"""``rules check`` (issue 5, item 1): purpose-made bad rule files, each problem at its exact file:line:col."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from cds.authoring import check as check_module
from cds.authoring.check import check_ruleset
from cds.authoring.intervals import NumSet, ValueSet
from cds.authoring.release import build_manifest, write_manifest
from cds.rules.manifest import MANIFEST_NAME

THRESHOLDS = "plms_index_adult_per_h: {value: 15, unit: per_h, references: [ICSD-3], note: gt}\n"
FIELDS = """\
age_years: {type: number, unit: years, min: 0, max: 130, description: Age}
symptoms.insomnia: {type: bool, description: Insomnia}
psg.plms_index: {type: number, unit: /h, min: 0, max: 500, sources: [reported, recording], description: PLMSI}
"""

# Line numbers of this good rule are used below: `when` atoms on lines 13 and 14 (column 7 = the '{').
GOOD = """\
id: FND-GOOD
title: Good rule
version: 1
status: active
authors: [cds test]
reviewed: 2026-11-01
layer: findings
references:
  - {key: ICSD-3, section: PLMD, grade: C}
rationale: test
when:
  all:
    - {field: psg.plms_index, gt: {threshold: plms_index_adult_per_h}, source: recording}
    - {evidence: adult}
then:
  - finding: plmd
because: "PLMS index {psg.plms_index}"
tests:
  - name: fires
    given: {psg.plms_index: 34, evidence: [adult]}
    expect: {fires: true}
  - name: does not fire
    given: {psg.plms_index: 3, evidence: [adult]}
    expect: {fires: false}
"""

ADULT = """\
id: EVD-ADULT
title: Adult
version: 1
status: active
authors: [cds test]
reviewed: 2026-11-01
layer: evidence
references:
  - {key: ICSD-3, section: age, grade: C}
rationale: test
when:
  all:
    - {field: age_years, gte: 18}
then:
  - evidence: adult
because: "age {age_years}"
tests:
  - {name: adult, given: {age_years: 40}, expect: {fires: true}}
  - {name: child, given: {age_years: 4}, expect: {fires: false}}
"""

WHEN_GOOD = """\
    - {field: psg.plms_index, gt: {threshold: plms_index_adult_per_h}, source: recording}
    - {evidence: adult}
"""


def _variant(rule_id: str, when: str | None = None, replace: dict[str, str] | None = None) -> str:
    """Byte surgery on the good rule: new id, new `when` items, other replacements."""
    text = GOOD.replace("FND-GOOD", rule_id)
    if when is not None:
        text = text.replace(WHEN_GOOD, when)
    for old, new in (replace or {}).items():
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.fixture
def base(tmp_path, monkeypatch) -> Path:
    """A tiny rule base without the engine's loader (its own checks are the loader's tests)."""
    monkeypatch.setattr(check_module, "_loader_problems", lambda rules, knowledge: None)
    (tmp_path / "knowledge").mkdir()
    (tmp_path / "knowledge" / "thresholds.yaml").write_text(THRESHOLDS)
    (tmp_path / "knowledge" / "fields.yaml").write_text(FIELDS)
    for folder in ("1-evidence", "2-findings", "3-triage"):
        (tmp_path / "rules" / folder).mkdir(parents=True)
    (tmp_path / "rules" / "1-evidence" / "EVD-ADULT.yaml").write_text(ADULT)
    (tmp_path / "rules" / "2-findings" / "FND-GOOD.yaml").write_text(GOOD)
    _update_manifest(tmp_path)
    return tmp_path


def _update_manifest(base: Path) -> None:
    write_manifest(build_manifest(base / "rules", base / "knowledge"), base / "rules" / MANIFEST_NAME)


def _add(base: Path, rule_id: str, text: str, folder: str = "2-findings") -> None:
    (base / "rules" / folder / f"{rule_id}.yaml").write_text(text)
    _update_manifest(base)


def _found(base: Path) -> list[str]:
    report = check_ruleset(base / "rules", base / "knowledge")
    return [str(p) for p in report.problems]


def test_good_rule_base_has_no_problems(base):
    report = check_ruleset(base / "rules", base / "knowledge")
    assert report.problems == ()
    assert (report.ok, report.rules_checked) == (True, 2)


def test_contradictory_interval_never_fires(base):
    when = "    - {field: age_years, gt: 65}\n    - {field: age_years, lt: 18}\n"
    _add(base, "FND-CONTRA", _variant("FND-CONTRA", when))
    [problem] = [p for p in _found(base) if "FND-CONTRA" in p]
    assert problem.startswith("rules/2-findings/FND-CONTRA.yaml:14:7: E301 rule can never fire")
    assert "age_years (line 13, line 14)" in problem


def test_contradiction_with_a_threshold_and_between(base):
    when = (
        "    - {field: psg.plms_index, gt: {threshold: plms_index_adult_per_h}, source: recording}\n"
        "    - {field: psg.plms_index, between: [5, 15], source: recording}\n"
    )
    _add(base, "FND-BAND", _variant("FND-BAND", when))
    assert any(p.startswith("rules/2-findings/FND-BAND.yaml:14:7: E301") for p in _found(base))


def test_touching_intervals_are_not_a_contradiction(base):
    when = "    - {field: age_years, gte: 18}\n    - {field: age_years, lte: 18}\n    - {evidence: adult}\n"
    _add(base, "FND-EDGE", _variant("FND-EDGE", when))
    assert [p for p in _found(base) if "FND-EDGE" in p] == []


def test_unknown_together_with_a_comparison_never_fires(base):
    when = (
        "    - {field: age_years, is: unknown}\n"
        "    - not: {field: age_years, lt: 18}\n"
        "    - {field: age_years, gte: 1}\n"
    )
    _add(base, "FND-UNK", _variant("FND-UNK", when))
    assert any(p.startswith("rules/2-findings/FND-UNK.yaml:15:7: E301") for p in _found(base))


def test_not_of_a_comparison_admits_unknown(base):
    # not (age < 18) holds for an unknown age, so it does not contradict `is: unknown`
    when = "    - {field: age_years, is: unknown}\n    - not: {field: age_years, lt: 18}\n"
    _add(base, "FND-NOTUNK", _variant("FND-NOTUNK", when))
    assert [p for p in _found(base) if "FND-NOTUNK" in p] == []


def test_value_outside_the_field_range_never_fires(base):
    _add(base, "FND-RANGE", _variant("FND-RANGE", "    - {field: age_years, gt: 200}\n"))
    [problem] = [p for p in _found(base) if "FND-RANGE" in p]
    assert problem.startswith("rules/2-findings/FND-RANGE.yaml:13:7: E301 rule can never fire")


def test_multi_source_field_contradiction_is_a_warning(base):
    when = "    - {field: psg.plms_index, gt: 20}\n    - {field: psg.plms_index, lt: 10}\n"
    _add(base, "FND-SOURCES", _variant("FND-SOURCES", when))
    [problem] = [p for p in _found(base) if "FND-SOURCES" in p]
    assert problem.startswith("rules/2-findings/FND-SOURCES.yaml:14:7: W304")
    assert check_ruleset(base / "rules", base / "knowledge").ok


def test_dead_any_branch_is_a_warning(base):
    when = (
        "    - any:\n"
        "        - all: [{field: age_years, gt: 65}, {field: age_years, lt: 18}]\n"
        "        - {field: symptoms.insomnia, is: true}\n"
    )
    _add(base, "FND-BRANCH", _variant("FND-BRANCH", when))
    [problem] = [p for p in _found(base) if "FND-BRANCH" in p]
    assert problem.startswith("rules/2-findings/FND-BRANCH.yaml:14:45: W305 a branch of this rule can never hold")


def test_contradiction_through_a_derived_fact_never_fires(base):
    # EVD-ADULT asserts 'adult' only for age >= 18: requiring it together with age < 18 can never hold
    when = "    - {evidence: adult}\n    - {field: age_years, lt: 18}\n"
    _add(base, "FND-THROUGH", _variant("FND-THROUGH", when))
    [problem] = [p for p in _found(base) if "FND-THROUGH" in p]
    assert problem.startswith("rules/2-findings/FND-THROUGH.yaml:11:1: E304 rule can never fire")
    when = "    - {evidence: adult}\n    - {field: age_years, lt: 30}\n"
    _add(base, "FND-THROUGH", _variant("FND-THROUGH", when))
    assert [p for p in _found(base) if "FND-THROUGH" in p] == []


def test_fact_no_rule_asserts(base):
    when = "    - {evidence: smoker}\n    - not: {finding: rare_thing}\n"
    _add(base, "FND-ORPHAN", _variant("FND-ORPHAN", when))
    found = [p for p in _found(base) if "FND-ORPHAN" in p]
    where = "rules/2-findings/FND-ORPHAN.yaml"
    assert found == [
        f"{where}:13:7: E302 no active rule asserts evidence 'smoker': this condition never holds",
        f"{where}:14:12: W303 no active rule asserts finding 'rare_thing': this 'not' always holds",
    ]


def test_fact_asserted_only_by_a_draft_rule_is_unasserted_for_active_rules(base):
    _add(base, "EVD-ADULT", ADULT.replace("status: active", "status: draft"), folder="1-evidence")
    assert "rules/2-findings/FND-GOOD.yaml:14:7: E302 no active rule asserts evidence 'adult'" in "\n".join(
        _found(base)
    )


def test_active_rule_without_tests_or_one_sided_tests(base):
    _add(base, "FND-NOTESTS", _variant("FND-NOTESTS").split("tests:\n")[0])
    one_sided = _variant("FND-ONESIDED").replace("expect: {fires: false}", "expect: {fires: true}")
    _add(base, "FND-ONESIDED", one_sided)
    _add(base, "FND-DRAFT", _variant("FND-DRAFT", replace={"status: active": "status: draft"}).split("tests:\n")[0])
    found = _found(base)
    assert "rules/2-findings/FND-NOTESTS.yaml:1:1: E402 active rule without tests" in found
    assert "rules/2-findings/FND-ONESIDED.yaml:18:1: E403 active rule has no test case where it does not fire" in found
    assert not any("FND-DRAFT" in p for p in found)


def test_missing_review_date_and_author(base):
    text = _variant("FND-ANON").replace("reviewed: 2026-11-01\n", "").replace("authors: [cds test]", "authors: []")
    _add(base, "FND-ANON", text)
    _add(base, "FND-BADDATE", _variant("FND-BADDATE").replace("2026-11-01", "last spring"))
    found = _found(base)
    assert "rules/2-findings/FND-ANON.yaml:1:1: E410 missing review date (reviewed: YYYY-MM-DD)" in found
    assert "rules/2-findings/FND-ANON.yaml:5:1: E411 missing author (authors: [name, ...])" in found
    assert "rules/2-findings/FND-BADDATE.yaml:6:1: E410 review date is not an ISO date (got 'last spring')" in found


def _triage(rule_id: str, when: str, action: str, layer: str = "triage") -> str:
    return _variant(rule_id, when, {"layer: findings": f"layer: {layer}", "  - finding: plmd\n": f"  - {action}\n"})


def test_reassurance_beside_an_urgent_action_only_when_both_can_fire(base):
    reassure = "{recommend: reassurance, urgency: routine}"
    urgent = "{recommend: neurology_referral, urgency: urgent}"
    _add(base, "TRI-CALM", _triage("TRI-CALM", "    - {field: age_years, gte: 18}\n", reassure), "3-triage")
    _add(base, "TRI-OLD", _triage("TRI-OLD", "    - {field: age_years, gte: 60}\n", urgent), "3-triage")
    _add(base, "TRI-KID", _triage("TRI-KID", "    - {field: age_years, lt: 18}\n", urgent), "3-triage")
    conflicts = [p for p in _found(base) if " E401 " in p]
    # CALM (>= 18) and OLD (>= 60) overlap; KID (< 18) overlaps neither
    assert len(conflicts) == 1
    expected = "rules/3-triage/TRI-CALM.yaml:15:5: E401 conflicting conclusions: reassurance here but "
    assert conflicts[0].startswith(expected + "neurology_referral (urgent) in TRI-OLD")


def test_an_urgent_review_of_a_current_drug_may_stand_beside_reassurance(base):
    reassure = "{recommend: reassurance, urgency: routine}"
    urgent = "{recommend: medication_review, urgency: urgent}"
    _add(base, "TRI-CALM", _triage("TRI-CALM", "    - {field: age_years, gte: 18}\n", reassure), "3-triage")
    drug = _triage("TRI-DRUG", "    - {field: age_years, gte: 60}\n", urgent).replace(
        "layer: triage\n", "layer: triage\nscope: current_medication\n"
    )
    _add(base, "TRI-DRUG", drug, "3-triage")
    assert not any(" E401 " in p for p in _found(base))
    _add(base, "TRI-DRUG", drug.replace("scope: current_medication\n", ""), "3-triage")
    assert any(" E401 " in p and "in TRI-DRUG" in p for p in _found(base))


def test_exclusive_through_a_derived_fact_is_not_a_conflict(base):
    # TRI-NOT-ADULT reassures when evidence 'adult' is absent; EVD-ADULT asserts it for age >= 18, so it cannot
    # fire together with an urgent rule for age >= 60; it can with one for age < 18
    reassure = "{recommend: reassurance, urgency: routine}"
    urgent = "{recommend: neurology_referral, urgency: urgent}"
    _add(base, "TRI-NOT-ADULT", _triage("TRI-NOT-ADULT", "    - not: {evidence: adult}\n", reassure), "3-triage")
    _add(base, "TRI-OLD", _triage("TRI-OLD", "    - {field: age_years, gte: 60}\n", urgent), "3-triage")
    assert not any(" E401 " in p for p in _found(base))
    _add(base, "TRI-KID", _triage("TRI-KID", "    - {field: age_years, lt: 18}\n", urgent), "3-triage")
    [conflict] = [p for p in _found(base) if " E401 " in p]
    assert "in TRI-KID" in conflict


def test_contraindication_in_the_treatment_layer_overridden_by_an_offer(base):
    (base / "rules" / "4-treatment").mkdir()
    veto = "{treatment: clonazepam, status: contraindicated, reason: x}"
    offer = "{treatment: clonazepam, status: option, reason: y}"
    when_old, when_adult = "    - {field: age_years, gte: 60}\n", "    - {field: age_years, gte: 18}\n"
    _add(base, "TRT-VETO", _triage("TRT-VETO", when_old, veto, "treatment"), "4-treatment")
    _add(base, "TRT-OFFER", _triage("TRT-OFFER", when_adult, offer, "treatment"), "4-treatment")
    [warning] = [p for p in _found(base) if " W402 " in p]
    assert warning.startswith("rules/4-treatment/TRT-VETO.yaml:15:5: W402 treatment clonazepam contraindicated")
    # issue 11: an undeclared conflict between treatment statuses is an error, no longer a silent shadowing
    report = check_ruleset(base / "rules", base / "knowledge")
    assert not report.ok and [p.code for p in report.errors] == ["E404"]


def test_layer_folder_and_duplicate_ids_without_the_loader(base):
    _add(base, "FND-WRONG", _variant("FND-WRONG", replace={"layer: findings": "layer: triage"}))
    _add(base, "FND-COPY", _variant("FND-GOOD"))
    found = _found(base)
    assert (
        "rules/2-findings/FND-WRONG.yaml:7:1: E103 layer 'triage' is not its folder's (2-findings: findings)" in found
    )
    assert any(p.startswith("rules/2-findings/FND-GOOD.yaml:1:1: E102 duplicate rule id FND-GOOD") for p in found)


def test_changed_rule_without_version_bump_is_caught(base):
    path = base / "rules" / "2-findings" / "FND-GOOD.yaml"
    path.write_text(GOOD.replace("gt: {threshold", "gte: {threshold"))
    found = _found(base)
    assert "rules/2-findings/FND-GOOD.yaml:3:1: E501 rule changed without a version bump" in " ".join(found)
    assert "rules/2-findings/FND-GOOD.yaml: E503 changed since rules/MANIFEST.yaml" in " ".join(found)
    path.write_text(GOOD.replace("gt: {threshold", "gte: {threshold").replace("version: 1", "version: 2"))
    found = _found(base)
    assert not any("E501" in p for p in found)
    assert any("E503" in p for p in found)
    _update_manifest(base)
    assert _found(base) == []
    path.write_text(GOOD)  # back to version 1
    assert any(p.startswith("rules/2-findings/FND-GOOD.yaml:3:1: E502 version 1 is lower") for p in _found(base))


def test_missing_manifest_and_invalid_yaml(base):
    (base / "rules" / MANIFEST_NAME).unlink()
    (base / "rules" / "2-findings" / "FND-BROKEN.yaml").write_text("id: FND-BROKEN\nid: twice\n")
    found = _found(base)
    assert "rules/MANIFEST.yaml: E500 no rule-set manifest (create it with `cds rules manifest --update`)" in found
    assert any(p.startswith("rules/2-findings/FND-BROKEN.yaml:2:1: E100 invalid YAML") for p in found)


def test_loader_problems_are_merged_with_their_positions(tmp_path, monkeypatch):
    rules = tmp_path / "rules"
    (rules / "2-findings").mkdir(parents=True)
    fake_load = types.ModuleType("cds.rules.load")
    fake_load.check_rules = lambda rules_dir, kb: (
        types.SimpleNamespace(rules=()),
        [f"{rules_dir}/2-findings/X.yaml:4:9: unknown field 'plmi'"],
    )
    fake_kb = types.ModuleType("cds.kb")
    fake_kb.load_knowledge = lambda knowledge: object()
    monkeypatch.setitem(sys.modules, "cds.rules.load", fake_load)
    monkeypatch.setitem(sys.modules, "cds.kb", fake_kb)
    report = check_ruleset(rules, tmp_path / "knowledge")
    assert "rules/2-findings/X.yaml:4:9: E100 unknown field 'plmi'" in [str(p) for p in report.problems]


def test_interval_algebra_known_answers():
    gt15 = NumSet.of(15, False, float("inf"), False)
    assert str(gt15.complement()) == "(-inf, 15]"
    assert str(NumSet.of(10, True, 20, False).complement()) == "(-inf, 10) or [20, inf)"
    assert gt15.intersect(NumSet.of(0, True, 15, True)).is_empty()
    assert str(gt15.intersect(NumSet.of(0, True, 16, True))) == "(15, 16]"
    assert NumSet.of(20, True, 10, False).is_empty()
    assert ValueSet(frozenset({"a"}), cofinite=True).intersect(ValueSet(frozenset({"a"}))).is_empty()
    assert str(ValueSet(frozenset({True})).complement()) == "anything but true"


def test_satisfiability_with_a_field_of_several_sources():
    from ruamel.yaml import YAML

    from cds.authoring.intervals import can_hold_together

    def holds(*conditions: str) -> bool | None:
        nodes = [YAML().load(text) for text in conditions]
        return can_hold_together(
            nodes,
            resolve=lambda v: float(v),
            field_range=lambda name: (0, 500),
            single_source=lambda name: None,  # psg.x may come from the patient file or the recording
            expand=lambda atom: None,
        )

    gt20, lt10 = "{field: psg.x, gt: 20}", "{field: psg.x, lt: 10}"
    assert holds(gt20, lt10) is True  # two facts: reported 25, recorded 5
    assert holds(gt20, "not: {field: psg.x, gt: 15}") is False  # no fact may exceed 15
    assert holds("{field: psg.x, gt: 20, source: recording}", "not: {field: psg.x, gt: 15}") is False
    assert holds("{field: psg.x, gt: 20, source: recording}", "not: {field: psg.x, gt: 15, source: reported}")
    assert holds("{field: psg.x, gt: 20, source: recording}", "{field: psg.x, lt: 10, source: recording}") is False
    assert holds("any: [{field: psg.x, gt: 600}, {field: psg.x, lt: 5}]", "not: {field: psg.x, lt: 10}") is False


def test_a_contradiction_behind_many_choices_is_found_within_the_budget():
    """Conditions that apply to every branch are applied before any choice is tried, so a contradiction between
    two plain conditions is found at once even when 8 `any` lists of 6 alternatives (6**8 combinations) stand
    in front of it; the alternatives themselves are consistent, so only the plain pair can make it unsatisfiable."""
    from cds.authoring.intervals import can_hold_together

    choices = [{"any": [{"field": f"f{i}", "eq": v} for v in range(6)]} for i in range(8)]
    common = {"field": "age", "gte": 18}

    def holds(last: dict, budget: int = 2_000) -> bool | None:
        return can_hold_together(
            [{"all": [*choices, common]}, {"all": [*choices, last]}],
            resolve=lambda v: float(v),
            field_range=lambda name: None,
            single_source=lambda name: "patient",
            expand=lambda atom: None,
            budget=budget,
        )

    assert holds({"field": "age", "lt": 18}) is False  # adult and child at once
    assert holds({"field": "age", "lt": 65}) is True  # 18 to 64: some combination of the choices holds
    # the same choices with a contradiction that only the last alternatives can meet: the search still ends
    assert holds({"field": "f0", "eq": 99}, budget=50_000) is False


def test_a_pair_too_complex_to_compare_is_named_not_passed_over(base, monkeypatch):
    """When the search gives up on two rules (None), their conflict is neither reported nor silently passed:
    the report names the pair as warning W406, which `rules check` prints in its text and its JSON output."""
    reassure = "{recommend: reassurance, urgency: routine}"
    urgent = "{recommend: neurology_referral, urgency: urgent}"
    _add(base, "TRI-CALM", _triage("TRI-CALM", "    - {field: age_years, gte: 18}\n", reassure), "3-triage")
    _add(base, "TRI-OLD", _triage("TRI-OLD", "    - {field: age_years, gte: 60}\n", urgent), "3-triage")
    assert check_ruleset(base / "rules", base / "knowledge").uncompared == ()
    monkeypatch.setattr(check_module, "_BUDGET", 0)  # the search gives up at its first step, twice
    monkeypatch.setattr(check_module, "_DEEP_BUDGET", 0)
    report = check_ruleset(base / "rules", base / "knowledge")
    assert not any(p.code == "E401" for p in report.problems)
    assert report.uncompared == (("rules/3-triage/TRI-CALM.yaml", "rules/3-triage/TRI-OLD.yaml"),)
    named = [p for p in report.problems if p.code == "W406"]  # in the text and the JSON output alike
    assert [(p.path, p.is_error) for p in named] == [("rules/3-triage/TRI-CALM.yaml", False)]
    assert "TRI-OLD.yaml" in named[0].message and "by hand" in named[0].message
