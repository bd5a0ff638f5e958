"""Pieces of the letter view: the summary sentences, measurement rows, recording block, caveats, limits and
footer. Plain data for the templates; no clinical decisions are made here (they all come from the rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cds.letter.knowledge import LetterKnowledge

__all__ = [
    "age_text",
    "caveat_texts",
    "fact_text",
    "fact_value",
    "footer_view",
    "limit_texts",
    "measurement_rows",
    "order_treatments",
    "recording_view",
    "release_text",
    "summary_sentences",
]

_SOURCE_LABELS = {"recording": "measured by cds", "reported": "reported in the referral", "patient": "patient file"}
_STANDARD_LABELS = {"aasm": "AASM scoring manual", "wasm2016": "WASM 2016 standards"}


def summary_sentences(
    recommendations: Sequence[Mapping[str, Any]],
    findings: Sequence[Mapping[str, Any]],
    treatments: Sequence[Mapping[str, Any]],
    *,
    conclusion: Mapping[str, Any] | None = None,
    medications: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """The decision first: what to do and in which time frame (conditional when open questions could change it),
    what was found, what to do with the current drugs, and which drugs may be offered. Never empty."""
    sentences: list[str] = []
    if recommendations:
        first = recommendations[0]
        what = _lower_first(first["label"])
        sentence = f"What to do first: {what}, {first['interval']}"
        rest = [f"{_lower_first(r['label'])} ({r['interval']})" for r in recommendations[1:]]
        sentences.append(sentence + ("; also recommended: " + "; ".join(rest) if rest else "") + ".")
    elif conclusion:
        sentences.append(f"What to do first: {_lower_first(conclusion['label'])}, {conclusion['interval']}.")
        if conclusion.get("text"):
            sentences.append(str(conclusion["text"]))
    else:
        sentences.append("The rule base made no recommendation for this patient; see what is unknown below.")
    if conclusion and conclusion.get("conditional") and conclusion.get("otherwise"):
        other = conclusion["otherwise"]
        sentences.append(
            f"This holds if the answer to each open question below is no; if one is yes: "
            f"{_lower_first(other['label'])}, {other['interval']}."
        )
    if findings:
        sentences.append("Findings: " + "; ".join(_lower_first(f["label"]) for f in findings) + ".")
    changes = [m for m in medications if m["action"] != "continue" or m["likely_cause"]]
    if changes:
        parts = [
            f"{m['label']}: {_lower_first(m['action_label'])}{' (likely cause)' if m['likely_cause'] else ''}"
            for m in changes
        ]
        sentences.append("Current medication: " + "; ".join(parts) + ".")
    if treatments:
        offered = [t["label"] for t in treatments if t["status"] in ("option", "caution")]
        if offered:
            sentences.append("Drugs that may be offered: " + ", ".join(offered) + " (see the table for limits).")
        else:
            sentences.append("No drug discussed is offered here; the table gives the reason for each.")
    return sentences


def measurement_rows(measurements: Mapping[str, Any], knowledge: LetterKnowledge) -> list[dict[str, Any]]:
    """One row per measurement with its source and method, and every other source's value where it differs.
    Counts are whole numbers; values of an inconclusive study are marked provisional."""
    rows = []
    for name in sorted(measurements):
        m = measurements[name] or {}
        field = name if "." in name else f"psg.{name}"
        whole = field in knowledge.integers
        others = [
            {"value": _fmt(o.get("value"), whole), "source": _source(o.get("source")), "method": o.get("method") or ""}
            for o in m.get("other_sources") or []
        ]
        value = _fmt(m.get("value"), whole)
        rows.append(
            {
                "name": name,
                "label": knowledge.label("fields", name if "." in name else f"psg.{name}", fallback=name),
                "value": value,
                "unit": m.get("unit") or "",
                "source": _source(m.get("source")),
                "method": m.get("method") or "",
                "others": others,
                "differs": any(o["value"] != value for o in others),
                "reason": m.get("reason") or "",
                "provisional": bool(m.get("provisional")),
            }
        )
    return rows


def recording_view(analysis: Mapping[str, Any] | None, recording_input: Mapping[str, Any] | None) -> dict | None:
    """How the recording was scored: file name, standard, channels and the night's summary numbers."""
    if not analysis:
        return None
    channels = analysis.get("channels") or {}
    sleep = analysis.get("sleep") or {}
    legs = analysis.get("leg_movements") or {}
    jerks = analysis.get("sleep_onset_jerks") or {}
    efm = analysis.get("fragmentary_myoclonus") or {}
    rswa = analysis.get("rswa") or {}
    # indeterminate values are never shown bare: each label says so, the caveat (rswa_values_indeterminate) says why
    flag = " (INDETERMINATE: see the caveats)" if rswa.get("indeterminate") else ""
    tonic, phasic, any_chin = (_value(rswa, k) for k in ("tonic_chin_pct", "phasic_chin_pct", "any_chin_pct"))
    parameters = analysis.get("parameters") or {}
    standard = str(parameters.get("standard") or "")
    rec = analysis.get("recording") or {}
    return {
        "name": rec.get("name") or (recording_input or {}).get("name") or "",
        "duration_h": _fmt(float(rec["duration_s"]) / 3600.0) if rec.get("duration_s") is not None else "unknown",
        "standard": str(parameters.get("standard_title") or _STANDARD_LABELS.get(standard, standard or "unknown")),
        "channels": [
            {"role": role.replace("_", " "), "label": channels.get(role) or "not found"}
            for role in ("left_leg", "right_leg", "chin")
        ],
        "sfreq_hz": _rates(channels.get("sfreq_hz")),
        "hypnogram": "given"
        if (analysis.get("hypnogram") or {}).get("source")
        else "not given (sleep and wake not separated)",
        "numbers": [
            ("total sleep time", _value(sleep, "total_sleep_time_min"), "min"),
            ("sleep efficiency", _value(sleep, "sleep_efficiency_pct"), "%"),
            ("leg movements scored", _value(legs, "count"), ""),
            (
                "of them in PLM series"
                if (analysis.get("hypnogram") or {}).get("source")
                else "of them in PLM series, sleep and wake together (no hypnogram: no PLMS index; the figure "
                "shows the same series)",
                _value(legs, "plm_count"),
                "",
            ),
            ("jerks at sleep onset", _value(jerks, "count"), ""),
            ("excessive fragmentary myoclonus", _value(efm, "excessive"), ""),
            *(
                [
                    (f"REM without atonia: tonic chin (Montreal), of 20-s REM epochs{flag}", tonic, "%"),
                    (f"REM without atonia: phasic chin (Montreal), of 2-s REM mini-epochs{flag}", phasic, "%"),
                    (f"REM without atonia: any chin activity (SINBAR), of 3-s mini-epochs{flag}", any_chin, "%"),
                ]
                if rswa
                else []
            ),
        ],
    }


