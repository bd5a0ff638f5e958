"""Per-channel data quality (clinical brief 2.1 and 2.14): usable fraction, resting level, flat, saturated and
noisy stretches, sampling rate and band edge. Problems become explicit ``Caveat`` records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.caveats import Caveat
from cds.detect.preprocess import Envelope, FilteredEmg
from cds.standards import ScoringStandard, load_detector_heuristics

__all__ = ["ChannelQuality", "RawChecks", "assess_channel", "check_raw"]

BLOCK_S = load_detector_heuristics().quality.block_s  # flat and saturation are judged per block (detectors.yaml)
NOISE_BLOCK_S = load_detector_heuristics().quality.noise_block_s  # noise (resting level too high) per block


@dataclass(frozen=True)
class ChannelQuality:
    role: str
    label: str
    sfreq_hz: float
    usable_fraction: float
    resting_uv: float | None
    flat_fraction: float
    saturated_fraction: float
    noisy_fraction: float
    resolution_uv: float | None
    usable: bool
    caveats: tuple[Caveat, ...] = field(default=())
    # Leg channels only (None otherwise): the longest above-threshold stretch (onset to offset, s) and the share of
    # the usable time inside such stretches; lm_reliable is False when either shows the offset rule was never met.
    longest_above_threshold_s: float | None = None
    above_threshold_fraction: float | None = None
    lm_reliable: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "sfreq_hz": self.sfreq_hz,
            "usable_fraction": round(self.usable_fraction, 3),
            "resting_uv": None if self.resting_uv is None else round(self.resting_uv, 2),
            "flat_fraction": round(self.flat_fraction, 3),
            "saturated_fraction": round(self.saturated_fraction, 3),
            "noisy_fraction": round(self.noisy_fraction, 3),
            "resolution_uv": None if self.resolution_uv is None else round(self.resolution_uv, 4),
            "usable": self.usable,
            "longest_above_threshold_s": None
            if self.longest_above_threshold_s is None
            else round(self.longest_above_threshold_s, 1),
            "above_threshold_fraction": None
            if self.above_threshold_fraction is None
            else round(self.above_threshold_fraction, 3),
            "lm_reliable": self.lm_reliable,
        }


def _blocks(x: NDArray, per: int) -> NDArray:
    n = x.size // per
    return x[: n * per].reshape(n, per)


@dataclass(frozen=True)
class RawChecks:
    """What quality needs from a channel's raw samples: per-second flat and saturated blocks and the amplitude
    resolution. Taken once, so the raw samples need not be kept for the rest of the scoring."""

    flat: NDArray[np.bool_]
    saturated: NDArray[np.bool_]
    resolution_uv: float | None


def check_raw(
    raw_uv: NDArray[np.floating], sfreq_hz: float, standard: ScoringStandard, physical_range_uv: tuple[float, float]
) -> RawChecks:
    """Per-second flat (peak-to-peak < ``flat_range_uv``) and saturated (share of samples at the physical limits
    >= ``saturation_fraction``) blocks, and the µV per digital step, of one channel's raw samples."""
    q = standard.quality
    per = max(1, round(BLOCK_S * sfreq_hz))
    raw = np.asarray(raw_uv)
    blocks = _blocks(raw, per)
    if blocks.shape[0] == 0:
        flat = saturated = np.zeros(0, dtype=bool)
    else:
        top, bottom = blocks.max(axis=1), blocks.min(axis=1)
        flat = (top - bottom) < q.flat_range_uv
        lo, hi = physical_range_uv
        tol = 1e-6 * max(abs(lo), abs(hi), 1.0) + 0.5 * (hi - lo) / 65535
        # Only seconds whose extremes reach a limit can have samples there: count those seconds' samples and give
        # the others a share of 0 (two boolean passes over the whole night avoided; same result).
        touching = (top >= hi - tol) | (bottom <= lo + tol) | np.isnan(top)  # a NaN hides the extremes
        saturated = np.full(flat.size, q.saturation_fraction <= 0.0)
        if touching.any():
            part = blocks[touching]
            at_limit = (part >= hi - tol) | (part <= lo + tol)
            saturated[touching] = at_limit.mean(axis=1) >= q.saturation_fraction
    return RawChecks(flat, saturated, _resolution_uv(raw))


