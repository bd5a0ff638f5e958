"""The night figure of the letter: hypnogram with detected leg movements, PLM series and sleep-onset jerks.

Written directly as an inline ``<svg>`` (no plotting library: the figure is a step line and rows of ticks, and
importing and running matplotlib cost a triage with a recording more than half a second). Every coordinate is
printed with two decimals and every label is escaped text, so the same analysis always gives the same bytes and
the letter stays searchable. Leg movements follow the standard the analysis used (AASM-SM-2.6 or WASM-2016).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from cds.stages import SleepStage

log = logging.getLogger(__name__)

XOf = Callable[[float], float]  # hours from the start of the recording -> x in the figure

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
PERIODIC_UNSTAGED = "in PLM series, sleep and wake together"  # the row and the letter's text use these words

# Layout in SVG user units (1 unit = 1 CSS px at 100 %); colours as the letter's palette.
_WIDTH = 700.0
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
_CHAR_W = 5.6  # mean advance of an 10-px DejaVu Sans character, to size the label margin
_RIGHT = 12.0
_TITLE_H = 16.0
_HYP_ROW_H = 18.0
_EVENT_ROW_H = 20.0
_AXIS_H = 34.0
_GAP = 10.0
_INK, _GRID, _REM = "#1f3a5f", "#d0d5dc", "#c0392b"
_ROWS = (("periodic", "#d35400"), ("other", "#7f8c8d"), ("jerks", "#8e44ad"))  # top to bottom


def render_night_figure(analysis: Mapping[str, Any], *, hypnogram: Mapping[str, Any] | None = None) -> str | None:
    """Return the night figure as an inline SVG string, or None when the analysis has nothing to draw.

    Top panel: the hypnogram (stages per epoch) when one was available. Bottom panel: one tick per detected
    leg movement (periodic ones, i.e. members of a PLM series, in a separate row), and sleep-onset jerks.
    Time axis in hours from the start of the recording. ``hypnogram`` (``stages``, ``epoch_s``, ``start_s``)
    supplies the stages when the analysis record only summarises its hypnogram.
    """
    duration_h = float(analysis.get("recording", {}).get("duration_s") or 0.0) / 3600.0
    segments = _stage_segments(hypnogram or analysis.get("hypnogram"))
    movements = (analysis.get("leg_movements") or {}).get("events") or []
    jerks = (analysis.get("sleep_onset_jerks") or {}).get("events") or []
    if duration_h <= 0 and not segments and not movements:
        return None
    staged = bool(segments) or bool((analysis.get("hypnogram") or {}).get("source"))
    rows = _event_rows(movements, jerks, staged=staged)
    end_h = max(duration_h, _last_event_h(movements, jerks), 1e-3)
    labels = [label for label, _events, _colour in rows] + ([_STAGE_NAMES[s] for s in STAGE_ORDER] if segments else [])
    left = min(max(len(text) for text in labels) * _CHAR_W + 14.0, 340.0)
    plot_w = _WIDTH - left - _RIGHT

    def x_of(hours: float) -> float:
        return left + plot_w * min(max(hours / end_h, 0.0), 1.0)

    parts: list[str] = []
    y = 0.0
    if segments:
        y = _hypnogram_panel(parts, segments, x_of, left, y)
        y += _GAP
    title = "Detected events" if staged else "Detected events (no hypnogram: sleep and wake not separated)"
    y = _events_panel(parts, rows, x_of, left, y, title)
    y = _time_axis(parts, end_h, x_of, left, y)
    height = y + 4.0
    description = f"Night figure: {'hypnogram and ' if segments else ''}" + "; ".join(
        f"{label}" for label, _events, _colour in rows
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {_WIDTH:.0f} {height:.0f}" role="img" aria-label="{escape(description)}" {_FONT} '
        f'font-size="10">\n' + "\n".join(parts) + "\n</svg>\n"
    )
    log.info("night figure: %d stage segments, %d leg movements, %d jerks", len(segments), len(movements), len(jerks))
    return svg


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


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: float = 10.0, bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    body = escape(text, quote=False)
    return f'<text x="{x:.2f}" y="{y:.2f}" text-anchor="{anchor}" font-size="{size:g}"{weight}>{body}</text>'


def _hypnogram_panel(
    parts: list[str], segments: list[tuple[float, float, SleepStage]], x_of: XOf, left: float, top: float
) -> float:
    """The stage step line (REM drawn thick in red over it), one labelled row per stage; returns its bottom."""
    parts.append(_text(left, top + 11.0, "Hypnogram", bold=True))
    first = top + _TITLE_H + _HYP_ROW_H / 2
    level = {stage: first + i * _HYP_ROW_H for i, stage in enumerate(STAGE_ORDER)}
    for stage in STAGE_ORDER:
        parts.append(
            f'<line x1="{left:.2f}" y1="{level[stage]:.2f}" x2="{_WIDTH - _RIGHT:.2f}" y2="{level[stage]:.2f}" '
            f'stroke="{_GRID}" stroke-width="0.5"/>'
        )
        parts.append(_text(left - 6.0, level[stage] + 3.5, _STAGE_NAMES[stage], anchor="end"))
    points: list[str] = []
    for start_h, end_h, stage in segments:
        points.append(f"{x_of(start_h):.2f},{level[stage]:.2f} {x_of(end_h):.2f},{level[stage]:.2f}")
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{_INK}" stroke-width="1"/>')
    rem = [f"M{x_of(a):.2f} {level[s]:.2f}H{x_of(b):.2f}" for a, b, s in segments if s is SleepStage.R]
    if rem:
        parts.append(f'<path d="{"".join(rem)}" stroke="{_REM}" stroke-width="3" fill="none"/>')
    return first + (len(STAGE_ORDER) - 0.5) * _HYP_ROW_H


def _event_rows(
    movements: Sequence[Mapping[str, Any]], jerks: Sequence[Mapping[str, Any]], *, staged: bool
) -> list[tuple[str, list[Mapping[str, Any]], str]]:
    """One row per kind of event, labelled with its count. Without a hypnogram the series are counted over the
    whole recording (sleep and wake are not separated), and the row says so, as the letter's text does."""
    chosen = {
        "jerks": ("Jerks at sleep onset", list(jerks)),
        "other": ("Leg movements, not periodic", [e for e in movements if not e.get("periodic")]),
        "periodic": (
            "Leg movements in PLM series" if staged else f"Leg movements {PERIODIC_UNSTAGED}",
            [e for e in movements if e.get("periodic")],
        ),
    }
    return [(f"{chosen[key][0]} ({len(chosen[key][1])})", chosen[key][1], colour) for key, colour in _ROWS]


