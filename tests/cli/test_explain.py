"""``cds explain``: the chain behind each conclusion read from decision.json alone, and why a rule did not fire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.cli import run
from cds.rules.explain import explain_decision, explain_rule, format_explanation, read_decision


@pytest.fixture(scope="module", autouse=True)
def _decision_log(tmp_path_factory: pytest.TempPathFactory):
    """Every triage appends to the decision log: keep these tests' records out of the user's log."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("log") / "decisions.sqlite"
        patch.setenv("CDS_DECISION_LOG", str(path))
        yield path


REPO = Path(__file__).resolve().parents[2]

# A hand-made record: EVD-ADULT -> FND-PLMD-ADULT -> TRI-PLMD-REFER; TRI-OTHER fired but supports nothing here.
RECORD = {
    "schema": "cds.decision/v1",
    "patient_id": "P-7",
    "inputs": {"ruleset": {"version": "r1", "sha256": "0" * 64}},
    "findings": [{"code": "plmd", "rules": ["FND-PLMD-ADULT"], "because": ["PLMS 31.5/h"]}],
    "recommendations": [
        {
            "action": "sleep_medicine_referral",
            "urgency": "soon",
            "rules": ["TRI-PLMD-REFER"],
            "references": ["ICSD-3"],
            "because": ["PLMD"],
        },
    ],
    "treatments": [],
    "asks": [],
    "facts": [
        {"field": "age_years", "value": 46, "known": True, "source": "patient"},
        {"field": "psg.plms_index", "value": 31.5, "known": True, "source": "recording"},
    ],
    "trace": [
        {
            "rule": "EVD-ADULT",
            "version": 1,
            "layer": "evidence",
            "because": "age 46",
            "facts": [{"id": 1, "type": "datum", "field": "age_years", "value": 46, "source": "patient"}],
            "asserted": [{"type": "evidence", "code": "adult"}],
        },
        {
            "rule": "TRI-OTHER",
            "version": 3,
            "layer": "triage",
            "because": "unrelated",
            "facts": [],
            "asserted": [{"type": "recommendation", "action": "sleep_hygiene", "urgency": "routine"}],
        },
        {
            "rule": "FND-PLMD-ADULT",
            "version": 2,
            "layer": "findings",
            "because": "PLMS 31.5/h",
            "facts": [
                {"id": 2, "type": "datum", "field": "psg.plms_index", "value": 31.5, "source": "recording"},
                {"id": 3, "type": "evidence", "code": "adult"},
            ],
            "asserted": [{"type": "finding", "code": "plmd"}],
        },
        {
            "rule": "TRI-PLMD-REFER",
            "version": 1,
            "layer": "triage",
            "because": "PLMD",
            "facts": [{"id": 4, "type": "finding", "code": "plmd"}],
            "asserted": [{"type": "recommendation", "action": "sleep_medicine_referral", "urgency": "soon"}],
        },
    ],
}


# The same decision as a whole cds.decision/v1 record: `cds explain FILE` refuses a partial one (exit 3).
FULL_RECORD = {
    **RECORD,
    "inputs": {
        "patient": {"sha256": "1" * 64},
        "recording": None,
        "ruleset": {"version": "r1", "sha256": "0" * 64},
        "engine": {"name": "cds", "version": "0"},
    },
    "conclusion": {
        "action": "sleep_medicine_referral",
        "urgency": "soon",
        "interval": "within 6 weeks",
        "pathway": "sleep_medicine",
        "conditional": False,
        "fallback": False,
    },
    "branches": [],
    "measurements": {},
    "findings": [{**RECORD["findings"][0], "rule": "FND-PLMD-ADULT", "references": []}],
    "recommendations": [{**RECORD["recommendations"][0], "interval": "within 6 weeks", "urgency_rules": []}],
    "current_medications": [],
    "caveats": [],
    "caveat_details": [],
    "background_references": [],
    "trace": [{**t, "sha256": "2" * 64, "salience": 0} for t in RECORD["trace"]],
}


@pytest.fixture
def record_path(tmp_path: Path) -> Path:
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(FULL_RECORD), encoding="utf-8")
    return path


def test_chain_follows_derived_facts_back_to_the_inputs():
    report = explain_decision(RECORD)
    referral = next(c for c in report["conclusions"] if c["name"] == "sleep_medicine_referral")
    assert [s["rule"] for s in referral["chain"]] == ["EVD-ADULT", "FND-PLMD-ADULT", "TRI-PLMD-REFER"]
    assert referral["detail"] == "soon" and referral["references"] == ["ICSD-3"]
    finding = next(c for c in report["conclusions"] if c["kind"] == "finding")
    assert [s["rule"] for s in finding["chain"]] == ["EVD-ADULT", "FND-PLMD-ADULT"]


