"""Rule provenance and the rule book (issue 5, items 3 and 4) on the hand-checkable mini rule base."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from minibase import write_minibase

from cds.authoring.book import describe_rules, find_rule, render_book, scenario_cover
from cds.authoring.coverage import compute_coverage
from cds.errors import RuleFileError
from cds.rules.engine import load_rulebase


@pytest.fixture
def base(tmp_path) -> Path:
    return write_minibase(tmp_path)


def test_rules_are_described_in_layer_order_with_provenance(base):
    infos = describe_rules(base / "rules", base / "knowledge")
    assert [(i.id, i.layer) for i in infos] == [
        ("EVD-ADULT", "evidence"),
        ("FND-PLMD", "findings"),
        ("TRI-PSG", "triage"),
        ("TRI-REASSURE", "triage"),
    ]
    plmd = infos[1]
    path = base / "rules" / "2-findings" / "FND-PLMD.yaml"
    assert (plmd.version, plmd.status, plmd.authors, plmd.reviewed) == (1, "active", ("cds test",), "2026-11-01")
    assert (plmd.path, plmd.line, plmd.sha256) == (
        "rules/2-findings/FND-PLMD.yaml",
        1,
        hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    [ref] = plmd.references
    assert (ref.key, ref.section, ref.grade, ref.year, ref.doi) == ("ICSD-3", "PLMD", "C", 2014, "10.1000/icsd3")
    assert ref.citation.startswith("AASM. International Classification of Sleep Disorders")


def test_conditions_and_conclusions_in_plain_language(base):
    reassure = find_rule("TRI-REASSURE", base / "rules", base / "knowledge")
    assert [(c.depth, c.text) for c in reassure.conditions] == [
        (0, "all of:"),
        (1, "evidence: Adult (adult)"),
        (1, "NOT finding: Periodic limb movement disorder (plmd)"),
    ]
    assert reassure.conclusions == ("recommend Reassurance (reassurance): routine",)
    plmd = find_rule("FND-PLMD", base / "rules", base / "knowledge")
    assert plmd.conditions[1].text == "PLMS index > 15 /h (threshold plms_index_adult_per_h)"
    assert plmd.conditions[3].text == "Insomnia: yes"
    assert plmd.tests == ("high: fires", "low: does not fire")


def test_unknown_rule_id_raises_with_suggestions(base):
    with pytest.raises(RuleFileError, match=r"no rule with id 'TRI-PS' \(did you mean TRI-PSG, TRI-REASSURE\?\)"):
        find_rule("TRI-PS", base / "rules", base / "knowledge")


def test_scenario_cover_names_the_cases_that_fire_each_rule(base):
    covered = scenario_cover(base / "rules", base / "knowledge")
    assert covered == {
        "EVD-ADULT": ["triage.scenario.yaml: high PLMS", "triage.scenario.yaml: low PLMS"],
        "FND-PLMD": ["triage.scenario.yaml: high PLMS"],
        "TRI-PSG": ["triage.scenario.yaml: high PLMS"],
        "TRI-REASSURE": ["triage.scenario.yaml: low PLMS"],
    }


def test_book_is_grouped_by_layer_and_html_is_escaped(base, tmp_path):
    rule = base / "rules" / "3-triage" / "TRI-PSG.yaml"
    rule.write_text(rule.read_text().replace("title: Polysomnography for PLMD", "title: PSG <script>x</script>"))
    infos = describe_rules(base / "rules", base / "knowledge")
    html, md = render_book(infos, tmp_path / "book", covered={"TRI-PSG": ["s.yaml: a & b"]}, version="0.2.0")
    html_text, md_text = html.read_text(), md.read_text()
    assert "<script>x</script>" not in html_text
    assert "PSG &lt;script&gt;x&lt;/script&gt;" in html_text
    assert "s.yaml: a &amp; b" in html_text
    assert "### TRI-PSG — PSG <script>x</script>" in md_text
    headings = [line for line in md_text.splitlines() if line.startswith("## Layer")]
    assert headings == ["## Layer: evidence (1)", "## Layer: findings (1)", "## Layer: triage (2)"]
    assert "# Rule book — rule set 0.2.0" in md_text
    assert "**Covered by:** no scenario. Inline tests: 2." in md_text  # EVD-ADULT was not given a cover here


def test_coverage_counts_match_a_hand_count(base):
    report = compute_coverage(load_rulebase(base / "rules", base / "knowledge"), base / "rules")
    # 8 inline cases (2 per rule) + 2 scenario cases; every rule fires and is blocked somewhere
    assert (report.cases, report.never_fired, report.never_blocked, report.rule_pct) == (10, (), (), 100)
    # 7 atoms; 'evidence adult' (twice) and 'insomnia is true' are never false in any case: 4/7 -> 57 %
    uncovered = [(c.rule_id, c.text, c.seen_true, c.seen_false) for c in report.uncovered_conditions]
    assert uncovered == [
        ("FND-PLMD", "{evidence: adult}", 4, 0),
        ("FND-PLMD", "{field: symptoms.insomnia, is: True}", 4, 0),
        ("TRI-REASSURE", "{evidence: adult}", 4, 0),
    ]
    assert (len(report.conditions), report.condition_pct) == (7, 57)
    age = next(c for c in report.conditions if c.rule_id == "EVD-ADULT")
    assert (age.location, age.seen_true, age.seen_false) == ("rules/1-evidence/EVD-ADULT.yaml:13:7", 3, 1)


def test_coverage_by_scenarios_alone(base):
    report = compute_coverage(load_rulebase(base / "rules", base / "knowledge"), base / "rules", inline=False)
    # both scenario patients are adults: EVD-ADULT is never blocked, 'adult' and 'insomnia' never false
    assert (report.cases, report.never_fired, report.never_blocked) == (2, (), ("EVD-ADULT",))
    assert (report.rule_pct, report.condition_pct) == (87, 42)  # 7 of 8 rule outcomes, 3 of 7 atoms


def test_long_scenario_lists_are_shortened(base, tmp_path):
    infos = describe_rules(base / "rules", base / "knowledge")
    labels = [f"s.yaml: case {i}" for i in range(1, 11)]
    _, md = render_book(infos, tmp_path / "book", covered={"EVD-ADULT": labels})
    assert "**Covered by:** s.yaml: case 1; s.yaml: case 2;" in md.read_text()
    assert "s.yaml: case 8; and 2 more. Inline tests: 2." in md.read_text()


def test_a_time_frame_in_a_rationale_is_the_policys_wording_of_that_urgency():
    """`{interval:URGENCY}` in a rationale reads as policy.yaml words that urgency (TRI-LITHIUM-TOXICITY is
    assessed at the emergency tier), never as the raw placeholder."""
    import yaml

    from cds.paths import knowledge_dir

    tiers = yaml.safe_load((knowledge_dir() / "policy.yaml").read_text(encoding="utf-8"))["urgency"]
    emergency = next(t["interval"] for t in tiers if t["code"] == "emergency")
    rule = next(r for r in describe_rules() if r.id == "TRI-LITHIUM-TOXICITY")
    assert rule.rationale is not None and "{interval:" not in rule.rationale
    assert f"it is assessed {emergency} with a lithium level" in rule.rationale
    assert not any("{interval:" in (r.rationale or "") + r.title for r in describe_rules())
