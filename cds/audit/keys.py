"""The decision log's signing keys and its witness: what lets the log resist someone who can write to it.

**Key ring** (``cds.audit-keys/v1``, JSON, file mode 0600 in a 0700 folder): Ed25519 key pairs, one of them
active, and a secret for pseudonyms. Every record of the log is signed with the active private key (the
signature covers the record hash, which covers the record id, the log id, the time, the previous record's hash
and every stored content hash). Someone who edits a record and recomputes every hash still cannot sign it. After
``cds audit rotate-key`` the old key's private half is destroyed and its public half kept, so records signed
with it still verify. The key ring lives apart from the log: ``$CDS_AUDIT_KEY`` or, for development and tests,
``~/.config/cds/audit-key.json`` (``$XDG_CONFIG_HOME`` respected). In production it belongs where the account
that can write the log cannot write it (a service account's own folder, a mounted secret).

**Witness**: beside the key ring (``witness/<hash of the log's path>.json``) the log id and the last record
(seq, hash, time) written to each log, signed. A log that is missing, shorter than the witness says, holds a
different record at the witnessed position, or has another id (replaced) is refused for appending and fails
``cds audit verify``; it is never silently started again.

**Pseudonyms**: the log stores ``p-`` + the first 16 hex digits of HMAC-SHA256(secret, patient id) instead of the
patient id, so records of one patient can be found (``cds audit list --patient ID``) without the log naming them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cds.errors import InputError

__all__ = [
    "KEY_SCHEMA",
    "WITNESS_SCHEMA",
    "KeyRing",
    "KeyRingError",
    "SigningKey",
    "default_key_path",
    "key_id_of",
    "make_private_dir",
    "verify_signature",
    "write_private",
]

log = logging.getLogger(__name__)

KEY_SCHEMA = "cds.audit-keys/v1"
WITNESS_SCHEMA = "cds.audit-witness/v1"


class KeyRingError(InputError):
    """The key ring is missing, unreadable or lacks a key it is asked for (exit code 3)."""


def default_key_path() -> Path:
    """``$CDS_AUDIT_KEY`` if set, else ``$XDG_CONFIG_HOME/cds/audit-key.json`` (``~/.config`` by default)."""
    env = os.environ.get("CDS_AUDIT_KEY")
    if env:
        return Path(env).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config).expanduser() / "cds" / "audit-key.json"


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; an existing folder is left as it is."""
    missing = []
    for parent in [path, *path.parents]:
        if parent.exists():
            break
        missing.append(parent)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # the umask may have taken bits away; it never adds any, but be explicit


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, file mode 0600, its folder created 0700 when missing."""
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def key_id_of(public: bytes) -> str:
    """The id of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public).hexdigest()[:16]


def verify_signature(public_hex: str, message: bytes, signature_hex: str) -> bool:
    """True when ``signature_hex`` is a valid Ed25519 signature of ``message`` by the public key ``public_hex``."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key of the ring; ``private`` is None once the key was rotated out."""

    key_id: str
    public: str  # hex
    private: str | None  # hex
    created_at: str
    retired_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "public": self.public,
            "private": self.private,
            "created_at": self.created_at,
            "retired_at": self.retired_at,
        }


def _new_key() -> SigningKey:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    return SigningKey(key_id_of(public), public.hex(), private.private_bytes_raw().hex(), _now())


