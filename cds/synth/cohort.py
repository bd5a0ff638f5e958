"""A generated cohort for ``cds batch`` tests, benchmarks and the README example.

``python -m cds.synth.cohort OUT --nights 50 --hours 1 --corrupt 1`` writes ``night-001.edf`` ... (presets in
turn: periodic, sparse, wake_lms, efm; seed = night number), a ``night-NNN.patient.yaml`` beside every other night
(the bundled demo patient under a new pseudonymous id), and ``--corrupt`` nights whose file is not an EDF.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from cds.files import write_atomic
from cds.paths import data_dir
from cds.synth.config import SynthConfig
from cds.synth.generate import write_synthetic_psg

__all__ = ["COHORT_PRESETS", "write_cohort"]

COHORT_PRESETS = ("periodic", "sparse", "wake_lms", "efm")


def write_cohort(
    out: str | Path, nights: int, *, hours: float = 1.0, corrupt: int = 0, patients: bool = True
) -> list[Path]:
    """Write ``nights`` recordings into ``out`` (the last ``corrupt`` of them unreadable); returns their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    patient_text = (data_dir("examples") / "demo-patient.yaml").read_text(encoding="utf-8")
    paths = []
    for number in range(1, nights + 1):
        path = folder / f"night-{number:03d}.edf"
        if number > nights - corrupt:
            write_atomic(path, b"0       this is not an EDF recording\n" * 8)
        else:
            config = SynthConfig.preset(COHORT_PRESETS[(number - 1) % len(COHORT_PRESETS)]).replace(hours=hours)
            write_synthetic_psg(path, config, seed=number)
        if patients and number % 2 == 0:
            text = re.sub(r"(?m)^id: .*$", f"id: COHORT-{number:04d}", patient_text, count=1)
            write_atomic(folder / f"night-{number:03d}.patient.yaml", text)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cds.synth.cohort", description="Write a generated cohort.")
    parser.add_argument("out", help="folder to write the nights into")
    parser.add_argument("--nights", type=int, default=50)
    parser.add_argument("--hours", type=float, default=1.0, help="length of each night (h)")
    parser.add_argument("--corrupt", type=int, default=0, help="how many of the nights are unreadable files")
    parser.add_argument("--no-patients", action="store_true", help="recordings only (no patient files)")
    args = parser.parse_args(argv)
    write_cohort(args.out, args.nights, hours=args.hours, corrupt=args.corrupt, patients=not args.no_patients)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
