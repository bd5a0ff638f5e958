"""Error hierarchy. Messages read like a compiler's: ``file:location: problem (allowed: …, got: …)``.

Problems that only weaken a number are not errors: they become ``Caveat`` records carried to the letter.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CdsError",
    "HypnogramError",
    "InputError",
    "PatientFileError",
    "RecordingError",
    "RuleFileError",
    "SafetyError",
    "SignalError",
    "TemplateError",
    "UsageError",
]


class CdsError(Exception):
    """Base class of every error cds raises on purpose."""


class SafetyError(CdsError):
    """A safety check of cds itself failed (exit code 4): not the user's mistake, never a traceback; the message
    names what failed (rule and drug)."""


class UsageError(CdsError):
    """The command line asks for something that cannot be done as written (exit code 2): a malformed or
    repeated option, options that contradict each other, an option that would be ignored."""

    def __init__(self, problem: str, *, option: str | None = None) -> None:
        self.option = option
        self.problem = problem
        super().__init__(f"{option}: {problem}" if option else problem)


class InputError(CdsError, ValueError):
    """An input cannot be used. Carries the file, where in it, the problem and an optional hint."""

    def __init__(
        self,
        problem: str,
        *,
        path: str | Path | None = None,
        location: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.location = location
        self.problem = problem
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = ":".join(p for p in (self.path, self.location) if p)
        text = f"{where}: {self.problem}" if where else self.problem
        if self.hint:
            text += f" ({self.hint})"
        return text

    def __str__(self) -> str:
        return self.message


class RecordingError(InputError):
    """An EDF/EDF+ recording is unreadable or unusable."""


class HypnogramError(InputError):
    """A hypnogram (annotations or a stage file) is unreadable or inconsistent with the recording."""


class PatientFileError(InputError):
    """A patient context file breaks cds.patient/v1."""


class RuleFileError(InputError):
    """A rule or knowledge file is malformed."""


class TemplateError(InputError):
    """A letter template is missing or broken."""


class SignalError(InputError):
    """A channel cannot be scored (flat, saturated, unknown unit, sampling rate too low for the band)."""
