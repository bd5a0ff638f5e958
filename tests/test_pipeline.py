"""cds.pipeline: writing outputs, stale-file removal, date checks, examples end to end (the rule-base cache it
uses is tested in tests/rulebase/test_rulebase_cache.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds import pipeline
from cds.errors import InputError, UsageError
from cds.letter.render import RenderedLetter
from cds.pipeline import TriageRequest, TriageResult, run_triage, write_triage

REPO = Path(__file__).resolve().parents[1]


def _result(files: dict[str, str | bytes]) -> TriageResult:
    return TriageResult(decision={}, analysis=None, letter=RenderedLetter("", "", {}), files=files)


def test_write_triage_writes_each_file_and_removes_stale_outputs(tmp_path):
    (tmp_path / "analysis.json").write_text("{}", encoding="utf-8")  # from an earlier run with a recording
    (tmp_path / "letter.pdf").write_bytes(b"%PDF-old")
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")  # not ours: left alone
    written = write_triage(
        _result({"decision.json": "{}\n", "letter.html": "<p>x</p>\n", "letter.md": "x\n"}), tmp_path
    )
    assert sorted(written) == ["decision.json", "letter.html", "letter.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decision.json", "letter.html", "letter.md", "notes.txt"]
    assert (tmp_path / "letter.html").read_text(encoding="utf-8") == "<p>x</p>\n"


def test_write_triage_refuses_a_file_as_folder(tmp_path):
    target = tmp_path / "out"
    target.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="out: cannot write the output folder: this is a file, not a folder"):
        write_triage(_result({"letter.md": "x\n"}), target)
    assert target.read_text(encoding="utf-8") == ""


@pytest.mark.parametrize("text", ["2026-13-01", "23.11.2026", "yesterday"])
def test_bad_letter_date_is_a_usage_error(text):
    with pytest.raises(UsageError, match=r"--date: not a date \(allowed: YYYY-MM-DD"):
        run_triage(TriageRequest(patient_path=REPO / "examples" / "demo-patient.yaml", letter_date=text))


@pytest.mark.parametrize("name", ["pregnant-rls", "infant-bsmi", "older-red-flags"])
def test_bundled_examples_triage_with_every_drug_and_recommendation_in_the_letter(name):
    result = run_triage(TriageRequest(patient_path=REPO / "examples" / f"{name}.yaml"))
    decision = json.loads(result.files["decision.json"])
    assert decision["patient_id"] == result.letter.view["patient_id"]
    assert decision["recommendations"], "every example should lead to at least one recommendation"
    html = result.files["letter.html"]
    assert html.count('<tr class="status-') == len(decision["treatments"])
    assert html.count('<li class="recommendation ') == len(decision["recommendations"])
    assert "analysis.json" not in result.files


def test_unwritable_output_folder_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot write the output"):
        write_triage(_result({"letter.md": "x\n"}), blocker / "sub")


def test_unwritable_decision_log_is_an_input_error_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = _result({})
    object.__setattr__(result, "decision", {"schema": "cds.decision/v1", "patient_id": "P", "inputs": {}})
    with pytest.raises(InputError, match=r"log\.sqlite: cannot write the decision log"):
        pipeline.log_decision(result, REPO / "examples" / "demo-patient.yaml", blocker / "sub" / "log.sqlite")
