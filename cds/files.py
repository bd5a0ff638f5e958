"""File helpers shared by the library and the CLI: atomic writes (outputs appear complete or not at all), the
SHA-256 of a file read in blocks, and how recent a change must be for a file's stamp not to be trusted."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["RACY_NS", "sha256_of", "write_atomic"]

# A file changed this close to a check may change again with the same (size, mtime, ctime) stamp: within the file
# system's timestamp granularity (git's "racy clean" rule). Caches keyed on stamps do not trust such a stamp.
RACY_NS = 2_000_000_000


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data if isinstance(data, bytes) else data.encode("utf-8")  # text: UTF-8, newlines as given
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
