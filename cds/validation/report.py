"""``validate_recordings``: cds's leg movements against a site's own scoring of the same nights.

For each recording, cds scores it (``cds.analysis.analyze_recording``) and the site's leg movements are read
from EDF+ annotations or a CSV/TSV/Noxturnal export (``cds.io.events.read_events``; the recording's own EDF+
annotations when no file is given). Both are restricted to the scored period (lights off to lights on, else the
hypnogram's span). Event agreement: onsets paired within a stated tolerance (``agreement.match_onsets``). PLMS
index agreement: the index of each side's LMs by the same grammar and hypnogram, respiratory-related LMs not
excluded on either side, so only the detection differs; Bland-Altman limits and ICC(2,1) across recordings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cds.analysis import analyze_recording
from cds.detect.legmovements import LegMovements, make_leg_movements
from cds.detect.plm import find_bilateral_movements, find_plm_series
from cds.errors import InputError
from cds.io.events import read_events
from cds.standards import ScoringStandard, Standard, load_standard
from cds.stats.indices import compute_leg_movement_stats
from cds.stats.sleep import compute_sleep_summary
from cds.validation.agreement import EventAgreement, bland_altman, icc_absolute, match_onsets

__all__ = ["SCHEMA", "ValidationReport", "render_validation_text", "validate_recordings"]

SCHEMA = "cds.validation/v1"
ProgressFn = Callable[[str, float], None]


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """``data`` is the deterministic ``cds.validation/v1`` document."""

    data: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(self.data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _plms_index(lms: LegMovements, std: ScoringStandard, hyp: Any) -> float | None:
    sleep = compute_sleep_summary(hyp)
    stats = compute_leg_movement_stats(lms, find_plm_series(lms, std), std, hypnogram=hyp, sleep=sleep)
    return stats.plms_index


def _window(hyp: Any, duration_s: float) -> tuple[float, float]:
    if hyp is None:
        return 0.0, duration_s
    start = hyp.lights_off_s if hyp.lights_off_s is not None else hyp.start_s
    end = hyp.lights_on_s if hyp.lights_on_s is not None else hyp.end_s
    return float(start), float(end)


def per_leg_rule(std: ScoringStandard) -> str:
    """How a site's left-leg and right-leg files are merged: the standard's bilateral rule, as cds merges its legs."""
    rule = std.bilateral
    if rule.rule == "onset_lag":
        how = f"LMs of the two legs with onsets < {rule.max_onset_lag_s:g} s apart are one LM"
    else:
        limits = f"at most {rule.max_components} components and " if rule.max_components is not None else "at most "
        how = (
            f"LMs of the two legs overlapping or < {rule.max_gap_s:g} s apart are one LM "
            f"({limits}{rule.max_duration_s:g} s)"
        )
    return (
        f"left-leg and right-leg site files merged by the {std.id} bilateral rule, the code cds uses for its own two "
        f"legs: {how}, spanning the first onset to the last offset; an event without a duration gets the minimum LM "
        f"duration ({std.leg_movement.min_duration_s:g} s)"
    )


def _site_table(
    source: Path, report: Any, side: str, std: ScoringStandard, lo: float, hi: float, *, required: bool
) -> LegMovements:
    """The site's leg movements of ``source`` inside [lo, hi), as a table of one ``side``."""
    site = read_events(source, recording_start=report.start, recording_duration_s=report.duration_s)
    if required and len(site.leg_movements) == 0:
        raise InputError(
            "no scored leg movements in this file (labels such as LM, PLM, MJ, 'Limb Movement')",
            path=source,
            hint="give the site's scoring with --scored FILE (or --scored-left and --scored-right)",
        )
    table = site.leg_movements.reshape(-1, 2)
    keep = (table[:, 0] >= lo) & (table[:, 0] < hi)
    return make_leg_movements(table[keep, 0], np.nan_to_num(table[keep, 1], nan=std.leg_movement.min_duration_s), side)


