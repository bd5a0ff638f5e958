"""Issue 11, item 4 (rules that cannot drift silently): one rule-file discovery for load, check, manifest and the
rule book (a file in a subfolder is an error, never listed-but-not-loaded), and a date that is no date is a
file:line error, not a crash."""

from __future__ import annotations

import pytest
from minibase import write_minibase

from cds.authoring.check import check_ruleset
from cds.cli import run
from cds.errors import RuleFileError
from cds.kb import load_knowledge
from cds.rules.load import load_rules, misplaced_rule_files, rule_files
from cds.rules.manifest import scan_ruleset


@pytest.fixture
def base(tmp_path):
    return write_minibase(tmp_path / "mb")


@pytest.mark.parametrize("where", ["3-triage/extra/TRI-X.yaml", "TRI-X.yaml", "3-triage/deeper/still/TRI-X.yml"])
def test_a_rule_file_outside_a_layer_folder_is_rejected_everywhere(base, where, capsys):
    rules = base / "rules"
    stray = rules / where
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text((rules / "3-triage" / "TRI-PSG.yaml").read_text().replace("TRI-PSG", "TRI-X"))
    assert misplaced_rule_files(rules) == [stray]
    assert stray not in rule_files(rules)
    assert f"rules/{where}" not in scan_ruleset(rules, base / "knowledge")  # never manifested...
    with pytest.raises(RuleFileError, match="rule file outside a layer folder"):  # ...and the set does not load
        load_rules(rules, load_knowledge(base / "knowledge"))
    report = check_ruleset(rules, base / "knowledge")
    assert any(p.path == f"rules/{where}" and "outside a layer folder" in p.message for p in report.problems)
    assert run(["rules", "check", str(rules), "--knowledge", str(base / "knowledge")]) == 1
    assert f"rules/{where}: E100 rule file outside a layer folder" in capsys.readouterr().out


def test_scenarios_hidden_files_and_the_manifest_are_not_rule_files(base):
    rules = base / "rules"
    (rules / "3-triage" / ".draft.yaml").write_text("junk: [")
    names = {p.name for p in rule_files(rules)}
    assert names == {"EVD-ADULT.yaml", "FND-PLMD.yaml", "TRI-PSG.yaml", "TRI-REASSURE.yaml"}
    assert misplaced_rule_files(rules) == []


def test_an_invalid_review_date_is_a_file_line_error_not_a_crash(base, capsys):
    path = base / "rules" / "2-findings" / "FND-PLMD.yaml"
    path.write_text(path.read_text().replace("reviewed: 2026-11-01", "reviewed: 2026-13-45"))
    report = check_ruleset(base / "rules", base / "knowledge")
    bad = [p for p in report.problems if p.code == "E100"]
    assert [(p.path, p.line, p.col) for p in bad] == [("rules/2-findings/FND-PLMD.yaml", 6, 11)]
    assert bad[0].message.startswith("not a date: 2026-13-45 (month must be in 1..12")
    assert run(["rules", "check", str(base / "rules"), "--knowledge", str(base / "knowledge")]) == 1
    assert "rules/2-findings/FND-PLMD.yaml:6:11: E100 not a date: 2026-13-45" in capsys.readouterr().out
    with pytest.raises(RuleFileError, match=r"FND-PLMD.yaml:6:11: not a date: 2026-13-45"):
        load_rules(base / "rules", load_knowledge(base / "knowledge"))
