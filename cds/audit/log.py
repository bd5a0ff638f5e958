"""Append-only, hash-chained, signed decision log in SQLite (rule-engine design notes, section 5 "audit record").

Every ``cds triage`` appends one record: the decision JSON, the hashes of every input, the rule-set and engine
versions, a UTC ``created_at``, the log's id, the hash of the record before it (``previous_record_hash``) and its
own ``record_hash`` = sha256 of the canonical JSON of all those fields, **signed** with the active Ed25519 key
of the key ring (cds.audit.keys; kept outside the log). Editing, removing or reordering a record breaks the
chain; recomputing every hash does not help without the private key; :meth:`DecisionLog.verify` names the
first record where it breaks. Times may not go backwards and seq numbers run 1, 2, 3, ... A one-row ``head``
table, written in the same transaction, holds the record count and the last hash, and the key ring's *witness*
holds the last record it saw written (seq, hash, log id), so removing the last records, emptying, deleting or
replacing the log is reported (by ``append`` as an error, by ``verify`` as tampering), never silently restarted.
An *anchor* (:meth:`DecisionLog.anchor`, ``cds audit anchor``) is a signed head an auditor keeps: ``verify``
against it fails for a history rewritten up to that record, even by someone holding the key.

**Minimised content.** The log stores a pseudonym (``p-`` + 16 hex digits, keyed) instead of the patient id,
in the record and inside the stored decision, and only the SHA-256 of the patient file; a *full* log
(``DecisionLog(full=True)``: ``cds triage --log-full``, the web server, which shows letters from the log) keeps the
decision as delivered and the patient file's text.

A decision whose outputs could not be moved into place after it was logged (cds.pipeline.deliver_triage) is
followed by a *delivery-failure* record: an ordinary, hash-chained record whose stored JSON is a
``cds.delivery-failure/v1`` note naming the decision's seq and record hash and the reason. ``cds audit list/show``
display such a decision as not delivered.

Concurrency: WAL journal and ``BEGIN IMMEDIATE`` transactions, so concurrent writers serialise on the write
lock and a writer killed mid-transaction leaves nothing behind (SQLite rolls the open transaction back).
Triggers refuse UPDATE and DELETE on records: the log is append-only through this API; the signed chain is what
catches anyone who goes around it. Files: the log (and its -wal/-shm) 0600, a folder it creates 0700.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds import __version__
from cds.audit.keys import KeyRing, default_key_path, key_id_of, make_private_dir, verify_signature
from cds.errors import InputError

__all__ = [
    "ANCHOR_SCHEMA",
    "DELIVERY_FAILURE_SCHEMA",
    "GENESIS_HASH",
    "DecisionLog",
    "DecisionLogError",
    "LogEntry",
    "VerifyResult",
    "canonical_json",
    "default_log_path",
    "sha256_hex",
    "signed_record_problem",
]

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
DELIVERY_FAILURE_SCHEMA = "cds.delivery-failure/v1"
ANCHOR_SCHEMA = "cds.audit-anchor/v1"
_SCHEMA_VERSION = 2
_BUSY_TIMEOUT_MS = 60_000
_HASHED_FIELDS = (
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

_DDL = (
    """CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    log_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decision_sha256 TEXT NOT NULL,
    patient_id TEXT,
    inputs TEXT NOT NULL,
    ruleset_version TEXT,
    engine_version TEXT NOT NULL,
    patient_text_sha256 TEXT,
    previous_record_hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    record_hash TEXT NOT NULL UNIQUE,
    signature TEXT NOT NULL,
    decision_json TEXT NOT NULL,
    patient_text TEXT
)""",
    """CREATE TABLE IF NOT EXISTS head (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    records INTEGER NOT NULL,
    last_hash TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS meta (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    log_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    supersedes TEXT
)""",
    "CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records "
    "BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records "
    "BEGIN SELECT RAISE(ABORT, 'the decision log is append-only'); END",
)


class DecisionLogError(InputError):
    """The decision log file cannot be opened, is not a cds decision log, or is not the log it should be."""


def default_log_path() -> Path:
    """``$CDS_DECISION_LOG`` if set, else ``~/.local/share/cds/decisions.sqlite``."""
    env = os.environ.get("CDS_DECISION_LOG")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "cds" / "decisions.sqlite"


def canonical_json(value: Any) -> str:
    """Keys sorted, no whitespace, UTF-8 kept: the one serialisation every hash in the log is taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def signed_record_problem(record: dict[str, Any]) -> str | None:
    """Why a self-signed JSON record (a rule-set release: ``public_key``, ``key_id``, ``signature`` over the
    canonical JSON of every other key) does not verify, or None when it does. It proves the record unchanged since
    it was signed by that key; which keys may approve releases is for the auditor to know (the key id is printed
    in every letter made with the release)."""
    body = {k: v for k, v in record.items() if k != "signature"}
    public = str(record.get("public_key") or "")
    if not verify_signature(public, canonical_json(body).encode("utf-8"), str(record.get("signature") or "")):
        return "its signature is invalid (the record was edited)"
    try:
        key_id = key_id_of(bytes.fromhex(public))
    except ValueError:
        return "its public key is malformed"
    if key_id != record.get("key_id"):
        return "its key id does not match its public key"
    return None


def sha256_hex(data: str | bytes) -> str:
    """Hex sha256 of bytes, or of a string's UTF-8 encoding."""
    import hashlib

    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def record_id(log_id: str, seq: int) -> str:
    """The id a letter prints for record ``seq`` of log ``log_id``: ``<first 8 hex digits of the log id>-<seq>``."""
    return f"{log_id[:8]}-{seq}"


@dataclass(frozen=True)
class LogEntry:
    """One record of the decision log. ``seq`` is its number (1, 2, ...), :attr:`record_id` its printed id."""

    seq: int
    log_id: str
    created_at: str
    decision_sha256: str
    patient_id: str | None  # the pseudonym, never the patient id
    inputs: dict[str, Any]
    ruleset_version: str | None
    engine_version: str
    patient_text_sha256: str | None
    previous_record_hash: str
    key_id: str
    record_hash: str
    signature: str = field(repr=False)
    decision_json: str = field(repr=False)
    patient_text: str | None = field(default=None, repr=False)

    @property
    def record_id(self) -> str:
        return record_id(self.log_id, self.seq)

    @property
    def decision(self) -> dict[str, Any]:
        """The logged decision (``cds.decision/v1``) as a dict (for a delivery-failure record: its note)."""
        decision: dict[str, Any] = json.loads(self.decision_json)
        return decision

    @property
    def full(self) -> bool:
        """Whether the stored decision is the one delivered (else its patient id is the pseudonym)."""
        try:
            return self.decision.get("patient_id") != self.patient_id or self.patient_id is None
        except (ValueError, AttributeError):
            return False

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
        out = {
            **self.hashed_content(),
            "record_hash": self.record_hash,
            "record_id": self.record_id,
            "signature": self.signature,
        }
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
    log_id: str | None = None


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


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


_COLUMNS = (*_HASHED_FIELDS, "record_hash", "signature", "decision_json", "patient_text")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM records"


def _entry_from_row(row: tuple[Any, ...]) -> LogEntry:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["inputs"] = json.loads(values["inputs"])
    return LogEntry(**values)


@dataclass
class _Body:
    """What one append stores, before seq, time and hashes are added."""

    decision_json: str
    inputs: dict[str, Any]
    patient_ref: str | None
    patient_text: str | None
    patient_text_sha256: str | None


class DecisionLog:
    """The signed decision log at ``path`` (default :func:`default_log_path`), signed with the key ring at
    ``key_path`` (default :func:`cds.audit.keys.default_key_path`). ``full``: keep the delivered decision and the
    patient file's text instead of the pseudonymised decision and the text's hash."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        clock: Callable[[], str] = _now_utc,
        key_path: str | Path | None = None,
        full: bool = False,
    ) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self.key_path = Path(key_path) if key_path is not None else default_key_path()
        self.full = full
        self._clock = clock
        self._ring: KeyRing | None = None

    # ---- keys ----------------------------------------------------------------------------------------------
    def ring(self) -> KeyRing:
        """The key ring (KeyRingError, exit 3, when it is missing)."""
        if self._ring is None:
            self._ring = KeyRing.load(self.key_path)
        return self._ring

    def _ring_for_writing(self) -> KeyRing:
        """The key ring; created on the very first use of a machine (no ring and no log yet: a new install)."""
        if self._ring is None and not self.key_path.exists() and not self.path.exists():
            self._ring = KeyRing.create(self.key_path)
        return self.ring()

    def pseudonym(self, patient_id: str) -> str:
        """The pseudonym this log stores for ``patient_id``."""
        return self.ring().pseudonym(str(patient_id))

    # ---- opening -------------------------------------------------------------------------------------------
    def init(self, *, new_log: bool = False) -> str:
        """Create the key ring (if missing) and an empty log (if missing); return the log id.

        A log this key ring saw before but that is missing now is refused unless ``new_log``: then the new log
        records which log it supersedes (its id, last seq and hash) and the witness starts again."""
        ring = self._ring_for_writing() if not self.key_path.exists() else self.ring()
        if self.path.is_file():
            conn = self._connect(create=False)
            try:
                return self._log_id(conn)
            finally:
                conn.close()
        supersedes = ring.read_witness(self.path)
        if supersedes is not None and not new_log:
            raise self._missing_error(supersedes)
        conn = self._connect(create=True, supersedes=supersedes)
        try:
            return self._log_id(conn)
        finally:
            conn.close()

    def _missing_error(self, witness: dict[str, Any]) -> DecisionLogError:
        return DecisionLogError(
            f"the decision log is missing or empty, but this key ring saw {witness['seq']} record(s) written to "
            f"log {witness['log_id'][:8]} here (last {str(witness['record_hash'])[:12]} at {witness['created_at']})",
            path=self.path,
            hint="restore it from a backup, or start a new log on purpose: `cds audit init --new-log`",
        )

    def _connect(self, *, create: bool, supersedes: dict[str, Any] | None = None) -> sqlite3.Connection:
        if self.path.exists() and not self.path.is_file():
            raise DecisionLogError("not a decision log: not a file", path=self.path)
        if not create and not self.path.is_file():
            raise DecisionLogError("no decision log here", path=self.path, hint="run `cds audit init` or `cds triage`")
        if create and not self.path.exists():
            witness = self._ring_for_writing().read_witness(self.path)
            if witness is not None and supersedes is None:  # never start a missing log again unasked
                raise self._missing_error(witness)
            make_private_dir(self.path.parent)
            with contextlib.suppress(FileExistsError):  # another writer created it a moment ago
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and create:
                self._create_tables(conn, supersedes)
            elif version == 1:
                conn.close()
                raise DecisionLogError(
                    "an unsigned decision log (schema version 1, before signed records)",
                    path=self.path,
                    hint="keep it as the archive it is; start a signed log elsewhere with `cds audit init --log NEW`",
                )
            elif version != _SCHEMA_VERSION:
                conn.close()
                problem = f"not a cds decision log (schema version {version})"
                raise DecisionLogError(problem, path=self.path, hint=f"expected {_SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise DecisionLogError(f"cannot open the decision log: {exc}", path=self.path) from exc
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            try:
                if side.exists() and side.stat().st_mode & 0o077:
                    os.chmod(side, 0o600)
            except OSError:  # pragma: no cover - not ours to change
                pass
        return conn

    def _create_tables(self, conn: sqlite3.Connection, supersedes: dict[str, Any] | None) -> None:
        ring = self._ring_for_writing()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
                conn.execute("COMMIT")
                return
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise DecisionLogError("not a cds decision log (an SQLite file with other tables)", path=self.path)
            witness = ring.read_witness(self.path)
            if witness is not None and supersedes is None:
                raise self._missing_error(witness)
            for statement in _DDL:
                conn.execute(statement)
            log_id = secrets.token_hex(16)
            created = self._clock()
            conn.execute(
                "INSERT INTO meta (one, log_id, created_at, supersedes) VALUES (1, ?, ?, ?)",
                (log_id, created, None if supersedes is None else canonical_json(supersedes)),
            )
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if supersedes is not None:
            ring.forget_witness(self.path)
            log.warning(
                "decision log %s: new log %s supersedes log %s",
                self.path,
                log_id[:8],
                str(supersedes.get("log_id"))[:8],
            )
        ring.write_witness(self.path, log_id, 0, GENESIS_HASH, created)

    @staticmethod
    def _log_id(conn: sqlite3.Connection) -> str:
        row = conn.execute("SELECT log_id FROM meta WHERE one = 1").fetchone()
        if row is None or not isinstance(row[0], str):
            raise sqlite3.DatabaseError("the log's meta row is missing")
        return str(row[0])

    def info(self) -> dict[str, Any]:
        """The log's id, creation time and the log it supersedes (if any)."""
        conn = self._connect(create=False)
        try:
            row = conn.execute("SELECT log_id, created_at, supersedes FROM meta WHERE one = 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        finally:
            conn.close()
        if row is None:
            raise self._damaged(sqlite3.DatabaseError("the log's meta row is missing"))
        return {"log_id": row[0], "created_at": row[1], "supersedes": json.loads(row[2]) if row[2] else None}

    # ---- appending -----------------------------------------------------------------------------------------
    def append(
        self,
        decision: dict[str, Any],
        *,
        patient_text: str | None = None,
        stamp: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> LogEntry:
        """Append one decision (a ``cds.decision/v1`` dict) and the patient file's text; return the new record.

        ``stamp``, when given, is called inside the write transaction with the new record's reference
        (``{"id", "log", "seq"}``) and returns the decision to log (cds.pipeline adds it to decision.json and the
        letter and stages the files there: a failure rolls the record back). Either all of the record is in the
        log, chained to the record before it and signed, or none of it is.
        """

        def body(ref: dict[str, Any]) -> _Body:
            final = stamp(ref) if stamp is not None else decision
            ring = self.ring()
            patient_id = final.get("patient_id")
            pseudonym = None if patient_id is None else ring.pseudonym(str(patient_id))
            stored = final if self.full else {**final, "patient_id": pseudonym}
            text_hash = None if patient_text is None else sha256_hex(patient_text)
            return _Body(
                canonical_json(stored), _inputs_of(final), pseudonym, patient_text if self.full else None, text_hash
            )

        entry = self._append(body)
        log.info("decision log %s: appended record %s (%s)", self.path, entry.record_id, entry.record_hash[:12])
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
        failure = self._append(lambda ref: _Body(canonical_json(note), {}, entry.patient_id, None, None))
        log.warning("decision log %s: record %d marks record %d as not delivered", self.path, failure.seq, entry.seq)
        return failure

    def _append(self, body: Callable[[dict[str, Any]], _Body]) -> LogEntry:
        ring = self._ring_for_writing()
        conn = self._connect(create=True)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                log_id = self._log_id(conn)
                self._check_witness_for_append(conn, ring, log_id)
                last = conn.execute(
                    "SELECT seq, record_hash, created_at FROM records ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, previous = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
                now = self._clock()
                if last is not None and _is_before(now, last[2]):
                    raise DecisionLogError(
                        f"the system clock ({now}) is behind the last record's time ({last[2]}): times in the log "
                        "may not go backwards",
                        path=self.path,
                        hint="fix the clock (NTP); nothing was logged",
                    )
                content = body({"id": record_id(log_id, seq), "log": log_id, "seq": seq})
                entry = self._build_entry(ring, log_id, seq, previous, now, content)
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
        ring.write_witness(self.path, entry.log_id, entry.seq, entry.record_hash, entry.created_at)
        return entry

    def _check_witness_for_append(self, conn: sqlite3.Connection, ring: KeyRing, log_id: str) -> None:
        """Refuse to append to a log that is not the one this key ring saw (replaced, truncated, rewritten)."""
        witness = ring.read_witness(self.path)
        if witness is None:  # the ring never saw this log (moved here, or a new ring): adopt it only if it verifies
            rows = conn.execute(f"{_SELECT} ORDER BY seq").fetchall()
            head = conn.execute("SELECT records, last_hash FROM head WHERE one = 1").fetchone()
            result = _verify_rows(rows, head, ring, log_id)
            if not result.ok:
                raise DecisionLogError(
                    f"refusing to append to a log that fails verification: {result.problem}",
                    path=self.path,
                    hint="run `cds audit verify`",
                )
            log.warning(
                "decision log %s: adopted log %s (%d records) into the witness", self.path, log_id[:8], result.records
            )
            return
        problem = _witness_problem(conn, witness, log_id)
        if problem is not None:
            raise DecisionLogError(f"refusing to append: {problem}", path=self.path, hint="run `cds audit verify`")

    def _build_entry(self, ring: KeyRing, log_id: str, seq: int, previous: str, now: str, body: _Body) -> LogEntry:
        content: dict[str, Any] = {
            "seq": seq,
            "log_id": log_id,
            "created_at": now,
            "decision_sha256": sha256_hex(body.decision_json),
            "patient_id": body.patient_ref,
            "inputs": body.inputs,
            "ruleset_version": _ruleset_version(body.inputs),
            "engine_version": _engine_version(body.inputs),
            "patient_text_sha256": body.patient_text_sha256,
            "previous_record_hash": previous,
            "key_id": ring.active,
        }
        digest = _record_hash(content)
        _, signature = ring.sign(digest.encode("ascii"))
        return LogEntry(
            **content,
            record_hash=digest,
            signature=signature,
            decision_json=body.decision_json,
            patient_text=body.patient_text,
        )

    @staticmethod
    def _insert(conn: sqlite3.Connection, entry: LogEntry) -> None:
        row = {**entry.hashed_content(), "record_hash": entry.record_hash, "signature": entry.signature}
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

    # ---- reading -------------------------------------------------------------------------------------------
    def undelivered(self) -> dict[int, LogEntry]:
        """Seq of each decision marked as not delivered -> the delivery-failure record that marks it."""
        marks: dict[int, LogEntry] = {}
        for entry in self.entries():
            note = entry.delivery_failure
            if note is not None and isinstance(note.get("record"), int):
                marks[note["record"]] = entry
        return marks

    def entries(self) -> Iterator[LogEntry]:
        """Every record in ``seq`` order (a log not yet created yields nothing; a folder is refused)."""
        if self.path.exists() and not self.path.is_file():
            raise DecisionLogError("not a decision log: not a file", path=self.path)
        if not self.path.is_file():
            return
        conn = self._connect(create=False)
        try:
            rows = conn.execute(f"{_SELECT} ORDER BY seq").fetchall()
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
        """The record with seq ``ref``, with record id ``ref`` (``<log id prefix>-<seq>``, as letters print it),
        or whose record hash starts with ``ref`` (at least 8 hex digits)."""
        text = str(ref).strip()
        conn = self._connect(create=False)
        try:
            log_id = self._log_id(conn)
            prefix, _, number = text.rpartition("-")
            if prefix and number.isdigit() and len(number) <= 18:
                if not log_id.startswith(prefix.lower()):
                    raise DecisionLogError(
                        f"record {text!r} belongs to log {prefix}, not to this log ({log_id[:8]})",
                        path=self.path,
                        hint="pass the log it came from: --log",
                    )
                rows = conn.execute(f"{_SELECT} WHERE seq = ?", (int(number),)).fetchall()
            elif text.isdigit() and len(text) <= 18:
                rows = conn.execute(f"{_SELECT} WHERE seq = ?", (int(text),)).fetchall()
            elif len(text) >= 8 and all(c in "0123456789abcdef" for c in text.lower()):
                rows = conn.execute(f"{_SELECT} WHERE record_hash LIKE ?", (text.lower() + "%",)).fetchall()
            else:
                hint = "a seq number, a record id such as 1a2b3c4d-7, or a hash prefix"
                raise DecisionLogError(f"bad record id {text!r}", path=self.path, hint=hint)
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
            raise DecisionLogError(
                f"record {text} is unreadable ({exc})", path=self.path, hint="run `cds audit verify`"
            ) from exc

    def find_patient(self, patient_id: str) -> list[LogEntry]:
        """The records of one patient (found through the pseudonym; the log never holds the id itself)."""
        pseudonym = self.pseudonym(patient_id)
        return [e for e in self.entries() if e.patient_id == pseudonym]

    def compare(self, decision: dict[str, Any]) -> tuple[LogEntry, list[str]]:
        """The log record a decision.json names (its ``record``) and the top-level keys where they differ
        (empty: the file is what was logged). DecisionLogError when the file names no record of this log."""
        ref = decision.get("record")
        if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
            raise DecisionLogError("this decision names no log record (written by `cds demo`, or before record ids)")
        entry = self.get(ref["id"])
        problems = []
        if ref.get("log") != entry.log_id:
            problems.append(f"record: names log {str(ref.get('log'))[:8]}, the record is in log {entry.log_id[:8]}")
        logged = entry.decision
        pid = decision.get("patient_id")
        shown = (
            decision if entry.full else {**decision, "patient_id": None if pid is None else self.pseudonym(str(pid))}
        )
        if sha256_hex(canonical_json(shown)) != entry.decision_sha256 or sha256_hex(entry.decision_json) != (
            entry.decision_sha256
        ):
            keys = sorted(k for k in {*shown, *logged} if shown.get(k) != logged.get(k))
            problems.append("differs from the logged decision in: " + (", ".join(keys) or "formatting only"))
        return entry, problems

    # ---- anchors and verification ------------------------------------------------------------------------
    def anchor(self, seq: int | None = None) -> dict[str, Any]:
        """A signed head of the log (the last record, or record ``seq``) for an auditor to keep outside the
        system: ``verify(anchor=...)`` fails for a log rewritten up to that record, even by a key holder."""
        result = self.verify()
        if not result.ok:
            raise DecisionLogError(f"the log fails verification, no anchor written: {result.problem}", path=self.path)
        if result.records == 0:
            raise DecisionLogError("the log has no records yet: nothing to anchor", path=self.path)
        entry = self.get(seq if seq is not None else result.records)
        ring = self.ring()
        public = ring.public_of(ring.active)
        body = {
            "schema": ANCHOR_SCHEMA,
            "log_id": entry.log_id,
            "seq": entry.seq,
            "record_hash": entry.record_hash,
            "created_at": entry.created_at,
            "key_id": ring.active,
            "public_key": public,
        }
        _, signature = ring.sign(canonical_json(body).encode("utf-8"))
        return {**body, "signature": signature}

    def verify(self, *, anchor: str | dict[str, Any] | None = None) -> VerifyResult:
        """Walk the chain from the first record; report the first record that was edited, removed, moved,
        back-dated or not signed by the key ring; then compare with the witness and with ``anchor``.

        ``anchor`` is a signed anchor (:meth:`anchor`) or, as before, a record hash noted earlier.
        """
        ring = self.ring()
        witness = ring.read_witness(self.path)
        if not self.path.is_file() and witness is not None:
            return VerifyResult(False, 0, GENESIS_HASH, 1, self._missing_error(witness).problem)
        try:
            conn = self._connect(create=False)
        except DecisionLogError as exc:
            if witness is None or not self.path.is_file():
                raise
            return VerifyResult(
                False,
                0,
                GENESIS_HASH,
                1,
                f"{exc.problem}; this key ring saw {witness['seq']} record(s) in it (replaced or emptied)",
            )
        try:
            conn.execute("BEGIN")  # one consistent snapshot, even while writers append
            missing = _missing_tables(conn)
            if missing:
                conn.execute("COMMIT")
                problem = f"the {' and '.join(missing)} table{'s' if len(missing) > 1 else ''} of the log is missing"
                return VerifyResult(False, 0, GENESIS_HASH, 1, f"{problem} (dropped)")
            log_id = self._log_id(conn)
            rows = conn.execute(f"{_SELECT} ORDER BY seq").fetchall()
            head = conn.execute("SELECT records, last_hash FROM head WHERE one = 1").fetchone()
            witness_problem = None if witness is None else _witness_problem(conn, witness, log_id)
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:  # a table altered (columns dropped or renamed): not our log any more
            return VerifyResult(False, 0, GENESIS_HASH, 1, f"the log's tables were altered ({exc})")
        finally:
            conn.close()
        result = _verify_rows(rows, head, ring, log_id)
        if result.ok and witness_problem is not None:
            result = VerifyResult(False, result.records, result.head_hash, None, witness_problem, log_id)
        if result.ok and anchor is not None:
            return _check_anchor(result, rows, anchor, ring, log_id)
        return result


def _is_before(now: str, last: str) -> bool:
    a, b = _parse_time(now), _parse_time(last)
    return a is not None and b is not None and a < b


def _missing_tables(conn: sqlite3.Connection) -> list[str]:
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return [name for name in ("records", "head", "meta") if name not in present]


def _witness_problem(conn: sqlite3.Connection, witness: dict[str, Any], log_id: str) -> str | None:
    """Why the log is not the one the witness saw (None: it is, possibly grown since)."""
    if witness["log_id"] != log_id:
        return (
            f"this is log {log_id[:8]}, but the key ring saw log {str(witness['log_id'])[:8]} here with "
            f"{witness['seq']} record(s) (the log was replaced)"
        )
    seq = int(witness["seq"])
    if seq == 0:
        return None
    row = conn.execute("SELECT record_hash FROM records WHERE seq = ?", (seq,)).fetchone()
    count = conn.execute("SELECT count(*) FROM records").fetchone()[0]
    if row is None:
        return (
            f"the log holds {count} record(s), but the key ring saw record {seq} written "
            f"({str(witness['record_hash'])[:12]} at {witness['created_at']}): truncated"
        )
    if row[0] != witness["record_hash"]:
        return (
            f"record {seq} is {str(row[0])[:12]}, but the key ring saw {str(witness['record_hash'])[:12]} written "
            "(history rewritten)"
        )
    return None


def _check_anchor(
    result: VerifyResult, rows: list[tuple[Any, ...]], anchor: str | dict[str, Any], ring: KeyRing, log_id: str
) -> VerifyResult:
    def fail(problem: str) -> VerifyResult:
        return VerifyResult(False, result.records, result.head_hash, None, problem, log_id)

    hash_index = _COLUMNS.index("record_hash")
    if isinstance(anchor, str):
        text = anchor.strip().lower()
        if len(text) < 12 or any(c not in "0123456789abcdef" for c in text):
            raise DecisionLogError(f"bad anchor {anchor!r}", hint="an anchor file, or a record hash (12+ hex digits)")
        if any(row[hash_index].startswith(text) for row in rows):
            return result
        return fail(
            f"anchor {text[:12]} is not in the chain: the log was rewritten up to that record (or is another log)"
        )
    try:
        body = {k: anchor[k] for k in ("schema", "log_id", "seq", "record_hash", "created_at", "key_id", "public_key")}
        signature = str(anchor["signature"])
        if body["schema"] != ANCHOR_SCHEMA:
            raise ValueError(f"schema {body['schema']!r}")
        seq = int(body["seq"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecisionLogError(f"not a cds audit anchor ({exc})") from exc
    public = str(body["public_key"])
    if not verify_signature(public, canonical_json(body).encode("utf-8"), signature):
        return fail("the anchor's signature is invalid (the anchor was edited)")
    if key_id_of(bytes.fromhex(public)) != body["key_id"] or ring.public_of(str(body["key_id"])) != public:
        return fail(
            f"the anchor was signed by key {body['key_id']}, which this key ring does not hold (the keys were replaced)"
        )
    if body["log_id"] != log_id:
        return fail(f"the anchor is of log {str(body['log_id'])[:8]}, this is log {log_id[:8]} (the log was replaced)")
    if seq > len(rows):
        return fail(f"the anchor was taken at record {seq}, but the log holds {len(rows)} (truncated)")
    if rows[seq - 1][hash_index] != body["record_hash"]:
        return fail(f"record {seq} is not the record anchored ({str(body['record_hash'])[:12]}): history rewritten")
    return result


def _verify_rows(rows: list[tuple[Any, ...]], head: tuple[int, str] | None, ring: KeyRing, log_id: str) -> VerifyResult:
    previous, count, last_time = GENESIS_HASH, 0, None
    for index, row in enumerate(rows, start=1):
        try:
            entry = _entry_from_row(row)
        except (TypeError, ValueError) as exc:
            return VerifyResult(False, count, previous, index, f"record {index}: unreadable ({exc})", log_id)
        problem = _check_entry(entry, index, previous, ring, log_id, last_time)
        if problem is not None:
            return VerifyResult(False, count, previous, index, problem, log_id)
        previous, count, last_time = entry.record_hash, count + 1, entry.created_at
    head_count, head_hash = head if head is not None else (0, GENESIS_HASH)
    if not isinstance(head_count, int) or not isinstance(head_hash, str):
        return VerifyResult(
            False, count, previous, max(count, 1), f"the log's head is unreadable ({head!r}; edited)", log_id
        )
    if (head_count, head_hash) != (count, previous):
        first_bad = min(count, head_count) + 1 if head_count != count else max(count, 1)
        problem = (
            f"record {first_bad}: the log ends at record {count} ({previous[:12]}) but its head says "
            f"{head_count} records ending {head_hash[:12]} (last record removed or edited)"
        )
        return VerifyResult(False, count, previous, first_bad, problem, log_id)
    return VerifyResult(True, count, previous, log_id=log_id)


def _check_entry(
    entry: LogEntry, expected_seq: int, previous: str, ring: KeyRing, log_id: str, last_time: str | None
) -> str | None:
    if entry.seq != expected_seq:
        return f"record {expected_seq}: missing (the next record is {entry.seq}; removed)"
    if entry.previous_record_hash != previous:
        return f"record {entry.seq}: previous_record_hash does not match record {entry.seq - 1} (removed or reordered)"
    if sha256_hex(entry.decision_json) != entry.decision_sha256:
        return f"record {entry.seq}: stored decision does not match its decision_sha256 (edited)"
    if entry.patient_text is not None and sha256_hex(entry.patient_text) != entry.patient_text_sha256:
        return f"record {entry.seq}: stored patient text does not match its patient_text_sha256 (edited)"
    if _record_hash(entry.hashed_content()) != entry.record_hash:
        return f"record {entry.seq}: record_hash does not match its content (edited)"
    if entry.log_id != log_id:
        return f"record {entry.seq}: belongs to log {entry.log_id[:8]}, not this log {log_id[:8]} (copied in)"
    if ring.public_of(entry.key_id) is None:
        return f"record {entry.seq}: signed by key {entry.key_id}, which the key ring does not hold"
    if not ring.verify(entry.key_id, entry.record_hash.encode("ascii"), entry.signature):
        return f"record {entry.seq}: signature does not match (edited and re-hashed without the key)"
    if _parse_time(entry.created_at) is None:
        return f"record {entry.seq}: created_at {entry.created_at!r} is not a UTC time (edited)"
    if last_time is not None and _is_before(entry.created_at, last_time):
        return (
            f"record {entry.seq}: created_at {entry.created_at} is before record {entry.seq - 1}'s "
            f"{last_time} (back-dated)"
        )
    return None