def assess_channel(
    raw_uv: NDArray[np.floating] | RawChecks,
    filtered: FilteredEmg,
    envelope: Envelope | None,
    standard: ScoringStandard,
    *,
    role: str,
    label: str,
    physical_range_uv: tuple[float, float],
    resting_uv: float | None = None,
    threshold_spans_s: NDArray[np.floating] | None = None,
) -> ChannelQuality:
    """Judge one channel from its raw samples or their ``check_raw``: per-second flat and saturated blocks; 30-s
    blocks whose median envelope exceeds ``max_resting_uv`` (only when ``envelope`` is given). With
    ``threshold_spans_s`` ((n, 2) onset/end of every above-threshold stretch of a leg channel), the leg-movement
    count is judged unreliable when one stretch lasts longer than ``max_above_threshold_s`` or the stretches cover
    more than ``max_above_threshold_fraction`` of the usable seconds: the EMG never stays near the resting level
    long enough for the offset rule."""
    q = standard.quality
    fs = filtered.sfreq_hz
    checks = raw_uv if isinstance(raw_uv, RawChecks) else check_raw(raw_uv, fs, standard, physical_range_uv)
    flat, saturated = checks.flat, checks.saturated
    noisy_sec = np.zeros(flat.size, dtype=bool)
    if envelope is not None and envelope.values_uv.size:
        per_env = max(1, round(NOISE_BLOCK_S / envelope.step_s))
        env_blocks = _blocks(envelope.values_uv, per_env)
        if env_blocks.shape[0]:
            noisy_block = _median_above(env_blocks, q.max_resting_uv)
            noisy_sec = np.repeat(noisy_block, int(NOISE_BLOCK_S / BLOCK_S))[: flat.size]
            noisy_sec = np.pad(noisy_sec, (0, flat.size - noisy_sec.size))
    bad = flat | saturated | noisy_sec
    n = max(1, flat.size)
    usable_fraction = 1.0 - float(bad.sum()) / n
    step = checks.resolution_uv
    coarse = step is not None and step > q.max_resolution_uv
    caveats = _caveats(
        role,
        label,
        filtered,
        standard,
        flat.mean() if flat.size else 0.0,
        saturated.mean() if saturated.size else 0.0,
        noisy_sec.mean() if flat.size else 0.0,
        usable_fraction,
        resting_uv,
    )
    longest = share = reliable = None
    if threshold_spans_s is not None:
        longest, share = _above_threshold(np.asarray(threshold_spans_s, dtype=np.float64), ~bad)
        reliable = bool(longest <= q.max_above_threshold_s and share <= q.max_above_threshold_fraction)
        if not reliable:
            lm = standard.leg_movement
            caveats.append(
                Caveat(
                    "lm_offset_never_reached",
                    f"{label}: the EMG does not stay within "
                    f"{lm.offset_above_rest_uv:g} µV of the resting level for {lm.offset_hold_s:g} s "
                    f"often enough to end a leg movement (longest above-threshold stretch {longest:.0f} "
                    f"s, {100 * share:.0f}% of the usable time above threshold; ECG or noisy resting "
                    "EMG?): leg movements cannot be delimited, the leg-movement count of this channel "
                    "is unreliable and the indices are not computed",
                    role,
                )
            )
    if coarse:
        caveats.append(
            Caveat(
                "coarse_resolution",
                f"{label}: amplitude resolution {step:.2f} µV per digital step "
                f"is coarser than {q.max_resolution_uv:g} µV; the 8 µV rule cannot be applied and the "
                "channel is not scored",
                role,
            )
        )
    return ChannelQuality(
        role,
        label,
        float(fs),
        usable_fraction,
        resting_uv,
        float(flat.mean()) if flat.size else 0.0,
        float(saturated.mean()) if saturated.size else 0.0,
        float(noisy_sec.mean()) if flat.size else 0.0,
        step,
        usable_fraction >= q.min_usable_fraction and not coarse,
        tuple(caveats),
        longest,
        share,
        reliable,
    )


