"""Rule files: schema and semantic problems with file:line:col, stratification, all problems collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds.errors import RuleFileError
from cds.rules.load import check_rules, load_rules


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def problems_of(rules_dir: Path, kb) -> list[str]:
    return check_rules(rules_dir, kb)[1]


def test_tiny_rule_set_is_clean(rules_copy, tiny_kb):
    rules, problems = check_rules(rules_copy, tiny_kb)
    assert problems == []
    assert [r.id for r in rules.rules][:3] == ["EVD-ADULT", "EVD-LOW-FERRITIN", "EVD-OPIOID"]
    assert all(not r.path.endswith(".scenario.yaml") for r in rules.rules)
    assert {r.salience for r in rules.rules} == {500, 400, 300, 200, 100}


def test_unknown_field_with_line_col_and_suggestion(rules_copy, tiny_kb):
    edit(rules_copy / "2-findings" / "FND-PLMD.yaml", "field: psg.plms_index,", "field: psg.plms_indx,")
    assert problems_of(rules_copy, tiny_kb) == [
        "rules/2-findings/FND-PLMD.yaml:12:8: unknown field 'psg.plms_indx' (did you mean 'psg.plms_index'?)"
    ]


def test_stratification_violation(rules_copy, tiny_kb):
    edit(rules_copy / "2-findings" / "FND-PLMD.yaml", "not: {evidence: rls_criteria_met}", "not: {finding: rls}")
    (problem,) = problems_of(rules_copy, tiny_kb)
    assert problem.startswith("rules/2-findings/FND-PLMD.yaml:17:13: stratification: a findings rule cannot match")


def test_layer_must_match_folder_and_id_the_file_name(rules_copy, tiny_kb):
    path = rules_copy / "3-triage" / "TRI-REASSURE.yaml"
    edit(path, "layer: triage", "layer: treatment")
    edit(path, "id: TRI-REASSURE", "id: TRI-REASSURE-2")
    problems = problems_of(rules_copy, tiny_kb)
    assert (
        "rules/3-triage/TRI-REASSURE.yaml:1:1: id 'TRI-REASSURE-2' must equal the file name 'TRI-REASSURE'" in problems
    )
    assert "rules/3-triage/TRI-REASSURE.yaml:7:1: layer 'treatment' must match the folder 'triage'" in problems


def test_duplicate_key_and_tags_are_rejected(rules_copy, tiny_kb):
    edit(rules_copy / "1-evidence" / "EVD-ADULT.yaml", "version: 1\n", "version: 1\nversion: 2\n")
    edit(rules_copy / "1-evidence" / "EVD-OPIOID.yaml", "title: On an opioid", "title: !!python/name:os.system x")
    problems = problems_of(rules_copy, tiny_kb)
    assert problems[0].startswith("rules/1-evidence/EVD-ADULT.yaml:4:1:") and "duplicate key" in problems[0]
    assert problems[1].startswith("rules/1-evidence/EVD-OPIOID.yaml:2:8: explicit tags are not allowed")


def test_schema_problems_name_the_key(rules_copy, tiny_kb):
    edit(rules_copy / "3-triage" / "TRI-PSG-SOON.yaml", "urgency: soon", "urgency: asap")
    edit(rules_copy / "1-evidence" / "EVD-OPIOID.yaml", "because:", "salience: 5\nbecause:")
    problems = problems_of(rules_copy, tiny_kb)
    assert problems[0].startswith("rules/1-evidence/EVD-OPIOID.yaml:13:1: (top): unknown key 'salience' (allowed: a")
    assert problems[1] == (
        "rules/3-triage/TRI-PSG-SOON.yaml:16:5: then.0.urgency: 'asap' is not one of "
        "['routine', 'soon', 'urgent', 'emergency']"
    )


def test_vocab_threshold_reference_and_enum_checks(rules_copy, tiny_kb):
    path = rules_copy / "2-findings" / "FND-PLMD.yaml"
    edit(path, "- finding: plmd", "- finding: plmdd")
    edit(path, "threshold: plms_index_adult_per_h}}", "threshold: plms_adult}}")
    edit(path, "key: ICSD-3", "key: ICSD-4")
    edit(
        rules_copy / "1-evidence" / "EVD-OPIOID.yaml",
        "{field: drug_classes.opioid, is: true}",
        "{field: drug_classes.opioid, gt: 3}",
    )
    problems = "\n".join(problems_of(rules_copy, tiny_kb))
    assert "FND-PLMD.yaml:19:5: unknown finding code 'plmdd' (did you mean 'plmd'?)" in problems
    assert "FND-PLMD.yaml:12:31: unknown threshold 'plms_adult'" in problems
    assert "FND-PLMD.yaml:9:6: unknown reference key 'ICSD-4' (did you mean 'ICSD-3'?)" in problems
    assert "EVD-OPIOID.yaml:10:36: 'gt' needs a number field; drug_classes.opioid is bool" in problems


def test_action_must_fit_the_layer(rules_copy, tiny_kb):
    edit(rules_copy / "1-evidence" / "EVD-OPIOID.yaml", "  - evidence: on_opioid", "  - finding: plmd")
    (problem,) = problems_of(rules_copy, tiny_kb)
    assert (
        problem == "rules/1-evidence/EVD-OPIOID.yaml:12:5: a evidence rule cannot assert 'finding' (allowed: evidence)"
    )


def test_active_rule_needs_firing_and_non_firing_case(rules_copy, tiny_kb):
    edit(rules_copy / "1-evidence" / "EVD-OPIOID.yaml", "expect: {fires: false}", "expect: {fires: true}")
    (problem,) = problems_of(rules_copy, tiny_kb)
    assert problem.endswith("an active rule needs at least one non-firing test case")


def test_load_rules_raises_first_with_count_of_others(rules_copy, tiny_kb):
    edit(rules_copy / "2-findings" / "FND-PLMD.yaml", "field: psg.plms_index,", "field: psg.plms_indx,")
    edit(rules_copy / "3-triage" / "TRI-PSG-SOON.yaml", "urgency: soon", "urgency: asap")
    with pytest.raises(RuleFileError, match=r"FND-PLMD.yaml:12:8: unknown field .*and 1 more problem") as info:
        load_rules(rules_copy, tiny_kb)
    assert len(info.value.problems) == 2


def test_real_rule_schema_file_is_current():
    import json

    from cds.paths import knowledge_dir
    from cds.rules.schema import rule_schema

    on_disk = json.loads((knowledge_dir() / "schema" / "rule.schema.json").read_text())
    assert on_disk == rule_schema()


def test_reviewed_must_be_an_iso_date(rules_copy, tiny_kb):
    edit(rules_copy / "1-evidence" / "EVD-OPIOID.yaml", "reviewed: 2026-11-23", "reviewed: 23.11.2026")
    (problem,) = problems_of(rules_copy, tiny_kb)
    assert problem == "rules/1-evidence/EVD-OPIOID.yaml:6:1: reviewed: '23.11.2026' is not a 'date'"
