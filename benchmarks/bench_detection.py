"""Detection accuracy on generated nights: LM sensitivity, PPV and PLMS-index error against planted truth.

python benchmarks/bench_detection.py [--hours 8] [--seeds 3] [--standard aasm]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cds.analysis import analyze_recording
from cds.synth import SynthConfig, match_events, write_synthetic_psg

PRESETS = ("periodic", "sparse", "noisy", "low_rate", "wake_lms", "efm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--standard", default="aasm", choices=("aasm", "wasm2016"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="cds-bench-det-"))
    print(
        f"{'preset':<10} {'seed':>4} {'LMs':>5} {'sens':>6} {'PPV':>6} {'PLMSI det':>9} {'truth':>7} {'err':>6} "
        f"{'jerks':>7} {'EFM':>9} {'time':>6}"
    )
    for preset in PRESETS:
        for seed in range(args.seeds):
            path = folder / f"{preset}-{seed}.edf"
            truth = write_synthetic_psg(path, SynthConfig.preset(preset).replace(hours=args.hours), seed=seed)
            start = time.perf_counter()
            data = analyze_recording(path, standard=args.standard).to_dict()
            elapsed = time.perf_counter() - start
            lm = data["leg_movements"]
            planted = truth.leg_movements(args.standard)
            m = match_events(planted.onset_s, [e["onset_s"] for e in lm["events"]], tolerance_s=0.5)
            true_plmsi, det = truth.plms_index[args.standard], lm["plms_index"]
            jerks = match_events(
                truth.events.jerk_onset_s,
                [e["onset_s"] for e in data["sleep_onset_jerks"]["events"] or []],
                tolerance_s=0.2,
            )
            efm = data["fragmentary_myoclonus"]["excessive"]
            n_jerks = len(truth.events.jerk_onset_s)
            print(
                f"{preset:<10} {seed:>4} {len(planted):>5} {m.sensitivity:>6.3f} {m.ppv:>6.3f} {det:>9.1f} "
                f"{true_plmsi:>7.1f} {det - true_plmsi:>+6.1f} {jerks.true_positives:>3}/{n_jerks:<3} "
                f"{str(efm) + '/' + str(truth.efm_excessive):>9} {elapsed:>5.1f}s"
            )


if __name__ == "__main__":
    main()
