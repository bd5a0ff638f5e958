"""Audit trail: the append-only, hash-chained decision log."""

from cds.audit.log import (
    GENESIS_HASH,
    DecisionLog,
    DecisionLogError,
    LogEntry,
    VerifyResult,
    canonical_json,
    default_log_path,
    sha256_hex,
)

__all__ = [
    "GENESIS_HASH",
    "DecisionLog",
    "DecisionLogError",
    "LogEntry",
    "VerifyResult",
    "canonical_json",
    "default_log_path",
    "sha256_hex",
]
