"""The letters of the whole clinical case library read as a physician needs them (clinical review 2, the letter):
balanced parentheses, ages under 2 years in weeks or months, whole-number counts, one time frame per urgency (the
policy's), the lay seed article never cited as evidence, and never an empty decision."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cds.authoring.casebank import load_cases
from cds.decision import decide
from cds.facts.patient import parse_patient
from cds.letter.render import render_letter
from cds.rules.engine import load_rulebase

CASES = Path(__file__).resolve().parents[1] / "cases"


@pytest.fixture(scope="module")
def letters() -> list[tuple[str, dict, str]]:
    rulebase = load_rulebase()
    out = []
    for case in load_cases(CASES):
        patient = parse_patient(case.patient, path=f"{case.name}.yaml", knowledge=rulebase.kb)
        record = decide(rulebase, patient, patient_sha256=case.patient_sha256).to_record()
        out.append((case.name, record, render_letter(record).markdown))
    return out


def test_every_letter_states_a_decision_with_its_time_frame(letters):
    intervals = load_rulebase().kb.policy_obj
    for name, decision, markdown in letters:
        conclusion = decision["conclusion"]
        assert conclusion["action"] and conclusion["interval"] == intervals.interval(conclusion["urgency"]), name
        assert "What to do first:" in markdown, name
        for rec in decision["recommendations"]:
            assert rec["interval"] == intervals.interval(rec["urgency"]), (name, rec["action"])


def test_parentheses_are_balanced_on_every_line(letters):
    for name, _decision, markdown in letters:
        for line in markdown.splitlines():
            assert line.count("(") == line.count(")"), (name, line)


def test_ages_under_two_years_are_never_fractions_of_a_year(letters):
    for name, decision, markdown in letters:
        age = next(f["value"] for f in decision["facts"] if f["field"] == "age_years" and f["known"])
        if age < 2:
            assert not re.search(r"\b0\.\d+ years?\b|\b1\.\d+ years?\b", markdown), name
            assert re.search(r"\d+ (days?|weeks?|months?)", markdown), name
        assert "years years" not in markdown, name


def test_counts_are_whole_numbers(letters):
    for name, _decision, markdown in letters:
        for line in markdown.splitlines():
            if line.startswith("| Jerks at wake-to-sleep transitions") or line.startswith("| Number of usable leg"):
                assert not re.search(r"\| \d+\.\d", line), (name, line)


def test_the_seed_article_is_background_never_evidence(letters):
    for name, decision, markdown in letters:
        for entry in decision["recommendations"] + decision["treatments"] + decision["findings"]:
            assert "Seed-Article" not in entry.get("references", []), (name, entry)
        if "Seed-Article" in markdown:
            evidence = markdown.split("## References", 1)[1].split("Background reading", 1)[0]
            assert "Seed-Article" not in evidence, name
