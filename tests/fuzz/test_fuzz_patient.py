"""Fuzzed patient files: every file is read into a valid PatientContext or refused with PatientFileError
(exit 3 through ``cds triage``, nothing logged, no output folder touched); never an internal error."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds.errors import PatientFileError
from tests.fuzz.fuzzkit import OUTCOMES, TRIED, assert_clean_exit, fuzz, run_cds, snapshot

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"), pytest.mark.filterwarnings("error::UserWarning")]

REPO = Path(__file__).resolve().parents[2]
BASE = (REPO / "examples" / "demo-patient.yaml").read_text(encoding="utf-8")
KEYS = [
    "age_years",
    "age_days",
    "weight_kg",
    "sex",
    "distress",
    "epworth_sleepiness_score",
    "symptom_frequency_per_week",
    "symptom_duration_months",
    "requested_treatment",
    "pregnant",
    "id",
    "schema",
    "conditions",
    "medications",
    "medication_changes",
    "labs",
    "symptoms",
    "polysomnography",
    "agee_years",
    "x" * 40,
    "ünïcode",
    "1",
    "null",
]
SECTION_KEYS = {
    "labs": ["ferritin_ng_ml", "egfr_ml_min", "creatinine_clearance_ml_min", "ferritn"],
    "symptoms": ["insomnia", "jerks_during_sleep", "seizure"],
    "polysomnography": ["plms_index", "respiratory_channels", "date", "ahi"],
}
RAW = [
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "1e999",
    "-1e999",
    "1e308",
    "-0",
    "0x1F",
    "0o17",
    "1_000",
    "~",
    "null",
    "yes",
    "no",
    "true",
    "[1, 2",
    "{a: 1}",
    "&a 1",
    "*a",
    "!!float 1",
    "!!python/object/apply:os.system [ls]",
    '"\\x00"',
    "'unterminated",
    "- a\n- b",
    "{}",
    "[]",
    "999999999999999999999999",
    "-3",
    "130.0001",
    "0.3",
    "2026-02-30",
    "|\n  block",
    ">",
    "%YAML 1.1",
    "---",
    "...",
    "\t1",
    "@x",
    "`x`",
]


BENIGN = [
    "40",
    "58",
    "0",
    "81.5",
    "1",
    "12",
    "true",
    "false",
    "male",
    "female",
    "moderate",
    "none",
    "[]",
    "clonazepam",
    "2024-03-01",
    "[epilepsy]",
    "[sertraline]",
    "7",
]


def _value() -> st.SearchStrategy[str]:
    number = st.floats(allow_nan=True, allow_infinity=True).map(repr)
    hostile = st.one_of(
        st.sampled_from(RAW), number, st.integers(-(10**30), 10**30).map(str), st.text(max_size=12).map(json.dumps)
    )
    benign = st.sampled_from(BENIGN)
    return st.one_of(benign, benign, hostile)


@st.composite
def patient_texts(draw) -> str:
    lines = BASE.splitlines()
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3, 4]))):
        action = draw(st.sampled_from(["set", "set", "section", "section", "delete", "raw", "json"]))
        if action == "set":
            key = draw(st.sampled_from(KEYS))
            lines = [ln for ln in lines if not ln.startswith(f"{key}:")] + [f"{key}: {draw(_value())}"]
        elif action == "section":
            section = draw(st.sampled_from(sorted(SECTION_KEYS)))
            key = draw(st.sampled_from(SECTION_KEYS[section]))
            lines = [ln for ln in lines if not ln.startswith(f"{section}:")]
            lines += [f"{section}:", f"  {key}: {draw(_value())}"]
        elif action == "delete" and lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
        elif action == "raw":
            at = draw(st.integers(0, len(lines)))
            lines.insert(at, draw(st.text(max_size=30)))
        else:
            return json.dumps(
                draw(
                    st.dictionaries(
                        st.sampled_from(KEYS),
                        st.one_of(
                            st.floats(allow_nan=True, allow_infinity=True),
                            st.integers(),
                            st.text(max_size=5),
                            st.none(),
                            st.booleans(),
                        ),
                        max_size=6,
                    )
                )
                | {"schema": "cds.patient/v1", "id": "P-1"}
            )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def knowledge():
    from cds.kb import load_knowledge

    return load_knowledge()


@fuzz(300)
@given(text=patient_texts())
def test_patient_files_are_read_or_refused(tmp_path_factory, knowledge, text):
    from cds.facts.patient import read_patient

    TRIED["patient files"] += 1
    path = tmp_path_factory.mktemp("p") / "patient.yaml"
    path.write_bytes(text.encode("utf-8", "replace"))
    try:
        patient = read_patient(path, knowledge=knowledge)
    except PatientFileError as exc:
        OUTCOMES["refused by the reader"] += 1
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return
    OUTCOMES["read by the reader"] += 1
    for name, value in patient.values.items():
        spec = knowledge.fields.get(name)
        if isinstance(value, float):
            assert math.isfinite(value), (name, value)
        if spec is not None and name != "psg.date":
            assert spec.check_value(value) is None, (name, value)


@fuzz(20)
@given(text=patient_texts())
def test_triage_on_fuzzed_patients_logs_only_what_it_delivers(tmp_path_factory, text):
    from cds.audit.log import DecisionLog

    TRIED["patient files through cds triage"] += 1
    folder = tmp_path_factory.mktemp("t")
    patient, out, log = folder / "patient.yaml", folder / "out", folder / "log.sqlite"
    patient.write_bytes(text.encode("utf-8", "replace"))
    out.mkdir()
    (out / "letter.md").write_text("an earlier letter\n", encoding="utf-8")
    before = snapshot(out)
    ran = run_cds(["triage", "--patient", patient, "--out", out, "--log", log])
    assert_clean_exit(ran, (0, 3))
    records = list(DecisionLog(log).entries()) if log.exists() else []
    if ran.code == 0:
        assert len(records) == 1 and DecisionLog(log).verify().ok
        assert (out / "decision.json").is_file() and (out / "letter.md").read_bytes() != before["letter.md"]
        again = folder / "again"
        assert run_cds(["triage", "--patient", patient, "--out", again, "--log", log]).code == 0
        for name in ("decision.json", "letter.md", "letter.html"):  # the same inputs give the same bytes
            assert _record_free(again, name) == _record_free(out, name), name
    else:
        assert records == [] and snapshot(out) == before


def _record_free(folder: Path, name: str) -> bytes:
    """An output with its decision-log record id masked: the same inputs give the same bytes apart from the id
    of the log record each run was given (issue 11: decision.json and the letter name their record)."""
    record = json.loads((folder / "decision.json").read_text(encoding="utf-8")).get("record")
    data = (folder / name).read_bytes()
    if record is None or name == "analysis.json":
        return data
    text = data.decode("utf-8")
    text = text.replace(json.dumps(record, indent=2, sort_keys=True).replace("\n", "\n  "), "RECORD")
    return text.replace(record["id"], "RECORD-ID").encode("utf-8")
