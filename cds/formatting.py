"""How values are written for people (letter, rule texts): numbers without float noise, yes/no, ages.

One place, so the decision texts and the letter write a value the same way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["format_age", "format_value"]

_DAYS_PER_YEAR = 365.25
_DAYS_PER_MONTH = _DAYS_PER_YEAR / 12


def format_value(value: Any) -> str:
    """A value as the letter shows it: 34.0 -> '34', 0.4567 -> '0.46', True -> 'yes', None -> 'unknown'."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")
    return "unknown" if value is None else str(value)


def format_age(age_years: float, *, years_from: float, weeks_below: float) -> str:
    """An age for people: ``46`` -> '46 years'; under ``years_from`` years in months; under ``weeks_below`` weeks
    in weeks (days in the first week). Never a fraction of a year (clinical review 2, B6)."""
    days = age_years * _DAYS_PER_YEAR
    if age_years >= years_from:
        years = int(age_years)
        return f"{years} year{'s' if years != 1 else ''}"
    if days < 7 * weeks_below:
        weeks = int(days // 7)
        if weeks < 1:
            return f"{int(days)} day{'s' if int(days) != 1 else ''}"
        return f"{weeks} week{'s' if weeks != 1 else ''}"
    months = int(days // _DAYS_PER_MONTH)
    return f"{months} month{'s' if months != 1 else ''}"
