"""Deterministic agenda order: salience (layer) descending, then rule id, then the sorted ids of the matched facts.

experta's default DepthStrategy breaks ties by fact ids and hash-ordered sets, so the firing order changed with
PYTHONHASHSEED (measured: six seeds, six orders). Here the order is a total order on plain values.
"""

from __future__ import annotations

from typing import Any

from cds.rules._experta import Strategy

__all__ = ["RuleIdStrategy", "activation_order_key"]


def _fact_ids(activation: Any) -> tuple[int, ...]:
    return tuple(sorted(f["__factid__"] for f in activation.facts))


def activation_order_key(activation: Any) -> tuple[int, str, tuple[int, ...]]:
    """Sort key of an activation: the smallest key fires first."""
    fn = activation.rule._wrapped
    return (-activation.rule.salience, getattr(fn, "rule_id", fn.__name__), _fact_ids(activation))


class RuleIdStrategy(Strategy):
    """Keeps ``agenda.activations`` sorted so that ``pop()`` (the last element) is the next to fire."""

    def _update_agenda(self, agenda: Any, added: Any, removed: Any) -> None:
        keep = list(agenda.activations)
        for act in removed:
            # remove ONE equal activation: the branches of an ``any`` share the rule object, so two pending
            # activations can be indistinguishable, and only one of them is retracted
            key = activation_order_key(act)
            for i, other in enumerate(keep):
                if other.rule is act.rule and activation_order_key(other) == key and other.facts == act.facts:
                    del keep[i]
                    break
        for act in added:
            act.key = activation_order_key(act)
        keep.extend(added)
        keep.sort(key=activation_order_key, reverse=True)
        agenda.activations = keep
