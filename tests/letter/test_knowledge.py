"""The letter's view of knowledge/: labels, citations, drug names and doses, units; bad files named."""

from __future__ import annotations

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


def test_empty_folder_gives_readable_fallbacks(tmp_path):
    kb = load_letter_knowledge(tmp_path)
    assert kb.label("findings", "plmd") == "PLMD"
    assert kb.citation("ICSD-3") is None
    assert (kb.drug_label("sodium_valproate"), kb.drug_dose("sodium_valproate")) == ("Sodium valproate", None)


def test_labels_citations_drugs_and_units_from_files(tmp_path):
    (tmp_path / "vocab.yaml").write_text("findings:\n  plmd: Periodic limb movement disorder\n", encoding="utf-8")
    (tmp_path / "fields.yaml").write_text(
        "psg.plms_index: {type: number, unit: /h, description: PLMS index}\n", encoding="utf-8"
    )
    (tmp_path / "references.yaml").write_text(
        "A-2020:\n  citation: 'Author A. Title. J 2020;1:1-2.'\n  doi: 10.1/x\n"
        "B-2021: {authors: Author B, title: Other title, journal: J Sleep, year: 2021}\n",
        encoding="utf-8",
    )
    (tmp_path / "drugs.yaml").write_text(
        "groups: {x: [clonazepam]}\ndrugs:\n  clonazepam: {name: Clonazepam, dose: 0.25-1 mg at bedtime}\n",
        encoding="utf-8",
    )
    kb = load_letter_knowledge(tmp_path)
    assert kb.label("findings", "plmd") == "Periodic limb movement disorder"
    assert kb.label("fields", "psg.plms_index") == "PLMS index" and kb.units["psg.plms_index"] == "/h"
    assert kb.citation("A-2020") == "Author A. Title. J 2020;1:1-2. doi:10.1/x"
    assert kb.citation("B-2021") == "Author B. Other title. J Sleep. 2021."
    assert (kb.drug_label("clonazepam"), kb.drug_dose("clonazepam")) == ("Clonazepam", "0.25-1 mg at bedtime")


def test_broken_knowledge_file_is_named(tmp_path):
    (tmp_path / "references.yaml").write_text("A: [unclosed\n", encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"references\.yaml: cannot read knowledge file"):
        load_letter_knowledge(tmp_path)


def test_repository_knowledge_has_a_citation_for_every_reference_key():
    kb = load_letter_knowledge()
    assert kb.references and all(kb.citation(key) for key in kb.references)
