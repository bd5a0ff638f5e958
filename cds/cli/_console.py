"""Terminal helpers: progress only when stderr is a terminal; machine output to stdout or files."""

from __future__ import annotations

import sys
from collections.abc import Callable

from cds.files import write_atomic

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
