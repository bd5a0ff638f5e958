"""The names of the leg-movement scoring standards cds implements, alone: what the command line offers without
loading the standards themselves (cds.standards reads their parameters from ``knowledge/standards/``)."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Standard"]


class Standard(StrEnum):
    """The leg-movement scoring standards cds implements (values are the CLI spellings)."""

    AASM = "aasm"
    WASM2016 = "wasm2016"
