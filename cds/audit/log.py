"""Append-only, hash-chained decision log in SQLite (rule-engine design notes, section 5 "audit record").

Every ``cds triage`` appends one record. Each record stores the decision JSON itself, the patient file's text,
the hashes of every input, the rule-set and engine versions, a UTC ``created_at``, the hash of the record
before it (``previous_record_hash``) and its own ``record_hash`` = sha256 of the canonical JSON of all those
fields. Editing, removing or reordering any record breaks the chain, and :meth:`DecisionLog.verify` names the
first record where it breaks. A one-row ``head`` table, written in the same transaction, holds the record count
and the last hash, so removing or editing the *last* record is caught as well.

A decision whose outputs could not be moved into place after it was logged (cds.pipeline.deliver_triage) is
followed by a *delivery-failure* record: an ordinary, hash-chained record whose stored JSON is a
``cds.delivery-failure/v1`` note naming the decision's seq and record hash and the reason. ``cds audit list/show``
display such a decision as not delivered.

A log whose ``records`` or ``head`` table was dropped is reported by :meth:`DecisionLog.verify` as tampered,
like any other edit.

Concurrency: WAL journal and ``BEGIN IMMEDIATE`` transactions, so concurrent writers serialise on the write
lock and a writer killed mid-transaction leaves nothing behind (SQLite rolls the open transaction back).
Triggers refuse UPDATE and DELETE on records: the log is append-only through this API; the hash chain is what
catches anyone who goes around it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds import __version__
from cds.errors import InputError

__all__ = [
    "DELIVERY_FAILURE_SCHEMA",
    "GENESIS_HASH",
    "DecisionLog",
    "DecisionLogError",
    "LogEntry",
    "VerifyResult",
    "canonical_json",
    "default_log_path",
    "sha256_hex",
]

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
DELIVERY_FAILURE_SCHEMA = "cds.delivery-failure/v1"
_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 60_000
_HASHED_FIELDS = (
    "seq",
    "created_at",
    "decision_sha256",
    "patient_id",
    "inputs",
    "ruleset_version",
    "engine_version",
    "patient_text_sha256",
    "previous_record_hash",
)

_DDL = (
    """CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    decision_sha256 TEXT NOT NULL,
    patient_id TEXT,
    inputs TEXT NOT NULL,
    ruleset_version TEXT,
    engine_version TEXT NOT NULL,
    patient_text_sha256 TEXT,
    previous_record_hash TEXT NOT NULL,
    record_hash TEXT NOT NULL UNIQUE,
    decision_json TEXT NOT NULL,
    patient_text TEXT
)""",
    """CREATE TABLE IF NOT EXISTS head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    records INTEGER NOT NULL,
    last_hash TEXT NOT NULL
)""",
    "CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records "
    "BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records "
    "BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END",
)


class DecisionLogError(InputError):
    """The decision log file cannot be opened or is not a cds decision log."""


def default_log_path() -> Path:
    """``$CDS_DECISION_LOG`` if set, else ``~/.local/share/cds/decisions.sqlite``."""
    env = os.environ.get("CDS_DECISION_LOG")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "cds" / "decisions.sqlite"


def canonical_json(value: Any) -> str:
    """Keys sorted, no whitespace, UTF-8 kept: the one serialisation every hash in the log is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: str | bytes) -> str:
    """Hex sha256 of bytes, or of a string's UTF-8 encoding."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


@dataclass(frozen=True)
class LogEntry:
    """One record of the decision log. ``seq`` is its id (1, 2, ...)."""

    seq: int
    created_at: str
    decision_sha256: str
    patient_id: str | None
    inputs: dict[str, Any]
    ruleset_version: str | None
    engine_version: str
    patient_text_sha256: str | None
    previous_record_hash: str
    record_hash: str
    decision_json: str = field(repr=False)
    patient_text: str | None = field(default=None, repr=False)

    @property
    def decision(self) -> dict[str, Any]:
        """The logged decision (``cds.decision/v1``) as a dict (for a delivery-failure record: its note)."""
        decision: dict[str, Any] = json.loads(self.decision_json)
        return decision

    @property
    def delivery_failure(self) -> dict[str, Any] | None:
        """The note of a delivery-failure record (``record``, ``record_hash``, ``reason``, ``files``), else None."""
        try:
            stored = json.loads(self.decision_json)
        except ValueError:
            return None
        return stored if isinstance(stored, dict) and stored.get("schema") == DELIVERY_FAILURE_SCHEMA else None

    def hashed_content(self) -> dict[str, Any]:
        """The fields the record hash is taken over."""
        return {name: getattr(self, name) for name in _HASHED_FIELDS}

    def to_dict(self, *, with_content: bool = False) -> dict[str, Any]:
        """Summary for ``cds audit list/show --format json``; the stored decision and patient text on request."""
        out = {**self.hashed_content(), "record_hash": self.record_hash}
        if with_content:
            out["decision"] = self.decision
            out["patient_text"] = self.patient_text
        return out


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`DecisionLog.verify`: ``first_bad`` is the seq of the first bad record, if any."""

    ok: bool
    records: int
    head_hash: str
    first_bad: int | None = None
    problem: str | None = None


