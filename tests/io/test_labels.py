"""The hypnogram/event label vocabulary (knowledge/labels.yaml) and the user's additions (--stage-labels)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cds.io.hypnogram import stage_of
from cds.io.labels import LabelsFileError, fold_label, load_labels


def test_shipped_vocabulary_reads_aasm_rk_and_french_labels():
    labels = load_labels()
    assert labels.stage("Sleep stage N2") == ("N2", False)
    assert labels.stage("sleep_stage_r") == ("R", False)
    assert labels.stage("Éveil") == ("W", False)
    assert labels.stage("4") == ("N3", True)
    assert labels.stage("Sleep stage ?") == ("?", False)
    assert labels.stage("N5") is None and labels.stage("sleepy") is None
    assert labels.ignored("Notification") and labels.ignored("Dos")
    assert labels.extension is None
    assert fold_label("  Micro-Éveil ") == "micro-eveil"


def test_every_stage_code_is_in_the_refusal_text():
    text = load_labels().describe_stages()
    for code in ("W:", "N1:", "N2:", "N3:", "R:", "?:", "M:"):
        assert code in text


def test_additions_are_merged_and_traced_by_name_and_hash(tmp_path: Path):
    extra = tmp_path / "clinic-labels.yaml"
    extra.write_text("stages:\n  R: [paradoxal]\nevents:\n  arousal: [EEG arousal]\nignore: [Snore]\n", "utf-8")
    labels = load_labels(extra)
    assert labels.stage("Paradoxal") == ("R", False) and labels.event_kind("eeg arousal") == "arousal"
    assert labels.ignored("snore")
    digest = hashlib.sha256(extra.read_bytes()).hexdigest()
    assert labels.to_dict() == {"extension": {"name": "clinic-labels.yaml", "sha256": digest}, "unavailable": {}}


def test_environment_variable_names_the_additions(tmp_path: Path, monkeypatch):
    extra = tmp_path / "labels.yaml"
    extra.write_text("stages:\n  N2: [N5]\n", "utf-8")
    monkeypatch.setenv("CDS_STAGE_LABELS", str(extra))
    assert stage_of("N5") == ("N2", False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages:\n  N2: [wake]\n", r"label 'wake' means stage W in the shipped vocabulary; an addition cannot"),
        ("stages:\n  N5: [x]\n", r"labels\.yaml:2:3: stages: unknown stage 'N5' \(allowed: W, N1, N2, N3, R, \?, M\)"),
        ("stage:\n  N2: [x]\n", r"labels\.yaml:1:1: unknown section 'stage'"),
        ("stages:\n  N2: x\n", r"labels\.yaml:2:3: stages\.N2: expected a list of labels"),
        ("stages:\n  N2: [x]\n  N3: [x]\n", r"stages: label 'x' given for both N2 and N3"),
        ("ignore: [rem]\n", r"label 'rem' means stage R; it cannot be ignored"),
        ("events:\n  snoring: [snore]\n", r"events: unknown kind 'snoring'"),
        ("stages: [1, 2\n", r"labels\.yaml:\d+:\d+: "),
    ],
)
def test_bad_additions_are_refused_naming_the_file(tmp_path: Path, text: str, message: str):
    extra = tmp_path / "labels.yaml"
    extra.write_text(text, "utf-8")
    with pytest.raises(LabelsFileError, match=message):
        load_labels(extra)


def test_missing_additions_file_is_refused(tmp_path: Path):
    with pytest.raises(LabelsFileError, match=r"nope\.yaml: label vocabulary file not found"):
        load_labels(tmp_path / "nope.yaml")
