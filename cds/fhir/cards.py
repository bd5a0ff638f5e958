"""CDS Hooks 2.0 cards from a triage: the patient-view card (the decision and a link to the letter) and the
order-select / order-sign card for a drug being ordered (its status for this patient at the indicator of
knowledge/fhir-codes.yaml ``card_indicator``, the reasons and sources, and the alternatives the rule base offers).

Cards are built from the letter's view (cds.letter), which is built from the decision record: a card says what
the letter says, never more. A contraindicated drug is never suggested.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from cds.fhir.codes import FhirCodes

__all__ = ["card_source", "order_card", "patient_view_card", "unavailable_card"]

_MD = re.compile(r"([\\`*_\[\]|#<>{}])")
_OFFERED = ("option", "caution")
_MAX_SUGGESTIONS = 3
_SUMMARY_MAX = 140  # CDS Hooks 2.0: summary under 140 characters


def _md(text: Any) -> str:
    """Text shown literally in the card's Markdown (names from a record are data, not markup)."""
    return _MD.sub(r"\\\1", " ".join(str(text).split()))


def _summary(text: str) -> str:
    return text if len(text) < _SUMMARY_MAX else text[: _SUMMARY_MAX - 2].rstrip() + "…"


def card_source(decision: Mapping[str, Any], book_url: str | None) -> dict[str, Any]:
    """``source``: the rule set and its version (and sha256 prefix), linking to the rule book."""
    ruleset = (decision.get("inputs") or {}).get("ruleset") or {}
    label = f"cds sleep-myoclonus rule set {ruleset.get('version') or 'unversioned'}"
    source: dict[str, Any] = {"label": label, "topic": {"code": "sleep-myoclonus-triage", "display": label}}
    if book_url:
        source["url"] = book_url
    return source