def _one(
    recording: Path,
    scored: Path | tuple[Path, Path] | None,
    std: ScoringStandard,
    tolerance_s: float,
    channel_overrides: Sequence[str] | None,
) -> tuple[dict[str, Any], EventAgreement, tuple[float, float] | None]:
    report = analyze_recording(recording, standard=std.id, channel_overrides=channel_overrides or None)
    hyp = report.hypnogram
    lo, hi = _window(hyp, report.duration_s)
    legs: dict[str, int] | None = None
    if isinstance(scored, tuple):  # one file per leg: merged as cds merges its own two legs
        left = _site_table(scored[0], report, "left", std, lo, hi, required=False)
        right = _site_table(scored[1], report, "right", std, lo, hi, required=False)
        if len(left) + len(right) == 0:
            raise InputError(
                f"no scored leg movements in the left-leg file nor in the right-leg file ({scored[1]})",
                path=scored[0],
                hint="give the site's scoring with --scored-left and --scored-right",
            )
        site_lms = find_bilateral_movements(left, right, std)
        source_name = f"{scored[0].name} + {scored[1].name}"
        legs = {"left": len(left), "right": len(right)}
    else:
        source = scored if scored is not None else recording
        site_lms = _site_table(source, report, "bilateral", std, lo, hi, required=True)
        source_name = source.name
    ours = report.leg_movements
    ours = ours.select((ours.onset_s >= lo) & (ours.onset_s < hi))
    agreement = match_onsets(site_lms.onset_s, ours.onset_s, tolerance_s)
    row: dict[str, Any] = {
        "recording": recording.name,
        "scored_file": source_name,
        # per-leg site files: the events of each leg before the bilateral merge (null for one file)
        "site_lms_per_leg": legs,
        "site_lms": len(site_lms),
        "cds_lms": len(ours),
        **agreement.to_dict(),
        "unavailable": {} if legs else {"site_lms_per_leg": "one scoring file for both legs"},
    }
    pair = None
    if hyp is None:
        reason = "no hypnogram: the PLMS index needs sleep stages"
        row.update(site_plms_index=None, cds_plms_index=None, plms_index_difference=None)
        row["unavailable"] = dict.fromkeys(("site_plms_index", "cds_plms_index", "plms_index_difference"), reason)
    else:
        site_index, cds_index = _plms_index(site_lms, std, hyp), _plms_index(ours, std, hyp)
        row.update(
            site_plms_index=_r(site_index),
            cds_plms_index=_r(cds_index),
            plms_index_difference=_r(None if site_index is None or cds_index is None else cds_index - site_index),
        )
        if site_index is not None and cds_index is not None:
            pair = (site_index, cds_index)
        else:
            row["unavailable"] = dict.fromkeys(
                ("site_plms_index", "cds_plms_index", "plms_index_difference"), "no sleep scored in the hypnogram"
            )
    for key in ("sensitivity", "ppv", "f1"):
        if row[key] is None:
            row["unavailable"][key] = "no events on either side to compare"
    return row, agreement, pair


