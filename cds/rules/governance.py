"""Rule governance by date (rules/README.md, "Governance"): ``effective`` / ``expires`` dates and the
``deprecated`` status.

- A rule whose ``effective`` date is after the decision's date is **not yet in force**: it does not fire (the
  decision is made as the rule set stood before it). The decision names it (``inputs.ruleset.governance``).
- A rule in force past its ``expires`` date is **expired**: it still fires (a lapsed approval must never silently
  drop a safety veto or a red flag), and every decision made with it in the rule set carries a caveat and a
  banner in the letter naming it; ``triage --require-release`` refuses such a rule set.
- A ``deprecated`` rule is in force until it is retired; it must carry ``expires`` (when it is meant to go).

The date a decision is judged at is the letter date when one is given, else today's date (UTC). Nothing here
depends on the clock when no rule carries a date or the deprecated status: such decisions stay byte-identical.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from cds.rules.schema import IN_FORCE

if TYPE_CHECKING:
    from cds.rules.load import RuleSet

__all__ = [
    "Governance",
    "date_problems",
    "governance_of",
    "governed_rulebase",
    "in_force_on",
    "release_text",
    "ruleset_notices",
]


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Governance:
    """The state of a rule set's dated and deprecated rules on one date (lists of rule ids, sorted)."""

    as_of: str
    not_yet_effective: tuple[str, ...]
    expired: tuple[tuple[str, str], ...]  # (rule id, expiry date)
    deprecated: tuple[str, ...]
    dated: bool  # some rule carries effective/expires or is deprecated: the decision depends on the date

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "not_yet_effective": list(self.not_yet_effective),
            "expired": [{"rule": rule, "expires": day} for rule, day in self.expired],
            "deprecated": list(self.deprecated),
        }


def governance_of(rules: RuleSet, as_of: dt.date) -> Governance:
    """Which rules in force are not yet effective, expired or deprecated on ``as_of``."""
    pending, expired, deprecated = [], [], []
    dated = False
    for spec in rules.rules:
        if spec.status not in IN_FORCE:
            continue
        effective, expires = _date(spec.effective), _date(spec.expires)
        dated = dated or effective is not None or expires is not None or spec.status == "deprecated"
        if effective is not None and as_of < effective:
            pending.append(spec.id)
        elif expires is not None and as_of > expires:
            expired.append((spec.id, expires.isoformat()))
        if spec.status == "deprecated":
            deprecated.append(spec.id)
    return Governance(as_of.isoformat(), tuple(pending), tuple(expired), tuple(deprecated), dated)


def in_force_on(rules: RuleSet, as_of: dt.date) -> RuleSet:
    """The rule set without the rules not yet effective on ``as_of`` (same hash and folder: the files are the
    same; the decision names the rules left out)."""
    pending = set(governance_of(rules, as_of).not_yet_effective)
    if not pending:
        return rules
    return replace(rules, rules=tuple(r for r in rules.rules if r.id not in pending))


def date_problems(data: Mapping[str, Any], today: dt.date) -> list[tuple[str, str, str]]:
    """(key, code, message) of a rule file's governance warnings on ``today``: W601 expired, W602 deprecated,
    W603 not yet effective. Malformed dates are the loader's errors, not repeated here."""
    status = data.get("status")
    if status not in IN_FORCE:
        return []
    out = []
    effective, expires = _date(data.get("effective")), _date(data.get("expires"))
    if expires is not None and today > expires:
        out.append(
            (
                "expires",
                "W601",
                f"expired on {expires.isoformat()}: the rule still fires, but every decision and letter names it "
                "until it is reviewed (new expires:, version bump) and released",
            )
        )
    if status == "deprecated":
        until = f" until {expires.isoformat()}" if expires is not None else ""
        out.append(("status", "W602", f"deprecated: in force{until}; retire it (status: retired) when it is replaced"))
    if effective is not None and today < effective:
        out.append(("effective", "W603", f"not yet effective: takes part in decisions from {effective.isoformat()}"))
    return out


_GOVERNED: dict[tuple[str, tuple[str, ...]], Any] = {}
_MAX_KEPT = 8


def governed_rulebase(rulebase: Any, as_of: dt.date) -> tuple[Any, Governance]:
    """The compiled rule base a decision dated ``as_of`` uses (without the rules not yet effective; the same object
    when there are none) and the governance state. Compiled once per process per (rule set, rules left out)."""
    from cds.rules.engine import RuleBase

    state = governance_of(rulebase.rules, as_of)
    if not state.not_yet_effective:
        return rulebase, state
    key = (rulebase.sha256, state.not_yet_effective)
    if key not in _GOVERNED:
        governed = RuleBase(in_force_on(rulebase.rules, as_of), rulebase.kb)
        governed.stamp = dict(rulebase.stamp)  # the same files: the same version and hash
        while len(_GOVERNED) >= _MAX_KEPT:
            _GOVERNED.pop(next(iter(_GOVERNED)))
        _GOVERNED[key] = governed
    return _GOVERNED[key], state


def release_text(version: Any, release: Mapping[str, Any] | None = None, *, known: bool = False) -> str:
    """The rule set's release as a letter states it. ``release`` is the signed release record matching the files
    (``inputs.ruleset.release``); ``known`` says the record was looked for (decisions made before signed releases
    existed carry no such key and are labelled by their manifest version alone)."""
    text = str(version or "")
    if not text:
        return "UNRELEASED rule set (no release manifest)"
    if text.endswith("+modified"):
        return f"UNRELEASED rule set (changed since release {text.removesuffix('+modified')})"
    if release:
        return (
            f"release {text} (approved by {release.get('approver')} on {release.get('date')}, "
            f"key {release.get('key_id')})"
        )
    if known:
        return f"UNRELEASED rule set (version {text} has no signed release)"
    return f"release {text}"


def ruleset_notices(ruleset: Mapping[str, Any]) -> list[dict[str, str]]:
    """The caveats a decision's ``inputs.ruleset`` calls for (codes of knowledge/vocab.yaml): the rule set is not
    exactly a signed release (``ruleset_unreleased``), or holds expired rules (``ruleset_expired_rules``). The
    decision lists them as caveats and the letter prints them as a banner above everything else."""
    out = []
    known = "release" in ruleset
    label = release_text(ruleset.get("version"), ruleset.get("release"), known=known)
    if label.startswith("UNRELEASED"):
        out.append(
            {
                "code": "ruleset_unreleased",
                "text": f"{label}: no approver has signed these rules for clinical use; "
                "check this decision against the current guidance.",
            }
        )
    expired = (ruleset.get("governance") or {}).get("expired") or []
    if expired:
        listed = ", ".join(f"{e.get('rule')} (expired {e.get('expires')})" for e in expired)
        out.append(
            {
                "code": "ruleset_expired_rules",
                "text": f"EXPIRED rules in the rule set, still applied: {listed}; their approval has lapsed "
                "and they await review.",
            }
        )
    return out
