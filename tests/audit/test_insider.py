"""Issue 11, item 1: the decision log against an insider. Every tampering an auditor would try must fail
``verify`` with its own reason: an edit with every hash recomputed, the same with the key in hand, a deleted,
truncated, reordered, back-dated or replaced log. Also: anchors, key rotation, file modes, minimised content."""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from cds.audit.keys import KeyRing, KeyRingError
from cds.audit.log import GENESIS_HASH, DecisionLog, DecisionLogError, canonical_json, sha256_hex

T0 = "2026-11-23T12:00:0{}.000000+00:00"


def _decision(n: int, patient_id: str = "P-0042") -> dict:
    return {
        "schema": "cds.decision/v1",
        "patient_id": patient_id,
        "inputs": {"ruleset": {"version": "0.3.0", "sha256": "c" * 64}, "engine": {"version": "0.1.0"}},
        "recommendations": [{"action": "polysomnography", "urgency": "routine", "n": n}],
    }


class Clock:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return T0.format(self.n)


@pytest.fixture
def book(tmp_path: Path) -> DecisionLog:
    book = DecisionLog(tmp_path / "log" / "decisions.sqlite", clock=Clock(), key_path=tmp_path / "keys" / "k.json")
    for i in range(1, 6):
        book.append(_decision(i), patient_text=f"id: P-0042\nnight: {i}\n")
    assert book.verify().ok
    return book