def test_fired_rule_lists_what_it_supports():
    report = explain_rule(RECORD, "EVD-ADULT")
    assert report["fired"] is True and report["firings"][0]["asserted"] == [{"type": "evidence", "code": "adult"}]
    assert {(c["kind"], c["name"]) for c in report["supported"]} == {
        ("finding", "plmd"),
        ("recommendation", "sleep_medicine_referral"),
    }
    assert explain_rule(RECORD, "TRI-OTHER")["supported"] == []


def test_text_output_shows_the_chain_with_facts(record_path, capsys):
    assert run(["explain", str(record_path)]) == 0
    out = capsys.readouterr().out
    assert "recommendation sleep_medicine_referral (soon)" in out
    assert "<- FND-PLMD-ADULT v2 [findings]: PLMS 31.5/h" in out
    assert "matched psg.plms_index = 31.5 (recording)" in out
    assert "matched evidence code=adult" in out


def test_json_output_is_the_report(record_path, capsys):
    assert run(["explain", str(record_path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads(json.dumps(explain_decision(FULL_RECORD)))


def test_not_a_decision_record_is_exit_3(tmp_path, capsys):
    bad = tmp_path / "other.json"
    bad.write_text('{"schema": "cds.analysis/v1"}', encoding="utf-8")
    assert run(["explain", str(bad)]) == 3
    assert "other.json: not a decision record" in capsys.readouterr().err
    assert run(["explain", str(tmp_path / "missing.json")]) == 3


def test_unknown_rule_is_exit_3(record_path, capsys):
    assert run(["explain", str(record_path), "--rule", "NO-SUCH-RULE"]) == 3
    assert "no rule NO-SUCH-RULE" in capsys.readouterr().err


def test_read_decision_rejects_broken_json(tmp_path):
    bad = tmp_path / "d.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"d\.json:1:2: not JSON"):
        read_decision(bad)


def test_rule_that_did_not_fire_shows_first_failing_condition_on_real_triage(tmp_path, capsys):
    """The demo patient has no RLS symptoms: the RLS finding rule cannot fire; explain says which atom failed."""
    out = tmp_path / "out"
    assert run(["triage", "--patient", str(REPO / "examples" / "demo-patient.yaml"), "--out", str(out)]) == 0
    record = read_decision(out / "decision.json")
    fired = {t["rule"] for t in record["trace"]}
    rls_rules = sorted(p.stem for p in (REPO / "rules" / "2-findings").glob("FND-RLS*.yaml"))
    candidates = [r for r in rls_rules if r not in fired]
    assert candidates, "expected an RLS finding rule that does not fire for the demo patient"
    capsys.readouterr()
    assert run(["explain", str(out / "decision.json"), "--rule", candidates[0], "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fired"] is False and report["holds"] is False
    assert report["first_failing"] is not None
    assert report["warnings"] == []  # same rule set as the record
    for step_rule in {s["rule"] for c in explain_decision(record)["conclusions"] for s in c["chain"]}:
        assert step_rule in fired
    # the same question on a record made with another rule set: answered, with a warning on stderr
    record["inputs"]["ruleset"]["sha256"] = "0" * 64
    del record["record"]  # a decision from another installation: not in this log
    other = tmp_path / "other-ruleset.json"
    other.write_text(json.dumps(record), encoding="utf-8")
    assert run(["explain", str(other), "--rule", candidates[0]]) == 0
    captured = capsys.readouterr()
    assert "did not fire" in captured.out and "first failing condition" in captured.out
    assert "cds: warning: the rule set changed since this decision" in captured.err


# --- issue 16: a decision record edited by hand is explained or refused, never an internal error ----------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(128, 256)), "not a decision record: not UTF-8 text (byte 0)"),
        (json.dumps({**RECORD, "trace": [1, 2]}).encode(), "not a decision record: trace[0]: expected an object"),
        (json.dumps({**RECORD, "findings": "plmd"}).encode(), "not a decision record: findings: expected a list"),
        (json.dumps({**RECORD, "inputs": {"ruleset": 3}}).encode(), "inputs.ruleset: expected an object, got int"),
        (
            json.dumps({**RECORD, "recommendations": [{"rules": [{"x": 1}]}]}).encode(),
            "recommendations[0].rules[0]: expected a rule id, got dict",
        ),
    ],
)
def test_malformed_records_exit_3_with_one_line(tmp_path, capsys, content, message):
    """Found by the decision-record fuzzer (issue 16): binary bytes (UnicodeDecodeError) and a trace of numbers
    (AttributeError) ended in internal errors."""
    path = tmp_path / "decision.json"
    path.write_bytes(content)
    assert run(["explain", str(path)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "decision.json: " in err[0]
    assert message in err[0], err[0]


def test_references_that_are_not_text_are_refused_naming_the_place_not_crashed_on(tmp_path, capsys):
    record = json.loads(json.dumps(FULL_RECORD))
    record["recommendations"][0]["references"] = [None, 3]
    assert "references: None, 3" in format_explanation(explain_decision(record))  # the library still shows them
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    assert run(["explain", str(path)]) == 3
    err = capsys.readouterr().err
    assert "decision.json: not a decision record: recommendations[0].references[0]: expected a string" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("conclusion"), "conclusion: missing"),
        (
            lambda d: d["recommendations"][0].update(urgency="whenever"),
            "recommendations[0].urgency: unknown urgency 'whenever' (allowed: routine, soon, urgent, emergency)",
        ),
        (
            lambda d: d.update(treatments=[{"status": "option"}]),
            "treatments[0].drug: missing",
        ),
    ],
)
def test_an_edited_decision_json_is_exit_3_naming_the_file_and_the_part(tmp_path, capsys, edit, message):
    record = json.loads(json.dumps(FULL_RECORD))
    edit(record)
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    assert run(["explain", str(path)]) == 3
    err = capsys.readouterr().err.strip()
    assert err == f"cds: error: {path}: not a decision record: {message}"


# --- issue 11: a letter traces to its log record; an edited decision.json is caught -------------------------------


def test_a_triaged_decision_traces_to_its_log_record(tmp_path, capsys):
    from cds.audit.log import DecisionLog

    out = tmp_path / "out"
    log = tmp_path / "log.sqlite"
    args = ["triage", "--patient", str(REPO / "examples" / "demo-patient.yaml"), "--out", str(out), "--log", str(log)]
    assert run(args) == 0
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    entry = DecisionLog(log).get(decision["record"]["id"])
    assert decision["record"] == {"id": entry.record_id, "log": entry.log_id, "seq": 1}
    ruleset = decision["inputs"]["ruleset"]
    for name in ("letter.md", "letter.html"):
        letter = (out / name).read_text(encoding="utf-8")
        assert entry.record_id in letter and ruleset["sha256"] in letter
        assert (f"release {ruleset['version']}" in letter) or ("UNRELEASED rule set" in letter)
    capsys.readouterr()
    assert run(["explain", str(out / "decision.json"), "--log", str(log)]) == 0
    captured = capsys.readouterr()
    assert f"verified: decision.json is log record {entry.record_id}" in captured.err
    by_record = run(["explain", "--record", entry.record_id, "--log", str(log), "--format", "json"])
    assert by_record == 0
    from_log = json.loads(capsys.readouterr().out)
    assert run(["explain", str(out / "decision.json"), "--log", str(log), "--format", "json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert from_log["patient_id"] == DecisionLog(log).pseudonym("DEMO-0001") and from_file["patient_id"] == "DEMO-0001"
    assert {**from_file, "patient_id": None} == {**from_log, "patient_id": None}  # the log holds only the pseudonym
    # an edited decision.json is not explained as if it were the logged decision
    decision["recommendations"][0]["urgency"] = (
        "routine" if decision["recommendations"][0]["urgency"] != ("routine") else "urgent"
    )
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(decision), encoding="utf-8")
    assert run(["explain", str(edited), "--log", str(log)]) == 1
    err = capsys.readouterr().err
    assert f"decision.json is not what log record {entry.record_id} holds" in err and "recommendations" in err
    # without the log at hand: explained, and said to be unverified
    assert run(["explain", str(out / "decision.json"), "--log", str(tmp_path / "elsewhere.sqlite")]) == 0
    assert "not verified against the decision log" in capsys.readouterr().err
    assert run(["explain"]) == 2
    assert run(["explain", "--record", "99", "--log", str(log)]) == 3


def test_why_not_names_every_failed_condition_in_words(tmp_path, capsys):
    """Issue 11, item 5: not only the first failed condition, every one, with the fact values that failed it."""
    out = tmp_path / "out"
    args = ["triage", "--patient", str(REPO / "examples" / "demo-patient.yaml"), "--out", str(out)]
    assert run([*args, "--log", str(tmp_path / "l.sqlite")]) == 0
    capsys.readouterr()
    explain = ["explain", str(out / "decision.json"), "--log", str(tmp_path / "l.sqlite"), "--rule"]
    assert run([*explain, "TRI-URGENT-FOCAL-DEFICIT", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fired"] is False
    assert report["failed"] == [
        "finding red_flag_focal is absent; the rule needs it",
        "New focal neurological deficit (symptoms.new_focal_deficit) is unknown; the rule needs yes",
    ]
    assert run([*explain, "TRI-URGENT-FOCAL-DEFICIT"]) == 0
    text = capsys.readouterr().out
    assert "every condition that failed:" in text and "- finding red_flag_focal is absent" in text
