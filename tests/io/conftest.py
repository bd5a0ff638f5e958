"""Small EDF files written with pyedflib in tmp_path, and byte-surgery helpers for bad-input tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyedflib
import pytest

START = datetime(2024, 3, 1, 22, 30, 0)


@dataclass(frozen=True)
class Chan:
    label: str
    data: np.ndarray  # physical values in ``unit``
    sfreq_hz: float = 200.0
    unit: str = "uV"
    physical_min: float = -1000.0
    physical_max: float = 1000.0


def write_edf(
    path: Path,
    channels: Sequence[Chan],
    *,
    annotations: Sequence[tuple[float, float, str]] = (),
    plus: bool = True,
) -> Path:
    """Write an EDF (or EDF+C) file with 1-s data records."""
    file_type = pyedflib.FILETYPE_EDFPLUS if plus else pyedflib.FILETYPE_EDF
    writer = pyedflib.EdfWriter(str(path), len(channels), file_type=file_type)
    try:
        writer.setStartdatetime(START)
        writer.setSignalHeaders(
            [
                {
                    "label": c.label,
                    "dimension": c.unit,
                    "sample_frequency": c.sfreq_hz,
                    "physical_min": c.physical_min,
                    "physical_max": c.physical_max,
                    "digital_min": -32768,
                    "digital_max": 32767,
                    "transducer": "",
                    "prefilter": "",
                }
                for c in channels
            ]
        )
        for onset_s, duration_s, text in annotations:
            writer.writeAnnotation(onset_s, duration_s, text)
        writer.writeSamples([np.ascontiguousarray(c.data, dtype=np.float64) for c in channels])
    finally:
        writer.close()
    return path


def sine_uv(duration_s: float, sfreq_hz: float, amplitude: float, freq_hz: float = 7.0, offset: float = 0.0):
    t = np.arange(round(duration_s * sfreq_hz)) / sfreq_hz
    return offset + amplitude * np.sin(2 * np.pi * freq_hz * t)


def header_field_offset(path: Path, field: str, signal: int) -> tuple[int, int]:
    """Byte offset and width of a per-signal header field ('label', 'unit', ...)."""
    ns = int(path.read_bytes()[252:256])
    widths = [
        ("label", 16),
        ("transducer", 80),
        ("unit", 8),
        ("pmin", 8),
        ("pmax", 8),
        ("dmin", 8),
        ("dmax", 8),
        ("prefilter", 80),
        ("samples", 8),
    ]
    offset = 256
    for name, width in widths:
        if name == field:
            return offset + signal * width, width
        offset += ns * width
    raise KeyError(field)


def patch_field(path: Path, offset: int, width: int, value: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + width] = value.ljust(width, b" ")
    path.write_bytes(bytes(raw))


@pytest.fixture
def three_channel_edf(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a 10-s EDF+ with LAT (V), RAT (mV) and Chin (µV), one annotation linked with '@@'."""

    def make(name: str = "rec.edf") -> Path:
        chans = [
            Chan("EMG LAT", sine_uv(10, 200, 1e-4, offset=-5e-3), unit="V", physical_min=-0.01, physical_max=0.01),
            Chan("EMG RAT", sine_uv(10, 250, 0.05, offset=0.7), 250, unit="mV", physical_min=-2.0, physical_max=2.0),
            Chan("Chin", sine_uv(10, 100, 20.0), 100, unit="uV", physical_min=-100, physical_max=100),
            Chan("ECG", sine_uv(10, 200, 500.0, freq_hz=1.2), unit="uV", physical_min=-3000, physical_max=3000),
        ]
        return write_edf(tmp_path / name, chans, annotations=[(2.0, 1.5, "Lights off@@EMG RAT"), (5.0, -1, "Note")])

    return make