def _events_panel(
    parts: list[str],
    rows: list[tuple[str, list[Mapping[str, Any]], str]],
    x_of: XOf,
    left: float,
    top: float,
    title: str,
) -> float:
    """One row of ticks per kind of event (one tick per event at its onset); returns the panel's bottom."""
    parts.append(_text(left, top + 11.0, title, bold=True))
    first = top + _TITLE_H + _EVENT_ROW_H / 2
    for i, (label, events, colour) in enumerate(rows):
        centre = first + i * _EVENT_ROW_H
        parts.append(_text(left - 6.0, centre + 3.5, label, anchor="end"))
        ticks = "".join(f"M{x_of(float(e['onset_s']) / 3600.0):.2f} {centre - 7:.2f}v14" for e in events)
        if ticks:
            parts.append(f'<path d="{ticks}" stroke="{colour}" stroke-width="0.6" fill="none"/>')
    return first + (len(rows) - 0.5) * _EVENT_ROW_H


def _hour_step(end_h: float) -> float:
    """A round tick interval giving about 4 to 10 ticks over the night."""
    for step in (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 12.0):
        if end_h / step <= 10:
            return step
    return 24.0


def _time_axis(parts: list[str], end_h: float, x_of: XOf, left: float, top: float) -> float:
    """The time axis under the events: ticks at round hours, and its label; returns the figure's bottom."""
    axis_y = top + 4.0
    parts.append(
        f'<line x1="{left:.2f}" y1="{axis_y:.2f}" x2="{_WIDTH - _RIGHT:.2f}" y2="{axis_y:.2f}" stroke="{_INK}" '
        'stroke-width="0.8"/>'
    )
    step = _hour_step(end_h)
    n = int(end_h / step + 1e-9)
    for i in range(n + 1):
        hours = i * step
        x = x_of(hours)
        parts.append(f'<line x1="{x:.2f}" y1="{axis_y:.2f}" x2="{x:.2f}" y2="{axis_y + 4:.2f}" stroke="{_INK}"/>')
        parts.append(_text(x, axis_y + 14.0, f"{hours:g}", anchor="middle"))
    parts.append(
        _text(left + (x_of(end_h) - left) / 2, axis_y + 28.0, "Time from start of recording (h)", anchor="middle")
    )
    return axis_y + _AXIS_H


def _last_event_h(movements: Sequence[Mapping[str, Any]], jerks: Sequence[Mapping[str, Any]]) -> float:
    ends = [float(e["onset_s"]) + float(e.get("duration_s") or 0.0) for e in [*movements, *jerks]]
    return max(ends, default=0.0) / 3600.0
