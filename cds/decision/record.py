"""Build the decision record (spec/decision-v1.md, ``cds.decision/v1`` with documented additions) from one rule-engine
run, resolving the rules' conclusions by the declared policy (knowledge/policy.yaml, cds.policy).

- Recommendations: one per action, the most urgent urgency; study requests merge into the most capable study with
  all their reasons (policy ``studies``); each carries its time frame (policy ``urgency``).
- Treatments (starting a drug): per drug the most favourable treatment-layer proposal, then the most restrictive
  safety status (a safety status never makes a proposal more permissive; a bare safety ``caution`` without a
  proposal is not shown); reasons about starting a drug without an indication are dropped for a drug the patient
  already takes. A plain-Python re-check asserts that no drug a safety rule contraindicated is offered.
- Current medications: one row per drug the patient takes; the most far-reaching action proposed wins; a drug no
  rule speaks about gets the policy's default row; a contraindicated current drug is never simply continued.
- Conclusion: what to do first (most urgent, then the policy's action order), its pathway and time frame, or the
  policy's fallback (an empty decision is never an output); branches for unanswered yes/no questions whose "yes"
  would change what to do first (conditional decision).

Documented additions (docs/decision-record.md): ``caveat_details``, ``asks``, ``facts``, ``trace[].layer/asserted/
because``, ``findings[].rules``, ``recommendations[].because/interval/consolidated_from``, ``treatments[].dose/
strength``, ``current_medications``, ``conclusion``, ``branches``, ``measurements[].provisional``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from cds import __version__
from cds.errors import SafetyError
from cds.policy import Policy

__all__ = ["SCHEMA", "SafetyInvariantError", "build_decision_record", "resolve_treatments"]

SCHEMA = "cds.decision/v1"


class SafetyInvariantError(SafetyError):
    """A contraindicated drug came out of resolution as offered: a bug in the engine or the policy (exit code 4).
    The message names the drug, the safety rule(s) that contraindicated it and the rule(s) behind the status it
    got; no decision, letter or log record is written."""

    def __init__(self, drug: str, status: str, safety_rules: list[str], rules: list[str]) -> None:
        self.drug, self.status, self.safety_rules, self.rules = drug, status, safety_rules, rules
        super().__init__(
            f"safety invariant violated: {drug} is contraindicated by {', '.join(safety_rules)} but resolved to "
            f"'{status}' (rules: {', '.join(rules)}); no decision was written"
        )


def _refs(rules: Iterable[str], rulebase: Any, *, role: str = "evidence") -> list[str]:
    """Reference keys of ``rules`` with that role (background references are listed apart)."""
    return sorted(
        {r["key"] for rule in rules for r in rulebase.by_id[rule].references if (r.get("role") or "evidence") == role}
    )


def _items(firings: list[dict[str, Any]], kind: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(f, item) for f in firings for item in f["asserted"] if item["type"] == kind]


def _findings(firings: list[dict[str, Any]], rulebase: Any) -> list[dict[str, Any]]:
    by_code: dict[str, dict[str, Any]] = {}
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


def _recommendation_groups(
    firings: list[dict[str, Any]], policy: Policy
) -> dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]:
    """Action -> the (firing, item) pairs behind it, study requests merged into the most capable study asked."""
    by_action: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for firing, item in _items(firings, "recommendation"):
        by_action[item["action"]].append((firing, item))
    asked = [s for s in policy.studies if s in by_action]
    for lesser in asked[:-1]:  # one study per night: the most capable one answers every question
        by_action[asked[-1]].extend((f, {**i, "merged_from": lesser}) for f, i in by_action.pop(lesser))
    return by_action


def _recommendations(firings: list[dict[str, Any]], rulebase: Any, policy: Policy) -> list[dict[str, Any]]:
    out = []
    for action, pairs in sorted(_recommendation_groups(firings, policy).items()):
        urgency = policy.most_urgent(i["urgency"] for _, i in pairs)
        rules = sorted({f["rule"] for f, _ in pairs})
        entry: dict[str, Any] = {
            "action": action,
            "urgency": urgency,
            "interval": policy.interval(urgency),
            "rules": rules,
            "urgency_rules": sorted({f["rule"] for f, i in pairs if i["urgency"] == urgency}),
            "references": _refs(rules, rulebase),
            "because": sorted({f["because"] for f, _ in pairs}),
        }
        merged = sorted({i["merged_from"] for _, i in pairs if i.get("merged_from")})
        if merged:
            entry["consolidated_from"] = merged
        if any(i["extended_eeg"] for _, i in pairs):
            entry["extended_eeg"] = True
        out.append(entry)
    return out


def first_step(recommendations: list[dict[str, Any]], policy: Policy) -> dict[str, Any] | None:
    """The recommendation to act on first: the most urgent, ties by the policy's action order."""
    if not recommendations:
        return None
    return min(recommendations, key=lambda r: policy.first_step_key(r["action"], r["urgency"]))


