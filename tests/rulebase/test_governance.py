"""Issue 11, governance: ``effective`` / ``expires`` dates and the ``deprecated`` status on rules (rules/README.md,
"Governance"), and a rule set that is not exactly a signed release, or holds expired rules, is never silent."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import pytest
from minibase import write_minibase

from cds.authoring.check import check_ruleset
from cds.cli import run
from cds.errors import RuleFileError
from cds.kb import load_knowledge
from cds.rules.engine import load_rulebase
from cds.rules.governance import governance_of, governed_rulebase
from cds.rules.load import check_rules, load_rules

REPO = Path(__file__).resolve().parents[2]
DEMO_PATIENT = REPO / "examples" / "demo-patient.yaml"


def _edit(path: Path, *, after_reviewed: str = "", status: str | None = None) -> None:
    """Add lines after ``reviewed:``, optionally change the status, and bump the version."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^version: (\d+)$", lambda m: f"version: {int(m.group(1)) + 1}", text, count=1)
    if after_reviewed:
        text = re.sub(r"(?m)^(reviewed: .*)$", lambda m: m.group(1) + "\n" + after_reviewed, text, count=1)
    if status:
        text = re.sub(r"(?m)^status: .*$", f"status: {status}", text, count=1)
    path.write_text(text, encoding="utf-8")


def _line_of(path: Path, start: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start))


@pytest.mark.parametrize(
    ("lines", "status", "key", "message"),
    [
        ("effective: 2027-05-01\nexpires: 2027-01-01", None, "expires:", "expires: 2027-01-01 is not after effective"),
        ("expires: 2027-02-30", None, "expires:", "not a date: 2027-02-30"),
        ("effective: '2027-13-01'", None, "effective:", "effective: '2027-13-01' is not a 'date'"),
        ("", "deprecated", "status:", "a deprecated rule needs an expires: date"),
    ],
)
def test_bad_dates_and_a_deprecated_rule_without_expiry_are_file_line_errors(tmp_path, lines, status, key, message):
    root = write_minibase(tmp_path / "mb")
    path = root / "rules" / "2-findings" / "FND-PLMD.yaml"
    _edit(path, after_reviewed=lines, status=status)
    _, problems = check_rules(root / "rules", load_knowledge(root / "knowledge"))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"rules/2-findings/FND-PLMD.yaml:{_line_of(path, key)}:")
    assert message in problems[0]


def test_not_yet_effective_rules_do_not_fire_expired_and_deprecated_ones_do(tmp_path):
    root = write_minibase(tmp_path / "mb")
    _edit(root / "rules" / "2-findings" / "FND-PLMD.yaml", after_reviewed="effective: 2027-03-01")
    _edit(root / "rules" / "3-triage" / "TRI-PSG.yaml", after_reviewed="expires: 2027-01-31", status="deprecated")
    rulebase = load_rulebase(root / "rules", root / "knowledge")
    from cds.facts.types import DatumRecord

    patient = [
        DatumRecord("age_years", 50, True, "patient"),
        DatumRecord("symptoms.insomnia", True, True, "patient"),
        DatumRecord("psg.plms_index", 30, True, "recording"),
    ]

    def fired(day: str) -> list[str]:
        used, _ = governed_rulebase(rulebase, dt.date.fromisoformat(day))
        return sorted({f["rule"] for f in used.run_facts(patient)})

    # before FND-PLMD takes effect: no PLMD finding, so reassurance, as the rule set stood without it
    assert fired("2027-02-28") == ["EVD-ADULT", "TRI-REASSURE"]
    # from its effective date on it fires; TRI-PSG, deprecated and past its expiry, still fires (never dropped)
    assert fired("2027-03-01") == ["EVD-ADULT", "FND-PLMD", "TRI-PSG"]
    state = governance_of(rulebase.rules, dt.date(2027, 3, 1))
    assert state.to_dict() == {
        "as_of": "2027-03-01",
        "not_yet_effective": [],
        "expired": [{"rule": "TRI-PSG", "expires": "2027-01-31"}],
        "deprecated": ["TRI-PSG"],
    }
    assert governance_of(rulebase.rules, dt.date(2027, 1, 31)).expired == ()  # the expiry date itself is covered
    assert governance_of(rulebase.rules, dt.date(2027, 2, 1)).not_yet_effective == ("FND-PLMD",)
    # the rule's own tests still run whatever the date (rules test checks the logic, not the calendar)
    assert run(["rules", "test", str(root / "rules"), "--knowledge", str(root / "knowledge")]) == 0


