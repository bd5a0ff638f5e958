"""Decision log (issue 5, item 7; issue 11, item 1): chain, signatures, concurrency, a killed writer, and every
kind of tampering, including an insider who recomputes every hash."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cds.audit.keys import KeyRing, verify_signature
from cds.audit.log import GENESIS_HASH, DecisionLog, DecisionLogError, default_log_path

FIXED_TIME = "2026-11-23T12:00:00.000000+00:00"


def _decision(n: int, patient_id: str = "P-0042") -> dict:
    return {
        "schema": "cds.decision/v1",
        "patient_id": patient_id,
        "inputs": {
            "patient": {"sha256": "a" * 64},
            "recording": {"sha256": "b" * 64, "name": "night1.edf"},
            "ruleset": {"version": "0.3.0", "sha256": "c" * 64},
            "engine": {"name": "cds", "version": "0.1.0"},
        },
        "recommendations": [{"action": "polysomnography", "urgency": "routine", "n": n}],
    }


def _filled(tmp_path: Path, n: int = 5, *, full: bool = True) -> DecisionLog:
    book = DecisionLog(tmp_path / "decisions.sqlite", clock=lambda: FIXED_TIME, full=full)
    for i in range(1, n + 1):
        book.append(_decision(i), patient_text=f"schema: cds.patient/v1\nid: P-0042\nnight: {i}\n")
    return book


def _remove(path: Path) -> None:
    path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _tamper(path: Path, *statements: str) -> None:
    """What someone going around the API would do: drop the append-only triggers, then edit the table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute("DROP TRIGGER records_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.close()


def _sha(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_first_record_hash_is_sha256_of_the_canonical_fields_and_is_signed(tmp_path):
    book = DecisionLog(tmp_path / "log.sqlite", clock=lambda: FIXED_TIME)
    entry = book.append(_decision(1), patient_text="id: P-0042\n")
    ring = KeyRing.load()
    pseudonym = ring.pseudonym("P-0042")
    assert pseudonym.startswith("p-") and len(pseudonym) == 18
    stored = {**_decision(1), "patient_id": pseudonym}  # minimised: no patient id, no patient text
    content = {
        "seq": 1,
        "log_id": book.info()["log_id"],
        "created_at": FIXED_TIME,
        "decision_sha256": _sha(stored),
        "patient_id": pseudonym,
        "inputs": _decision(1)["inputs"],
        "ruleset_version": "0.3.0",
        "engine_version": "0.1.0",
        "patient_text_sha256": hashlib.sha256(b"id: P-0042\n").hexdigest(),
        "previous_record_hash": GENESIS_HASH,
        "key_id": ring.active,
    }
    assert entry.record_hash == _sha(content)
    assert verify_signature(ring.public_of(ring.active), entry.record_hash.encode(), entry.signature)
    assert entry.decision == stored and entry.patient_text is None
    assert "P-0042" not in book.path.read_bytes().decode("latin-1")  # the id is nowhere in the file
    assert entry.record_id == f"{content['log_id'][:8]}-1" and book.get(entry.record_id).seq == 1
    second = book.append(_decision(2), patient_text=None)
    assert second.previous_record_hash == entry.record_hash
    assert second.patient_text_sha256 is None


def test_intact_log_verifies_and_reads_back(tmp_path):
    book = _filled(tmp_path, 5)
    result = book.verify()
    assert (result.ok, result.records, result.first_bad) == (True, 5, None)
    entries = list(book.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert result.head_hash == entries[-1].record_hash
    assert book.get(3).decision["recommendations"][0]["n"] == 3
    assert book.get(entries[3].record_hash[:10]).seq == 4
    assert book.get(2).patient_text.endswith("night: 2\n")


def test_missing_log_raises_and_lists_nothing(tmp_path):
    book = DecisionLog(tmp_path / "none.sqlite")
    assert list(book.entries()) == []
    with pytest.raises(DecisionLogError, match="no decision log here"):
        book.verify()
    with pytest.raises(DecisionLogError, match="no decision log here"):
        book.get(1)


def test_bad_or_missing_record_ids_raise(tmp_path):
    book = _filled(tmp_path, 2)
    with pytest.raises(DecisionLogError, match="no record '7'"):
        book.get(7)
    with pytest.raises(DecisionLogError, match="bad record id 'xyz'"):
        book.get("xyz")


def test_a_file_that_is_not_a_log_is_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DecisionLogError, match="cannot open the decision log"):
        DecisionLog(junk).append(_decision(1))
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("PRAGMA user_version = 7").connection.close()
    with pytest.raises(DecisionLogError, match="schema version 7"):
        DecisionLog(other).verify()


def test_default_location_and_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv("CDS_DECISION_LOG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_log_path() == tmp_path / ".local" / "share" / "cds" / "decisions.sqlite"
    monkeypatch.setenv("CDS_DECISION_LOG", str(tmp_path / "elsewhere.sqlite"))
    assert DecisionLog().path == tmp_path / "elsewhere.sqlite"


def test_triggers_refuse_update_and_delete(tmp_path):
    book = _filled(tmp_path, 2)
    conn = sqlite3.connect(book.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE records SET patient_id = 'P-9' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM records WHERE seq = 1")
    conn.close()
    assert book.verify().ok


@pytest.mark.parametrize(
    ("statements", "first_bad", "problem"),
    [
        (["UPDATE records SET patient_id = 'P-0099' WHERE seq = 3"], 3, "record_hash does not match"),
        (["UPDATE records SET created_at = '2020-01-01T00:00:00+00:00' WHERE seq = 2"], 2, "record_hash"),
        (
            ["UPDATE records SET decision_json = replace(decision_json, 'routine', 'urgent') WHERE seq = 4"],
            4,
            "stored decision does not match",
        ),
        (["UPDATE records SET patient_text = 'id: P-0001\n' WHERE seq = 1"], 1, "stored patient text"),
        (["DELETE FROM records WHERE seq = 3"], 3, "missing"),
        (["DELETE FROM records WHERE seq = 1"], 1, "missing"),
        (["DELETE FROM records WHERE seq = 5"], 5, "last record removed"),
        (["UPDATE records SET patient_id = 'P-0099' WHERE seq = 5"], 5, "record_hash does not match"),
        # swap rows 2 and 3: exchange their seq numbers (3 -> 99, 2 -> 3, 99 -> 2)
        (
            [
                "UPDATE records SET seq = 99 WHERE seq = 3",
                "UPDATE records SET seq = 3 WHERE seq = 2",
                "UPDATE records SET seq = 2 WHERE seq = 99",
            ],
            2,
            "previous_record_hash does not match record 1",
        ),
    ],
    ids=[
        "edit-field",
        "edit-time",
        "edit-decision",
        "edit-patient-text",
        "delete-middle",
        "delete-first",
        "delete-last",
        "edit-last",
        "swap-two",
    ],
)
def test_each_kind_of_tampering_is_caught(tmp_path, statements, first_bad, problem):
    book = _filled(tmp_path, 5)
    _tamper(book.path, *statements)
    result = book.verify()
    assert not result.ok
    assert result.first_bad == first_bad
    assert problem in result.problem
    assert result.problem.startswith(f"record {first_bad}:")


def test_editing_the_last_record_and_rehashing_it_is_caught_by_the_head(tmp_path):
    book = _filled(tmp_path, 4)
    last = book.get(4)
    content = {**last.hashed_content(), "patient_id": "P-0099"}
    forged = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    _tamper(book.path, f"UPDATE records SET patient_id = 'P-0099', record_hash = '{forged}' WHERE seq = 4")
    result = book.verify()
    assert (result.ok, result.first_bad) == (False, 4)
    assert result.problem == "record 4: signature does not match (edited and re-hashed without the key)"


def _append_many(path: str, worker: int, count: int) -> None:
    book = DecisionLog(path)
    for i in range(count):
        book.append(_decision(i, patient_id=f"W{worker}-{i:02d}"), patient_text=f"worker {worker} #{i}\n")


def test_concurrent_writers_serialise_into_one_valid_chain(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(path, w, 25)) for w in range(4)]
    for proc in workers:
        proc.start()
    for proc in workers:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    book = DecisionLog(path)
    result = book.verify()
    assert (result.ok, result.records) == (True, 100)
    ids = sorted(e.patient_id for e in book.entries())
    assert ids == sorted(book.pseudonym(f"W{w}-{i:02d}") for w in range(4) for i in range(25))


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from cds.audit import log as audit_log

marker = Path(sys.argv[2])
original = audit_log.DecisionLog._update_head

def _stall(conn, entry):
    original(conn, entry)           # the record row and the head are written, not yet committed
    marker.write_text(str(entry.seq))
    time.sleep(60)

audit_log.DecisionLog._update_head = staticmethod(_stall)
audit_log.DecisionLog(sys.argv[1]).append({"patient_id": "KILLED", "inputs": {}}, patient_text="half\\n")
"""


def test_a_writer_killed_mid_transaction_leaves_no_partial_record(tmp_path):
    book = _filled(tmp_path, 3)
    marker = tmp_path / "inside-transaction"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(book.path), str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert proc.poll() is None, "writer exited before reaching the transaction"
            assert time.monotonic() < deadline, "writer never reached the transaction"
            time.sleep(0.05)
        assert marker.read_text() == "4"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    result = book.verify()
    assert (result.ok, result.records) == (True, 3)
    assert book.pseudonym("KILLED") not in {e.patient_id for e in book.entries()}
    entry = book.append(_decision(4))
    assert (entry.seq, entry.previous_record_hash) == (4, result.head_hash)
    assert book.verify().ok


def test_a_log_rewritten_from_scratch_is_caught_by_an_anchor(tmp_path):
    book = _filled(tmp_path, 4)
    anchor = book.verify().head_hash  # noted outside the log, e.g. in a release note
    _remove(book.path)
    forged = DecisionLog(book.path, clock=lambda: FIXED_TIME)
    forged.init(new_log=True)  # an insider holding the key ring starts a log on purpose
    for i in range(1, 5):
        forged.append(_decision(i, patient_id="P-0666"), patient_text="forged\n")
    assert forged.verify().ok  # internally consistent
    result = forged.verify(anchor=anchor[:16])
    assert (result.ok, result.first_bad) == (False, None)
    assert result.problem.startswith(f"anchor {anchor[:12]} is not in the chain")
    with pytest.raises(DecisionLogError, match="bad anchor 'xyz'"):
        forged.verify(anchor="xyz")


def test_an_anchor_stays_valid_while_records_are_appended(tmp_path):
    book = _filled(tmp_path, 2)
    anchor = book.verify().head_hash
    book.append(_decision(3))
    assert book.verify(anchor=anchor).ok
