"""Caveat: a problem that weakens a number without making it unusable. Carried from the signal core through
the facts into the decision record and the letter; never a ``warnings.warn``."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Caveat"]


@dataclass(frozen=True, order=True)
class Caveat:
    """One explicit limitation. ``code`` is snake case (listed in knowledge/vocab.yaml), ``text`` one sentence."""

    code: str
    text: str
    channel: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)
