"""The decision policy (knowledge/policy.yaml) as one typed object: urgency tiers with their time frames, the order
of treatment statuses and current-medication actions, study consolidation, "what to do first" and the fallback.

Every place that orders urgencies or statuses, words a time frame or picks the first step asks this module, so the
policy is stated once, as data (rules/README.md "How conclusions are resolved").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

__all__ = ["OrderedCode", "Policy", "UrgencyTier", "ordered_codes", "policy_of"]


class OrderedCode(StrEnum):
    """A code of an ordered vocabulary of the policy (urgency tiers, treatment statuses). The members and their
    order are the policy's: subclasses are made by :func:`ordered_codes` from ``knowledge/policy.yaml``, never
    written out in Python. Members equal their code (``Urgency("urgent") == "urgent"``) and compare by rank
    within their own enum (``routine < urgent``)."""

    @property
    def rank(self) -> int:
        """0 for the first code of the policy's order (least urgent, least restrictive)."""
        return list(type(self)).index(self)

    def _other(self, other: object) -> OrderedCode:
        if type(other) is not type(self):
            raise TypeError(f"cannot order {type(self).__name__} against {type(other).__name__}")
        return cast(OrderedCode, other)

    def __lt__(self, other: object) -> bool:
        return self.rank < self._other(other).rank

    def __le__(self, other: object) -> bool:
        return self.rank <= self._other(other).rank

    def __gt__(self, other: object) -> bool:
        return self.rank > self._other(other).rank

    def __ge__(self, other: object) -> bool:
        return self.rank >= self._other(other).rank


_ENUMS: dict[tuple[str, tuple[str, ...]], type[OrderedCode]] = {}


def ordered_codes(name: str, codes: Iterable[str]) -> type[OrderedCode]:
    """The OrderedCode enum ``name`` with ``codes`` as members, in that order (the same codes give the same
    class, so decisions read with equal policies compare)."""
    key = (name, tuple(codes))
    if key not in _ENUMS:
        factory: Any = OrderedCode  # the functional Enum API with codes known only at run time
        _ENUMS[key] = cast(type[OrderedCode], factory(name, [(c, c) for c in key[1]]))
    return _ENUMS[key]


@dataclass(frozen=True)
class UrgencyTier:
    """One urgency tier: its code, the only wording of its time frame, and the longest wait it allows."""

    code: str
    interval: str
    max_days: int | None


@dataclass(frozen=True)
class Policy:
    """knowledge/policy.yaml, validated by cds.kb and read-only."""

    urgencies: tuple[UrgencyTier, ...]
    status_order: tuple[str, ...]
    offered_statuses: tuple[str, ...]
    not_for_current_drugs: frozenset[str]
    medication_actions: tuple[str, ...]
    contraindicated_current: str
    studies: tuple[str, ...]
    provisional_when_caveat: frozenset[str]
    action_priority: tuple[str, ...]
    pathways: Mapping[str, str]
    max_questions: int
    fallback: Mapping[str, str]
    failed_outcomes: frozenset[str]
    default_known: str
    default_unknown: str
    age_in_years_from: float
    age_in_weeks_below_weeks: float
    treatment_first_steps: frozenset[str]
    treatment_pathway: str

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Policy:
        status = data["treatment_status"]
        meds = data["medication_action"]
        return cls(
            urgencies=tuple(UrgencyTier(u["code"], u["interval"], u.get("max_days")) for u in data["urgency"]),
            status_order=tuple(status["order"]),
            offered_statuses=tuple(status["offered"]),
            not_for_current_drugs=frozenset(status.get("not_for_current_drugs") or ()),
            medication_actions=tuple(meds["order"]),
            contraindicated_current=str(meds["contraindicated_current"]),
            studies=tuple(data["studies"]),
            provisional_when_caveat=frozenset(data.get("provisional_when_caveat") or ()),
            action_priority=tuple(data["action_priority"]),
            pathways=dict(data["pathways"]),
            max_questions=int(data["conditional"]["max_questions"]),
            fallback=dict(data["fallback"]),
            failed_outcomes=frozenset(meds["failed_outcomes"]),
            default_known=str(meds["default_known"]),
            default_unknown=str(meds["default_unknown"]),
            age_in_years_from=float(data["age_display"]["years_from"]),
            age_in_weeks_below_weeks=float(data["age_display"]["weeks_below"]),
            treatment_first_steps=frozenset(data["treatment_pathway"]["first_steps"]),
            treatment_pathway=str(data["treatment_pathway"]["pathway"]),
        )

    # ------------------------------------------------------------------ urgency

    @property
    def urgency_order(self) -> tuple[str, ...]:
        """Urgency codes, least to most urgent."""
        return tuple(u.code for u in self.urgencies)

    @property
    def urgency_type(self) -> type[OrderedCode]:
        """The urgency tiers as an enum, least to most urgent (``Urgency``)."""
        return ordered_codes("Urgency", self.urgency_order)

    def tier(self, code: str) -> UrgencyTier:
        for tier in self.urgencies:
            if tier.code == code:
                return tier
        raise KeyError(code)

    def interval(self, code: str) -> str:
        """The wording of a tier's time frame ("within 2 weeks"): the only one the letter prints."""
        return self.tier(code).interval

    def urgency_rank(self, code: str) -> int:
        """0 for the least urgent tier; higher is more urgent."""
        return self.urgency_order.index(code)

    def most_urgent(self, codes: Iterable[str]) -> str:
        return max(codes, key=self.urgency_rank)

    def meets(self, urgency: str, days: int) -> bool:
        """Whether a tier guarantees action within ``days`` (same day = 0)."""
        limit = self.tier(urgency).max_days
        return limit is not None and limit <= days

    # ------------------------------------------------------------------ treatments and current medication

    @property
    def status_type(self) -> type[OrderedCode]:
        """The treatment statuses as an enum, least to most restrictive (``TreatmentStatus``)."""
        return ordered_codes("TreatmentStatus", self.status_order)

    def status_rank(self, status: str) -> int:
        """0 for the least restrictive status."""
        return self.status_order.index(status)

    def is_offered(self, status: str) -> bool:
        return status in self.offered_statuses

    def action_rank(self, action: str) -> int:
        """0 for ``continue``; higher is more far-reaching."""
        return self.medication_actions.index(action)

    # ------------------------------------------------------------------ first step and pathway

    def first_step_key(self, action: str, urgency: str) -> tuple[int, int]:
        """Sort key of a recommendation for "what to do first": most urgent, then the policy's action order."""
        priority = self.action_priority.index(action) if action in self.action_priority else len(self.action_priority)
        return (-self.urgency_rank(urgency), priority)

    def pathway(self, action: str, *, drugs_offered: bool = False) -> str:
        """The pathway of a first step; a general measure with drugs that may be offered is the treatment path."""
        if drugs_offered and action in self.treatment_first_steps:
            return self.treatment_pathway
        return self.pathways.get(action, action)


def policy_of(kb: Any) -> Policy:
    """The Policy of a loaded Knowledge (built once per Knowledge object)."""
    return kb.policy_obj
