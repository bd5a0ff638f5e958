"""Compiling the condition AST: negation pushed to atoms, `because` rendering."""

from __future__ import annotations

from cds.rules.compile import push_not
from cds.rules.engine import format_value, render_because

A = {"field": "a", "is": True}
B = {"field": "b", "gt": 3}
C = {"evidence": "adult"}


def test_push_not_de_morgan_and_double_negation():
    assert push_not({"not": {"all": [A, {"not": B}]}}) == {"any": [{"not": A}, B]}
    assert push_not({"not": {"any": [A, {"all": [B, C]}]}}) == {"all": [{"not": A}, {"any": [{"not": B}, {"not": C}]}]}
    assert push_not({"not": {"not": A}}) == A
    assert push_not({"all": [A, {"not": C}]}) == {"all": [A, {"not": C}]}


def test_format_value():
    assert [format_value(v) for v in (34.0, 34, 0.4567, 6.5, True, False, None, "x")] == [
        "34",
        "34",
        "0.46",
        "6.5",
        "yes",
        "no",
        "unknown",
        "x",
    ]


def test_render_because_prefers_matched_value_then_known_then_unknown(tiny_kb):
    matched = [{"type": "datum", "field": "psg.plms_index", "value": 28.0, "known": True, "source": "recording"}]
    known = {"psg.plms_index": 41, "age_years": 40}
    text = "{psg.plms_index} /h > {threshold:plms_index_adult_per_h}; age {age_years}; ferritin {labs.ferritin_ng_ml}"
    assert render_because(text, matched, known, tiny_kb) == "28 /h > 15; age 40; ferritin unknown"
