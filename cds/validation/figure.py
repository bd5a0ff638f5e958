"""The validation figure: Bland-Altman plot of the PLMS index and per-recording event F1, as a deterministic SVG."""

from __future__ import annotations

import io
from typing import Any

from cds.validation.report import ValidationReport

__all__ = ["render_validation_figure"]

_RC: Any = {"svg.hashsalt": "cds-validation", "svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 8.0}


def render_validation_figure(report: ValidationReport) -> str:
    """Left: cds - site PLMS index against their mean, with the mean difference and 95 % limits. Right: event F1,
    sensitivity and PPV per recording. Returns the SVG document."""
    import matplotlib
    from matplotlib.figure import Figure

    rows = report.data["recordings"]
    limits = report.data["plms_index"]
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(8.0, 3.2), layout="constrained")
        ax_ba, ax_f1 = figure.subplots(1, 2)
        pairs = [
            (r["site_plms_index"], r["cds_plms_index"])
            for r in rows
            if r["site_plms_index"] is not None and r["cds_plms_index"] is not None
        ]
        if pairs:
            means = [(a + b) / 2 for a, b in pairs]
            diffs = [b - a for a, b in pairs]
            ax_ba.scatter(means, diffs, s=14, color="#1f4e79")
            for key, style in (("mean_difference", "-"), ("lower_limit", "--"), ("upper_limit", "--")):
                if limits.get(key) is not None:
                    ax_ba.axhline(limits[key], linestyle=style, color="#7f7f7f", linewidth=0.8)
        else:
            ax_ba.text(
                0.5, 0.5, "no PLMS index pairs (no hypnogram)", ha="center", va="center", transform=ax_ba.transAxes
            )
        ax_ba.set_xlabel("mean of site and cds PLMS index (/h)")
        ax_ba.set_ylabel("cds - site PLMS index (/h)")
        ax_ba.set_title("PLMS index agreement (Bland-Altman)")
        x = list(range(len(rows)))
        for offset, key, colour in (
            (-0.25, "sensitivity", "#1f4e79"),
            (0.0, "ppv", "#5b9bd5"),
            (0.25, "f1", "#c55a11"),
        ):
            ax_f1.bar([i + offset for i in x], [r[key] or 0.0 for r in rows], width=0.25, color=colour, label=key)
        ax_f1.set_xticks(x, [r["recording"][:14] for r in rows], rotation=30, ha="right")
        ax_f1.set_ylim(0.0, 1.05)
        ax_f1.set_title("leg movements: event agreement")
        ax_f1.legend(loc="lower right", frameon=False)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return buffer.getvalue()
