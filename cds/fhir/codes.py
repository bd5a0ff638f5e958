"""The FHIR code tables of ``knowledge/fhir-codes.yaml``: SNOMED CT / ICD-10 conditions, LOINC observations with
their accepted UCUM units, coded answers, RxNorm ingredients and the CDS Hooks card indicators.

Every code is data; this module only reads and checks the file against the knowledge base (a condition code of
vocab.yaml, a field of fields.yaml, a drug of drugs.yaml), so a typo fails at start-up with file:line:col.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.errors import RuleFileError
from cds.kb import Knowledge
from cds.paths import knowledge_dir
from cds.yamlfile import Problems, load_yaml, locate, to_plain

__all__ = ["CODES_FILE", "FhirCodes", "load_fhir_codes"]

CODES_FILE = "fhir-codes.yaml"
_INDICATORS = ("info", "warning", "critical")
_SECTIONS = (
    "systems",
    "conditions",
    "pregnancy_conditions",
    "observations",
    "pregnancy_status",
    "hla_b1502",
    "rxnorm",
    "card_indicator",
    "urgency_indicator",
)


@dataclass(frozen=True)
class FhirCodes:
    """The tables, keyed for lookup: (system, code) -> meaning."""

    systems: dict[str, str]
    condition_snomed: dict[str, str]  # SNOMED concept id -> condition code
    condition_icd10: list[tuple[str, str]]  # (ICD-10 prefix, condition code), longest prefix first
    pregnancy_snomed: frozenset[str]
    pregnancy_icd10: tuple[str, ...]
    observations: dict[str, tuple[str, dict[str, float]]]  # LOINC -> (field, unit -> factor)
    coded: dict[str, dict[tuple[str, str], str]]  # "pregnancy_status" / "hla_b1502" -> (system, code) -> answer
    coded_loinc: dict[str, str]  # LOINC of a coded observation -> its table name
    rxnorm: dict[str, str]  # RXCUI -> drug name
    card_indicator: dict[str, str]  # treatment status -> indicator
    urgency_indicator: dict[str, str]  # urgency -> indicator

    def loinc_codes(self) -> list[str]:
        """Every LOINC code the mapping reads (the Observation prefetch asks for these)."""
        return sorted({*self.observations, *self.coded_loinc})


def load_fhir_codes(kb: Knowledge, directory: Path | None = None) -> FhirCodes:
    """Read and check ``knowledge/fhir-codes.yaml``; RuleFileError listing every problem with file:line:col."""
    path = (directory or knowledge_dir()) / CODES_FILE
    root = load_yaml(path, error_cls=RuleFileError)
    problems = Problems()
    if not isinstance(root, dict):
        raise RuleFileError("expected a mapping at the top level", path=path, location="1:1")
    for key in _SECTIONS:
        if not isinstance(root.get(key), dict):
            problems.add(path, locate(root, [key]) if key in root else "1:1", f"{key}: required mapping missing")
    problems.raise_if_any(RuleFileError)
    data = to_plain(root)
    _check(data, root, kb, path, problems)
    problems.raise_if_any(RuleFileError)
    return _build(data)


def _check(data: dict[str, Any], root: Any, kb: Knowledge, path: Path, problems: Problems) -> None:
    conditions = set(kb.vocab.get("conditions") or {})
    for code in data["conditions"]:
        if code not in conditions:
            problems.add(path, locate(root, ["conditions", code]), f"conditions: unknown condition code {code!r}")
    for name, entry in data["observations"].items():
        if name not in kb.fields:
            problems.add(path, locate(root, ["observations", name]), f"observations: unknown field {name!r}")
        if not isinstance(entry, dict) or not entry.get("loinc") or not isinstance(entry.get("units"), dict):
            problems.add(path, locate(root, ["observations", name]), f"{name}: needs loinc: [..] and units: {{..}}")
    drugs = set(kb.drugs) | set(kb.medications)
    for rxcui, name in data["rxnorm"].items():
        if name not in drugs:
            problems.add(path, locate(root, ["rxnorm", rxcui]), f"rxnorm: {name!r} is not a drug of drugs.yaml")
    statuses = set(kb.vocab.get("treatment_statuses") or {})
    urgencies = set(kb.vocab.get("urgencies") or {})
    for section, allowed in (("card_indicator", statuses), ("urgency_indicator", urgencies)):
        if set(data[section]) != allowed:
            problems.add(path, locate(root, [section]), f"{section}: must name exactly {sorted(allowed)}")
        for key, indicator in data[section].items():
            if indicator not in _INDICATORS:
                problems.add(path, locate(root, [section, key]), f"{section}.{key}: not one of {_INDICATORS}")


def _build(data: dict[str, Any]) -> FhirCodes:
    systems = {str(k): str(v) for k, v in data["systems"].items()}
    snomed = {str(c): code for code, entry in data["conditions"].items() for c in entry.get("snomed") or []}
    icd = [(str(p), code) for code, entry in data["conditions"].items() for p in entry.get("icd10") or []]
    observations = {
        str(loinc): (name, {str(u): float(f) for u, f in entry["units"].items()})
        for name, entry in data["observations"].items()
        for loinc in entry["loinc"]
    }
    coded: dict[str, dict[tuple[str, str], str]] = {}
    coded_loinc: dict[str, str] = {}
    for table in ("pregnancy_status", "hla_b1502"):
        answers: dict[tuple[str, str], str] = {}
        for answer, codes in data[table].items():
            if answer == "loinc":
                coded_loinc.update({str(c): table for c in codes})
                continue
            for c in codes.get("snomed") or []:
                answers[(systems["snomed"], str(c))] = answer
            for c in codes.get("loinc_answer") or []:
                answers[(systems["loinc"], str(c))] = answer
        coded[table] = answers
    pregnancy = data["pregnancy_conditions"]
    return FhirCodes(
        systems=systems,
        condition_snomed=snomed,
        condition_icd10=sorted(icd, key=lambda item: -len(item[0])),
        pregnancy_snomed=frozenset(str(c) for c in pregnancy.get("snomed") or []),
        pregnancy_icd10=tuple(str(c) for c in pregnancy.get("icd10") or []),
        observations=observations,
        coded=coded,
        coded_loinc=coded_loinc,
        rxnorm={str(k): str(v) for k, v in data["rxnorm"].items()},
        card_indicator={str(k): str(v) for k, v in data["card_indicator"].items()},
        urgency_indicator={str(k): str(v) for k, v in data["urgency_indicator"].items()},
    )