def _above_threshold(spans: NDArray[np.float64], usable_sec: NDArray[np.bool_]) -> tuple[float, float]:
    """Longest span (s) and the share of the usable time inside spans, on a 0.1-s grid (0 when nothing is usable)."""
    if spans.size == 0:
        return 0.0, 0.0
    spans = spans.reshape(-1, 2)
    longest = float((spans[:, 1] - spans[:, 0]).max())
    per = 10  # grid steps per second
    usable = np.repeat(usable_sec, per)
    n = usable.size
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, np.clip(np.round(spans[:, 0] * per).astype(np.int64), 0, n), 1)
    np.add.at(marks, np.clip(np.round(spans[:, 1] * per).astype(np.int64), 0, n), -1)
    inside = np.cumsum(marks[:-1]) > 0
    n_usable = int(usable.sum())
    return longest, (float((inside & usable).sum()) / n_usable if n_usable else 0.0)


def _median_above(blocks: NDArray[np.floating], threshold: float) -> NDArray[np.bool_]:
    """``np.median(blocks, axis=1) > threshold``, from the count of values above the threshold per row.

    The median exceeds the threshold exactly when both middle order statistics do, and is at most the threshold
    when neither does, so counting decides every row except those (even length) with exactly half the values
    above: only those are partitioned. Rows with NaN (median NaN) also go to np.median.
    """
    width = blocks.shape[1]
    if width == 0 or np.isnan(blocks).any():
        return np.median(blocks, axis=1) > threshold
    above = np.count_nonzero(blocks > threshold, axis=1)
    out = above >= width // 2 + 1
    if width % 2 == 0:
        tie = above == width // 2  # one middle value on each side: their mean decides
        if tie.any():
            out[tie] = np.median(blocks[tie], axis=1) > threshold
    return out


def _resolution_uv(raw: NDArray[np.floating]) -> float | None:
    """Smallest amplitude step between distinct sample values in the first 200 000 samples (µV); None if flat."""
    values = np.sort(raw[:200_000])  # repeated values only add zero steps, dropped below: no np.unique needed
    steps = np.diff(values)
    steps = steps[steps > 0]
    return float(steps.min()) if steps.size else None


def _caveats(role, label, filtered, standard, flat, saturated, noisy, usable, resting) -> list[Caveat]:
    q, sig = standard.quality, standard.signal
    out = []
    if filtered.sfreq_hz < sig.min_sfreq_hz:
        out.append(
            Caveat(
                "low_sampling_rate",
                f"{label}: sampled at {filtered.sfreq_hz:g} Hz, below the "
                f"{sig.min_sfreq_hz:g} Hz minimum for EMG; amplitudes and onsets are less reliable",
                role,
            )
        )
    if filtered.band_clipped:
        out.append(
            Caveat(
                "band_edge_at_nyquist",
                f"{label}: the {sig.band_hz[1]:g} Hz upper band edge is at or above "
                f"the usable Nyquist range; the band was limited to {filtered.band_hz[1]:g} Hz",
                role,
            )
        )
    for code, share, what in (
        ("flat_signal", flat, "flat"),
        ("saturated_signal", saturated, "saturated"),
        ("noisy_signal", noisy, f"noisy (resting level above {q.max_resting_uv:g} µV)"),
    ):
        if share > 0.01:
            out.append(Caveat(code, f"{label}: {100 * share:.1f}% of the recording is {what}", role))
    if usable < q.min_usable_fraction:
        out.append(
            Caveat(
                "channel_unusable",
                f"{label}: only {100 * usable:.1f}% of the signal is usable; the channel is not scored",
                role,
            )
        )
    if resting is not None and resting > q.max_resting_uv:
        out.append(
            Caveat(
                "resting_emg_high",
                f"{label}: resting EMG {resting:.1f} µV exceeds "
                f"{q.max_resting_uv:g} µV; the 8 µV onset rule is unreliable",
                role,
            )
        )
    return out
