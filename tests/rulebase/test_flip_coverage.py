"""Issue 11: "every atom of every condition must flip an outcome in at least one test" - `cds rules coverage`
names the atoms that flip none (and the stricter both-ways MC/DC figure); the shipped rules may not fall back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from minibase import write_minibase

from cds.authoring.coverage import compute_coverage, flipping_atoms
from cds.cli import run
from cds.rules.engine import load_rulebase

# all(A, any(B, C), not D): atoms in order A, B, C, D
WHEN = {"all": [{"field": "a"}, {"any": [{"field": "b"}, {"field": "c"}]}, {"not": {"field": "d"}}]}


@pytest.mark.parametrize(
    ("values", "flips"),
    [
        ([True, True, False, False], [0, 1, 3]),  # fires; C is masked by B
        ([True, True, True, False], [0, 3]),  # fires; B and C mask each other
        ([False, True, False, False], [0]),  # only A blocks it
        ([False, False, False, True], []),  # three reasons to block: no single atom decides
        ([True, False, False, False], [1, 2]),  # any() is false: either of B, C would make it fire
    ],
)
def test_an_atom_flips_when_negating_it_alone_changes_the_outcome(values, flips):
    assert flipping_atoms(WHEN, values) == flips


def _add_redundant_age_branch(root) -> None:
    """FND-PLMD gets `any: [{evidence: adult}, {field: age_years, gte: 18}]`: in every test case of the rule the
    adult evidence is given, so the age atom never decides anything."""
    path = root / "rules" / "2-findings" / "FND-PLMD.yaml"
    text = path.read_text().replace(
        "    - {evidence: adult}\n",
        "    - any:\n        - {evidence: adult}\n        - {field: age_years, gte: 18}\n",
    )
    path.write_text(text.replace("version: 1", "version: 2"))


def _append_case(root, case: str) -> Path:
    """Add one inline test case (a YAML flow mapping) at the end of FND-PLMD's tests; return the rule file."""
    path = root / "rules" / "2-findings" / "FND-PLMD.yaml"
    path.write_text(path.read_text() + f"  - {case}\n")
    return path


def test_rules_coverage_names_an_atom_no_test_decides_until_a_case_does(tmp_path, capsys):
    root = write_minibase(tmp_path / "mb")
    _add_redundant_age_branch(root)
    args = ["rules", "coverage", str(root / "rules"), "--knowledge", str(root / "knowledge")]
    assert run([*args, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    missing = {(c["rule_id"], c["text"]) for c in report["unflipped_conditions"]}
    assert ("FND-PLMD", "{field: age_years, gte: 18}") in missing
    where = next(c["location"] for c in report["unflipped_conditions"] if "age_years" in c["text"])
    assert where.startswith("rules/2-findings/FND-PLMD.yaml:") and where.count(":") == 2
    assert run([*args, "--min-flip", "100"]) == 1
    assert "atoms flipping an outcome" in capsys.readouterr().err
    # a case where the age alone makes the rule fire (no adult evidence): the atom now decides an outcome
    _append_case(
        root,
        "{name: adult by age only, given: {psg.plms_index: 30, age_years: 40, symptoms.insomnia: true}, "
        "expect: {fires: true}}",
    )
    rulebase = load_rulebase(root / "rules", root / "knowledge")
    after = compute_coverage(rulebase, root / "rules")
    age = next(c for c in after.conditions if c.rule_id == "FND-PLMD" and "age_years" in c.text)
    assert age.flipped and age.flips_true >= 1
    assert ("FND-PLMD", age.text) not in {(c.rule_id, c.text) for c in after.unflipped_conditions}


def test_an_indentation_slip_is_caught_by_the_cases_that_make_its_atoms_flip(tmp_path, capsys):
    """Why the criterion matters: when every atom of FND-PLMD flips an outcome in some case, a slip that moves the
    insomnia atom from `all` into `any` (valid YAML, another logic) fails `rules test`."""
    root = write_minibase(tmp_path / "mb")
    _add_redundant_age_branch(root)
    path = _append_case(
        root,
        "{name: no insomnia, given: {psg.plms_index: 30, evidence: [adult], symptoms.insomnia: false}, "
        "expect: {fires: false}}",
    )
    rulebase = load_rulebase(root / "rules", root / "knowledge")
    insomnia = next(c for c in compute_coverage(rulebase, root / "rules").conditions if "insomnia" in c.text)
    assert insomnia.flipped_both_ways
    text = path.read_text().replace(
        "        - {field: age_years, gte: 18}\n    - {field: symptoms.insomnia, is: true}\n",
        "        - {field: age_years, gte: 18}\n        - {field: symptoms.insomnia, is: true}\n",
    )
    assert text != path.read_text()
    path.write_text(text)
    assert run(["rules", "test", str(root / "rules"), "--knowledge", str(root / "knowledge")]) == 1
    assert "FAIL rules/2-findings/FND-PLMD.yaml" in capsys.readouterr().out


# The shipped rules: every atom flips an outcome in some inline test or scenario (1048 of 1048; the redundant
# `older_adult` branch of TRT-RLS-OPIOIDS-REFRACTORY, implied by `adult`, was removed). It must stay so.
SHIPPED_UNFLIPPED_MAX = 0


@pytest.mark.slow
def test_the_shipped_rules_do_not_lose_flip_coverage():
    from cds.paths import rules_dir

    report = compute_coverage(load_rulebase(), rules_dir())
    assert report.rule_pct == 100
    missing = report.unflipped_conditions
    assert len(missing) <= SHIPPED_UNFLIPPED_MAX, "\n".join(f"{c.location}: {c.rule_id} {c.text}" for c in missing)
    assert all(c.location.startswith("rules/") and c.location.count(":") == 2 for c in missing)
