"""Issue 11, "rules that cannot drift silently": derived thresholds are computed from their base values, rule
prose quotes thresholds through {threshold:NAME}, and `rules check` rejects a literal number that duplicates a
threshold of the same unit (E430; the matching rule is in cds/authoring/literals.py and rules/README.md)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from minibase import write_minibase

from cds.authoring.check import check_ruleset
from cds.authoring.literals import find_literal_thresholds
from cds.cli import run
from cds.errors import RuleFileError
from cds.kb import load_knowledge

REPO = Path(__file__).resolve().parents[2]


def _set_value(knowledge: Path, name: str, value: float) -> None:
    path = knowledge / "thresholds.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n{name}:\n") + 1
    end = start + text[start:].index("\n\n") if "\n\n" in text[start:] else len(text)
    block = re.sub(r"(?m)^  value: .*$", f"  value: {value:g}", text[start:end], count=1)
    path.write_text(text[:start] + block + text[end:], encoding="utf-8")


def test_derived_thresholds_follow_their_base_values(tmp_path):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    shipped = load_knowledge(knowledge)
    assert [shipped.threshold(f"plms_index_adult_band_{e}_per_h") for e in ("low", "high")] == [10, 20]
    assert shipped.threshold("bsmi_typical_max_years") == 0.5
    _set_value(knowledge, "plms_index_adult_per_h", 17)
    _set_value(knowledge, "plms_index_variability_band_per_h", 4)
    _set_value(knowledge, "bsmi_typical_max_months", 9)
    _set_value(knowledge, "beers_cns_active_max_drugs", 4)
    kb = load_knowledge(knowledge)
    assert [kb.threshold(f"plms_index_adult_band_{e}_per_h") for e in ("low", "high")] == [13, 21]
    assert [kb.threshold(f"plms_index_child_band_{e}_per_h") for e in ("low", "high")] == [1, 9]
    assert kb.threshold("bsmi_typical_max_years") == 0.75
    assert kb.threshold("beers_cns_active_before_third") == 3


@pytest.mark.parametrize(
    ("entries", "bad", "message"),
    [
        (
            "a_per_h: {derived: {from: b_per_h, plus: 1}, unit: per_h, references: []}\n"
            "b_per_h: {derived: {from: a_per_h, minus: 1}, unit: per_h, references: []}\n",
            "a_per_h",
            "derived: circular (a_per_h -> b_per_h -> a_per_h)",
        ),
        (
            "a_per_h: {derived: {from: nothing_per_h, plus: 1}, unit: per_h, references: []}\n",
            "a_per_h",
            "derived: from 'nothing_per_h' is neither a number nor a threshold name",
        ),
        (
            "a_per_h: {value: 5, unit: per_h, references: []}\n"
            "b_min: {derived: {from: a_per_h, plus: 1}, unit: min, references: []}\n",
            "b_min",
            "derived: a_per_h is in per_h, b_min in min (plus and minus need one unit)",
        ),
        (
            "a_per_h: {value: 5, derived: {from: a_per_h, times: 2}, unit: per_h, references: []}\n",
            "a_per_h",
            "a derived threshold has no value of its own",
        ),
        (
            "a_per_h: {derived: {from: 5, plus: 1, minus: 2}, unit: per_h, references: []}\n",
            "a_per_h",
            "derived: write {from: NAME, OP: NAME or number}",
        ),
    ],
)
def test_a_bad_derivation_is_a_file_line_error(tmp_path, entries, bad, message):
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    path = knowledge / "thresholds.yaml"
    path.write_text(path.read_text(encoding="utf-8") + entries, encoding="utf-8")
    with pytest.raises(RuleFileError) as caught:
        load_knowledge(knowledge)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if t.startswith(f"{bad}:"))
    assert any(p.startswith(f"{path}:{line}:") and message in p for p in caught.value.problems), caught.value.problems


THRESHOLDS = {
    "plms_adult": {"value": 15, "unit": "per_h"},
    "ferritin": {"value": 75, "unit": "ng/mL"},
    "crcl_moderate": {"value": 30, "unit": "mL/min"},
    "crcl_normal": {"value": 60, "unit": "mL/min"},
    "child_age": {"value": 18, "unit": "years"},
    "weeks20": {"value": 20, "unit": "weeks"},
}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("PLMS index above 15/h", [("15/h", "plms_adult")]),
        ("PLMS above 15 per hour", [("15 per hour", "plms_adult")]),
        ("ferritin at or below 75 ug/L", [("75 ug/L", "ferritin")]),
        ("CrCl 30-59 mL/min", [("30-59 mL/min", "crcl_moderate")]),
        ("CrCl 20 to 60 mL/min", [("20 to 60 mL/min", "crcl_normal")]),
        ("from 18 years on", [("18 years", "child_age")]),
        ("a 18-year-old", [("18-year", "child_age")]),
        ("from 20 weeks of pregnancy", [("20 weeks", "weeks20")]),
        # not a duplicate: other unit, no unit, other value, a placeholder, a reference name, a dose
        ("for 15 days", []),
        ("15 mg twice a day", []),
        ("ICSD-3 criterion 15", []),
        ("above {threshold:plms_adult}/h", []),
        ("PLMS 16/h", []),
        ("18 months", []),
        ("20 weeks" + "", [("20 weeks", "weeks20")]),
    ],
)
def test_literal_matching_is_unit_aware(text, found):
    hits = find_literal_thresholds(text, THRESHOLDS)
    assert [(h.literal, h.names[0]) for h in hits] == found


def test_rules_check_rejects_a_literal_threshold_in_letter_prose(tmp_path):
    root = write_minibase(tmp_path / "mb")
    plmd = root / "rules" / "2-findings" / "FND-PLMD.yaml"
    reassure = root / "rules" / "3-triage" / "TRI-REASSURE.yaml"
    text = plmd.read_text()
    text = text.replace(
        'because: "PLMS index {psg.plms_index} /h"', 'because: "PLMS index {psg.plms_index} /h, above 15/h"'
    )
    plmd.write_text(text.replace("version: 1", "version: 2"))
    # TRI-REASSURE rests on (the absence of) plmd: FND-PLMD's threshold is one it depends on
    text = reassure.read_text().replace('because: "no PLMD"', 'because: "no PLMD (PLMS 15 per hour or less); 15 mg"')
    reassure.write_text(text.replace("version: 1", "version: 2"))
    # EVD-ADULT depends on no threshold: its 15/h is not matched
    evd = root / "rules" / "1-evidence" / "EVD-ADULT.yaml"
    text = evd.read_text().replace('because: "age {age_years}"', 'because: "age {age_years}; 15/h"')
    evd.write_text(text.replace("version: 1", "version: 2"))
    assert run(["rules", "manifest", str(root / "rules"), "--knowledge", str(root / "knowledge"), "--update"]) == 0
    report = check_ruleset(root / "rules", root / "knowledge")
    errors = [(p.path, p.line, p.col, p.code) for p in report.problems if p.code == "E430"]
    plmd_line = next(i for i, t in enumerate(plmd.read_text().splitlines(), 1) if t.startswith("because:"))
    reassure_line = next(i for i, t in enumerate(reassure.read_text().splitlines(), 1) if t.startswith("because:"))
    assert errors == [
        (
            "rules/2-findings/FND-PLMD.yaml",
            plmd_line,
            len('because: "PLMS index {psg.plms_index} /h, above ') + 1,
            "E430",
        ),
        ("rules/3-triage/TRI-REASSURE.yaml", reassure_line, len('because: "no PLMD (PLMS ') + 1, "E430"),
    ]
    message = next(p.message for p in report.problems if p.code == "E430")
    assert "'15/h' writes the value of plms_index_adult_per_h (15 per_h)" in message
    assert "{threshold:plms_index_adult_per_h}" in message
    assert not report.ok


def test_the_shipped_rule_prose_quotes_no_threshold_as_a_number():
    assert [p for p in check_ruleset().problems if p.code == "E430"] == []


@pytest.mark.slow
def test_a_changed_threshold_changes_the_eclampsia_line_of_the_letter(tmp_path, monkeypatch):
    """The eclampsia rule's reason quotes the gestational-age threshold of the finding it rests on; the letter's
    vocabulary labels come from the knowledge the rule base was loaded from (nothing else is patched)."""
    from cds.rules import engine

    case = REPO / "tests" / "cases" / "186-pregnant-34-weeks-first-nocturnal-convulsion-eclampsia.yaml"
    from cds.yamlfile import load_yaml, to_plain

    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(to_plain(load_yaml(case))["patient"]), encoding="utf-8")
    monkeypatch.setenv("CDS_AUDIT_KEY", str(tmp_path / "keys" / "ring.json"))

    def letter_with(weeks: int) -> str:
        knowledge = tmp_path / f"knowledge-{weeks}"
        shutil.copytree(REPO / "knowledge", knowledge)
        _set_value(knowledge, "eclampsia_from_pregnancy_weeks", weeks)
        original = engine.load_rulebase
        with monkeypatch.context() as m:
            m.setattr("cds.paths.knowledge_dir", lambda: knowledge)
            m.setattr(engine, "load_rulebase", lambda r=None, k=None: original(r, k or knowledge))
            out = tmp_path / f"out-{weeks}"
            args = ["triage", "--patient", str(patient), "--out", str(out), "--log", str(tmp_path / "l")]
            assert run(args) == 0
        return (out / "letter.md").read_text(encoding="utf-8")

    shipped = letter_with(20)
    assert "Seizure in pregnancy from 20 weeks: eclampsia until proven otherwise" in shipped
    assert "Red flag: a seizure in pregnancy from 20 weeks (or at an unknown gestation)" in shipped  # vocab label
    changed = letter_with(22)
    assert "Seizure in pregnancy from 22 weeks: eclampsia until proven otherwise" in changed
    assert "Red flag: a seizure in pregnancy from 22 weeks (or at an unknown gestation)" in changed
    assert "from 20 weeks" not in changed


def test_a_vocabulary_label_is_letter_prose_too(tmp_path):
    """knowledge/vocab.yaml labels words the rules' conclusions in the letter: a literal threshold there is E430,
    and {threshold:NAME} in a label is filled in when the knowledge is loaded."""
    root = write_minibase(tmp_path / "mb")
    vocab = root / "knowledge" / "vocab.yaml"
    vocab.write_text(vocab.read_text().replace("plmd: Periodic limb movement disorder", "plmd: PLMD (PLMS over 15/h)"))
    assert run(["rules", "manifest", str(root / "rules"), "--knowledge", str(root / "knowledge"), "--update"]) == 0
    report = check_ruleset(root / "rules", root / "knowledge")
    line = next(i for i, t in enumerate(vocab.read_text().splitlines(), 1) if "plmd: PLMD" in t)
    col = vocab.read_text().splitlines()[line - 1].index("15/h") + 1
    assert [(p.path, p.line, p.col) for p in report.problems if p.code == "E430"] == [
        ("knowledge/vocab.yaml", line, col)
    ]
    label = '"PLMD (PLMS over {threshold:plms_index_adult_per_h}/h)"'  # quoted: the file's mappings are flow style
    vocab.write_text(vocab.read_text().replace("PLMD (PLMS over 15/h)", label))
    assert load_knowledge(root / "knowledge").vocab["findings"]["plmd"] == "PLMD (PLMS over 15/h)"
    vocab.write_text(vocab.read_text().replace("{threshold:plms_index_adult_per_h}", "{threshold:nope}"))
    with pytest.raises(RuleFileError, match=r"findings\.plmd: unknown threshold 'nope'"):
        load_knowledge(root / "knowledge")


def test_a_literal_threshold_in_a_title_or_rationale_is_e430_at_its_file_line(tmp_path):
    """Titles and rationales are prose too (the rule book prints them): a number there that duplicates a
    threshold the rule depends on fails `rules check`, at the line and column of the number, also on the second
    line of a folded rationale."""
    root = write_minibase(tmp_path / "mb")
    plmd = root / "rules" / "2-findings" / "FND-PLMD.yaml"
    text = plmd.read_text()
    assert "title: PLMD\n" in text and "rationale: test rule.\n" in text
    text = text.replace("title: PLMD\n", "title: PLMD with PLMS above 15/h\n")
    text = text.replace(
        "rationale: test rule.\n", "rationale: >-\n  A PLMS index above the adult threshold\n  (15 per hour) is PLMD.\n"
    )
    plmd.write_text(text.replace("version: 1", "version: 2"))
    assert run(["rules", "manifest", str(root / "rules"), "--knowledge", str(root / "knowledge"), "--update"]) == 0
    report = check_ruleset(root / "rules", root / "knowledge")
    lines = plmd.read_text().splitlines()
    title_line = next(i for i, t in enumerate(lines, 1) if t.startswith("title:"))
    number_line = next(i for i, t in enumerate(lines, 1) if "(15 per hour)" in t)
    hits = [p for p in report.problems if p.code == "E430"]
    assert [(p.path, p.line, p.col) for p in hits] == [
        ("rules/2-findings/FND-PLMD.yaml", title_line, len("title: PLMD with PLMS above ") + 1),
        ("rules/2-findings/FND-PLMD.yaml", number_line, len("  (") + 1),
    ]
    assert hits[0].message.startswith("title: '15/h' writes the value of plms_index_adult_per_h")
    assert hits[1].message.startswith("rationale: '15 per hour' writes the value of plms_index_adult_per_h")
    assert not report.ok
    # written through the placeholder, both pass
    plmd.write_text(
        plmd.read_text()
        .replace("above 15/h", "above {threshold:plms_index_adult_per_h}/h")
        .replace("(15 per hour)", "({threshold:plms_index_adult_per_h} per hour)")
        .replace("version: 2", "version: 3")
    )
    assert run(["rules", "manifest", str(root / "rules"), "--knowledge", str(root / "knowledge"), "--update"]) == 0
    assert [p for p in check_ruleset(root / "rules", root / "knowledge").problems if p.code == "E430"] == []


def test_an_unknown_threshold_in_a_title_is_a_load_error(tmp_path):
    root = write_minibase(tmp_path / "mb")
    plmd = root / "rules" / "2-findings" / "FND-PLMD.yaml"
    plmd.write_text(plmd.read_text().replace("title: PLMD\n", "title: PLMD above {threshold:plms_nope}/h\n"))
    report = check_ruleset(root / "rules", root / "knowledge")
    assert any("title: unknown threshold 'plms_nope'" in p.message for p in report.errors), report.problems


def test_a_changed_threshold_changes_the_rule_book_titles_and_rationales(tmp_path):
    """The shipped titles and rationales quote thresholds through placeholders: the rule book, `rules show` and
    `rules list` read them from the knowledge folder they are given, so a changed threshold changes the text."""
    from cds.authoring.book import describe_rules, render_book

    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)

    def book(tag: str) -> tuple[dict[str, object], str, str]:
        infos = describe_rules(REPO / "rules", knowledge)
        html, md = render_book(infos, tmp_path / tag)
        return {i.id: i for i in infos}, html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")

    shipped, html, md = book("shipped")
    esrd = "Gabapentin below 15 mL/min or on dialysis"
    near = "A single pediatric night within 5/h of the 5/h threshold is not a stable label."
    assert shipped["SAF-RENAL-GABAPENTIN-ESRD"].title == esrd
    assert shipped["EVD-PLMS-NEAR-CHILD"].rationale == near
    assert f"SAF-RENAL-GABAPENTIN-ESRD — {esrd}" in md and f"SAF-RENAL-GABAPENTIN-ESRD — {esrd}" in html
    assert f"**Rationale.** {near}" in md and f"<b>Rationale.</b> {near}" in html
    assert "{threshold:" not in md and "{threshold:" not in html

    _set_value(knowledge, "crcl_severe_ml_min", 12)
    _set_value(knowledge, "plms_index_child_per_h", 6)
    _set_value(knowledge, "plms_index_variability_band_per_h", 4)
    changed, html, md = book("changed")
    assert changed["SAF-RENAL-GABAPENTIN-ESRD"].title == "Gabapentin below 12 mL/min or on dialysis"
    assert changed["EVD-RENAL-SEVERE"].title == "Severe renal impairment (CrCl 12-29 mL/min)"
    assert changed["EVD-PLMS-NEAR-CHILD"].rationale == (
        "A single pediatric night within 4/h of the 6/h threshold is not a stable label."
    )
    assert "Gabapentin below 12 mL/min or on dialysis" in md and "Gabapentin below 12 mL/min" in html
    assert esrd not in md and esrd not in html and near not in md


def _band_line(drugs: Path, drug: str, text: str) -> int:
    lines = drugs.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"  {drug}:")
    return next(i for i, t in enumerate(lines[start:], start + 1) if text in t)


def test_a_renal_band_limit_written_as_a_number_is_a_load_error(tmp_path):
    """The drug table's band limits name the threshold the SAF-RENAL rules use; a bare number (which a changed
    threshold would leave behind) is refused at its file:line, as is a name that is no mL/min threshold."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    drugs = knowledge / "drugs.yaml"
    text = drugs.read_text(encoding="utf-8")
    old = (
        "{crcl_from_ml_min: {threshold: crcl_severe_ml_min}, crcl_to_ml_min: {threshold: crcl_moderate_ml_min}, "
        'text: "200-700'
    )
    assert text.count(old) == 1
    drugs.write_text(text.replace(old, old.replace("{threshold: crcl_severe_ml_min}", "15")), encoding="utf-8")
    line = _band_line(drugs, "gabapentin", '"200-700')
    with pytest.raises(RuleFileError) as caught:
        load_knowledge(knowledge)
    assert [p for p in caught.value.problems if f"{drugs}:{line}:" in p] == [
        f"{drugs}:{line}:10: crcl_from_ml_min: write {{threshold: NAME}} (a threshold in mL/min the rules use), "
        "not the number 15"
    ]
    drugs.write_text(text.replace(old, old.replace("crcl_severe_ml_min", "age_child_years")), encoding="utf-8")
    with pytest.raises(RuleFileError, match="crcl_from_ml_min: age_child_years is in years, not mL/min"):
        load_knowledge(knowledge)
    drugs.write_text(text.replace(old, old.replace("crcl_severe_ml_min", "crcl_nope_ml_min")), encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"crcl_from_ml_min: \{threshold: NAME\} naming a threshold"):
        load_knowledge(knowledge)


