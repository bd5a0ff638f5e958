"""``python -m cds.synth OUT.edf --preset periodic --hours 8 --seed 1 --truth truth.json``."""

from __future__ import annotations

import argparse

from cds.synth.config import PRESETS, SynthConfig
from cds.synth.generate import write_synthetic_psg, write_truth_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cds.synth", description="Write a synthetic PSG night (EDF+).")
    parser.add_argument("out", help="EDF+ file to write")
    parser.add_argument("--preset", default="periodic", choices=sorted(PRESETS))
    parser.add_argument("--hours", type=float, default=None, help="length of the night (h)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", default=None, help="write the planted truth as JSON here")
    parser.add_argument(
        "--lm-csv",
        default=None,
        help="write the planted leg movements (AASM bilateral merge) as a "
        "site-scoring CSV (onset_s,duration_s,type) for cds validate",
    )
    args = parser.parse_args(argv)
    config = SynthConfig.preset(args.preset)
    if args.hours is not None:
        config = config.replace(hours=args.hours)
    truth = write_synthetic_psg(args.out, config, seed=args.seed)
    if args.truth:
        write_truth_json(args.truth, truth)
    if args.lm_csv:
        from cds.io.export import write_events_csv

        lms = truth.leg_movements("aasm")
        rows = [(float(o), float(d), "Limb Movement") for o, d in zip(lms.onset_s, lms.duration_s, strict=True)]
        write_events_csv(args.lm_csv, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