def _rows(path: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM records ORDER BY seq")]
    conn.close()
    return rows


def _rewrite(path: Path, rows: list[dict[str, Any]], ring: KeyRing | None = None) -> None:
    """An insider rewriting the records table: hashes, chain and head recomputed; signed again when holding the
    key ring (``ring``), else the old signatures are kept."""
    previous = GENESIS_HASH
    fields = (
        "seq",
        "log_id",
        "created_at",
        "decision_sha256",
        "patient_id",
        "inputs",
        "ruleset_version",
        "engine_version",
        "patient_text_sha256",
        "previous_record_hash",
        "key_id",
    )
    for row in rows:
        row["decision_sha256"] = sha256_hex(row["decision_json"])
        row["previous_record_hash"] = previous
        content = {k: (json.loads(row[k]) if k == "inputs" else row[k]) for k in fields}
        row["record_hash"] = sha256_hex(canonical_json(content))
        if ring is not None:
            row["signature"] = ring.sign(row["record_hash"].encode("ascii"))[1]
        previous = row["record_hash"]
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER records_no_update")
    conn.execute("DROP TRIGGER records_no_delete")
    conn.execute("DELETE FROM records")
    for row in rows:
        conn.execute(f"INSERT INTO records ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
    conn.execute("UPDATE head SET records = ?, last_hash = ?", (len(rows), previous))
    conn.close()


def _edit_decision(row: dict[str, Any]) -> None:
    row["decision_json"] = row["decision_json"].replace("routine", "urgent")


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def test_edit_with_every_hash_recomputed_fails_on_the_signature(book):
    rows = _rows(book.path)
    _edit_decision(rows[2])
    _rewrite(book.path, rows)  # no key: signatures left as they were
    result = book.verify()
    assert (result.ok, result.first_bad) == (False, 3)
    assert result.problem == "record 3: signature does not match (edited and re-hashed without the key)"


def test_edit_re_signed_with_the_key_fails_on_the_witness_and_the_anchor(book):
    anchor = book.anchor()
    rows = _rows(book.path)
    _edit_decision(rows[2])
    _rewrite(book.path, rows, book.ring())  # an insider who holds the key ring
    result = book.verify()
    assert not result.ok
    assert "record 5 is" in result.problem and "(history rewritten)" in result.problem
    book.ring().forget_witness(book.path)  # ... and who also removes the witness
    book._ring = None
    with_anchor = book.verify(anchor=anchor)
    assert not with_anchor.ok
    assert with_anchor.problem.startswith("record 5 is not the record anchored")


def test_a_deleted_record_with_the_chain_re_signed_is_caught(book):
    rows = _rows(book.path)
    del rows[1]
    for seq, row in enumerate(rows, start=1):
        row["seq"] = seq
    _rewrite(book.path, rows, book.ring())
    result = book.verify()
    assert not result.ok and result.problem.startswith("the log holds 4 record(s), but the key ring saw record 5")
    with pytest.raises(DecisionLogError, match="refusing to append: the log holds 4 record"):
        book.append(_decision(6))


def test_a_truncated_log_is_reported_and_never_appended_to(book):
    rows = _rows(book.path)[:3]
    _rewrite(book.path, rows, book.ring())
    result = book.verify()
    assert not result.ok
    assert "but the key ring saw record 5 written" in result.problem and result.problem.endswith("truncated")
    with pytest.raises(DecisionLogError, match="truncated"):
        book.append(_decision(6))
    assert len(_rows(book.path)) == 3


def test_a_file_emptied_to_zero_bytes_is_not_started_again(book):
    _remove(book.path)
    book.path.write_bytes(b"")
    with pytest.raises(DecisionLogError, match="missing or empty, but this key ring saw 5 record"):
        book.append(_decision(6))
    result = book.verify()
    assert not result.ok and "saw 5 record(s)" in result.problem


def test_reordered_records_re_signed_are_caught(book):
    rows = _rows(book.path)
    rows[1], rows[2] = rows[2], rows[1]
    rows[1]["seq"], rows[2]["seq"] = 2, 3
    rows[1]["created_at"], rows[2]["created_at"] = rows[2]["created_at"], rows[1]["created_at"]
    _rewrite(book.path, rows, book.ring())
    result = book.verify()
    assert not result.ok and "(history rewritten)" in result.problem


def test_a_back_dated_record_is_caught_even_when_re_signed(book):
    rows = _rows(book.path)
    rows[3]["created_at"] = "2026-11-23T11:59:00.000000+00:00"  # before record 3
    _rewrite(book.path, rows, book.ring())
    result = book.verify()
    assert (result.ok, result.first_bad) == (False, 4)
    assert result.problem.startswith("record 4: created_at 2026-11-23T11:59:00.000000+00:00 is before record 3's")
    assert result.problem.endswith("(back-dated)")


def test_a_clock_that_went_backwards_logs_nothing(tmp_path):
    times = iter(["2026-11-23T12:00:00.000000+00:00"] * 2 + ["2026-11-23T11:00:00.000000+00:00"])  # log, 1, 2
    book = DecisionLog(tmp_path / "l.sqlite", clock=lambda: next(times), key_path=tmp_path / "k.json")
    book.append(_decision(1))
    with pytest.raises(DecisionLogError, match=r"system clock .* is behind the last record's time"):
        book.append(_decision(2))
    assert book.verify().records == 1


def test_a_deleted_log_is_reported_not_restarted(book):
    _remove(book.path)
    result = book.verify()
    assert not result.ok and result.problem.startswith("the decision log is missing or empty, but this key ring saw 5")
    with pytest.raises(DecisionLogError, match="missing or empty"):
        book.append(_decision(6))
    assert not book.path.exists()
    with pytest.raises(DecisionLogError, match="audit init --new-log"):
        book.init()
    new_id = book.init(new_log=True)  # started again on purpose: the new log names the one it replaces
    assert book.info()["supersedes"]["seq"] == 5 and book.info()["log_id"] == new_id
    assert book.append(_decision(1)).seq == 1 and book.verify().ok


def test_a_replaced_log_is_reported(book, tmp_path):
    other = DecisionLog(tmp_path / "other.sqlite", clock=Clock(), key_path=book.key_path)
    for i in range(1, 8):
        other.append(_decision(i))
    _remove(book.path)
    shutil.copy(other.path, book.path)
    result = book.verify()
    assert not result.ok and result.problem.endswith("(the log was replaced)")
    with pytest.raises(DecisionLogError, match="the log was replaced"):
        book.append(_decision(9))


def test_a_record_copied_in_from_another_log_is_caught(book, tmp_path):
    other = DecisionLog(tmp_path / "other.sqlite", clock=Clock(), key_path=book.key_path)
    other.append(_decision(1))
    rows = _rows(book.path)
    rows[0] = {**_rows(other.path)[0]}
    _rewrite(book.path, rows, book.ring())
    result = book.verify()
    assert (result.ok, result.first_bad) == (False, 1) and "(copied in)" in result.problem


def test_anchor_file_checks(book, tmp_path):
    anchor = book.anchor()
    assert book.verify(anchor=anchor).ok
    book.append(_decision(6))
    assert book.verify(anchor=anchor).ok  # still valid while the log grows
    edited = {**anchor, "seq": 4}
    assert book.verify(anchor=edited).problem == "the anchor's signature is invalid (the anchor was edited)"
    foreign = DecisionLog(tmp_path / "x.sqlite", key_path=tmp_path / "other-keys.json", clock=Clock())
    foreign.append(_decision(1))
    result = book.verify(anchor=foreign.anchor())
    assert not result.ok and "which this key ring does not hold (the keys were replaced)" in result.problem
    with pytest.raises(DecisionLogError, match="not a cds audit anchor"):
        book.verify(anchor={"schema": "nope"})


def test_a_whole_new_key_ring_and_log_fail_the_auditors_anchor(book):
    anchor = book.anchor()
    shutil.rmtree(book.key_path.parent)  # the insider throws away keys, witness and log, and forges it all
    _remove(book.path)
    forged = DecisionLog(book.path, clock=Clock(), key_path=book.key_path)
    for i in range(1, 6):
        forged.append(_decision(i))
    assert forged.verify().ok
    result = forged.verify(anchor=anchor)
    assert not result.ok and "(the keys were replaced)" in result.problem


def test_rotated_keys_keep_old_records_verifiable(book):
    anchor = book.anchor()
    old = book.ring().active
    new = book.ring().rotate()
    book._ring = None
    assert KeyRing.load(book.key_path).keys[old].private is None
    entry = book.append(_decision(6))
    assert entry.key_id == new.key_id != old
    assert book.verify().ok and book.verify(anchor=anchor).ok


def test_a_forged_witness_is_refused(book):
    witness = book.ring().witness_path(book.path)
    data = json.loads(witness.read_text())
    witness.write_text(json.dumps({**data, "seq": 2}))
    with pytest.raises(KeyRingError, match="not signed by this key ring"):
        book.verify()


def test_a_log_without_its_key_ring_is_refused(book):
    book.key_path.unlink()
    fresh = DecisionLog(book.path, key_path=book.key_path)
    with pytest.raises(KeyRingError, match="no decision-log key ring here"):
        fresh.append(_decision(6))
    with pytest.raises(KeyRingError, match="no decision-log key ring here"):
        fresh.verify()


def test_files_are_private(book):
    assert stat.S_IMODE(book.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(book.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(book.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(book.key_path.parent.stat().st_mode) == 0o700
    witness = book.ring().witness_path(book.path)
    assert stat.S_IMODE(witness.stat().st_mode) == 0o600


def test_patient_content_is_minimised_unless_asked_for(book, tmp_path):
    raw = book.path.read_bytes() + b"".join(
        Path(f"{book.path}{s}").read_bytes() for s in ("-wal",) if Path(f"{book.path}{s}").exists()
    )
    assert b"P-0042" not in raw and b"night: 1" not in raw
    entry = book.get(1)
    assert entry.patient_text is None and entry.patient_text_sha256 == sha256_hex("id: P-0042\nnight: 1\n")
    assert [e.seq for e in book.find_patient("P-0042")] == [1, 2, 3, 4, 5]
    full = DecisionLog(tmp_path / "full.sqlite", key_path=book.key_path, full=True)
    kept = full.append(_decision(1), patient_text="id: P-0042\n")
    assert kept.patient_text == "id: P-0042\n" and kept.decision["patient_id"] == "P-0042"
    assert kept.patient_id == book.pseudonym("P-0042")


def test_compare_names_what_differs(book):
    stamped = {}

    def stamp(ref):
        stamped.update(_decision(7), record=ref)
        return dict(stamped)

    entry = book.append({}, stamp=stamp)
    assert book.compare(dict(stamped)) == (entry, [])
    edited = {**stamped, "recommendations": [{"action": "none"}]}
    assert book.compare(edited)[1] == ["differs from the logged decision in: recommendations"]
    with pytest.raises(DecisionLogError, match="names no log record"):
        book.compare(_decision(1))
