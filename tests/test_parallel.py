"""Threads for independent pieces of signal work: same results as serial, in input order, errors raised; CDS_THREADS=1
is serial."""

from __future__ import annotations

import json
import threading

import pytest

from cds.analysis import analyze_recording
from cds.parallel import map_parallel, max_threads
from cds.synth.config import SynthConfig
from cds.synth.generate import write_synthetic_psg


def test_results_in_input_order_and_first_error_raised(monkeypatch):
    monkeypatch.setenv("CDS_THREADS", "4")
    assert map_parallel(lambda x: x * x, [3, 1, 2]) == [9, 1, 4]

    def invert(x: int) -> float:
        if x == 0:
            raise ValueError("bad channel")
        return 1 / x

    with pytest.raises(ValueError, match="bad channel"):
        map_parallel(invert, [1, 0, 2])


def test_cds_threads_one_runs_in_the_calling_thread(monkeypatch):
    monkeypatch.setenv("CDS_THREADS", "1")
    assert max_threads() == 1
    assert map_parallel(lambda _: threading.get_ident(), [1, 2, 3]) == [threading.get_ident()] * 3
    monkeypatch.setenv("CDS_THREADS", "zero")  # not a positive integer: the CPU count
    assert max_threads() >= 1


def test_analysis_is_identical_serial_and_threaded(tmp_path, monkeypatch):
    """Over an hour with ECG: the legs, the chin's 30-min RMS pieces, the sleep-onset windows and the two legs'
    fragmentary potentials are computed in parallel; the report is the serial one, byte for byte."""
    path = tmp_path / "night.edf"
    write_synthetic_psg(path, SynthConfig.preset("noisy").replace(hours=1.1, ecg_uv=120.0), seed=5)
    monkeypatch.setenv("CDS_THREADS", "1")
    serial = json.dumps(analyze_recording(path).to_dict(), sort_keys=True)
    monkeypatch.setenv("CDS_THREADS", "2")
    assert json.dumps(analyze_recording(path).to_dict(), sort_keys=True) == serial