def _record_hash(content: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(content))


def _inputs_of(decision: dict[str, Any]) -> dict[str, Any]:
    """The input hashes a decision names (``inputs`` of cds.decision/v1), without anything else."""
    inputs = decision.get("inputs")
    return dict(inputs) if isinstance(inputs, dict) else {}


def _ruleset_version(inputs: dict[str, Any]) -> str | None:
    ruleset = inputs.get("ruleset")
    if isinstance(ruleset, dict) and ruleset.get("version") is not None:
        return str(ruleset["version"])
    return None


def _engine_version(inputs: dict[str, Any]) -> str:
    engine = inputs.get("engine")
    if isinstance(engine, dict) and engine.get("version") is not None:
        return str(engine["version"])
    return __version__


def _now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


_COLUMNS = (*_HASHED_FIELDS, "record_hash", "decision_json", "patient_text")


def _entry_from_row(row: tuple[Any, ...]) -> LogEntry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["inputs"] = json.loads(values["inputs"])
    return LogEntry(**values)


class DecisionLog:
    """The hash-chained decision log at ``path`` (created on first use; default :func:`default_log_path`)."""

    def __init__(self, path: str | Path | None = None, *, clock: Callable[[], str] = _now_utc) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self._clock = clock

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if not create and not self.path.is_file():
            raise DecisionLogError("no decision log here", path=self.path, hint="run `cds triage` first")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and create:
                conn.execute("BEGIN IMMEDIATE")
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in _DDL:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                conn.execute("COMMIT")
            elif version != _SCHEMA_VERSION:
                conn.close()
                problem = f"not a cds decision log (schema version {version})"
                raise DecisionLogError(problem, path=self.path, hint=f"expected {_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise DecisionLogError(f"cannot open the decision log: {exc}", path=self.path) from exc
        return conn

    def append(self, decision: dict[str, Any], *, patient_text: str | None = None) -> LogEntry:
        """Append one decision (a ``cds.decision/v1`` dict) and the patient file's text; return the new record.

        The record is written inside one ``BEGIN IMMEDIATE`` transaction: either all of it is in the log,
        chained to the record before it, or none of it is.
        """
        decision_json = canonical_json(decision)
        inputs = _inputs_of(decision)
        patient_id = decision.get("patient_id")
        conn = self._connect(create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                entry = self._build_entry(conn, decision_json, inputs, patient_id, patient_text)
                self._insert(conn, entry)
                self._update_head(conn, entry)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise DecisionLogError(f"cannot append to the decision log: {exc}", path=self.path) from exc
        finally:
            conn.close()
        log.info("decision log %s: appended record %d (%s)", self.path, entry.seq, entry.record_hash[:12])
        return entry

    def append_delivery_failure(self, entry: LogEntry, *, reason: str, files: list[str]) -> LogEntry:
        """Append a record saying the outputs of the decision ``entry`` were not delivered (why, which files).

        It is chained like every record, so it cannot be removed unnoticed; ``cds audit list/show`` show the
        decision as not delivered."""
        note = {
            "schema": DELIVERY_FAILURE_SCHEMA,
            "record": entry.seq,
            "record_hash": entry.record_hash,
            "reason": reason,
            "files": list(files),
        }
        note_json = canonical_json(note)
        conn = self._connect(create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                failure = self._build_entry(conn, note_json, {}, entry.patient_id, None)
                self._insert(conn, failure)
                self._update_head(conn, failure)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise DecisionLogError(f"cannot append to the decision log: {exc}", path=self.path) from exc
        finally:
            conn.close()
        log.warning("decision log %s: record %d marks record %d as not delivered", self.path, failure.seq, entry.seq)
        return failure

    def undelivered(self) -> dict[int, LogEntry]:
        """Seq of each decision marked as not delivered -> the delivery-failure record that marks it."""
        marks: dict[int, LogEntry] = {}
        for entry in self.entries():
            note = entry.delivery_failure
            if note is not None and isinstance(note.get("record"), int):
                marks[note["record"]] = entry
        return marks

    def _build_entry(
        self,
        conn: sqlite3.Connection,
        decision_json: str,
        inputs: dict[str, Any],
        patient_id: Any,
        patient_text: str | None,
    ) -> LogEntry:
        last = conn.execute("SELECT seq, record_hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        seq, previous = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        content: dict[str, Any] = {
            "seq": seq,
            "created_at": self._clock(),
            "decision_sha256": sha256_hex(decision_json),
            "patient_id": None if patient_id is None else str(patient_id),
            "inputs": inputs,
            "ruleset_version": _ruleset_version(inputs),
            "engine_version": _engine_version(inputs),
            "patient_text_sha256": None if patient_text is None else sha256_hex(patient_text),
            "previous_record_hash": previous,
        }
        return LogEntry(
            **content,
            record_hash=_record_hash(content),
            decision_json=decision_json,
            patient_text=patient_text,
        )

    @staticmethod
    def _insert(conn: sqlite3.Connection, entry: LogEntry) -> None:
        row = {**entry.hashed_content(), "record_hash": entry.record_hash}
        row["inputs"] = canonical_json(entry.inputs)
        row["decision_json"] = entry.decision_json
        row["patient_text"] = entry.patient_text
        placeholders = ", ".join(f":{name}" for name in _COLUMNS)
        conn.execute(f"INSERT INTO records ({', '.join(_COLUMNS)}) VALUES ({placeholders})", row)

    @staticmethod
    def _update_head(conn: sqlite3.Connection, entry: LogEntry) -> None:
        conn.execute(
            "INSERT INTO head (one, records, last_hash) VALUES (1, ?, ?) "
            "ON CONFLICT(one) DO UPDATE SET records = excluded.records, last_hash = excluded.last_hash",
            (entry.seq, entry.record_hash),
        )

    def entries(self) -> Iterator[LogEntry]:
        """Every record in ``seq`` order (a log not yet created yields nothing; a folder is refused)."""
        if self.path.exists() and not self.path.is_file():
            raise DecisionLogError("not a decision log: not a file", path=self.path)
        if not self.path.is_file():
            return
        conn = self._connect(create=False)
        try:
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM records ORDER BY seq").fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        finally:
            conn.close()
        for row in rows:
            try:
                yield _entry_from_row(row)
            except (TypeError, ValueError) as exc:
                raise DecisionLogError(
                    f"record {row[0]!r} is unreadable ({exc})", path=self.path, hint="run `cds audit verify`"
                ) from exc

    def _damaged(self, exc: Exception) -> DecisionLogError:
        return DecisionLogError(f"the decision log is damaged: {exc}", path=self.path, hint="run `cds audit verify`")

    def get(self, ref: int | str) -> LogEntry:
        """The record with seq ``ref``, or whose record hash starts with ``ref`` (at least 8 hex digits)."""
        text = str(ref).strip()
        conn = self._connect(create=False)
        try:
            select = f"SELECT {', '.join(_COLUMNS)} FROM records"
            if text.isdigit() and len(text) <= 18:
                rows = conn.execute(f"{select} WHERE seq = ?", (int(text),)).fetchall()
            elif len(text) >= 8 and all(c in "0123456789abcdef" for c in text.lower()):
                rows = conn.execute(f"{select} WHERE record_hash LIKE ?", (text.lower() + "%",)).fetchall()
            else:
                raise DecisionLogError(f"bad record id {text!r}", path=self.path, hint="a seq number or a hash prefix")
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        finally:
            conn.close()
        if len(rows) != 1:
            problem = f"no record {text!r}" if not rows else f"record hash prefix {text!r} is ambiguous"
            raise DecisionLogError(problem, path=self.path, hint="see `cds audit list`")
        try:
            return _entry_from_row(rows[0])
        except (TypeError, ValueError) as exc:
            raise DecisionLogError(f"record {text} is unreadable ({exc})", path=self.path,
                                   hint="run `cds audit verify`") from exc  # fmt: skip

    def verify(self, *, anchor: str | None = None) -> VerifyResult:
        """Walk the chain from the first record; report the first record that was edited, removed or moved.

        ``anchor`` is a record hash noted outside the log earlier (``cds audit verify`` prints the head): it
        must still be in the chain, which catches a log rewritten from scratch with every hash recomputed.
        """
        conn = self._connect(create=False)
        try:
            conn.execute("BEGIN")  # one consistent snapshot, even while writers append
            missing = _missing_tables(conn)
            if missing:
                conn.execute("COMMIT")
                problem = f"the {' and '.join(missing)} table{'s' if len(missing) > 1 else ''} of the log is missing"
                return VerifyResult(False, 0, GENESIS_HASH, 1, f"{problem} (dropped)")
            rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM records ORDER BY seq").fetchall()
            head = conn.execute("SELECT records, last_hash FROM head WHERE one = 1").fetchone()
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:  # a table altered (columns dropped or renamed): not our log any more
            return VerifyResult(False, 0, GENESIS_HASH, 1, f"the log's tables were altered ({exc})")
        finally:
            conn.close()
        result = _verify_rows(rows, head)
        if result.ok and anchor is not None:
            return _check_anchor(result, rows, anchor)
        return result


def _missing_tables(conn: sqlite3.Connection) -> list[str]:
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [name for name in ("records", "head") if name not in present]


def _check_anchor(result: VerifyResult, rows: list[tuple[Any, ...]], anchor: str) -> VerifyResult:
    text = anchor.strip().lower()
    if len(text) < 12 or any(c not in "0123456789abcdef" for c in text):
        raise DecisionLogError(f"bad anchor {anchor!r}", hint="a record hash (at least 12 hex digits)")
    hash_index = _COLUMNS.index("record_hash")
    if any(row[hash_index].startswith(text) for row in rows):
        return result
    problem = f"anchor {text[:12]} is not in the chain: the log was rewritten up to that record (or is another log)"
    return VerifyResult(False, result.records, result.head_hash, None, problem)


def _verify_rows(rows: list[tuple[Any, ...]], head: tuple[int, str] | None) -> VerifyResult:
    previous, count = GENESIS_HASH, 0
    for index, row in enumerate(rows, start=1):
        try:
            entry = _entry_from_row(row)
        except (TypeError, ValueError) as exc:
            return VerifyResult(False, count, previous, index, f"record {index}: unreadable ({exc})")
        problem = _check_entry(entry, index, previous)
        if problem is not None:
            return VerifyResult(False, count, previous, index, problem)
        previous, count = entry.record_hash, count + 1
    head_count, head_hash = head if head is not None else (0, GENESIS_HASH)
    if not isinstance(head_count, int) or not isinstance(head_hash, str):
        return VerifyResult(False, count, previous, max(count, 1), f"the log's head is unreadable ({head!r}; edited)")
    if (head_count, head_hash) != (count, previous):
        first_bad = min(count, head_count) + 1 if head_count != count else max(count, 1)
        problem = (
            f"record {first_bad}: the log ends at record {count} ({previous[:12]}) but its head says "
            f"{head_count} records ending {head_hash[:12]} (last record removed or edited)"
        )
        return VerifyResult(False, count, previous, first_bad, problem)
    return VerifyResult(True, count, previous)


def _check_entry(entry: LogEntry, expected_seq: int, previous: str) -> str | None:
    if entry.seq != expected_seq:
        return f"record {expected_seq}: missing (the next record is {entry.seq}; removed)"
    if entry.previous_record_hash != previous:
        return f"record {entry.seq}: previous_record_hash does not match record {entry.seq - 1} (removed or reordered)"
    if sha256_hex(entry.decision_json) != entry.decision_sha256:
        return f"record {entry.seq}: stored decision does not match its decision_sha256 (edited)"
    text_hash = None if entry.patient_text is None else sha256_hex(entry.patient_text)
    if text_hash != entry.patient_text_sha256:
        return f"record {entry.seq}: stored patient text does not match its patient_text_sha256 (edited)"
    if _record_hash(entry.hashed_content()) != entry.record_hash:
        return f"record {entry.seq}: record_hash does not match its content (edited)"
    return None
