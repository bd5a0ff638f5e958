"""``cds rules check|manifest|list|show|test|book|diff`` (issue 5): exit codes, stdout and the stderr line."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cds.cli import run

_SPEC = importlib.util.spec_from_file_location("minibase", Path(__file__).parents[1] / "rulebase" / "minibase.py")
minibase = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(minibase)


@pytest.fixture
def base(tmp_path) -> Path:
    return minibase.write_minibase(tmp_path / "base")


def _rule(base: Path, name: str) -> Path:
    return next((base / "rules").rglob(f"{name}.yaml"))


def test_check_clean_rule_base_exits_zero(base, capsys):
    assert run(["rules", "check", str(base / "rules")]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "4 rule files: 0 errors, 0 warnings" in captured.err


def test_check_reports_file_line_col_and_exits_one(base, capsys):
    rule = _rule(base, "FND-PLMD")
    rule.write_text(rule.read_text().replace("{field: symptoms.insomnia, is: true}", "{field: age_years, gt: 200}"))
    assert run(["rules", "check", str(base), "--format", "json"]) == 1
    problems = json.loads(capsys.readouterr().out)
    codes = {(p["path"], p["line"], p["col"], p["code"]) for p in problems}
    assert ("rules/2-findings/FND-PLMD.yaml", 15, 7, "E301") in codes  # above the field's maximum
    assert ("rules/2-findings/FND-PLMD.yaml", 3, 1, "E501") in codes  # changed without a version bump


def test_manifest_update_refuses_an_unbumped_change_then_accepts_a_bump(base, capsys):
    rule = _rule(base, "TRI-PSG")
    rule.write_text(rule.read_text().replace("urgency: routine", "urgency: soon"))
    assert run(["rules", "manifest", str(base / "rules"), "--update"]) == 1
    captured = capsys.readouterr()
    assert "rules/3-triage/TRI-PSG.yaml:3:1: E501 rule changed without a version bump" in captured.out
    assert "manifest not updated" in captured.err
    rule.write_text(rule.read_text().replace("version: 1", "version: 2"))
    assert run(["rules", "manifest", str(base / "rules"), "--update"]) == 0
    assert capsys.readouterr().out.startswith("rule set 0.1.1 sha256 ")
    assert run(["rules", "check", str(base / "rules")]) == 0


def test_list_and_show(base, capsys):
    assert run(["rules", "list", str(base / "rules")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["EVD-ADULT", "FND-PLMD", "TRI-PSG", "TRI-REASSURE"]
    assert "rules/2-findings/FND-PLMD.yaml:1" in lines[1]
    assert run(["rules", "show", "FND-PLMD", "--rules", str(base / "rules")]) == 0
    out = capsys.readouterr().out
    assert "FND-PLMD (version 1, active, layer findings): PLMD" in out
    assert "ICSD-3 [PLMD] grade C: AASM. International Classification of Sleep Disorders" in out
    assert "doi:10.1000/icsd3" in out
    assert run(["rules", "show", "NOPE", "--rules", str(base / "rules")]) == 3
    assert "no rule with id 'NOPE'" in capsys.readouterr().err


def test_test_reports_coverage_and_fails_on_a_broken_scenario(base, capsys):
    assert run(["rules", "test", str(base / "rules")]) == 0
    captured = capsys.readouterr()
    assert "10 cases: 0 failed, 0 todo; coverage: rules 100%, conditions 57%" in captured.err
    assert "rules/2-findings/FND-PLMD.yaml:15:7: FND-PLMD {field: symptoms.insomnia, is: True}" in captured.out
    assert run(["rules", "test", str(base / "rules"), "--min-coverage", "60"]) == 1
    capsys.readouterr()
    scenario = base / "rules" / "3-triage" / "triage.scenario.yaml"
    scenario.write_text(
        scenario.read_text().replace("want: {recommendations: [reassurance]}", "want: {findings: [plmd]}")
    )
    assert run(["rules", "test", str(base / "rules")]) == 1
    out = capsys.readouterr().out
    assert "FAIL rules/3-triage/triage.scenario.yaml" in out
    assert "low PLMS" in out
    assert "    - want finding plmd\n    + got absent (findings: [])\n" in out


def test_book_writes_html_and_markdown(base, tmp_path, capsys):
    out = tmp_path / "book"
    assert run(["rules", "book", str(base / "rules"), "--out", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / "rulebook.html"), str(out / "rulebook.md")]
    md = (out / "rulebook.md").read_text()
    assert "# Rule book — rule set 0.1.0" in md
    assert "**Covered by:** triage.scenario.yaml: high PLMS. Inline tests: 2." in md


def test_diff_names_the_threshold_and_the_changed_case(base, tmp_path, capsys):
    new = minibase.write_minibase(tmp_path / "new", adult_threshold=10)
    assert run(["rules", "diff", str(base), str(new), "--cases", str(base / "cases")]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "threshold plms_index_adult_per_h: 15 -> 10 per_h",
        "1 of 3 decisions change",
        "  P1.yaml",
        "    finding plmd: none -> present",
        "    recommendation polysomnography: none -> routine",
        "    recommendation reassurance: routine -> none",
        "    through rules: +FND-PLMD +TRI-PSG -TRI-REASSURE",  # PLMS 12 /h crosses the new threshold 10
    ]


def test_manifest_from_a_git_revision_ignores_uncommitted_edits(base, capsys, monkeypatch):
    import subprocess

    from cds.rules.manifest import read_manifest

    git = ["git", "-C", str(base), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "rules", "knowledge"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    committed = read_manifest(base / "rules" / "MANIFEST.yaml")
    threshold = base / "knowledge" / "thresholds.yaml"
    threshold.write_text(threshold.read_text().replace("value: 15", "value: 12"))  # not committed
    monkeypatch.setenv("CDS_HOME", str(base))
    assert run(["rules", "manifest", str(base / "rules"), "--update", "--rev", "HEAD"]) == 0
    assert read_manifest(base / "rules" / "MANIFEST.yaml").sha256 == committed.sha256
    assert run(["rules", "manifest", str(base / "rules"), "--update"]) == 0
    assert read_manifest(base / "rules" / "MANIFEST.yaml").version == "0.1.1"
    assert "rule set 0.1.1" in capsys.readouterr().out


def test_check_merges_the_loaders_schema_field_vocabulary_and_reference_problems(base, capsys):
    """Byte surgery on good files; positions come from the engine's loader, codes and merging from check."""
    edits = {
        "EVD-ADULT": ("{field: age_years, gte: 18}", "{field: age_years, gte: adult}"),  # type mismatch
        "FND-PLMD": ("symptoms.insomnia, is", "symptoms.insomnai, is"),  # unknown field
        "TRI-PSG": ("urgency: routine", "urgency: whenever"),  # value outside the vocabulary
        "TRI-REASSURE": ("key: ICSD-3", "key: ICSD-4"),  # unknown reference key
    }
    for name, (old, new) in edits.items():
        rule = _rule(base, name)
        rule.write_text(rule.read_text().replace(old, new))
    assert run(["rules", "check", str(base / "rules"), "--format", "json"]) == 1
    found = {(p["path"], p["line"], p["col"], p["code"]): p["message"] for p in json.loads(capsys.readouterr().out)}
    assert "'adult'" in found[("rules/1-evidence/EVD-ADULT.yaml", 13, 26, "E100")]
    assert "symptoms.insomnai" in found[("rules/2-findings/FND-PLMD.yaml", 15, 8, "E100")]
    assert "'whenever'" in found[("rules/3-triage/TRI-PSG.yaml", 15, 34, "E100")]
    assert "ICSD-4" in found[("rules/3-triage/TRI-REASSURE.yaml", 9, 6, "E100")]
    assert all(("rules/" + p, 3, 1, "E501") in found for p in ("1-evidence/EVD-ADULT.yaml", "3-triage/TRI-PSG.yaml"))


def test_book_into_a_file_exits_3_before_any_work(base, tmp_path, capsys):
    """Found in the hostile sweep (issue 16): ``cds rules book --out FILE`` ended in FileExistsError (exit 4)."""
    target = tmp_path / "book"
    target.write_text("mine\n", encoding="utf-8")
    assert (
        run(
            [
                "rules",
                "book",
                str(base / "rules"),
                "--knowledge",
                str(base / "knowledge"),
                "--out",
                str(target),
                "--no-scenarios",
            ]
        )
        == 3
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cds: error: {target}: cannot write the rule book folder: this is a file, not a folder"]
    assert target.read_text(encoding="utf-8") == "mine\n"