def _card_uuid(record_hash: str, name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cds:{record_hash}:{name}"))


def _letter_link(letter_url: str | None) -> list[dict[str, str]]:
    return [{"label": "Full triage letter (cds)", "url": letter_url, "type": "absolute"}] if letter_url else []


def _unknowns(view: Mapping[str, Any], notes: Sequence[str]) -> list[str]:
    lines = [f"- {_md(a['label'])}: {_md(a.get('text') or 'unknown')}" for a in list(view.get("asks") or [])[:5]]
    lines += [f"- {_md(n)}" for n in notes[:8]]
    return ["", "**Not known from the record (ask or measure):**", *lines] if lines else []


def patient_view_card(
    view: Mapping[str, Any],
    decision: Mapping[str, Any],
    codes: FhirCodes,
    *,
    record_hash: str,
    letter_url: str | None,
    book_url: str | None,
    notes: Sequence[str],
) -> dict[str, Any]:
    """The triage decision: what to do first and when (indicator from its urgency), findings, the letter link."""
    conclusion = decision.get("conclusion") or {}
    urgency = str(conclusion.get("urgency") or "routine")
    first = (view.get("conclusion") or {}).get("label") or str(conclusion.get("action") or "clinical review")
    summary = f"Sleep-jerk triage: {first}, {conclusion.get('interval') or urgency}"
    if conclusion.get("conditional"):
        summary += " (if the open questions are answered no)"
    detail = [_md(s) for s in view.get("summary") or []]
    for branch in view.get("branches") or []:
        detail.append(
            f"- {_md(branch['question'])} If {branch['answer']}: {_md(branch['label']).lower()}, "
            f"{_md(branch['interval'])}."
        )
    detail += _unknowns(view, notes)
    return {
        "uuid": _card_uuid(record_hash, "patient-view"),
        "summary": _summary(summary),
        "detail": "\n\n".join(detail[:1]) + ("\n\n" + "\n".join(detail[1:]) if len(detail) > 1 else ""),
        "indicator": codes.urgency_indicator.get(urgency, "info"),
        "source": card_source(decision, book_url),
        "links": _letter_link(letter_url),
    }


def _row(view: Mapping[str, Any], drug: str) -> Mapping[str, Any] | None:
    for row in [*(view.get("treatments") or []), *(view.get("restrictions") or [])]:
        if row["drug"] == drug:
            return row
    return None


def _reason_lines(row: Mapping[str, Any], citations: Mapping[str, str]) -> list[str]:
    lines = [f"- {_md(r)}" for r in row.get("reasons") or []] or [f"- {_md(b)}" for b in row.get("because") or []]
    lines += [f"- {_md(n)}" for n in row.get("notes") or []]
    rules = ", ".join(
        f"{r['id']} v{r['version']}" if r.get("version") is not None else str(r["id"]) for r in row.get("rules") or []
    )
    refs = [f"- {_md(k)}: {_md(citations.get(k) or 'citation missing')}" for k in row.get("references") or []]
    return [*lines, "", f"Rules: {_md(rules) or 'none'}", "", "**Sources:**", *refs]


def _alternatives(view: Mapping[str, Any], drug: str) -> list[Mapping[str, Any]]:
    """Drugs the rule base offers this patient (option or caution, proposed for an indication), never the ordered
    drug and never one a safety rule contraindicates."""
    rows = [t for t in view.get("treatments") or [] if t["status"] in _OFFERED and t.get("discussed", True)]
    return [t for t in rows if t["drug"] != drug][:_MAX_SUGGESTIONS]


def _suggestion(row: Mapping[str, Any], order: Mapping[str, Any], codes: FhirCodes, patient_ref: str) -> dict:
    rxcui = next((code for code, name in codes.rxnorm.items() if name == row["drug"]), None)
    concept: dict[str, Any] = {"text": row["label"]}
    if rxcui:
        concept["coding"] = [{"system": codes.systems["rxnorm"], "code": rxcui, "display": row["label"]}]
    actions: list[dict[str, Any]] = []
    if order.get("id"):
        actions.append(
            {
                "type": "delete",
                "description": f"Remove the {order['label']} order",
                "resourceId": [f"MedicationRequest/{order['id']}"],
            }
        )
    actions.append(
        {
            "type": "create",
            "description": f"Start a draft order for {row['label']} (dose to be set by the prescriber)",
            "resource": {
                "resourceType": "MedicationRequest",
                "status": "draft",
                "intent": "proposal",
                "subject": {"reference": patient_ref},
                "medicationCodeableConcept": concept,
            },
        }
    )
    return {
        "label": _summary(f"Order {row['label']} instead ({row['status_label']})"),
        "uuid": _card_uuid(str(order.get("id")), row["drug"]),
        "actions": actions,
    }


def order_card(
    view: Mapping[str, Any],
    decision: Mapping[str, Any],
    codes: FhirCodes,
    *,
    order: Mapping[str, Any],
    record_hash: str,
    letter_url: str | None,
    book_url: str | None,
    notes: Sequence[str],
    patient_ref: str,
) -> dict[str, Any]:
    """The card for one ordered drug (``order``: ``drug``, ``label``, ``id``) at the indicator of its status."""
    drug = str(order["drug"])
    row = _row(view, drug)
    citations = {r["key"]: r.get("citation") or "" for r in view.get("references") or []}
    if row is None:  # no rule concerns the drug for this patient: say so, do not imply it was checked as safe
        return {
            "uuid": _card_uuid(record_hash, drug),
            "indicator": "info",
            "summary": _summary(f"{order['label']}: no rule of cds concerns this drug for this patient"),
            "detail": "\n".join(_unknowns(view, notes)).strip(),
            "source": card_source(decision, book_url),
            "links": _letter_link(letter_url),
        }
    status = str(row["status"])
    detail = [
        f"**{_md(row['label'])}: {_md(row['status_label'])}** ({status.replace('_', ' ')}).",
        "",
        *_reason_lines(row, citations),
    ]
    offered = _alternatives(view, drug)
    if offered:
        detail += ["", "**Alternatives the rule base offers this patient:**"]
        detail += [
            f"- {_md(t['label'])}: {_md(t['status_label'])}" + (f"; {_md(t['dose'])}" if t.get("dose") else "")
            for t in offered
        ]
    elif status != "option":
        detail += ["", "The rule base offers no drug alternative for this patient; see the letter for what to do."]
    detail += _unknowns(view, notes)
    card: dict[str, Any] = {
        "uuid": _card_uuid(record_hash, drug),
        "summary": _summary(f"{row['label']}: {status.replace('_', ' ')} for this patient ({row['status_label']})"),
        "detail": "\n".join(detail),
        "indicator": codes.card_indicator[status],
        "source": card_source(decision, book_url),
        "links": _letter_link(letter_url),
    }
    if offered and status != "option":
        card["suggestions"] = [_suggestion(t, order, codes, patient_ref) for t in offered]
        card["selectionBehavior"] = "at-most-one"
    return card


def unavailable_card(summary: str, detail: str, *, source: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A card saying that cds could not decide and why (never an empty answer that looks like 'no concern')."""
    return {
        "uuid": _card_uuid(key, "unavailable"),
        "summary": _summary(summary),
        "detail": detail,
        "indicator": "info",
        "source": dict(source),
    }
