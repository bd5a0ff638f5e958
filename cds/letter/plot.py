"""The night figure of the letter: hypnogram with detected leg movements, PLM series and sleep-onset jerks.

Rendered with matplotlib's SVG backend (no pyplot state) into an inline ``<svg>`` string with deterministic bytes
(fixed ``svg.hashsalt``, no date or creator metadata, text kept as text), so the same analysis always gives
the same letter. Leg movements follow the standard the analysis used (AASM-SM-2.6 or WASM-2016).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from cds.stages import SleepStage

log = logging.getLogger(__name__)

__all__ = ["PERIODIC_UNSTAGED", "STAGE_ORDER", "render_night_figure"]

# Hypnogram rows from top to bottom (the clinical convention: wake on top, deepest sleep at the bottom).
STAGE_ORDER: tuple[SleepStage, ...] = (SleepStage.W, SleepStage.R, SleepStage.N1, SleepStage.N2, SleepStage.N3)
_STAGE_NAMES = {
    SleepStage.W: "Wake",
    SleepStage.R: "REM",
    SleepStage.N1: "N1",
    SleepStage.N2: "N2",
    SleepStage.N3: "N3",
}
_RC: Any = {  # matplotlib rc keys (its stubs type them as literals)
    "svg.hashsalt": "cds-letter",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def render_night_figure(analysis: Mapping[str, Any], *, hypnogram: Mapping[str, Any] | None = None) -> str | None:
    """Return the night figure as an inline SVG string, or None when the analysis has nothing to draw.

    Top panel: the hypnogram (stages per epoch) when one was available. Bottom panel: one tick per detected
    leg movement (periodic ones, i.e. members of a PLM series, in a separate row), and sleep-onset jerks.
    Time axis in hours from the start of the recording. ``hypnogram`` (``stages``, ``epoch_s``, ``start_s``)
    supplies the stages when the analysis record only summarises its hypnogram.
    """
    import matplotlib
    from matplotlib.figure import Figure

    duration_h = float(analysis.get("recording", {}).get("duration_s") or 0.0) / 3600.0
    segments = _stage_segments(hypnogram or analysis.get("hypnogram"))
    movements = (analysis.get("leg_movements") or {}).get("events") or []
    jerks = (analysis.get("sleep_onset_jerks") or {}).get("events") or []
    if duration_h <= 0 and not segments and not movements:
        return None
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(7.0, 2.9 if segments else 1.6), layout="constrained")
        if segments:
            ax_hyp, ax_ev = figure.subplots(2, 1, sharex=True, height_ratios=(1.6, 1.0))
            _draw_hypnogram(ax_hyp, segments)
        else:
            ax_ev = figure.subplots(1, 1)
        staged = bool(segments) or bool((analysis.get("hypnogram") or {}).get("source"))
        _draw_events(ax_ev, movements, jerks, staged=staged)
        ax_ev.set_xlim(0.0, max(duration_h, _last_event_h(movements, jerks), 1e-3))
        ax_ev.set_xlabel("Time from start of recording (h)")
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    start = svg.find("<svg")
    log.info("night figure: %d stage segments, %d leg movements, %d jerks", len(segments), len(movements), len(jerks))
    return svg[start:] if start >= 0 else svg


def _stage_segments(hypnogram: Mapping[str, Any] | None) -> list[tuple[float, float, SleepStage]]:
    """Return (start_h, end_h, stage) runs from the analysis hypnogram (``stages`` per ``epoch_s`` epoch,
    or ``epochs`` with ``onset_s``/``stage``), the labels read as ``SleepStage`` values (what cds.io writes);
    unscored and movement-time epochs and labels that are not stages are skipped, not guessed."""
    if not hypnogram:
        return []
    epoch_s = float(hypnogram.get("epoch_s") or hypnogram.get("epoch_duration_s") or 30.0)
    stages: Sequence[Any] = hypnogram.get("stages") or []
    pairs: list[tuple[float, str]] = []
    if stages:
        offset_s = float(hypnogram.get("start_s") or hypnogram.get("offset_s") or 0.0)
        pairs = [(offset_s + i * epoch_s, str(s)) for i, s in enumerate(stages)]
    elif isinstance(hypnogram.get("epochs"), list):
        pairs = [(float(e["onset_s"]), str(e["stage"])) for e in hypnogram["epochs"]]
    runs: list[tuple[float, float, SleepStage]] = []
    for onset_s, label in pairs:
        stage = _drawn_stage(label)
        if stage is None:
            continue
        start_h, end_h = onset_s / 3600.0, (onset_s + epoch_s) / 3600.0
        if runs and runs[-1][2] == stage and abs(runs[-1][1] - start_h) < 1e-9:
            runs[-1] = (runs[-1][0], end_h, stage)
        else:
            runs.append((start_h, end_h, stage))
    return runs


def _drawn_stage(label: str) -> SleepStage | None:
    """The stage of a hypnogram label when it has a row in the figure (W, R, N1, N2, N3), else None."""
    try:
        stage = SleepStage(label)
    except ValueError:
        return None
    return stage if stage in _STAGE_NAMES else None


def _draw_hypnogram(ax: Any, segments: list[tuple[float, float, SleepStage]]) -> None:
    level = {stage: -i for i, stage in enumerate(STAGE_ORDER)}
    xs: list[float] = []
    ys: list[float] = []
    for start_h, end_h, stage in segments:
        xs += [start_h, end_h]
        ys += [level[stage], level[stage]]
    ax.plot(xs, ys, color="#1f3a5f", linewidth=1.0)
    for start_h, end_h, stage in segments:
        if stage is SleepStage.R:
            ax.plot([start_h, end_h], [level[stage], level[stage]], color="#c0392b", linewidth=3.0)
    ax.set_yticks([level[s] for s in STAGE_ORDER], [_STAGE_NAMES[s] for s in STAGE_ORDER])
    ax.set_ylim(-len(STAGE_ORDER) + 0.5, 0.5)
    ax.set_title("Hypnogram", loc="left", fontsize=8.5)


PERIODIC_UNSTAGED = "in PLM series, sleep and wake together"  # the row and the letter's text use these words


def _draw_events(
    ax: Any, movements: Sequence[Mapping[str, Any]], jerks: Sequence[Mapping[str, Any]], *, staged: bool = True
) -> None:
    """One row per kind of event, labelled with its count. Without a hypnogram the series are counted over the
    whole recording (sleep and wake are not separated), and the row says so, as the letter's text does."""
    rows = (
        ("Jerks at sleep onset", [e for e in jerks], "#8e44ad"),
        ("Leg movements, not periodic", [e for e in movements if not e.get("periodic")], "#7f8c8d"),
        (
            "Leg movements in PLM series" if staged else f"Leg movements {PERIODIC_UNSTAGED}",
            [e for e in movements if e.get("periodic")],
            "#d35400",
        ),
    )
    for y, (_label, events, colour) in enumerate(rows):
        onsets_h = [float(e["onset_s"]) / 3600.0 for e in events]
        if onsets_h:
            ax.vlines(onsets_h, y - 0.35, y + 0.35, color=colour, linewidth=0.6)
    ax.set_yticks(range(len(rows)), [f"{label} ({len(events)})" for label, events, _ in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    title = "Detected events" if staged else "Detected events (no hypnogram: sleep and wake not separated)"
    ax.set_title(title, loc="left", fontsize=8.5)


def _last_event_h(movements: Sequence[Mapping[str, Any]], jerks: Sequence[Mapping[str, Any]]) -> float:
    ends = [float(e["onset_s"]) + float(e.get("duration_s") or 0.0) for e in [*movements, *jerks]]
    return max(ends, default=0.0) / 3600.0
