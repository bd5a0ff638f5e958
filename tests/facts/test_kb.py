"""knowledge/ loading: validated, frozen, hashed; every problem with file:line:col."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds.errors import RuleFileError
from cds.kb import load_knowledge
from tests.facts.conftest import TINY_KNOWLEDGE


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(TINY_KNOWLEDGE, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_loads_and_generates_field_families(tiny_kb):
    assert tiny_kb.threshold("plms_index_adult_per_h") == 15
    assert tiny_kb.fields["conditions.epilepsy"].type == "bool"
    assert tiny_kb.fields["drug_classes.opioid"].type == "bool"
    assert tiny_kb.fields["recent_drug_classes.ssri"].type == "bool"
    assert tiny_kb.fields["medications.clonazepam"].type == "bool"
    assert tiny_kb.fields["sex"].values == ("female", "male", "other", "unknown")
    assert tiny_kb.medication_classes("oxycodone") == ("opioid", "cns_depressant")
    assert tiny_kb.medication_classes("nothing") is None
    with pytest.raises(TypeError):
        tiny_kb.thresholds["x"] = 1  # read-only


def test_hash_changes_with_content(kb_copy, tiny_kb):
    assert load_knowledge(kb_copy).sha256 == tiny_kb.sha256
    edit(kb_copy / "thresholds.yaml", "value: 15,", "value: 16,")
    assert load_knowledge(kb_copy).sha256 != tiny_kb.sha256


def test_problems_with_positions(kb_copy):
    edit(kb_copy / "thresholds.yaml", "references: [ICSD-3], note", "references: [ICSD-9], note")
    edit(kb_copy / "drugs.yaml", "seed_drugs: [clonazepam, sodium_valproate]", "seed_drugs: [clonazepam, valproate]")
    edit(kb_copy / "fields.yaml", "pregnant: {type: bool,", "pregnant: {type: boolean,")
    edit(kb_copy / "references.yaml", "year: 2020,", "year: 2020, yeer: 1,")
    with pytest.raises(RuleFileError) as info:
        load_knowledge(kb_copy)
    problems = "\n".join(info.value.problems)
    assert "references.yaml:3:" in problems and "unknown key 'yeer'" in problems
    assert "thresholds.yaml:1:" in problems and "unknown reference key 'ICSD-9'" in problems
    assert "drugs.yaml:2:28: group seed_drugs: 'valproate' is not under drugs:" in problems
    assert "fields.yaml:4:1: pregnant: type must be one of bool, number, enum, text (got 'boolean')" in problems


def test_duplicate_keys_and_aliases_rejected(kb_copy):
    edit(kb_copy / "vocab.yaml", "  adult: Adult\n", "  adult: Adult\n  adult: Grown-up\n")
    with pytest.raises(RuleFileError, match=r"vocab.yaml:\d+:\d+: .*duplicate key"):
        load_knowledge(kb_copy)
    edit(kb_copy / "vocab.yaml", "  adult: Grown-up\n", "")
    edit(kb_copy / "vocab.yaml", "sexes: [female, male, other, unknown]", "sexes: &s [female, male]\nx: *s")
    with pytest.raises(RuleFileError, match=r"vocab.yaml:1:8: anchors"):
        load_knowledge(kb_copy)


def test_real_knowledge_loads():
    kb = load_knowledge()
    assert {"plms_index_adult_per_h"} <= set(kb.thresholds)
    assert "psg.plms_index" in kb.fields and "conditions.epilepsy" in kb.fields


def test_groups_chosen_by_class_follow_the_drug_list(kb_copy):
    """A group written as {classes}/{except_classes} is the candidates of (not of) those classes, in drugs: order."""
    edit(
        kb_copy / "drugs.yaml",
        "  seed_drugs: [clonazepam, sodium_valproate]\n",
        "  seed_drugs: [clonazepam, sodium_valproate]\n"
        "  asm: {classes: [antiseizure, benzodiazepine]}\n"
        "  not_asm: {except_classes: [antiseizure]}\n"
        "  everything: {}\n",
    )
    kb = load_knowledge(kb_copy)
    assert list(kb.groups["asm"]) == ["clonazepam", "sodium_valproate"]
    assert list(kb.groups["not_asm"]) == ["clonazepam", "oral_iron"]
    assert list(kb.groups["everything"]) == ["clonazepam", "sodium_valproate", "oral_iron"]
    edit(kb_copy / "drugs.yaml", "asm: {classes: [antiseizure, benzodiazepine]}", "asm: {classes: [antiseizur]}")
    with pytest.raises(RuleFileError, match=r"drugs.yaml:\d+:\d+: group asm: unknown class 'antiseizur'"):
        load_knowledge(kb_copy)


def test_real_drug_groups_by_class():
    kb = load_knowledge()
    assert "peroneal_nerve_stimulation" not in kb.groups["all_drugs"]  # a device, not a drug
    split = set(kb.groups["antiseizure_drugs"]) | set(kb.groups["all_drugs_but_antiseizure"])
    assert split == set(kb.groups["all_drugs"])
    assert {"sodium_valproate", "levetiracetam", "clonazepam"} <= set(kb.groups["antiseizure_drugs"])
    assert not {"oral_iron", "pramipexole"} & set(kb.groups["antiseizure_drugs"])