def resolve_treatments(
    firings: list[dict[str, Any]], policy: Policy, overrides: Mapping[str, frozenset[str]] | None = None
) -> dict[str, tuple[str, list[tuple[dict[str, Any], dict[str, Any]]]]]:
    """drug -> (final status, the (firing, item) pairs behind it). Drugs not to be shown are left out.

    ``overrides`` (rule id -> the rules it ``overrides:``): a treatment-layer proposal for a drug is set aside when
    another fired rule proposing the same drug declares precedence over its rule (issue 11: conflicting treatment
    statuses are resolved by a declared precedence, which ``rules check`` requires)."""
    proposals: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    safety: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for firing, item in _items(firings, "treatment"):
        (safety if item["layer"] == "safety" else proposals)[item["drug"]].append((firing, item))
    standing = dict(proposals)  # the proposals that compete for the status (behind it: every agreeing one)
    if overrides:
        for drug, pairs in proposals.items():
            rules = {f["rule"] for f, _ in pairs}
            beaten = {r for rule in rules for r in overrides.get(rule, frozenset()) if r in rules and r != rule}
            if beaten and len(beaten) < len(rules):
                standing[drug] = [(f, i) for f, i in pairs if f["rule"] not in beaten]
    out: dict[str, tuple[str, list[tuple[dict[str, Any], dict[str, Any]]]]] = {}
    for drug in sorted(set(proposals) | set(safety)):
        proposed = min((i["status"] for _, i in standing.get(drug, [])), key=policy.status_rank, default=None)
        vetoed = max((i["status"] for _, i in safety[drug]), key=policy.status_rank, default=None)
        if proposed is None and (vetoed is None or policy.is_offered(vetoed)):
            continue  # a bare caution without a proposal is not an offer
        candidates = [s for s in (proposed, vetoed) if s is not None]
        final = max(candidates, key=policy.status_rank)
        # Behind the status: the proposals that decided it (the indication, when the drug is offered), and
        # every safety rule that fired for the drug, whatever its status: a relative contraindication
        # outranked by "not recommended" is still a reason the letter must state (brief 7.3).
        wanted = proposed if policy.is_offered(final) else final
        behind = [(f, i) for f, i in proposals[drug] if i["status"] == wanted] + list(safety[drug])
        out[drug] = (final, behind)
    return out


def _current_names(patient: Any) -> list[str]:
    """The drugs the patient takes now: ``medications`` and drugs started or increased (``medication_changes``)."""
    if patient is None:
        return []
    return sorted(set(patient.medications or ()) | {str(c["drug"]) for c in patient.medication_changes or ()})


def _treatments(
    firings: list[dict[str, Any]], rulebase: Any, policy: Policy, current: set[str], child: bool
) -> list[dict[str, Any]]:
    out = []
    drop = policy.not_for_current_drugs
    kept = [
        f
        | {
            "asserted": [
                i
                for i in f["asserted"]
                if not (i["type"] == "treatment" and i["drug"] in current and i["reason"] in drop)
            ]
        }
        for f in firings
    ]
    proposed = {i["drug"] for _, i in _items(kept, "treatment") if i["layer"] != "safety"}
    overrides = {
        rule: frozenset(rulebase.by_id[rule].data.get("overrides") or ())
        for rule in {f["rule"] for f in kept}
        if rule in rulebase.by_id
    }
    for drug, (status, behind) in resolve_treatments(kept, policy, overrides).items():
        rules = sorted({f["rule"] for f, _ in behind})
        drug_info = rulebase.kb.drugs.get(drug, {})
        entry: dict[str, Any] = {
            "drug": drug,
            "name": drug_info.get("name", drug),
            "status": status,
            "reasons": sorted({i["reason"] for _, i in behind}),
            "rules": rules,
            "references": _refs(rules, rulebase),
            "notes": sorted({i["note"] for _, i in behind if i.get("note")}),
            "because": sorted({f["because"] for f, _ in behind}),
            # adult doses are never applied to a child silently: the child dose, else none (letter says so)
            "dose": drug_info.get("dose_child") if child else drug_info.get("dose"),
            # False: no treatment rule considered the drug for this patient; only a safety rule restricts it.
            "discussed": drug in proposed,
            "current": drug in current,
        }
        strengths = sorted({i["strength"] for _, i in behind if i.get("strength")})
        if strengths:
            entry["strength"] = strengths
        out.append(entry)
    vetoed: dict[str, set[str]] = {}
    for firing, i in _items(firings, "treatment"):
        if i["layer"] == "safety" and i["status"] == "contraindicated":
            vetoed.setdefault(i["drug"], set()).add(firing["rule"])
    for entry in out:  # belt and braces: no contraindicated drug may be offered
        if entry["drug"] in vetoed and entry["status"] != "contraindicated":
            raise SafetyInvariantError(entry["drug"], entry["status"], sorted(vetoed[entry["drug"]]), entry["rules"])
    return out