def test_the_renal_dose_table_follows_a_changed_threshold_with_the_rules(tmp_path):
    """Severe impairment moved from CrCl 15 to 12 mL/min in thresholds.yaml: at CrCl 13 the gabapentin severe-band
    rule fires, and the letter's dose text (the drug table, {renal_dose}) gives that band's dose, not the
    end-stage one: table and rule cannot disagree."""
    from cds.rules.engine import load_rulebase, renal_dose

    shipped = load_knowledge(REPO / "knowledge")
    at_13 = {"renal.crcl_ml_min": 13}
    assert renal_dose("gabapentin", at_13, shipped) == (
        "CrCl 13 mL/min: 100-300 mg/day once daily, scaled down with CrCl; "
        "on haemodialysis 125-350 mg after each session"
    )
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    _set_value(knowledge, "crcl_severe_ml_min", 12)
    kb = load_knowledge(knowledge)
    assert [(b["crcl_from_ml_min"], b["crcl_to_ml_min"]) for b in kb.drugs["gabapentin"]["renal"]] == [
        (60, None),
        (30, 60),
        (12, 30),
        (None, 12),
    ]
    assert renal_dose("gabapentin", at_13, kb) == "CrCl 13 mL/min: 200-700 mg/day once daily"
    assert renal_dose("gabapentin", {"renal.crcl_ml_min": 11}, kb).startswith("CrCl 11 mL/min: 100-300 mg/day")
    rules = {r.id: r for r in load_rulebase(REPO / "rules", knowledge).rules.rules}
    severe = [a for a in rules["SAF-RENAL-GABAPENTIN-SEVERE"].data["when"]["all"] if "gte" in a]
    assert [kb.threshold(a["gte"]["threshold"]) for a in severe] == [12]


