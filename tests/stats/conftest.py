"""Synthetic nights with planted truth, generated once per session into a temporary folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cds.synth.config import SynthConfig
from cds.synth.generate import SynthTruth, write_synthetic_psg


@pytest.fixture(scope="session")
def synth_night(tmp_path_factory) -> Callable[..., tuple[Path, SynthTruth]]:
    cache: dict[tuple, tuple[Path, SynthTruth]] = {}
    folder = tmp_path_factory.mktemp("synth")

    def make(preset: str, seed: int = 0, **changes) -> tuple[Path, SynthTruth]:
        key = (preset, seed, tuple(sorted(changes.items())))
        if key not in cache:
            path = folder / f"{preset}-{seed}-{len(cache)}.edf"
            config = SynthConfig.preset(preset).replace(**changes)
            cache[key] = (path, write_synthetic_psg(path, config, seed=seed))
        return cache[key]

    return make