def test_rules_check_names_expired_deprecated_and_pending_rules_with_line_and_column(tmp_path):
    root = write_minibase(tmp_path / "mb")
    plmd = root / "rules" / "2-findings" / "FND-PLMD.yaml"
    psg = root / "rules" / "3-triage" / "TRI-PSG.yaml"
    _edit(plmd, after_reviewed="effective: 2027-03-01")
    _edit(psg, after_reviewed="expires: 2027-01-31", status="deprecated")
    assert run(["rules", "manifest", str(root / "rules"), "--knowledge", str(root / "knowledge"), "--update"]) == 0
    report = check_ruleset(root / "rules", root / "knowledge", today=dt.date(2027, 2, 15))
    got = {(p.code, p.path, p.line) for p in report.problems}
    assert got == {
        ("W601", "rules/3-triage/TRI-PSG.yaml", _line_of(psg, "expires:")),
        ("W602", "rules/3-triage/TRI-PSG.yaml", _line_of(psg, "status:")),
        ("W603", "rules/2-findings/FND-PLMD.yaml", _line_of(plmd, "effective:")),
    }
    assert report.ok  # warnings: the check names them, the release and the decisions act on them
    assert {p.code for p in check_ruleset(root / "rules", root / "knowledge", today=dt.date(2027, 1, 1)).problems} == {
        "W602",
        "W603",
    }


def test_a_release_records_the_dates_and_refuses_an_expired_rule(tmp_path, capsys):
    root = write_minibase(tmp_path / "mb")
    _edit(root / "rules" / "3-triage" / "TRI-PSG.yaml", after_reviewed="expires: 2027-01-31", status="deprecated")
    base = [str(root / "rules"), "--knowledge", str(root / "knowledge")]
    assert run(["rules", "manifest", *base, "--update"]) == 0
    key = ["--key", str(tmp_path / "keys" / "ring.json")]
    assert run(["audit", "init", "--log", str(tmp_path / "l.sqlite"), *key]) == 0
    release = ["rules", "release", *base, *key, "--approver", "Dr A"]
    assert run([*release, "--date", "2027-02-01"]) == 3
    assert "expired rules cannot be released: TRI-PSG (2027-01-31)" in capsys.readouterr().err
    assert run([*release, "--date", "2027-01-15"]) == 0
    record = json.loads(next((root / "releases").glob("*.json")).read_text())
    entry = {"rule": "TRI-PSG", "effective": None, "expires": "2027-01-31"}
    assert record["governance"] == {"dated": [entry], "deprecated": [entry], "expired": []}


def test_the_rule_book_shows_the_dates_and_the_status(tmp_path):
    root = write_minibase(tmp_path / "mb")
    _edit(root / "rules" / "3-triage" / "TRI-PSG.yaml", after_reviewed="expires: 2027-01-31", status="deprecated")
    assert (
        run(
            ["rules", "book", str(root / "rules"), "--knowledge", str(root / "knowledge"), "--out", str(tmp_path / "b")]
        )
        == 0
    )
    book = "\n".join(p.read_text() for p in sorted((tmp_path / "b").glob("*.md")))
    assert "- version 2, deprecated; authors: cds test; reviewed 2026-11-01; expires 2027-01-31" in book
    assert "| triage | 1 | 1 | 0 | 0 |" in book  # the summary table counts the deprecated rule apart


# --- the pipeline: decision.json and the letter --------------------------------------------------------------


@pytest.fixture
def rule_copy(tmp_path, monkeypatch):
    """A copy of the shipped rules and knowledge with TRI-VPSG-LATE-ONSET (fires for the demo patient) effective
    from 2027-06-01 and TRI-PSG-INSOMNIA-MYOCLONUS expiring after 2027-03-01, released and signed on 2027-01-01."""
    from cds.rules import engine

    rules, knowledge = tmp_path / "rules", tmp_path / "knowledge"
    shutil.copytree(REPO / "rules", rules)
    shutil.copytree(REPO / "knowledge", knowledge)
    _edit(rules / "3-triage" / "TRI-VPSG-LATE-ONSET.yaml", after_reviewed="effective: 2027-06-01")
    _edit(rules / "3-triage" / "TRI-PSG-INSOMNIA-MYOCLONUS.yaml", after_reviewed="expires: 2027-03-01")
    assert run(["rules", "manifest", str(rules), "--knowledge", str(knowledge), "--update"]) == 0
    monkeypatch.setattr("cds.paths.rules_dir", lambda: rules)
    monkeypatch.setattr("cds.paths.knowledge_dir", lambda: knowledge)
    original = engine.load_rulebase
    monkeypatch.setattr(engine, "load_rulebase", lambda r=None, k=None: original(r or rules, k or knowledge))
    monkeypatch.setenv("CDS_AUDIT_KEY", str(tmp_path / "keys" / "ring.json"))
    return rules, knowledge


def _triage(tmp_path: Path, name: str, day: str, *extra: str) -> int:
    out = tmp_path / name
    args = ["triage", "--patient", str(DEMO_PATIENT), "--out", str(out), "--log", str(tmp_path / "log.sqlite")]
    return run([*args, "--date", day, *extra])


