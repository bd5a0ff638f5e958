"""Audit trail: the append-only, hash-chained, signed decision log and its key ring."""

from cds.audit.keys import KeyRing, KeyRingError, default_key_path
from cds.audit.log import (
    ANCHOR_SCHEMA,
    GENESIS_HASH,
    DecisionLog,
    DecisionLogError,
    LogEntry,
    VerifyResult,
    canonical_json,
    default_log_path,
    record_id,
    sha256_hex,
)

__all__ = [
    "ANCHOR_SCHEMA",
    "GENESIS_HASH",
    "DecisionLog",
    "DecisionLogError",
    "KeyRing",
    "KeyRingError",
    "LogEntry",
    "VerifyResult",
    "canonical_json",
    "default_key_path",
    "default_log_path",
    "record_id",
    "sha256_hex",
]
