"""The letter's view of knowledge/: labels, citations, drug names and doses, units; bad files named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cds.errors import RuleFileError
from cds.letter.knowledge import humanise, load_letter_knowledge


def test_humanise_keeps_scoring_acronyms():
    assert humanise("plms_index") == "PLMS index"
    assert humanise("rls_with_plms") == "RLS with PLMS"
    assert humanise("sleep_medicine_referral") == "Sleep medicine referral"
    assert humanise("renal.crcl_ml_min") == "CrCl"  # field path and unit suffix dropped, clinical spelling
    assert humanise("labs.ferritin_ng_ml") == "Ferritin"
    assert humanise("psg.total_sleep_time_h") == "Total sleep time"


TINY = Path(__file__).resolve().parents[1] / "rulebase" / "data" / "knowledge"


def test_letter_reads_knowledge_through_the_one_validating_loader(tmp_path):
    """The letter sees the same validated knowledge as the rules: an incomplete folder is an error naming the
    missing file, never a letter with silently missing labels."""
    with pytest.raises(RuleFileError, match=r"file missing"):
        load_letter_knowledge(tmp_path)


def test_labels_citations_drugs_units_and_intervals_from_files(tmp_path):
    shutil.copytree(TINY, tmp_path / "k")
    kb = load_letter_knowledge(tmp_path / "k")
    assert kb.label("findings", "plmd") == "Periodic limb movement disorder"
    assert kb.units["psg.plms_index"] == "/h"
    assert kb.citation("LABEL")
    assert (kb.drug_label("clonazepam"), kb.drug_dose("clonazepam")) == ("Clonazepam", "0.25-1 mg at bedtime")
    assert kb.interval("urgent") == "within 2 weeks" and kb.interval("emergency") == "same day"
    assert kb.label("findings", "no_such_code") == "No such code"  # a readable fallback, not a crash


def test_broken_knowledge_file_is_named(tmp_path):
    shutil.copytree(TINY, tmp_path / "k")
    (tmp_path / "k" / "references.yaml").write_text("A: [unclosed\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"references\.yaml"):
        load_letter_knowledge(tmp_path / "k")


def test_repository_knowledge_has_a_citation_for_every_reference_key():
    kb = load_letter_knowledge()
    assert kb.references and all(kb.citation(key) for key in kb.references)
