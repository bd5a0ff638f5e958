"""The decision: the rule engine's firings resolved by the decision policy (``knowledge/policy.yaml``) into a
``cds.decision/v1`` record (with the documented v1.1 additions), the one object the letter, the log, the
explanation and the web service read."""

from __future__ import annotations

import json
from typing import Any

from cds.decision.record import SafetyInvariantError, build_decision_record
from cds.facts.patient import PatientContext

__all__ = ["SafetyInvariantError", "build_decision_record", "decide", "dump_decision"]


def decide(
    rulebase: Any,
    patient: PatientContext,
    *,
    analysis: dict[str, Any] | None = None,
    patient_sha256: str,
    recording_name: str | None = None,
    counterfactuals: bool = True,
) -> dict[str, Any]:
    """Run ``rulebase`` (a ``cds.rules.engine.RuleBase``) for one patient and optional ``cds analyze`` result;
    return the decision record. ``counterfactuals=False`` skips the reruns that find conditional branches."""
    result = rulebase.run(patient, analysis)
    return build_decision_record(
        rulebase,
        patient,
        result,
        analysis=analysis,
        patient_sha256=patient_sha256,
        recording_name=recording_name,
        counterfactuals=counterfactuals,
    )


def dump_decision(decision: dict[str, Any]) -> str:
    """The decision as canonical JSON text: sorted keys, 2-space indent, UTF-8 characters, final newline."""
    return json.dumps(decision, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