def _current_medications(
    firings: list[dict[str, Any]], rulebase: Any, policy: Policy, patient: Any, treatments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per current drug: the most far-reaching action proposed, else the policy's default row."""
    by_drug: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = defaultdict(list)
    for firing, item in _items(firings, "medication"):
        by_drug[item["drug"]].append((firing, item))
    status = {t["drug"]: t for t in treatments}
    details = getattr(patient, "medication_details", None) or {}
    recent = {str(c["drug"]) for c in getattr(patient, "medication_changes", None) or ()}
    kb = rulebase.kb
    out = []
    for drug in _current_names(patient):
        pairs = by_drug.get(drug, [])
        known = kb.medication_classes(drug) is not None
        if pairs:
            action = max((i["action"] for _, i in pairs), key=policy.action_rank)
            behind = [(f, i) for f, i in pairs if i["action"] == action]
            others = [(f, i) for f, i in pairs if i["action"] != action]
        else:
            action = policy.default_known if known else policy.default_unknown
            behind, others = [], []
        rules = sorted({f["rule"] for f, _ in pairs})
        reasons = sorted({i["reason"] for _, i in behind}) or ["no_concern_found" if known else "not_in_knowledge_base"]
        row: dict[str, Any] = {
            "drug": drug,
            "name": kb.drug_name_label(drug),
            "action": action,
            "reasons": reasons,
            "other_reasons": sorted({i["reason"] for _, i in others}),
            "how": sorted({i["how"] for _, i in behind if i.get("how")}),
            "notes": sorted({i["note"] for _, i in pairs if i.get("note")}),
            "likely_cause": any(i["likely_cause"] for _, i in pairs),
            "rules": rules,
            "references": _refs(rules, rulebase),
            "because": sorted({f["because"] for f, _ in pairs}),
            "recently_started": drug in recent,
            "in_knowledge_base": known,
        }
        if drug in details:
            row["details"] = dict(details[drug])
        safety = status.get(kb.products.get(drug, drug))
        if safety is not None and safety["status"] == "contraindicated":
            row["contraindicated"] = safety["reasons"]
            if policy.action_rank(action) < policy.action_rank(policy.contraindicated_current):
                row["action"] = policy.contraindicated_current
                row["reasons"] = sorted({*row["reasons"], *safety["reasons"]} - {"no_concern_found"})
                row["rules"] = sorted({*row["rules"], *safety["rules"]})
                row["references"] = _refs(row["rules"], rulebase)
        out.append(row)
    return out


def _measurements(facts: tuple[Any, ...], kb: Any, provisional: bool) -> dict[str, dict[str, Any]]:
    by_field: dict[str, list[Any]] = defaultdict(list)
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
            "provisional": provisional,
        }
    return out


def _caveats(firings: list[dict[str, Any]], input_caveats: tuple[Any, ...]) -> list[dict[str, Any]]:
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


def _asks(firings: list[dict[str, Any]], kb: Any) -> list[dict[str, Any]]:
    by_field: dict[str, dict[str, Any]] = {}
    for firing, item in _items(firings, "ask"):
        entry = by_field.setdefault(item["field"], {"field": item["field"], "text": item["text"], "rules": []})
        entry["rules"] = sorted({*entry["rules"], firing["rule"]})
        entry["text"] = entry["text"] or item["text"]
    for entry in by_field.values():
        if not entry["text"]:  # a rule without text: say what is unknown, from the field registry
            spec = kb.fields.get(entry["field"])
            entry["text"] = f"{spec.description if spec else entry['field']}: unknown; ask or measure."
    return [by_field[k] for k in sorted(by_field)]


