"""Patient files (spec/patient-v1.md): strict validation with file:line:col, unknown is not false."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.errors import PatientFileError
from cds.facts.patient import parse_patient, read_patient
from tests.facts.conftest import DATA


def write(tmp_path: Path, text: str, name: str = "patient.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def surgery(tmp_path: Path, old: str, new: str) -> Path:
    text = (DATA / "patient-small.yaml").read_text()
    assert old in text, old
    return write(tmp_path, text.replace(old, new, 1))


def test_small_file(tiny_kb):
    p = read_patient(DATA / "patient-small.yaml", knowledge=tiny_kb)
    assert p.id == "P-0001"
    assert p.values["age_years"] == 46 and p.values["sex"] == "female" and p.values["pregnant"] is False
    assert p.values["symptoms.insomnia"] is True and p.values["symptoms.daytime_impairment"] is False
    assert p.values["psg.plms_index"] == 34 and p.values["labs.ferritin_ng_ml"] == 42
    assert "symptoms.daytime_sleepiness" not in p.values  # omitted: unknown
    assert p.conditions == ("epilepsy",) and p.medications == ("oxycodone", "unobtainium")
    assert p.medication_changes is None
    (caveat,) = p.caveats
    assert caveat.code == "medication_classes_unknown" and "unobtainium" in caveat.text


def test_spec_example_is_accepted_with_the_real_knowledge():
    p = read_patient(DATA / "patient-full.yaml")
    assert p.id == "P-0042" and p.psg_date == "2026-10-02"
    assert p.values["psg.rswa_any_chin_pct"] == 22 and p.values["labs.hla_b1502"] == "negative"
    assert p.medication_changes[0]["drug"] == "gabapentin"
    assert p.values["requested_treatment"] == "sodium_valproate"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "  insomnia: true",
            "  insomia: true",
            "patient.yaml:7:3: symptoms.insomia: unknown key (did you mean 'insomnia'?)",
        ),
        (
            "age_years: 46",
            "age_years: -3",
            "patient.yaml:3:12: age_years: out of range (allowed: 0 to 130 years), got -3",
        ),
        (
            "ferritin_ng_ml: 42",
            "ferritin_ng_ml: high",
            "patient.yaml:10:19: labs.ferritin_ng_ml: expected a number in ng/mL, got 'high'",
        ),
        (
            "sex: female",
            "sex: f?",
            "patient.yaml:4:6: sex: not an allowed value (allowed: female, male, other, unknown), got 'f?'",
        ),
        (
            "  - epilepsy",
            "  - epilepsi",
            "patient.yaml:13:5: conditions.0: unknown code 'epilepsi' (did you mean 'epilepsy'?)",
        ),
        ("pregnant: false", "pregnant: no", "patient.yaml:5:11: pregnant: expected true or false, got 'no'"),
        ("sex: female", "sexx: female", "patient.yaml:4:1: sexx: unknown key (did you mean 'sex'?)"),
        (
            "schema: cds.patient/v1",
            "schema: cds.patient/v2",
            "patient.yaml:1:9: schema: must be one of cds.patient/v1, cds.patient/v1.1 (got 'cds.patient/v2')",
        ),
        (
            "age_years: 46",
            "age_days: 12\nage_years: 46",
            "patient.yaml:4:1: age_years: exactly one of age_years or age_days is required",
        ),
        ("sex: female", "sex: female\nsex: male", "duplicate key"),
        ("sex: female", "sex: !!python/object:os.system female", "patient.yaml:4:6: explicit tags are not allowed"),
    ],
)
def test_bad_values_name_field_value_and_allowed(tmp_path, tiny_kb, old, new, message):
    with pytest.raises(PatientFileError) as info:
        read_patient(surgery(tmp_path, old, new), knowledge=tiny_kb)
    assert message in str(info.value)


def test_all_problems_are_collected(tmp_path, tiny_kb):
    text = (DATA / "patient-small.yaml").read_text().replace("age_years: 46", "age_years: -3")
    text = text.replace("  insomnia: true", "  insomia: true")
    with pytest.raises(PatientFileError, match=r"and 1 more problem") as info:
        read_patient(write(tmp_path, text), knowledge=tiny_kb)
    assert len(info.value.problems) == 2


def test_json_file_with_line_numbers(tmp_path, tiny_kb):
    data = {"schema": "cds.patient/v1", "id": "J-1", "age_days": 12, "symptoms": {"jerks": True}}
    path = write(tmp_path, json.dumps(data, indent=2), "p.json")
    with pytest.raises(PatientFileError, match=r"p.json:6:5: symptoms.jerks: unknown key"):
        read_patient(path, knowledge=tiny_kb)
    del data["symptoms"]
    p = read_patient(write(tmp_path, json.dumps(data), "ok.json"), knowledge=tiny_kb)
    assert p.values["age_days"] == 12 and "age_years" not in p.values


def test_missing_id_and_age(tiny_kb):
    with pytest.raises(PatientFileError) as info:
        parse_patient({"schema": "cds.patient/v1"}, path="x.yaml", knowledge=tiny_kb)
    assert [line.split(": ", 1)[1] for line in info.value.problems] == [
        "id: required: a pseudonym such as P-0042 (got None)",
        "age_years: exactly one of age_years or age_days is required",
    ]


def test_empty_conditions_list_is_known(tiny_kb):
    p = parse_patient(
        {"schema": "cds.patient/v1", "id": "X", "age_years": 3, "conditions": []}, path="x.yaml", knowledge=tiny_kb
    )
    assert p.conditions == ()


def test_values_are_plain_python(tmp_path, tiny_kb):
    text = (DATA / "patient-small.yaml").read_text().replace("sex: female", "sex: \"female\"\nancestry: 'han'")
    p = read_patient(write(tmp_path, text), knowledge=tiny_kb)
    assert type(p.values["sex"]) is str and type(p.values["ancestry"]) is str
    assert type(p.values["labs.ferritin_ng_ml"]) is int


# --- issue 16: numbers that are not numbers, and files that are not patient files ------------------------------


@pytest.mark.parametrize(
    ("value", "shown"), [(".nan", "nan"), (".NaN", "nan"), (".inf", "inf"), ("-.inf", "-inf"), ("1e999", "inf")]
)
def test_nan_and_infinite_numbers_are_refused_naming_the_field(tmp_path, tiny_kb, value, shown):
    """Regression (issue 16): NaN passed the range check (every comparison is false), then crashed (exit 4)
    writing the decision log."""
    path = surgery(tmp_path, "age_years: 46", f"age_years: {value}")
    with pytest.raises(
        PatientFileError,
        match=rf"patient\.yaml:3:12: age_years: expected a finite number in years, "
        rf"got {shown}",
    ):
        read_patient(path, knowledge=tiny_kb)
    lab = surgery(tmp_path, "ferritin_ng_ml: 42", f"ferritin_ng_ml: {value}")
    with pytest.raises(PatientFileError, match=r"labs\.ferritin_ng_ml: expected a finite number"):
        read_patient(lab, knowledge=tiny_kb)


def test_nan_in_a_medication_change_is_refused(tmp_path, tiny_kb):
    path = write(
        tmp_path,
        "schema: cds.patient/v1\nid: P-1\nage_years: 40\nmedication_changes:\n  - {drug: sertraline, days_ago: .nan}\n",
    )
    with pytest.raises(PatientFileError, match=r"medication_changes\.0\.days_ago: expected a finite number, got nan"):
        read_patient(path, knowledge=tiny_kb)


def test_real_knowledge_refuses_nan_weight(tmp_path):
    path = write(tmp_path, "schema: cds.patient/v1\nid: P-1\nage_years: 40\nweight_kg: .nan\n")
    with pytest.raises(PatientFileError, match=r"patient\.yaml:4:12: weight_kg: expected a finite number in kg"):
        read_patient(path)


def test_ten_megabyte_patient_file_is_refused_before_parsing(tmp_path, tiny_kb):
    """Regression (issue 16): 700 000 unknown keys took 100 s and 1.5 GB before the refusal."""
    lines = ["schema: cds.patient/v1", "id: X", "age_years: 40", *(f"k{i}: 1" for i in range(700_000))]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(
        PatientFileError,
        match=r"patient\.yaml: [\d ]+ bytes is larger than a patient file can be "
        r"\(limit 32 KiB\)",
    ):
        read_patient(path, knowledge=tiny_kb)


def test_patient_file_with_too_many_lines_is_refused(tmp_path, tiny_kb):
    path = write(tmp_path, "schema: cds.patient/v1\nid: X\nage_years: 40\n" + "#\n" * 1200)
    with pytest.raises(PatientFileError, match=r"1204 lines is more than a patient file can have \(limit 1000\)"):
        read_patient(path, knowledge=tiny_kb)


def test_checking_stops_after_twenty_problems(tmp_path, tiny_kb):
    path = write(tmp_path, "schema: cds.patient/v1\nid: X\nage_years: 40\n" + "".join(f"k{i}: 1\n" for i in range(500)))
    with pytest.raises(PatientFileError) as err:
        read_patient(path, knowledge=tiny_kb)
    assert "patient.yaml:4:1: k0: unknown key" in str(err.value)
    assert "checking stopped after 20" in str(err.value) and len(err.value.problems) == 20


def test_binary_patient_file_is_refused(tmp_path, tiny_kb):
    path = tmp_path / "patient.yaml"
    path.write_bytes(b"schema: cds.patient/v1\n\xff\xfe\x00garbage")
    with pytest.raises(PatientFileError, match=r"patient\.yaml: not UTF-8 text \(byte 23 is 0xff\)"):
        read_patient(path, knowledge=tiny_kb)
