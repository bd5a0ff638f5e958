"""The rule-language checks of clinical review 2: time frames come from the urgency (A4), the lay seed article is
never evidence, letter templates word no time frame, and an urgent review of a current drug may stand beside
reassurance about the complaint when the rule says so (scope)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds.authoring.check import check_ruleset
from cds.authoring.release import build_manifest, write_manifest
from cds.errors import RuleFileError
from cds.kb import load_knowledge
from cds.rules.load import load_rules
from cds.rules.manifest import MANIFEST_NAME
from cds.rules.timeframes import consistent_tiers, stated_frames

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "rules", tmp_path / "rules")
    shutil.copytree(DATA / "knowledge", tmp_path / "knowledge")
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _problems(base: Path) -> list[str]:
    write_manifest(build_manifest(base / "rules", base / "knowledge"), base / "rules" / MANIFEST_NAME)
    return [str(p) for p in check_ruleset(base / "rules", base / "knowledge").problems]


def test_time_frames_in_prose_are_read_and_tiered():
    policy = load_knowledge(DATA / "knowledge").policy_obj
    frames = stated_frames(
        "Assess within days; epilepsy clinic within 2 weeks or the same day; recheck after 3 months."
    )
    assert [(f.phrase, f.days) for f in frames] == [("within days", 3), ("within 2 weeks", 14), ("the same day", 0)]
    assert consistent_tiers(3, policy) == {"emergency"}  # only "same day" meets "within days"
    assert consistent_tiers(14, policy) == {"urgent"}
    assert consistent_tiers(42, policy) == {"soon"}
    assert consistent_tiers(90, policy) == {"soon", "routine"}


def test_rules_check_rejects_a_time_frame_that_contradicts_the_urgency(copy):
    rule = copy / "rules" / "3-triage" / "TRI-PSG-SOON.yaml"
    _edit(rule, 'because: "daytime impairment, no PLMS index"', 'because: "daytime impairment: a study within days"')
    problems = _problems(copy)
    assert any(
        "TRI-PSG-SOON.yaml" in p and "time frame 'within days' contradicts the rule's urgency soon" in p
        for p in problems
    ), problems
    with pytest.raises(RuleFileError, match="contradicts the rule's urgency soon"):
        load_rules(copy / "rules", load_knowledge(copy / "knowledge"))
    _edit(rule, "a study within days", "a study {interval:soon}")  # the tier's own words are always right
    assert not any("time frame" in p for p in _problems(copy))


def test_a_rule_without_urgency_states_no_time_frame(copy):
    rule = copy / "rules" / "2-findings" / "FND-NO-RESP-CAVEAT.yaml"
    text = rule.read_text(encoding="utf-8")
    rule.write_text(text.replace("because: ", 'rationale: "needs a sleep physician within 2 weeks"\nbecause: ', 1))
    assert any("sets no urgency" in p for p in _problems(copy))


def test_the_lay_seed_article_is_background_only(copy):
    refs = copy / "knowledge" / "references.yaml"
    refs.write_text(
        refs.read_text(encoding="utf-8")
        + "Seed-Article: {citation: 'A lay web page.', year: null, tag: S, kind: seed, doi: null, url: null}\n"
    )
    rule = copy / "rules" / "3-triage" / "TRI-PSG-SOON.yaml"
    _edit(
        rule,
        '  - {key: ICSD-3, section: "x", grade: C}',
        '  - {key: ICSD-3, section: "x", grade: C}\n  - {key: Seed-Article}',
    )
    assert any("only with role: background" in p for p in _problems(copy))
    _edit(rule, "  - {key: Seed-Article}", "  - {key: Seed-Article, role: background}")
    assert not any("Seed-Article" in p for p in _problems(copy))


def test_a_template_words_no_time_frame_of_its_own(copy):
    (copy / "templates").mkdir()
    (copy / "templates" / "letter.md.j2").write_text(
        "Refer {{ rec.label }}, {{ rec.interval }}.\nSee a neurologist within 2 weeks.\n"
    )
    found = [p for p in _problems(copy) if " E420 " in p]
    assert found == [
        "templates/letter.md.j2:2: E420 template states a time frame ('within 2 weeks'): "
        "print the urgency's interval instead"
    ]
