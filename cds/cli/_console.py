"""Terminal helpers: progress only when stderr is a terminal; machine output to stdout or files."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["ProgressFn", "stderr_progress", "write_atomic"]

ProgressFn = Callable[[str, float], None]


def stderr_progress() -> ProgressFn | None:
    """Return a progress callback ``(step, fraction)`` drawing one status line, or None when not a tty."""
    if not sys.stderr.isatty():
        return None

    def _progress(step: str, fraction: float) -> None:
        width = 24
        filled = round(max(0.0, min(1.0, fraction)) * width)
        sys.stderr.write(f"\r  {step:<28} [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:5.1f}%")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return _progress


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    kwargs = {} if isinstance(data, bytes) else {"encoding": "utf-8", "newline": "\n"}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
