"""Hand-made decision and analysis records following cds.decision/v1 (spec/decision-v1.md) and the analysis
layout of ``cds analyze``: the letter is tested against these known contents, independent of the rule base."""

from __future__ import annotations

import copy

import pytest

_DECISION = {
    "schema": "cds.decision/v1",
    "patient_id": "P-0042",
    "inputs": {
        "patient": {"sha256": "a" * 64},
        "recording": {"sha256": "b" * 64, "name": "night1.edf"},
        "ruleset": {"version": "2026.11.0", "sha256": "c" * 64},
        "engine": {"name": "cds", "version": "0.1.0"},
    },
    "measurements": {
        "plms_index": {
            "value": 31.5,
            "unit": "/h",
            "source": "recording",
            "method": "AASM 2.6 leg-movement detector, channels LAT/RAT",
            "other_sources": [{"value": 34, "source": "reported", "method": "external PSG report"}],
        },
        "total_sleep_time_h": {"value": 6.4, "unit": "h", "source": "recording", "method": "hypnogram"},
        "ahi": {"value": 3, "unit": "/h", "source": "reported", "method": "external PSG report"},
    },
    "findings": [
        {
            "code": "plmd",
            "rules": ["FND-PLMD-ADULT"],
            "because": ["PLMS index 31.5 /h above 15 /h with sleep complaints"],
        }
    ],
    "recommendations": [
        {
            "action": "sleep_medicine_referral",
            "urgency": "soon",
            "rules": ["TRI-PLMD-REFER"],
            "references": ["ICSD-3", "AASM-RLS-2025"],
            "because": ["PLMD with insomnia and daytime impairment"],
        },
        {
            "action": "medication_review",
            "urgency": "routine",
            "rules": ["TRI-SSRI-REVIEW"],
            "references": ["Drakatos-2021"],
            "because": ["on sertraline, an SSRI known to increase PLMS"],
        },
    ],
    "treatments": [
        {
            "drug": "clonazepam",
            "status": "not_recommended",
            "reasons": ["aasm_2025_against"],
            "rules": ["TRT-CLONAZEPAM-PLMD"],
            "references": ["AASM-RLS-2025"],
            "notes": [],
            "dose": "0.25-1 mg at bedtime",
        },
        {
            "drug": "sodium_valproate",
            "status": "not_recommended",
            "reasons": ["aasm_2025_against"],
            "rules": ["TRT-VALPROATE-PLMD"],
            "references": ["AASM-RLS-2025"],
            "notes": ["Pregnancy prevention programme applies to women of childbearing potential."],
            "dose": None,
        },
        {
            "drug": "gabapentin",
            "status": "caution",
            "reasons": ["renal_adjustment"],
            "rules": ["TRT-GABAPENTIN-PLMD", "SAF-GABAPENTIN-RENAL"],
            "references": ["AASM-RLS-2025", "Label-Gabapentin"],
            "notes": ["Reduce the dose: creatinine clearance 38 ml/min."],
            "dose": "300 mg 1-2 h before bed, up to 900-2400 mg/day",
        },
    ],
    "caveats": ["No respiratory channels: respiratory-related leg movements cannot be excluded."],
    "caveat_details": [
        {
            "code": "no_respiratory_channels",
            "text": "No respiratory channels: respiratory-related leg movements cannot be excluded.",
            "source": "recording",
        }
    ],
    "asks": [
        {
            "field": "labs.transferrin_saturation_pct",
            "text": "Transferrin saturation, to complete the iron studies.",
            "rules": ["TRI-IRON-ASK"],
        }
    ],
    "facts": [
        {"field": "age_years", "value": 46, "known": True, "source": "patient"},
        {"field": "psg.plms_index", "value": 31.5, "known": True, "source": "recording"},
        {"field": "psg.plms_index", "value": 34, "known": True, "source": "reported"},
        {"field": "symptoms.insomnia", "value": True, "known": True, "source": "patient"},
        {"field": "symptoms.rls_urge_to_move", "value": None, "known": False, "source": "patient"},
        {"field": "medications.sertraline", "value": True, "known": True, "source": "patient"},
    ],
    "trace": [
        {
            "rule": "EVD-ADULT",
            "version": 1,
            "sha256": "d" * 64,
            "layer": "evidence",
            "salience": 500,
            "facts": [{"type": "datum", "field": "age_years", "value": 46, "source": "patient"}],
            "asserted": [{"type": "evidence", "code": "adult"}],
            "because": "age 46 years",
        },
        {
            "rule": "FND-PLMD-ADULT",
            "version": 2,
            "sha256": "e" * 64,
            "layer": "findings",
            "salience": 400,
            "facts": [
                {"type": "datum", "field": "psg.plms_index", "value": 31.5, "source": "recording"},
                {"type": "evidence", "code": "adult"},
                {"type": "datum", "field": "symptoms.insomnia", "value": True, "source": "patient"},
            ],
            "asserted": [{"type": "finding", "code": "plmd"}],
            "because": "PLMS index 31.5 /h above 15 /h with sleep complaints",
        },
        {
            "rule": "TRI-PLMD-REFER",
            "version": 1,
            "sha256": "f" * 64,
            "layer": "triage",
            "salience": 300,
            "facts": [{"type": "finding", "code": "plmd"}],
            "asserted": [{"type": "recommendation", "action": "sleep_medicine_referral", "urgency": "soon"}],
            "because": "PLMD with insomnia and daytime impairment",
        },
    ],
}

_ANALYSIS = {
    "recording": {"name": "night1.edf", "sha256": "b" * 64, "duration_s": 1800.0},
    "channels": {
        "left_leg": "LAT",
        "right_leg": "RAT",
        "chin": "Chin",
        "sfreq_hz": {"left_leg": 256.0, "right_leg": 256.0, "chin": 256.0},
    },
    "parameters": {"standard": "aasm"},
    "hypnogram": {"epoch_s": 30.0, "stages": ["W"] * 4 + ["N1"] * 4 + ["N2"] * 30 + ["N3"] * 12 + ["R"] * 10},
    "sleep": {
        "total_sleep_time_min": 28.0,
        "sleep_efficiency_pct": 93.3,
        "sleep_onset_latency_min": 2.0,
        "waso_min": 0.0,
        "stage_minutes": {"N1": 2.0, "N2": 15.0, "N3": 6.0, "R": 5.0},
    },
    "leg_movements": {
        "count": 40,
        "plms_index": 31.5,
        "plmw_index": 2.0,
        "events": [
            {"onset_s": 300.0 + 25.0 * i, "duration_s": 1.5, "side": "left", "stage": "N2", "periodic": i < 30}
            for i in range(40)
        ],
    },
    "sleep_onset_jerks": {
        "count": 2,
        "events": [{"onset_s": 125.0, "duration_s": 0.3}, {"onset_s": 200.0, "duration_s": 0.2}],
    },
    "fragmentary_myoclonus": {"excessive": False, "minutes_meeting_rule": 0.0, "potentials_per_min_nrem": 1.2},
    "quality": {},
    "caveats": [
        {"code": "short_recording", "text": "Recording shorter than 4 h: indices unreliable.", "channel": None}
    ],
}


@pytest.fixture
def decision() -> dict:
    return copy.deepcopy(_DECISION)


@pytest.fixture
def analysis() -> dict:
    return copy.deepcopy(_ANALYSIS)
