"""Time frames stated in prose ("within 2 weeks", "same day", "within days") and whether an urgency tier meets them.

Urgency tiers carry their time frame in one place (knowledge/policy.yaml). A rule or template that writes a time
frame of its own must write the one of the urgency it sits under (clinical review 2, A4): ``rules check`` reads
every text of a rule with :func:`stated_frames` and rejects a frame that no urgency of the rule meets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cds.policy import Policy

__all__ = ["StatedFrame", "consistent_tiers", "stated_frames"]

_NUMBERS = {
    "one": 1,
    "a": 1,
    "an": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "twelve": 12,
}
_UNIT_DAYS = {"hour": 0, "day": 1, "week": 7, "month": 30}
_SAME_DAY = re.compile(
    r"\b(same[- ]day|the same day|today|immediately|within hours|within (?:a few|few) hours)\b", re.IGNORECASE
)
_WITHIN_DAYS = re.compile(r"\bwithin (?:a few |few |several )?days\b", re.IGNORECASE)
_WITHIN_N = re.compile(
    r"\b(?:within|in under|in less than|no later than in)\s+(\d+|one|a|an|two|three|four|five|six|seven|eight|nine|"
    r"ten|twelve)\s+(hour|day|week|month)s?\b",
    re.IGNORECASE,
)
_AT_MOST_N = re.compile(r"(?:<=|≤)\s*(\d+)\s*(hour|day|week|month)s?\b", re.IGNORECASE)


@dataclass(frozen=True)
class StatedFrame:
    """A time frame found in a text: the phrase as written and the longest wait it allows, in days."""

    phrase: str
    days: int


def stated_frames(text: str) -> list[StatedFrame]:
    """Every time frame a text states, in order of appearance."""
    found: list[tuple[int, StatedFrame]] = []
    for match in _SAME_DAY.finditer(text):
        found.append((match.start(), StatedFrame(match.group(0), 0)))
    for match in _WITHIN_DAYS.finditer(text):
        found.append((match.start(), StatedFrame(match.group(0), 3)))  # "days": fewer than a week, not a fortnight
    for pattern in (_WITHIN_N, _AT_MOST_N):
        for match in pattern.finditer(text):
            count = match.group(1).lower()
            number = int(count) if count.isdigit() else _NUMBERS[count]
            found.append((match.start(), StatedFrame(match.group(0), number * _UNIT_DAYS[match.group(2).lower()])))
    return [frame for _, frame in sorted(found, key=lambda item: item[0])]


def consistent_tiers(days: int, policy: Policy) -> set[str]:
    """The urgency tiers a stated frame of ``days`` belongs to: the least urgent tier that still meets it (a frame
    longer than every bounded tier also fits ``routine``)."""
    meeting = [t for t in policy.urgencies if t.max_days is not None and t.max_days <= days]
    if not meeting:
        return set()
    least = min(meeting, key=lambda t: policy.urgency_rank(t.code))
    tiers = {least.code}
    longest = max(t.max_days for t in policy.urgencies if t.max_days is not None)
    if days > longest:
        tiers |= {t.code for t in policy.urgencies if t.max_days is None}
    return tiers
