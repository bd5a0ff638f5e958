"""On-disk cache of the loaded, validated rule set and knowledge (and the letter's view of knowledge), keyed by
their content.

Parsing ~260 YAML files with positions (ruamel round-trip) takes seconds; a triage must not pay it on every
run. The first load of a given content validates everything as usual and stores the result; later processes
with byte-identical rules/ and knowledge/ (and the same cds and Python versions) read it back in milliseconds,
then compile to experta as always. Any change to any file changes the key, so a stale entry is never used.

The cache lives in ``$CDS_CACHE_DIR``, else ``$XDG_CACHE_HOME/cds``, else ``~/.cache/cds``; ``CDS_NO_CACHE=1``
turns it off. It is the user's own folder, written only by cds (pickle, like Python's own bytecode cache):
rule, patient and template files are still never executed.

Within one process the compiled rule base is kept by cds.rules.engine.load_rulebase; ``file_stamps`` and
``is_racy`` here tell it when the files must be read again.
"""

from __future__ import annotations

import copyreg
import gc
import hashlib
import logging
import os
import pickle
import stat
import sys
import types
from pathlib import Path
from typing import Any

from cds import __version__
from cds.files import RACY_NS  # a file changed this close to a check may change again with the same stamp

__all__ = [
    "RACY_NS",
    "cache_dir",
    "content_key",
    "file_stamps",
    "freeze_after_read",
    "is_racy",
    "read_cached",
    "write_cached",
]

_FREEZE_AFTER_READ = False


def freeze_after_read(enabled: bool = True) -> None:
    """After each object read back, move every object of the process out of the cycle collector's reach
    (``gc.freeze``). For a one-shot command (``cds triage``): the rule base it reads lives until the process ends,
    and without this every later collection walks its ~100,000 objects again (0.2 s of the median in
    benchmarks/bench_triage_cold.py).
    Never for a long-running process (``cds serve``, tests): frozen cyclic garbage would never be freed."""
    global _FREEZE_AFTER_READ
    _FREEZE_AFTER_READ = enabled


log = logging.getLogger(__name__)


def _mappingproxy(data: dict[str, Any]) -> types.MappingProxyType[str, Any]:
    return types.MappingProxyType(data)


copyreg.pickle(types.MappingProxyType, lambda proxy: (_mappingproxy, (dict(proxy),)))


def cache_dir() -> Path | None:
    """The cache folder, or None when caching is off."""
    if os.environ.get("CDS_NO_CACHE"):
        return None
    if os.environ.get("CDS_CACHE_DIR"):
        return Path(os.environ["CDS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cds"


_CODE_DIGEST: str | None = None


def code_digest() -> str:
    """SHA-256 over the bytes of every module of the cds package: a code change (not only a version bump) must
    never be served a rule set validated by other code."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        package = Path(__file__).resolve().parents[1]
        digest = hashlib.sha256()
        for path in sorted(package.rglob("*.py")):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
        _CODE_DIGEST = digest.hexdigest()
    return _CODE_DIGEST


def code_stamps() -> tuple[Any, ...]:
    """(relative path, size, mtime_ns, ctime_ns) of every module of the cds package: what ``code_digest`` hashes,
    as cheap stamps (see ``file_stamps``)."""
    package = Path(__file__).resolve().parents[1]
    return file_stamps(package)


def content_key(*folders: Path) -> str:
    """SHA-256 over the folders' locations (the loaded rules record their file paths), the relative path and
    bytes of every file under them, the cds and Python versions and the code of the cds package."""
    digest = hashlib.sha256(f"cds {__version__} python {sys.version_info[:2]} code {code_digest()}".encode())
    for folder in folders:
        digest.update(str(folder.resolve()).encode() + b"\0")
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def file_stamps(*folders: Path) -> tuple[Any, ...]:
    """Each folder's resolved path, then (relative path, size, mtime_ns, ctime_ns) of every file under it.

    Equal stamps mean unchanged files (the same file set, and no write since, which would move ctime), except
    for a rewrite within the file system's timestamp granularity: see ``is_racy``.
    """
    out: list[Any] = []
    for folder in folders:
        out.append(str(folder.resolve()))
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix == ".pyc" or "__pycache__" in path.parts:
                continue
            try:
                st = path.stat()
            except OSError:  # removed meanwhile, or a broken link: not a file the load can read
                continue
            if stat.S_ISREG(st.st_mode):
                out.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def is_racy(stamps: tuple[Any, ...], checked_ns: int) -> bool:
    """Whether a file was modified less than ``RACY_NS`` before ``checked_ns`` (time.time_ns() taken before its
    content was read), so that a rewrite right after the check could keep its stamp within the file system's
    timestamp granularity (git's "racy clean" rule, on mtime as git does): such stamps must not be trusted
    without reading the content again."""
    newest_ns = max((s[2] for s in stamps if isinstance(s, tuple)), default=0)
    return newest_ns >= checked_ns - RACY_NS


def read_cached(key: str, *, kind: str = "ruleset") -> Any | None:
    """The object of ``kind`` stored under ``key``, or None (absent, unreadable or from another format)."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{kind}-{key}.pickle"
    collecting = gc.isenabled()
    try:
        with path.open("rb") as fh:
            data = fh.read()
        gc.disable()  # a compiled rule base is ~100,000 new objects: no cycle collection while they arrive (2x)
        value = pickle.loads(data)
        if _FREEZE_AFTER_READ:
            gc.freeze()
        return value
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged entry is only a miss: the files are loaded and validated again
        log.info("ignoring unreadable rule-set cache %s: %s", path.name, exc)
        return None
    finally:
        if collecting:
            gc.enable()


def write_cached(key: str, value: Any, *, kind: str = "ruleset") -> None:
    """Store ``value`` under ``key``; a cache that cannot be written is skipped, never an error."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        from cds.files import write_atomic

        write_atomic(folder / f"{kind}-{key}.pickle", pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        _prune(folder, kind)
    except OSError as exc:
        log.info("rule-set cache not written: %s", exc)


KEEP_PER_KIND = 8  # entries of one kind kept (the newest): other rule sets, other cds versions, other checkouts


def _prune(folder: Path, kind: str) -> None:
    """Remove all but the ``KEEP_PER_KIND`` most recently written entries of ``kind``: every code or rule change
    makes a new key, and the old entries would otherwise pile up."""
    entries = []
    for path in folder.glob(f"{kind}-*.pickle"):
        try:
            entries.append((path.stat().st_mtime_ns, path.name, path))
        except OSError:
            continue
    for _mtime, _name, path in sorted(entries, reverse=True)[KEEP_PER_KIND:]:
        path.unlink(missing_ok=True)
