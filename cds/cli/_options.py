"""Command-line options shared by the verbs, parsed and checked in one place before any work is done.

Every option is either used or refused: a malformed value, a role given twice, an option that needs another
one that is missing (``cds triage --channel`` without ``--recording``) is a usage error (exit 2); an output
path that cannot be written is refused (exit 3) before the analysis, not after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cds.errors import UsageError

__all__ = ["EXPORT_SUFFIXES", "channel_overrides", "check_export_path", "require_recording"]

EXPORT_SUFFIXES = (".edf", ".csv")


def channel_overrides(items: list[str] | None) -> dict[str, str]:
    """``--channel ROLE=LABEL`` options -> ``{role: label}`` through the one parser both verbs use
    (cds.io.channels.parse_channel_overrides: malformed, repeated or shared items are usage errors)."""
    if not items:
        return {}
    from cds.io.channels import parse_channel_overrides  # (numpy and the EDF readers: only when needed)

    return {role.value: label for role, label in parse_channel_overrides(items).items()}


def require_recording(recording: Path | None, options: Mapping[str, object]) -> None:
    """Options that only mean something with a recording are refused without one (never silently ignored)."""
    if recording is not None:
        return
    given = [name for name, value in options.items() if value not in (None, [], (), {})]
    if given:
        raise UsageError(
            f"{', '.join(given)} need{'s' if len(given) == 1 else ''} a recording to apply to "
            "(add --recording FILE, or leave the option out)",
            option=given[0],
        )


def check_export_path(path: Path | None) -> Path | None:
    """``--export-events`` must name a ``.edf`` (EDF+ annotations) or ``.csv`` file: the format is chosen by the
    suffix, so any other name would silently get one of them."""
    if path is None:
        return None
    if path.suffix.lower() not in EXPORT_SUFFIXES:
        raise UsageError(
            f"{str(path)!r}: the file name must end in .edf (EDF+ annotations) or .csv", option="--export-events"
        )
    return path