def _outputs(tmp_path: Path, name: str) -> tuple[dict, str, str]:
    out = tmp_path / name
    return (
        json.loads((out / "decision.json").read_text(encoding="utf-8")),
        (out / "letter.md").read_text(encoding="utf-8"),
        (out / "letter.html").read_text(encoding="utf-8"),
    )


@pytest.mark.slow
def test_an_unsigned_then_a_signed_then_an_expired_rule_set_in_the_decision_and_the_letter(tmp_path, rule_copy, capsys):
    rules, knowledge = rule_copy
    # 1. the files match the manifest but nobody signed a release: caveat, banner, refused on request
    assert _triage(tmp_path, "unsigned", "2027-01-15", "--require-release") == 3
    assert "has no signed release" in capsys.readouterr().err
    assert _triage(tmp_path, "unsigned", "2027-01-15") == 0
    decision, md, html = _outputs(tmp_path, "unsigned")
    assert decision["inputs"]["ruleset"]["release"] is None
    assert decision["caveat_details"][0]["code"] == "ruleset_unreleased"
    assert "RULE SET WARNING: UNRELEASED rule set (version" in md.split("## Decision")[0]
    assert 'class="ruleset-warning"' in html.split('id="decision"')[0]
    # 2. signed: no warning; the footer names the release, its approver and key; the pending rule is left out
    key = ["--key", str(tmp_path / "keys" / "ring.json")]
    base = [str(rules), "--knowledge", str(knowledge)]
    assert run(["rules", "release", *base, *key, "--approver", "Dr A, CSO", "--date", "2027-01-01"]) == 0
    assert _triage(tmp_path, "signed", "2027-01-15", "--require-release") == 0
    decision, md, html = _outputs(tmp_path, "signed")
    ruleset = decision["inputs"]["ruleset"]
    assert ruleset["release"]["approver"] == "Dr A, CSO" and ruleset["release"]["date"] == "2027-01-01"
    assert ruleset["governance"] == {
        "as_of": "2027-01-15",
        "not_yet_effective": ["TRI-VPSG-LATE-ONSET"],
        "expired": [],
        "deprecated": [],
    }
    assert "TRI-VPSG-LATE-ONSET" not in {f["rule"] for f in decision["trace"]}
    assert not any(c["code"].startswith("ruleset_") for c in decision["caveat_details"])
    assert "RULE SET WARNING" not in md and "ruleset-warning" not in html.split("</style>")[1]
    assert f"rule set release {ruleset['version']} (approved by Dr A, CSO on 2027-01-01, key " in md
    # the audit replay judges the logged decision on its own date: the same rules in force, reproduced
    replay = ["audit", "replay", decision["record"]["id"], "--log", str(tmp_path / "log.sqlite")]
    assert run([*replay, "--patient", str(DEMO_PATIENT), "--rules", str(rules), "--knowledge", str(knowledge)]) == 0
    # 3. a letter dated after the expiry: the pending rule is in force, the expired one still applies, named
    assert _triage(tmp_path, "expired", "2027-06-15", "--require-release") == 3
    assert "EXPIRED rules in the rule set" in capsys.readouterr().err
    assert _triage(tmp_path, "expired", "2027-06-15") == 0
    decision, md, html = _outputs(tmp_path, "expired")
    fired = {f["rule"] for f in decision["trace"]}
    assert {"TRI-VPSG-LATE-ONSET", "TRI-PSG-INSOMNIA-MYOCLONUS"} <= fired
    assert decision["inputs"]["ruleset"]["governance"]["expired"] == [
        {"rule": "TRI-PSG-INSOMNIA-MYOCLONUS", "expires": "2027-03-01"}
    ]
    assert [c["code"] for c in decision["caveat_details"] if c["code"].startswith("ruleset_")] == [
        "ruleset_expired_rules"
    ]
    warning = "EXPIRED rules in the rule set, still applied: TRI-PSG-INSOMNIA-MYOCLONUS (expired 2027-03-01)"
    assert warning in md.split("## Decision")[0] and warning in html.split('id="decision"')[0]


def test_a_rule_set_without_dated_rules_writes_no_date_into_the_decision(tmp_path, monkeypatch):
    """Byte-identical outputs: the decision's date enters decision.json only when some rule carries one."""
    monkeypatch.setenv("CDS_AUDIT_KEY", str(tmp_path / "keys" / "ring.json"))
    assert _triage(tmp_path, "a", "2027-01-15") == 0
    decision, _, _ = _outputs(tmp_path, "a")
    assert "governance" not in decision["inputs"]["ruleset"]


def test_load_rules_rejects_a_deprecated_rule_without_expiry(tmp_path):
    root = write_minibase(tmp_path / "mb")
    _edit(root / "rules" / "3-triage" / "TRI-PSG.yaml", status="deprecated")
    with pytest.raises(RuleFileError, match="a deprecated rule needs an expires: date"):
        load_rules(root / "rules", load_knowledge(root / "knowledge"))
