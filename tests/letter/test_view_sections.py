"""Pieces of the letter view on hand-made inputs: summary sentences, recording block, caveats, limits."""

from __future__ import annotations

from cds.letter import view_sections as vs


def _rec(action: str, urgency: str) -> dict:
    return {
        "label": action.capitalize(),
        "urgency": urgency,
        "urgency_label": f"<{urgency}>",
        "interval": f"<{urgency}>",
    }


def test_summary_without_anything_says_so():
    assert vs.summary_sentences([], [], []) == [
        "The rule base made no recommendation for this patient; see what is unknown below."
    ]


def test_summary_names_offered_drugs_or_says_none_is_offered():
    recs = [_rec("iron studies", "soon")]
    offered = [{"label": "Oral iron", "status": "option"}, {"label": "Clonazepam", "status": "contraindicated"}]
    assert vs.summary_sentences(recs, [], offered) == [
        "What to do first: iron studies, <soon>.",
        "Drugs that may be offered: Oral iron (see the table for limits).",
    ]
    assert vs.summary_sentences(recs, [], offered[1:])[-1].startswith("No drug discussed is offered here")


def test_summary_states_a_conditional_decision_and_current_medication_changes():
    recs = [_rec("reassurance", "routine")]
    conclusion = {
        "action": "reassurance",
        "label": "Reassurance",
        "interval": "<routine>",
        "conditional": True,
        "otherwise": {"action": "epilepsy_referral", "label": "Epilepsy referral", "interval": "<urgent>"},
    }
    meds = [
        {"label": "Sertraline", "action": "switch", "action_label": "Switch to another drug", "likely_cause": True},
        {"label": "Metformin", "action": "continue", "action_label": "Continue", "likely_cause": False},
    ]
    sentences = vs.summary_sentences(recs, [], [], conclusion=conclusion, medications=meds)
    assert sentences == [
        "What to do first: reassurance, <routine>.",
        "This holds if the answer to each open question below is no; if one is yes: epilepsy referral, <urgent>.",
        "Current medication: Sertraline: switch to another drug (likely cause).",
    ]


def test_summary_without_recommendation_states_the_fallback_conclusion():
    conclusion = {"action": "clinical_review", "label": "Clinical review", "interval": "<routine>", "text": "Why."}
    assert vs.summary_sentences([], [], [], conclusion=conclusion) == [
        "What to do first: clinical review, <routine>.",
        "Why.",
    ]


def test_recording_numbers_give_the_reason_a_value_is_missing():
    analysis = {
        "recording": {"name": "n.edf", "duration_s": 5400.0},
        "channels": {"left_leg": "LAT", "right_leg": None, "sfreq_hz": {"left_leg": 200.0, "chin": 256.0}},
        "sleep": {"total_sleep_time_min": None, "unavailable": {"total_sleep_time_min": "no hypnogram"}},
        "leg_movements": {"count": 12},
    }
    view = vs.recording_view(analysis, None)
    assert view["duration_h"] == "1.5"
    assert view["sfreq_hz"] == "chin 256.0, left leg 200.0"
    assert {c["role"]: c["label"] for c in view["channels"]} == {
        "left leg": "LAT",
        "right leg": "not found",
        "chin": "not found",
    }
    numbers = {label: value for label, value, _unit in view["numbers"]}
    assert numbers["total sleep time"] == "unknown (no hypnogram)"
    assert numbers["leg movements scored"] == "12" and numbers["jerks at sleep onset"] == "unknown"
    assert vs.recording_view(None, {"name": "n.edf"}) is None


def test_caveats_are_listed_once_with_their_origin():
    decision = {
        "caveat_details": [{"code": "a", "text": "A.", "rule": "R-1"}, {"code": "b", "text": "B.", "source": "input"}],
        "caveats": ["A.", "C."],
    }
    analysis = {
        "caveats": [{"code": "b", "text": "B.", "channel": None}, {"code": "d", "text": "D.", "channel": "LAT"}]
    }
    assert vs.caveat_texts(decision, analysis) == [
        {"text": "A.", "origin": "R-1"},
        {"text": "B.", "origin": "input"},
        {"text": "C.", "origin": ""},
        {"text": "D.", "origin": "recording, channel LAT"},
    ]


def test_infant_limit_only_with_a_recording_and_age_under_one_year():
    infant = {"facts": [{"field": "age_years", "value": 0.03, "known": True, "source": "patient"}]}
    adult = {"facts": [{"field": "age_years", "value": 40, "known": True, "source": "patient"}]}
    analysis = {"parameters": {"standard": "aasm"}}
    assert any("infant" in t for t in vs.limit_texts(analysis, infant))
    assert not any("infant" in t for t in vs.limit_texts(None, infant))
    assert not any("infant" in t for t in vs.limit_texts(analysis, adult))


def test_summary_lowercases_labels_but_not_acronyms():
    findings = [{"label": "A red flag is present"}, {"label": "PLMD"}, {"label": "CrCl below 30"}]
    assert vs.summary_sentences([], findings, [])[1] == "Findings: a red flag is present; PLMD; CrCl below 30."
