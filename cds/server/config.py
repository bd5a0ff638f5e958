"""Server settings, the data directory (created 0700: uploads, outputs, the decision log) and the access token.

The token is made at first start, shown once, and only its SHA-256 is kept (``auth.json``, 0600). ``--dev`` is
the local test mode: loopback only and no authentication.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cds.errors import CdsError, InputError

__all__ = ["ServerConfig", "TokenStore", "check_bind", "is_loopback", "prepare_data_dir"]

AUTH_FILE = "auth.json"
SUBDIRS = ("uploads", "results", "fhir", "book")
LOG_NAME = "decisions.sqlite"


@dataclass(frozen=True)
class ServerConfig:
    """Where the server keeps its data, whether it runs in dev mode, limits and the public base URL."""

    data_dir: Path
    dev: bool = False
    max_recording_bytes: int = 2 * 1024**3
    max_table_bytes: int = 32 * 1024**2
    max_patient_bytes: int = 64 * 1024
    public_url: str | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, dev: bool) -> None:
    """--dev serves without authentication: only on a loopback address (CdsError otherwise)."""
    if dev and not is_loopback(host):
        raise CdsError(
            f"--dev has no authentication and listens on loopback only (got --host {host}); "
            "use 127.0.0.1, or run without --dev"
        )


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory (0700) and its folders; refuse a file, or a folder others may read."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise InputError("data directory is a file", path=path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o700)  # ours: keep patient data from other users
        for name in SUBDIRS:
            (path / name).mkdir(exist_ok=True, mode=0o700)
    except OSError as exc:
        raise InputError(f"cannot create the data directory: {exc.strerror or exc}", path=path) from exc
    return path


class TokenStore:
    """The access token's hash in ``<data dir>/auth.json``; the token itself is never stored."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / AUTH_FILE

    def ensure(self, *, reset: bool = False) -> str | None:
        """Make a token when there is none (or ``reset``): return it to show once; None when one exists."""
        if self.path.is_file() and not reset:
            return None
        token = secrets.token_urlsafe(24)
        text = json.dumps({"token_sha256": _hash(token)}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return token

    def check(self, token: str) -> bool:
        """Constant-time comparison of ``token`` with the stored hash."""
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))["token_sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return secrets.compare_digest(_hash(token), str(stored))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