def test_the_letter_dose_text_of_the_renal_tables_is_unchanged():
    """The band limits became threshold names; the dose texts the letter prints for them are the label's."""
    from cds.rules.engine import renal_dose

    kb = load_knowledge(REPO / "knowledge")
    expected = {
        ("levetiracetam", 65): "CrCl 65 mL/min: 1000-2000 mg/day in two doses",
        ("levetiracetam", 40): "CrCl 40 mL/min: 500-1500 mg/day in two doses",
        ("levetiracetam", 80): "CrCl 80 mL/min: usual dose",
        ("pregabalin", 30): "CrCl 30 mL/min: 75-300 mg/day in one or two doses",
        ("gabapentin_enacarbil", 29): "CrCl 29 mL/min: 300 mg once daily",
        ("piracetam", 19): "CrCl 19 mL/min: contraindicated",
        (
            "pramipexole",
            45,
        ): "CrCl 45 mL/min: lengthen the titration interval (14 days at CrCl 20-60 mL/min); check the label",
    }
    got = {(drug, crcl): renal_dose(drug, {"renal.crcl_ml_min": crcl}, kb) for drug, crcl in expected}
    assert got == expected
    assert renal_dose("pregabalin", {"conditions.dialysis": True}, kb) == (
        "25-75 mg once daily; 25-100 mg after each haemodialysis"
    )


def test_a_literal_threshold_in_a_renal_band_text_is_e430(tmp_path):
    """A band's text is letter prose ({renal_dose}): the number of a threshold its limits name is E430 there."""
    knowledge = tmp_path / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    drugs = knowledge / "drugs.yaml"
    text = drugs.read_text(encoding="utf-8")
    assert "(14 days at CrCl 20-{threshold:crcl_normal_ml_min} mL/min)" in text
    drugs.write_text(text.replace("{threshold:crcl_normal_ml_min} mL/min)", "60 mL/min)"), encoding="utf-8")
    line = _band_line(drugs, "pramipexole", "(14 days at CrCl 20-60 mL/min)")
    col = drugs.read_text(encoding="utf-8").splitlines()[line - 1].index("20-60 mL/min") + 1
    hits = [p for p in check_ruleset(REPO / "rules", knowledge).problems if p.code == "E430"]
    assert [(p.path, p.line, p.col) for p in hits] == [("knowledge/drugs.yaml", line, col)]
    assert "drugs.pramipexole.renal[0].text: '20-60 mL/min' writes the value of crcl_normal_ml_min" in hits[0].message
