"""Site validation: cds's leg movements against a sleep lab's own scoring (``cds validate``)."""

from cds.validation.agreement import EventAgreement, bland_altman, icc_absolute, match_onsets
from cds.validation.report import ValidationReport, render_validation_text, validate_recordings

__all__ = [
    "EventAgreement",
    "ValidationReport",
    "bland_altman",
    "icc_absolute",
    "match_onsets",
    "render_validation_text",
    "validate_recordings",
]