def caveat_texts(decision: Mapping[str, Any], analysis: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Every caveat once: the decision's (with where it came from), then the analysis' not already listed."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()

    def add(text: Any, origin: Any) -> None:
        if text and str(text) not in seen:
            seen.add(str(text))
            out.append({"text": str(text), "origin": str(origin or "")})

    for c in decision.get("caveat_details") or []:
        add(c.get("text"), c.get("rule") or c.get("source"))
    for text in decision.get("caveats") or []:
        add(text, "")
    for c in (analysis or {}).get("caveats") or []:
        add(c.get("text"), f"recording, channel {c['channel']}" if c.get("channel") else "recording")
    return out


def limit_texts(analysis: Mapping[str, Any] | None, decision: Mapping[str, Any]) -> list[str]:
    """The standing limits of this letter, stated every time."""
    limits = [
        "One night only: leg-movement indices vary from night to night, so a value near a threshold may fall on "
        "the other side of it on another night.",
    ]
    if analysis:
        standard = str((analysis.get("parameters") or {}).get("standard") or "")
        limits += [
            "cds scores leg and chin EMG only and analyses no respiratory channels: sleep apnea and "
            "respiratory-related leg movements cannot be excluded from this recording.",
            f"The cds detectors apply the {_STANDARD_LABELS.get(standard, 'published')} rules but have no "
            "published validation against expert scoring: measured values are estimates to be confirmed.",
        ]
    else:
        limits.append(
            "No recording was analysed by cds: polysomnographic values, where shown, are those reported in the "
            "referral."
        )
    age_years = fact_value(decision, "age_years")
    if analysis and isinstance(age_years, int | float) and age_years < 1:
        limits.append(
            "The patient is an infant: the leg-movement scoring rules and the PLMS thresholds cds applies are "
            "defined for adults and older children, so the measured indices of this night have no reference norm "
            "and must not be read against any threshold."
        )
    limits.append("This letter supports clinical judgement and does not replace an examination of the patient.")
    return limits


def fact_value(decision: Mapping[str, Any], field: str) -> Any:
    """The known value of an input field in the record's facts (patient file first), else None."""
    for fact in decision.get("facts") or []:
        if fact.get("field") == field and fact.get("known", True):
            return fact.get("value")
    return None


_STATUS_ORDER = ("option", "caution", "specialist_only", "not_recommended", "contraindicated")


def order_treatments(treatments: list[dict[str, Any]], requested: Any) -> list[dict[str, Any]]:
    """The drug the referrer asked about first (marked), then drugs that may be offered, then the rest from least
    to most restrictive; the record's order within a status."""
    for t in treatments:
        t["requested"] = t["drug"] == requested
    rank = {status: i for i, status in enumerate(_STATUS_ORDER)}
    return sorted(treatments, key=lambda t: (not t["requested"], rank.get(t["status"], len(rank))))


def release_text(version: Any, release: Mapping[str, Any] | None = None, *, known: bool = False) -> str:
    """The rule set's release as a letter states it (cds.rules.governance.release_text)."""
    from cds.rules.governance import release_text as text

    return text(version, release, known=known)


def footer_view(inputs: Mapping[str, Any], record: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The letter's last line: the decision-log record (issue 11: a printed letter traces to its record), the
    rule set's release and hash, the engine and the input hashes; ``banner``: what the letter states above
    everything else when the rule set is not exactly a signed release or holds expired rules."""
    from cds.rules.governance import ruleset_notices

    ruleset = inputs.get("ruleset") or {}
    engine = inputs.get("engine") or {}
    return {
        "record": str((record or {}).get("id") or "not logged"),
        "release": release_text(ruleset.get("version"), ruleset.get("release"), known="release" in ruleset),
        "banner": [n["text"] for n in ruleset_notices(ruleset)],
        "ruleset_version": str(ruleset.get("version") or "unknown"),
        "ruleset_sha256": str(ruleset.get("sha256") or "unknown"),
        "engine": f"{engine.get('name') or 'cds'} {engine.get('version') or ''}".strip(),
        "patient_sha256": str((inputs.get("patient") or {}).get("sha256") or "unknown"),
        "recording": str((inputs.get("recording") or {}).get("name") or ""),
        "recording_sha256": str((inputs.get("recording") or {}).get("sha256") or ""),
    }


def sign_off_view(sign_off: Mapping[str, Any] | None) -> dict[str, str]:
    """The sign-off block: who reviewed the letter, in which role, on which date (empty strings: to sign on paper).
    Only ``name``, ``role`` and ``date`` are read; ``signed`` says whether a name was given."""
    given = sign_off or {}
    view = {key: " ".join(str(given.get(key) or "").split()) for key in ("name", "role", "date")}
    view["signed"] = "yes" if view["name"] else ""
    return view


def age_text(age_years: Any, knowledge: LetterKnowledge) -> str:
    """An age as the letter writes it: years, or months and weeks under the policy's limit (never a fraction)."""
    if not isinstance(age_years, int | float) or isinstance(age_years, bool):
        return "age unknown"
    from cds.formatting import format_age

    policy = knowledge.policy
    if policy is None:
        return f"{_fmt(float(age_years))} years"
    return format_age(
        float(age_years), years_from=policy.age_in_years_from, weeks_below=policy.age_in_weeks_below_weeks
    )


def fact_text(fact: Mapping[str, Any], knowledge: LetterKnowledge) -> str:
    """``PLMS index = 34.3 (measured by cds)``: one input fact as the letter cites it."""
    field = str(fact["field"])
    label = knowledge.label("fields", field).split(";")[0].strip()
    if label.count("(") != label.count(")"):  # a description cut inside its parenthesis: keep what precedes it
        label = label.split(" (")[0]
    if len(label) > 48 or ":" in label:
        label = knowledge.label("none", field.rsplit(".", 1)[-1])
    unit = knowledge.units.get(field, "")
    if field in knowledge.ages and fact.get("known", True):
        return f"{label}: {age_text(fact.get('value'), knowledge)} ({_source(fact.get('source'))})"
    value = _fmt(fact.get("value"), field in knowledge.integers) if fact.get("known", True) else "unknown"
    if unit and value not in ("unknown", "yes", "no"):
        value = f"{value} {unit}"
    return f"{label}: {value} ({_source(fact.get('source'))})"


def _source(source: Any) -> str:
    return _SOURCE_LABELS.get(str(source), str(source or "source not stated"))


def _value(section: Mapping[str, Any], key: str) -> str:
    """A number of the analysis, or 'unknown' with the reason the analysis gives for leaving it out."""
    if section.get(key) is not None:
        return _fmt(section[key])
    reason = (section.get("unavailable") or {}).get(key)
    return f"unknown ({reason})" if reason else "unknown"


def _rates(sfreq_hz: Any) -> str:
    """Sampling rate(s) in Hz: one number when all channels share it, else per channel."""
    if isinstance(sfreq_hz, Mapping):
        values = sorted({_fmt(float(v)) for v in sfreq_hz.values() if v is not None})
        if len(values) == 1:
            return values[0]
        return (
            ", ".join(f"{k.replace('_', ' ')} {_fmt(float(v))}" for k, v in sorted(sfreq_hz.items()) if v) or "unknown"
        )
    return _fmt(sfreq_hz)


def _lower_first(text: str) -> str:
    """``Periodic limb movement disorder`` -> ``periodic ...``; ``PLMD`` or ``CrCl`` stays (an acronym)."""
    first = text.split(" ", 1)[0]
    if len(first) > 1 and any(c.isupper() for c in first[1:]):
        return text
    return text[:1].lower() + text[1:]


def _fmt(value: Any, whole: bool = False) -> str:
    """A number as the letter prints it (no float noise; a count as a whole number); None as 'unknown';
    booleans as yes/no."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if whole or (value.is_integer() and abs(value) >= 1000):
            return str(round(value))
        return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
