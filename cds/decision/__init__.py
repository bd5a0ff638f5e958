"""The decision: the rule engine's firings resolved by the decision policy (``knowledge/policy.yaml``) into a
``cds.decision/v1`` record (with the documented v1.1 additions), typed as :class:`Decision` (cds/decision/model.py):
the one object the letter, the log, the explanation and the web service read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cds.decision.model import Decision, DecisionRecordError
from cds.decision.record import SafetyInvariantError, build_decision_record
from cds.facts.patient import PatientContext

__all__ = [
    "Decision",
    "DecisionRecordError",
    "SafetyInvariantError",
    "build_decision_record",
    "decide",
    "dump_decision",
]


def decide(
    rulebase: Any,
    patient: PatientContext,
    *,
    analysis: dict[str, Any] | None = None,
    patient_sha256: str,
    recording_name: str | None = None,
    counterfactuals: bool = True,
) -> Decision:
    """Run ``rulebase`` (a ``cds.rules.engine.RuleBase``) for one patient and optional ``cds analyze`` result;
    return the Decision (its urgencies and statuses ordered by the rule base's policy). ``counterfactuals=False``
    skips the reruns that find conditional branches."""
    result = rulebase.run(patient, analysis)
    record = build_decision_record(
        rulebase,
        patient,
        result,
        analysis=analysis,
        patient_sha256=patient_sha256,
        recording_name=recording_name,
        counterfactuals=counterfactuals,
    )
    return Decision.from_record(record, policy=rulebase.kb.policy_obj)


def dump_decision(decision: Decision | Mapping[str, Any]) -> str:
    """The decision (typed, or its record) as canonical JSON text: sorted keys, 2-space indent, UTF-8 characters,
    final newline."""
    if isinstance(decision, Decision):
        return decision.to_json()
    return json.dumps(dict(decision), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