def validate_recordings(
    recordings: Sequence[str | Path],
    scored: Sequence[str | Path | tuple[str | Path, str | Path]] | None = None,
    *,
    standard: Standard | str = "aasm",
    tolerance_s: float,
    channel_overrides: Sequence[str] | None = None,
    progress: ProgressFn | None = None,
) -> ValidationReport:
    """Compare cds with the site's scoring of each recording. ``scored``: one entry per recording, in the same
    order (None: each recording's own EDF+ annotations): a file, or a (left-leg file, right-leg file) pair merged by
    the standard's bilateral rule (``per_leg_rule``). Raises InputError for a scoring with no leg movements
    and everything ``analyze_recording`` raises; ValueError when the two lists differ in length."""
    std = load_standard(standard)
    paths = [Path(p) for p in recordings]
    site_files: list[Path | tuple[Path, Path] | None] = (
        [(Path(p[0]), Path(p[1])) if isinstance(p, tuple) else Path(p) for p in scored]
        if scored
        else [None] * len(paths)
    )
    if len(site_files) != len(paths):
        raise ValueError(f"{len(paths)} recordings but {len(site_files)} scoring files: give one per recording")
    rows, pairs, pooled = [], [], EventAgreement(0, 0, 0)
    for i, (recording, site) in enumerate(zip(paths, site_files, strict=True)):
        row, agreement, pair = _one(recording, site, std, tolerance_s, channel_overrides)
        rows.append(row)
        pooled = pooled + agreement
        if pair is not None:
            pairs.append(pair)
        if progress:
            progress("recordings", (i + 1) / len(paths))
    site_idx = np.array([p[0] for p in pairs])
    cds_idx = np.array([p[1] for p in pairs])
    limits = {k: _r(v) if isinstance(v, float) else v for k, v in bland_altman(site_idx, cds_idx).items()}
    icc = icc_absolute(site_idx, cds_idx)
    reasons = {}
    if icc is None:
        reasons["icc"] = f"{len(pairs)} recording(s) with both PLMS indices: ICC needs 2 or more with some spread"
    if limits["sd_difference"] is None:
        for key in ("sd_difference", "lower_limit", "upper_limit"):
            reasons[key] = f"{len(pairs)} recording(s) with both PLMS indices: limits need 2 or more"
    if limits["mean_difference"] is None:
        reasons["mean_difference"] = "no recording with both PLMS indices"
    data = {
        "schema": SCHEMA,
        "parameters": {
            "standard": std.id,
            "standard_title": std.title,
            "onset_tolerance_s": tolerance_s,
            "matching": "one to one, nearest onsets first, |onset difference| <= onset_tolerance_s",
            "plms_index": "each side's LMs through the same PLM grammar and hypnogram; respiratory-related LMs "
            "not excluded on either side",
            "period": "lights off to lights on (else the hypnogram's span; the whole recording without one)",
            "per_leg_files": per_leg_rule(std),
            "icc": "ICC(2,1): two-way random effects, absolute agreement, single measure",
            "limits_of_agreement": "mean difference (cds - site) +/- 1.96 SD",
        },
        "recordings": rows,
        "events": pooled.to_dict(),
        "plms_index": {**limits, "icc": _r(icc, 4), "unavailable": dict(sorted(reasons.items()))},
    }
    return ValidationReport(data)


def render_validation_text(report: ValidationReport) -> str:
    """The per-recording table and the pooled figures, as ``cds validate`` prints them."""
    d = report.data
    p = d["parameters"]

    def f(value: Any, digits: int = 2) -> str:
        return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))

    lines = [
        f"standard {p['standard']}; onsets matched within {p['onset_tolerance_s']:g} s; period {p['period']}",
        f"{'recording':<28} {'site':>5} {'cds':>5} {'TP':>5} {'FN':>5} {'FP':>5} {'sens':>5} {'PPV':>5} "
        f"{'F1':>5} {'PLMSI site':>10} {'PLMSI cds':>9}",
    ]
    for r in d["recordings"]:
        lines.append(
            f"{r['recording'][:28]:<28} {r['site_lms']:>5} {r['cds_lms']:>5} {r['true_positives']:>5} "
            f"{r['false_negatives']:>5} {r['false_positives']:>5} {f(r['sensitivity']):>5} {f(r['ppv']):>5} "
            f"{f(r['f1']):>5} {f(r['site_plms_index'], 1):>10} {f(r['cds_plms_index'], 1):>9}"
        )
    e, b = d["events"], d["plms_index"]
    lines.append(
        f"all recordings: sensitivity {f(e['sensitivity'])}, PPV {f(e['ppv'])}, F1 {f(e['f1'])} "
        f"({e['true_positives']} matched, {e['false_negatives']} missed, {e['false_positives']} extra)"
    )
    lines.append(
        f"PLMS index (cds - site): mean {f(b['mean_difference'])}/h, 95 % limits of agreement "
        f"{f(b['lower_limit'])} to {f(b['upper_limit'])}/h, ICC(2,1) {f(b['icc'], 3)} (n = {b['n']})"
    )
    lines += [f"  {key}: {why}" for key, why in b["unavailable"].items()]
    return "\n".join(lines)