class KeyRing:
    """The key ring at ``path``: :meth:`load` an existing one, :meth:`create` a new one."""

    def __init__(self, path: Path, active: str, pseudonym_secret: str, keys: dict[str, SigningKey]) -> None:
        self.path = path
        self.active = active
        self._pseudonym_secret = pseudonym_secret
        self.keys = keys

    # ---- files ---------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path | None = None) -> KeyRing:
        """A new ring with one key and a new pseudonym secret, written to ``path`` (refused if it exists)."""
        path = Path(path) if path is not None else default_key_path()
        if path.exists():
            raise KeyRingError("a key ring exists here already", path=path, hint="use `cds audit rotate-key`")
        key = _new_key()
        ring = cls(path, key.key_id, secrets.token_hex(32), {key.key_id: key})
        ring.save()
        log.warning("created the decision log key ring %s (key %s)", path, key.key_id)
        return ring

    @classmethod
    def load(cls, path: Path | None = None) -> KeyRing:
        path = Path(path) if path is not None else default_key_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise KeyRingError("no decision-log key ring here", path=path, hint="run `cds audit init`") from exc
        except (OSError, ValueError) as exc:
            raise KeyRingError(f"cannot read the key ring: {exc}", path=path) from exc
        try:
            if data["schema"] != KEY_SCHEMA:
                raise ValueError(f"schema {data['schema']!r}, expected {KEY_SCHEMA}")
            keys = {
                str(kid): SigningKey(
                    str(kid), str(k["public"]), k.get("private"), str(k["created_at"]), k.get("retired_at")
                )
                for kid, k in data["keys"].items()
            }
            ring = cls(path, str(data["active"]), str(data["pseudonym_secret"]), keys)
            if ring.active not in keys or keys[ring.active].private is None:
                raise ValueError("the active key has no private half")
            for kid, key in keys.items():
                if key_id_of(bytes.fromhex(key.public)) != kid:
                    raise ValueError(f"key {kid} does not match its public key")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KeyRingError(f"not a cds key ring ({exc})", path=path) from exc
        if path.stat().st_mode & 0o077:
            log.warning("key ring %s is readable by other users: chmod 600 it", path)
        return ring

    def save(self) -> None:
        data = {
            "schema": KEY_SCHEMA,
            "active": self.active,
            "pseudonym_secret": self._pseudonym_secret,
            "keys": {kid: key.to_dict() for kid, key in sorted(self.keys.items())},
        }
        write_private(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def rotate(self) -> SigningKey:
        """Make a new active key; the old one keeps only its public half (its records still verify)."""
        old = self.keys[self.active]
        new = _new_key()
        self.keys[old.key_id] = SigningKey(old.key_id, old.public, None, old.created_at, _now())
        self.keys[new.key_id] = new
        self.active = new.key_id
        self.save()
        return new

    # ---- use -----------------------------------------------------------------------------------------------
    def sign(self, message: bytes) -> tuple[str, str]:
        """(key id, hex signature) of ``message`` with the active key."""
        key = self.keys[self.active]
        assert key.private is not None  # checked by load()
        private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key.private))
        return key.key_id, private.sign(message).hex()

    def public_of(self, key_id: str) -> str | None:
        key = self.keys.get(key_id)
        return None if key is None else key.public

    def verify(self, key_id: str, message: bytes, signature: str) -> bool:
        public = self.public_of(key_id)
        return public is not None and verify_signature(public, message, signature)

    def pseudonym(self, patient_id: str) -> str:
        """``p-`` + 16 hex digits: the same patient id gives the same pseudonym with this ring."""
        mac = hmac.new(bytes.fromhex(self._pseudonym_secret), patient_id.encode("utf-8"), hashlib.sha256)
        return "p-" + mac.hexdigest()[:16]

    # ---- witness -------------------------------------------------------------------------------------------
    def witness_path(self, log_path: Path) -> Path:
        where = str(log_path.expanduser().resolve())
        return self.path.parent / "witness" / f"{hashlib.sha256(where.encode('utf-8')).hexdigest()[:24]}.json"

    def read_witness(self, log_path: Path) -> dict[str, Any] | None:
        """What this ring last witnessed of the log at ``log_path`` (None: never); a forged witness is refused."""
        path = self.witness_path(log_path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            body = {k: data[k] for k in ("schema", "log", "log_id", "seq", "record_hash", "created_at")}
            ok = self.verify(str(data["key_id"]), _canonical(body).encode("utf-8"), str(data["signature"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyRingError(f"the log's witness is unreadable ({exc})", path=path) from exc
        if not ok:
            raise KeyRingError(
                "the log's witness is not signed by this key ring (forged or from another ring)", path=path
            )
        return body

    def write_witness(self, log_path: Path, log_id: str, seq: int, record_hash: str, created_at: str) -> None:
        """Record that the log now ends at ``seq``; only ever moves forward (concurrent writers may race)."""
        path = self.witness_path(log_path)
        make_private_dir(path.parent)
        with _locked(path.with_suffix(".lock")):
            current = self.read_witness(log_path)
            if current is not None and current["log_id"] == log_id and int(current["seq"]) >= seq:
                return
            body = {
                "schema": WITNESS_SCHEMA,
                "log": str(log_path.expanduser().resolve()),
                "log_id": log_id,
                "seq": seq,
                "record_hash": record_hash,
                "created_at": created_at,
            }
            key_id, signature = self.sign(_canonical(body).encode("utf-8"))
            write_private(path, json.dumps({**body, "key_id": key_id, "signature": signature}, indent=2) + "\n")

    def forget_witness(self, log_path: Path) -> None:
        """Drop the witness of ``log_path`` (``cds audit init --new-log``, which keeps a note of the old log)."""
        self.witness_path(log_path).unlink(missing_ok=True)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
