"""Build the decision record (spec/decision-v1.md, ``cds.decision/v1``) from one rule-engine run.

Resolution exactly as rules/README.md "How conclusions are resolved": one recommendation per action with the most
urgent urgency; per drug the most favourable treatment-layer proposal, then the most restrictive safety status
(a safety status never makes a proposal more permissive; a bare safety ``caution`` without a proposal is not
shown). After resolution a plain-Python re-check asserts that no drug a safety rule contraindicated is offered.
Documented additions: ``caveat_details``, ``asks``, ``facts``, ``trace[].layer/asserted/because``,
``findings[].rules``, ``recommendations[].because``, ``treatments[].dose``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cds import __version__
from cds.errors import CdsError

__all__ = [
    "SCHEMA",
    "STATUS_ORDER",
    "URGENCY_ORDER",
    "SafetyInvariantError",
    "build_decision_record",
    "resolve_treatments",
]

SCHEMA = "cds.decision/v1"
URGENCY_ORDER = ("routine", "soon", "urgent", "emergency")  # least to most urgent
STATUS_ORDER = ("option", "caution", "specialist_only", "not_recommended", "contraindicated")  # least restrictive
_OFFERED = ("option", "caution")


class SafetyInvariantError(CdsError):
    """A contraindicated drug came out of resolution as offered: a bug in the engine (exit code 4)."""


def _refs(rules: list[str], rulebase: Any) -> list[str]:
    return sorted({key for r in rules for key in rulebase.by_id[r].reference_keys})


def _items(firings: list[dict], kind: str) -> list[tuple[dict, dict]]:
    return [(f, item) for f in firings for item in f["asserted"] if item["type"] == kind]


def _findings(firings: list[dict], rulebase: Any) -> list[dict]:
    by_code: dict[str, dict] = {}
    for firing, item in _items(firings, "finding"):
        entry = by_code.setdefault(item["code"], {"code": item["code"], "rules": [], "because": []})
        if firing["rule"] not in entry["rules"]:
            entry["rules"].append(firing["rule"])
        if firing["because"] not in entry["because"]:
            entry["because"].append(firing["because"])
    out = []
    for code in sorted(by_code):
        entry = by_code[code]
        entry["rules"].sort()
        entry["rule"] = entry["rules"][0]
        entry["references"] = _refs(entry["rules"], rulebase)
        out.append(entry)
    return out


def _recommendations(firings: list[dict], rulebase: Any) -> list[dict]:
    by_action: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for firing, item in _items(firings, "recommendation"):
        by_action[item["action"]].append((firing, item))
    out = []
    for action in sorted(by_action):
        pairs = by_action[action]
        urgency = max((i["urgency"] for _, i in pairs), key=URGENCY_ORDER.index)
        rules = sorted({f["rule"] for f, _ in pairs})
        entry: dict[str, Any] = {
            "action": action,
            "urgency": urgency,
            "rules": rules,
            "urgency_rules": sorted({f["rule"] for f, i in pairs if i["urgency"] == urgency}),
            "references": _refs(rules, rulebase),
            "because": sorted({f["because"] for f, _ in pairs}),
        }
        if any(i["extended_eeg"] for _, i in pairs):
            entry["extended_eeg"] = True
        out.append(entry)
    return out


def resolve_treatments(firings: list[dict]) -> dict[str, tuple[str, list[tuple[dict, dict]]]]:
    """drug -> (final status, the (firing, item) pairs behind it). Drugs not to be shown are left out."""
    proposals: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    safety: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
    for firing, item in _items(firings, "treatment"):
        (safety if item["layer"] == "safety" else proposals)[item["drug"]].append((firing, item))
    out: dict[str, tuple[str, list[tuple[dict, dict]]]] = {}
    for drug in sorted(set(proposals) | set(safety)):
        proposed = min((i["status"] for _, i in proposals[drug]), key=STATUS_ORDER.index, default=None)
        vetoed = max((i["status"] for _, i in safety[drug]), key=STATUS_ORDER.index, default=None)
        if proposed is None and vetoed in (None, "caution", "option"):
            continue  # a bare caution without a proposal is not an offer
        candidates = [s for s in (proposed, vetoed) if s is not None]
        final = max(candidates, key=STATUS_ORDER.index)
        # Behind the status: the proposals that decided it (the indication, when the drug is offered), and
        # every safety rule that fired for the drug, whatever its status: a relative contraindication
        # outranked by "not recommended" is still a reason the letter must state (brief 7.3).
        wanted = proposed if final in _OFFERED else final
        behind = [(f, i) for f, i in proposals[drug] if i["status"] == wanted] + list(safety[drug])
        out[drug] = (final, behind)
    return out


def _treatments(firings: list[dict], rulebase: Any) -> list[dict]:
    out = []
    proposed = {i["drug"] for _, i in _items(firings, "treatment") if i["layer"] != "safety"}
    for drug, (status, behind) in resolve_treatments(firings).items():
        rules = sorted({f["rule"] for f, _ in behind})
        drug_info = rulebase.kb.drugs.get(drug, {})
        entry = {
            "drug": drug,
            "name": drug_info.get("name", drug),
            "status": status,
            "reasons": sorted({i["reason"] for _, i in behind}),
            "rules": rules,
            "references": _refs(rules, rulebase),
            "notes": sorted({i["note"] for _, i in behind if i.get("note")}),
            "because": sorted({f["because"] for f, _ in behind}),
            "dose": drug_info.get("dose"),
            # False: no treatment rule considered the drug for this patient; only a safety rule restricts it.
            "discussed": drug in proposed,
        }
        out.append(entry)
    vetoed = {i["drug"] for _, i in _items(firings, "treatment") if i["layer"] == "safety"
              and i["status"] == "contraindicated"}  # fmt: skip
    for entry in out:  # belt and braces: no contraindicated drug may be offered
        if entry["drug"] in vetoed and entry["status"] != "contraindicated":
            raise SafetyInvariantError(f"{entry['drug']} was contraindicated by a safety rule but resolved to "
                                       f"'{entry['status']}'")  # fmt: skip
    return out


def _measurements(facts: tuple, kb: Any) -> dict[str, dict]:
    by_field: dict[str, list] = defaultdict(list)
    for rec in facts:
        if rec.known and rec.field.startswith("psg."):
            by_field[rec.field].append(rec)
    out = {}
    for name, recs in sorted(by_field.items()):
        recs.sort(key=lambda r: {"recording": 0, "reported": 1}.get(r.source, 2))
        main, others = recs[0], recs[1:]
        spec = kb.fields.get(name)
        out[name[4:]] = {
            "value": main.value,
            "unit": spec.unit if spec else None,
            "source": main.source,
            "method": main.method,
            "other_sources": [{"value": r.value, "source": r.source, "method": r.method} for r in others],
        }
    return out


def _caveats(firings: list[dict], input_caveats: tuple) -> list[dict]:
    details = []
    for entry in input_caveats:  # (Caveat, source) pairs; a bare Caveat (older callers) has source "input"
        c, source = entry if isinstance(entry, tuple) else (entry, "input")
        details.append(
            {"code": c.code, "text": c.text, "source": source, **({"channel": c.channel} if c.channel else {})}
        )
    seen = set()
    for firing, item in _items(firings, "caveat"):
        key = (item["code"], item["text"])
        if key not in seen:
            seen.add(key)
            details.append({"code": item["code"], "text": item["text"], "rule": firing["rule"]})
    return details


def _asks(firings: list[dict], kb: Any) -> list[dict]:
    by_field: dict[str, dict] = {}
    for firing, item in _items(firings, "ask"):
        entry = by_field.setdefault(item["field"], {"field": item["field"], "text": item["text"], "rules": []})
        entry["rules"] = sorted({*entry["rules"], firing["rule"]})
        entry["text"] = entry["text"] or item["text"]
    for entry in by_field.values():
        if not entry["text"]:  # a rule without text: say what is unknown, from the field registry
            spec = kb.fields.get(entry["field"])
            entry["text"] = f"{spec.description if spec else entry['field']}: unknown; ask or measure."
    return [by_field[k] for k in sorted(by_field)]


def build_decision_record(
    rulebase: Any,
    patient: Any,
    result: Any,
    *,
    analysis: dict | None,
    patient_sha256: str,
    recording_name: str | None,
) -> dict:
    """The cds.decision/v1 record of one run: JSON-ready, deterministic, no timestamps or paths."""
    firings = list(result.firings)
    inputs: dict[str, Any] = {
        "patient": {"sha256": patient_sha256},
        "ruleset": dict(rulebase.stamp),
        "knowledge": {"sha256": rulebase.kb.sha256},
        "engine": {"name": "cds", "version": __version__},
    }
    inputs["recording"] = None  # decision-v1 names it: null when the decision rests on no recording
    if analysis is not None:
        rec = analysis.get("recording") or {}
        inputs["recording"] = {"sha256": rec.get("sha256") or analysis.get("sha256"), "name": recording_name}
    caveat_details = _caveats(firings, result.input_caveats)
    return {
        "schema": SCHEMA,
        "patient_id": patient.id if patient is not None else None,
        "inputs": inputs,
        "measurements": _measurements(result.facts, rulebase.kb),
        "findings": _findings(firings, rulebase),
        "recommendations": _recommendations(firings, rulebase),
        "treatments": _treatments(firings, rulebase),
        "caveats": [c["text"] for c in caveat_details],
        "caveat_details": caveat_details,
        "asks": _asks(firings, rulebase.kb),
        "facts": [r.to_dict() for r in result.facts],
        "trace": firings,
    }
