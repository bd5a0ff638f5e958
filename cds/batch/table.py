"""The cohort table: one row per night (indices, counts, quality flags, decision summary, error), written as CSV
and Parquet with a fixed, typed schema. A value the analysis could not compute is empty (CSV) or null
(Parquet), never 0: unknown is not absent. Rows are sorted by night id, so the same cohort gives the same table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cds import __version__
from cds.batch.cohort import NightSpec
from cds.files import write_atomic

__all__ = ["COLUMNS", "night_row", "write_cohort_table"]

# column -> Arrow type name; the order is the table's column order
COLUMNS: dict[str, str] = {
    "night_id": "string",
    "status": "string",  # ok | error
    "error": "string",
    "recording": "string",
    "recording_sha256": "string",
    "hypnogram": "string",
    "events": "string",
    "patient": "string",
    "duration_h": "float64",
    "total_sleep_time_min": "float64",
    "lm_count": "int64",
    "lms_index_per_h": "float64",
    "plms_count": "int64",
    "plms_index_per_h": "float64",
    "plmw_index_per_h": "float64",
    "plms_arousal_index_per_h": "float64",
    "periodicity_index": "float64",
    "sleep_onset_jerk_count": "int64",
    "fm_potentials_per_min_nrem": "float64",
    "fm_excessive": "bool",
    "unusable_channels": "string",
    "unreliable_lm_channels": "string",
    "caveats": "string",
    "decision_action": "string",
    "decision_urgency": "string",
    "decision_interval": "string",
    "recommendations": "string",
    "findings": "string",
    "treatments_offered": "string",
    "asks": "int64",
    "ruleset_sha256": "string",
    "log_record": "string",  # the decision log's record id of the night's decision (not logged: empty)
    "cds_version": "string",
}


def _get(data: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _joined(items: Sequence[Any] | None) -> str | None:
    return None if items is None else ";".join(str(i) for i in items)


def night_row(
    spec: NightSpec,
    analysis: Mapping[str, Any] | None,
    decision: Mapping[str, Any] | None,
    *,
    error: str | None = None,
    offered_statuses: Sequence[str] = (),
) -> dict[str, Any]:
    """The night's row from its analysis.json and decision.json contents (``error``: the night failed;
    ``offered_statuses``: the treatment statuses the decision policy counts as offered)."""
    lm = _get(analysis, "leg_movements")
    quality = _get(analysis, "quality", "channels") or {}
    duration_s = _get(analysis, "recording", "duration_s")
    caveats = sorted({str(c.get("code")) for c in (_get(analysis, "caveats") or []) if isinstance(c, Mapping)})
    if decision is not None:
        caveats = sorted(
            set(caveats)
            | {
                str(c.get("code"))
                for c in decision.get("caveat_details") or []
                if isinstance(c, Mapping) and c.get("code")
            }
        )
    row: dict[str, Any] = {
        "night_id": spec.night_id,
        "status": "error" if error else "ok",
        "error": error,
        "recording": spec.recording.name,
        "recording_sha256": _get(analysis, "recording", "sha256"),
        "hypnogram": spec.hypnogram.name if spec.hypnogram else None,
        "events": spec.events.name if spec.events else None,
        "patient": spec.patient.name if spec.patient else None,
        "duration_h": None if duration_s is None else round(float(duration_s) / 3600.0, 4),
        "total_sleep_time_min": _get(analysis, "sleep", "total_sleep_time_min"),
        "lm_count": _get(lm, "count"),
        "lms_index_per_h": _get(lm, "lms_index"),
        "plms_count": _get(lm, "plms_count"),
        "plms_index_per_h": _get(lm, "plms_index"),
        "plmw_index_per_h": _get(lm, "plmw_index"),
        "plms_arousal_index_per_h": _get(lm, "plms_arousal_index"),
        "periodicity_index": _get(lm, "periodicity_index"),
        "sleep_onset_jerk_count": _get(analysis, "sleep_onset_jerks", "count"),
        "fm_potentials_per_min_nrem": _get(analysis, "fragmentary_myoclonus", "potentials_per_min_nrem"),
        "fm_excessive": _get(analysis, "fragmentary_myoclonus", "excessive"),
        "unusable_channels": None
        if analysis is None
        else _joined(sorted(r for r, q in quality.items() if isinstance(q, Mapping) and q.get("usable") is False)),
        "unreliable_lm_channels": None if lm is None else _joined(sorted(lm.get("unreliable_channels") or [])),
        "caveats": None if analysis is None else _joined(caveats),
        "cds_version": __version__,
        **_decision_columns(decision, offered_statuses),
    }
    return {name: row.get(name) for name in COLUMNS}


def _decision_columns(decision: Mapping[str, Any] | None, offered_statuses: Sequence[str]) -> dict[str, Any]:
    if decision is None:
        return {}
    conclusion = decision.get("conclusion") or {}
    recs = [f"{r.get('action')}:{r.get('urgency')}" for r in decision.get("recommendations") or []]
    offered = [t.get("drug") for t in decision.get("treatments") or [] if t.get("status") in offered_statuses]
    return {
        "decision_action": conclusion.get("action"),
        "decision_urgency": conclusion.get("urgency"),
        "decision_interval": conclusion.get("interval"),
        "recommendations": _joined(recs),
        "findings": _joined(sorted({str(f.get("code")) for f in decision.get("findings") or []})),
        "treatments_offered": _joined(sorted(str(d) for d in offered)),
        "asks": len(decision.get("asks") or []),
        "ruleset_sha256": _get(decision, "inputs", "ruleset", "sha256"),
    }


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else v) for k, v in row.items()}
        )
    return buffer.getvalue()


def write_cohort_table(rows: Sequence[Mapping[str, Any]], out_dir: str | Path, name: str = "cohort") -> dict[str, Path]:
    """Write ``<name>.csv`` and ``<name>.parquet`` (rows sorted by night id) atomically; returns format -> path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ordered = sorted(rows, key=lambda r: str(r.get("night_id")))
    out = Path(out_dir)
    csv_path, parquet_path = out / f"{name}.csv", out / f"{name}.parquet"
    write_atomic(csv_path, _csv_text(ordered))
    types = {"string": pa.string(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_()}
    schema = pa.schema([(column, types[kind]) for column, kind in COLUMNS.items()])
    table = pa.Table.from_pylist([dict(r) for r in ordered], schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    write_atomic(parquet_path, sink.getvalue().to_pybytes())
    return {"csv": csv_path, "parquet": parquet_path}
