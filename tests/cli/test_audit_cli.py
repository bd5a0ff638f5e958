"""``cds audit verify|list|show`` (issue 5, item 7): exit codes and the line naming the first bad record."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cds.audit.log import DecisionLog
from cds.cli import run
from cds.decision import decide


def _decision(n: int) -> dict:
    return {
        "schema": "cds.decision/v1",
        "patient_id": f"P-{n:04d}",
        "inputs": {"recording": {"sha256": "b" * 64, "name": f"night{n}.edf"}, "ruleset": {"version": "0.3.0"}},
    }


@pytest.fixture
def log_path(tmp_path):
    path = tmp_path / "decisions.sqlite"
    book = DecisionLog(path, full=True)
    for n in (1, 2, 3):
        book.append(_decision(n), patient_text=f"id: P-{n:04d}\n")
    return path


def test_verify_intact_log_exits_zero(log_path, capsys):
    assert run(["audit", "verify", "--log", str(log_path)]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 records, chain intact and signed")


def test_verify_uses_the_environment_variable(log_path, capsys, monkeypatch):
    monkeypatch.setenv("CDS_DECISION_LOG", str(log_path))
    assert run(["audit", "verify", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["records"]) == (True, 3)


def test_verify_tampered_log_exits_one_naming_the_record(log_path, capsys):
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute("UPDATE records SET patient_id = 'p-0000000000000999' WHERE seq = 2")
    conn.close()
    assert run(["audit", "verify", "--log", str(log_path)]) == 1
    err = capsys.readouterr().err
    assert "decision log tampered: record 2: record_hash does not match its content (edited)" in err


def test_verify_missing_log_is_an_input_error(tmp_path, capsys):
    assert run(["audit", "verify", "--log", str(tmp_path / "nope.sqlite")]) == 3
    assert "no decision log here" in capsys.readouterr().err


def test_list_prints_one_line_per_record(log_path, capsys):
    assert run(["audit", "list", "--log", str(log_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    pseudonym = DecisionLog(log_path).pseudonym("P-0002")
    assert f"patient {pseudonym}" in lines[1] and "recording night2.edf" in lines[1]
    assert "P-0002" not in "\n".join(lines)
    assert run(["audit", "list", "--log", str(log_path), "--patient", "P-0002"]) == 0
    only = capsys.readouterr().out.splitlines()
    assert len(only) == 1 and only[0].startswith("    2 ")


def test_show_prints_decision_and_patient_text(log_path, capsys):
    assert run(["audit", "show", "2", "--log", str(log_path), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["seq"] == 2
    assert shown["decision"] == _decision(2)
    assert shown["patient_text"] == "id: P-0002\n"
    assert run(["audit", "show", "9", "--log", str(log_path)]) == 3
    assert "no record '9'" in capsys.readouterr().err


def _minibase():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("minibase", Path(__file__).parents[1] / "rulebase" / "minibase.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replay_shows_what_the_current_rule_set_changes(tmp_path, capsys):
    from cds.facts.patient import read_patient
    from cds.rules.engine import load_rulebase

    minibase = _minibase()
    old = minibase.write_minibase(tmp_path / "old")
    new = minibase.write_minibase(tmp_path / "new", adult_threshold=10)
    rulebase = load_rulebase(old / "rules", old / "knowledge")
    patient_file = old / "cases" / "P1.yaml"
    decision = decide(rulebase, read_patient(patient_file, knowledge=rulebase.kb), patient_sha256="x")
    path = tmp_path / "log.sqlite"
    DecisionLog(path, full=True).append(decision.to_record(), patient_text=patient_file.read_text())
    DecisionLog(path).append(_decision(9))  # no patient text stored
    args = ["audit", "replay", "1", "--log", str(path), "--knowledge"]
    assert run([*args, str(old / "knowledge"), "--rules", str(old / "rules")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"record 1 ({DecisionLog(path).get(1).record_id}, patient p-") and ": rule set " in out
    assert "same decision" in out
    assert run([*args, str(new / "knowledge"), "--rules", str(new / "rules"), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["changes"] == [
        "finding plmd: none -> present",
        "recommendation polysomnography: none -> routine",
        "recommendation reassurance: routine -> none",
    ]
    assert report["same_ruleset"] is False and report["reproducible"] is True
    assert report["rules"]["now fire"] and all(r.startswith(("FND", "TRI", "EVD")) for r in report["rules"]["now fire"])
    assert run(["audit", "replay", "2", "--log", str(path)]) == 3
    assert "record 2 has no stored patient file" in capsys.readouterr().err


def test_verify_with_an_anchor_from_another_log_exits_one(log_path, tmp_path, capsys):
    other = DecisionLog(tmp_path / "other.sqlite")
    anchor = other.append(_decision(7)).record_hash
    capsys.readouterr()
    assert run(["audit", "verify", "--log", str(log_path), "--anchor", anchor]) == 1
    assert f"anchor {anchor[:12]} is not in the chain" in capsys.readouterr().err
    head = DecisionLog(log_path).verify().head_hash
    assert run(["audit", "verify", "--log", str(log_path), "--anchor", head]) == 0


# --- issue 16: a damaged log is reported, a decision whose letter never existed is shown as such -----------------


@pytest.mark.parametrize("table", ["head", "records"])
def test_verify_reports_a_dropped_table_as_tampering(log_path, capsys, table):
    """Regression (issue 16): ``audit verify`` on a log whose ``head`` table was dropped ended in exit 4."""
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute(f"DROP TABLE {table}")
    conn.close()
    assert run(["audit", "verify", "--log", str(log_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cds: decision log tampered: the {table} table of the log is missing (dropped)"]


def test_list_and_show_on_a_log_without_records_table_exit_3(log_path, capsys):
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("DROP TABLE records")
    conn.close()
    for args in (["audit", "list"], ["audit", "show", "1"]):
        assert run([*args, "--log", str(log_path)]) == 3
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "the decision log is damaged: no such table: records" in err[0]


def test_verify_reports_an_altered_head_as_tampering(log_path, capsys):
    conn = sqlite3.connect(log_path, isolation_level=None)
    conn.execute("UPDATE head SET records = 'three'")
    conn.close()
    assert run(["audit", "verify", "--log", str(log_path)]) == 1
    assert "the log's head is unreadable" in capsys.readouterr().err


def test_a_decision_marked_not_delivered_is_shown_as_such(log_path, capsys):
    book = DecisionLog(log_path)
    failure = book.append_delivery_failure(
        book.get(3), reason="cannot move the outputs into 'out': disk full", files=["decision.json", "letter.html"]
    )
    assert failure.seq == 4 and failure.delivery_failure["record"] == 3
    assert run(["audit", "verify", "--log", str(log_path)]) == 0  # chained like every record
    capsys.readouterr()
    assert run(["audit", "list", "--log", str(log_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "NOT DELIVERED (see record 4)" in lines[2] and "NOT DELIVERED" not in lines[1]
    assert "DELIVERY FAILED for record 3: cannot move the outputs into 'out': disk full" in lines[3]
    assert run(["audit", "show", "3", "--log", str(log_path)]) == 0
    assert "NOT DELIVERED: record 4 says this decision's letter was never written out" in capsys.readouterr().out
    assert run(["audit", "list", "--log", str(log_path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r.get("delivered")) for r in rows] == [
        ("decision", True),
        ("decision", True),
        ("decision", False),
        ("delivery_failure", None),
    ]
    assert run(["audit", "replay", "4", "--log", str(log_path)]) == 3
    assert "record 4 is a delivery-failure note for record 3, not a decision" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_list_refuses_a_log_that_is_not_there(tmp_path, capsys, kind):
    """Found in the hostile sweep (issue 16): a folder or a mistyped --log listed nothing with exit 0."""
    path = tmp_path / "decisions.sqlite"
    if kind == "folder":
        path.mkdir()
    assert run(["audit", "list", "--log", str(path)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.endswith("no decision log here (run `cds triage` first)" if kind == "missing" else "not a file")


# --- issue 11: init, anchors, key rotation, replay from a minimised record ------------------------------------------


def test_init_anchor_verify_and_rotate(tmp_path, capsys):
    log = ["--log", str(tmp_path / "l" / "decisions.sqlite"), "--key", str(tmp_path / "k" / "ring.json")]
    assert run(["audit", "init", *log]) == 0
    assert "active key" in capsys.readouterr().out
    assert run(["audit", "anchor", *log]) == 3  # nothing to anchor yet
    assert "no records yet" in capsys.readouterr().err
    book = DecisionLog(tmp_path / "l" / "decisions.sqlite", key_path=tmp_path / "k" / "ring.json")
    book.append(_decision(1))
    anchor = tmp_path / "auditor" / "anchor.json"
    assert run(["audit", "anchor", *log, "--out", str(anchor)]) == 0
    assert json.loads(anchor.read_text())["seq"] == 1
    assert run(["audit", "rotate-key", "--key", log[3]]) == 0
    capsys.readouterr()
    book._ring = None
    book.append(_decision(2))
    assert run(["audit", "verify", *log, "--anchor", str(anchor)]) == 0
    assert "chain intact and signed and the anchor" in capsys.readouterr().out
    data = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**data, "record_hash": "0" * 64}))
    assert run(["audit", "verify", *log, "--anchor", str(anchor)]) == 1
    assert "the anchor's signature is invalid" in capsys.readouterr().err


def test_replay_of_a_minimised_record_needs_the_patient_file(tmp_path, capsys):
    from cds.facts.patient import read_patient
    from cds.rules.engine import load_rulebase

    minibase = _minibase()
    old = minibase.write_minibase(tmp_path / "old")
    rulebase = load_rulebase(old / "rules", old / "knowledge")
    patient_file = old / "cases" / "P1.yaml"
    decision = decide(rulebase, read_patient(patient_file, knowledge=rulebase.kb), patient_sha256="x")
    path = tmp_path / "log.sqlite"
    DecisionLog(path).append(decision.to_record(), patient_text=patient_file.read_text())
    base = [
        "audit",
        "replay",
        "1",
        "--log",
        str(path),
        "--knowledge",
        str(old / "knowledge"),
        "--rules",
        str(old / "rules"),
    ]
    assert run(base) == 3
    assert "pass the file with --patient" in capsys.readouterr().err
    other = tmp_path / "other.yaml"
    other.write_text(patient_file.read_text() + "# edited\n")
    assert run([*base, "--patient", str(other)]) == 3
    assert "not the patient file of record 1" in capsys.readouterr().err
    assert run([*base, "--patient", str(patient_file)]) == 0
    assert "same decision" in capsys.readouterr().out


def test_replay_flags_a_record_the_same_rule_set_cannot_reproduce(tmp_path, capsys):
    from cds.facts.patient import read_patient
    from cds.rules.engine import load_rulebase

    minibase = _minibase()
    old = minibase.write_minibase(tmp_path / "old")
    rulebase = load_rulebase(old / "rules", old / "knowledge")
    patient_file = old / "cases" / "P1.yaml"
    decision = decide(rulebase, read_patient(patient_file, knowledge=rulebase.kb), patient_sha256="x").to_record()
    decision["trace"] = [f for f in decision["trace"] if not f["rule"].startswith("TRI")]  # not what the rules do
    decision["recommendations"] = []
    path = tmp_path / "log.sqlite"
    DecisionLog(path, full=True).append(decision, patient_text=patient_file.read_text())
    args = [
        "audit",
        "replay",
        "1",
        "--log",
        str(path),
        "--knowledge",
        str(old / "knowledge"),
        "--rules",
        str(old / "rules"),
    ]
    assert run(args) == 1
    captured = capsys.readouterr()
    assert "rules that now fire: TRI-" in captured.out
    assert "record 1 cannot be reproduced: the same rule set" in captured.err