def _branches(
    rulebase: Any, facts: tuple[Any, ...], asks: list[dict[str, Any]], step: dict[str, Any] | None, policy: Policy
) -> list[dict[str, Any]]:
    """For each unanswered yes/no question: the first step for an answer that would change it.

    The same rules run again with that one answer added (source patient); nothing else changes. An answer is kept
    as a branch when its first step is another action at least as urgent, or more urgent than the decision's own
    (clinical review 2, A2: "benign if none of these; otherwise <action, urgency>").
    """
    from cds.facts.types import DatumRecord

    out = []
    base = (step["action"], step["urgency"]) if step else None
    questions = [a for a in asks if (spec := rulebase.kb.fields.get(a["field"])) is not None and spec.type == "bool"]
    for ask in questions[: policy.max_questions]:
        field = ask["field"]
        for answer in (True, False):
            records = [r for r in facts if r.field != field or r.known]
            records.append(DatumRecord(field, answer, True, "patient"))
            firings = rulebase.run_facts(records)
            step_if = first_step(_recommendations(firings, rulebase, policy), policy)
            if step_if is None:
                continue
            got = (step_if["action"], step_if["urgency"])
            if base is not None and (got == base or policy.urgency_rank(got[1]) < policy.urgency_rank(base[1])):
                continue
            out.append(
                {
                    "field": field,
                    "question": ask["text"],
                    "if": answer,
                    "action": got[0],
                    "urgency": got[1],
                    "interval": policy.interval(got[1]),
                    "rules": step_if["urgency_rules"],
                    "findings": sorted({i["code"] for _, i in _items(firings, "finding")}),
                }
            )
    return out


def _conclusion(
    step: dict[str, Any] | None, branches: list[dict[str, Any]], policy: Policy, treatments: list[dict[str, Any]]
) -> dict[str, Any]:
    if step is None:
        fallback = policy.fallback
        return {
            "action": fallback["action"],
            "urgency": fallback["urgency"],
            "interval": policy.interval(fallback["urgency"]),
            "pathway": policy.pathway(fallback["action"]),
            "conditional": bool(branches),
            "fallback": True,
            "text": fallback["text"],
        }
    out = {
        "action": step["action"],
        "urgency": step["urgency"],
        "interval": step["interval"],
        "pathway": policy.pathway(
            step["action"], drugs_offered=any(policy.is_offered(t["status"]) for t in treatments)
        ),
        "conditional": bool(branches),
        "fallback": False,
    }
    if branches:
        worst = min(branches, key=lambda b: policy.first_step_key(b["action"], b["urgency"]))
        out["otherwise"] = {"action": worst["action"], "urgency": worst["urgency"], "interval": worst["interval"]}
    return out


def build_decision_record(
    rulebase: Any,
    patient: Any,
    result: Any,
    *,
    analysis: dict[str, Any] | None,
    patient_sha256: str,
    recording_name: str | None,
    counterfactuals: bool = True,
) -> dict[str, Any]:
    """The cds.decision/v1 record of one run: JSON-ready, deterministic, no timestamps or paths.

    ``counterfactuals=False`` leaves out the branches of unanswered questions (one engine run instead of one per
    answer); the decision itself is the same. Only bulk checks use it: every letter and log record has branches.
    """
    policy: Policy = rulebase.kb.policy_obj
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
    provisional = any(c["code"] in policy.provisional_when_caveat for c in caveat_details)
    names = _current_names(patient)
    current = set(names) | {rulebase.kb.products[n] for n in names if n in rulebase.kb.products}
    child = any(f["type"] == "evidence" and f["code"] == "child" for f in (i for x in firings for i in x["asserted"]))
    treatments = _treatments(firings, rulebase, policy, current, child)
    recommendations = _recommendations(firings, rulebase, policy)
    asks = _asks(firings, rulebase.kb)
    step = first_step(recommendations, policy)
    branches = _branches(rulebase, tuple(result.facts), asks, step, policy) if counterfactuals else []
    background = sorted({*_refs({f["rule"] for f in firings}, rulebase, role="background")})
    return {
        "schema": SCHEMA,
        "patient_id": patient.id if patient is not None else None,
        "inputs": inputs,
        "conclusion": _conclusion(step, branches, policy, treatments),
        "branches": branches,
        "measurements": _measurements(result.facts, rulebase.kb, provisional),
        "findings": _findings(firings, rulebase),
        "recommendations": recommendations,
        "treatments": treatments,
        "current_medications": _current_medications(firings, rulebase, policy, patient, treatments),
        "caveats": [c["text"] for c in caveat_details],
        "caveat_details": caveat_details,
        "asks": asks,
        "background_references": background,
        "facts": [r.to_dict() for r in result.facts],
        "trace": firings,
    }
