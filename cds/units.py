"""Physical-unit conversions, in one place. Amplitudes inside cds are always µV."""

from __future__ import annotations

__all__ = ["UV_PER_UNIT", "uv_scale_for"]

# EDF physical dimension → factor to µV. Spellings seen in real files (case matters for m vs M: none here).
UV_PER_UNIT: dict[str, float] = {
    "v": 1e6,
    "mv": 1e3,
    "uv": 1.0,
    "µv": 1.0,  # micro sign U+00B5
    "μv": 1.0,  # Greek mu U+03BC
    "microvolt": 1.0,
    "microvolts": 1.0,
    "nv": 1e-3,
}


def uv_scale_for(unit: str) -> float | None:
    """Return the factor that converts ``unit`` to µV, or None when the unit is not a voltage we know."""
    return UV_PER_UNIT.get(unit.strip().lower())
