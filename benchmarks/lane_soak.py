"""Soak: every sample scenario and each of its variants, with and without lanes, record for record.

``tests/sim/test_lane.py`` checks the lanes (:mod:`queuesim.sim.lane`) on focused and random
scenarios at every ``make test``; this runs the shipped scenarios and their ``variants:`` too, on a
short horizon, for ``--replications`` replications each, and compares every column of every table
bit for bit (NaN where NaN) and the run's extra counts. Exits 1 at the first difference.

Usage: python benchmarks/lane_soak.py [--horizon 120] [--replications 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from queuesim import load_scenario
from queuesim.experiment.compare import variant_scenarios
from queuesim.records import RunRecord
from queuesim.sim import lane, simulate

ROOT = Path(__file__).resolve().parents[1]


def differences(a: RunRecord, b: RunRecord) -> list[str]:
    """The tables' columns (and the extra counts) in which two runs' records differ."""
    out = []
    for table in ("requests", "messages", "deliveries", "rejections"):
        ta, tb = getattr(a, table), getattr(b, table)
        out += [f"{table}.{name}" for name in ta
                if not np.array_equal(ta[name], tb[name], equal_nan=ta[name].dtype.kind == "f")]
    return out + (["extra"] if a.extra != b.extra else [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", type=float, default=120.0, help="simulated seconds per run (at most the scenario's)")
    ap.add_argument("--replications", type=int, default=2)
    args = ap.parse_args()
    installed = [0]
    install = lane.Lane.install

    def counting(self: lane.Lane) -> None:
        installed[0] += 1
        install(self)

    lane.Lane.install = counting  # type: ignore[method-assign]
    runs = 0
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        for name, sc in {"(as written)": load_scenario(path), **variant_scenarios(str(path))}.items():
            sc = sc.model_copy(update={"duration": min(sc.duration, args.horizon), "warmup": min(sc.warmup, args.horizon / 10)})
            for r in range(args.replications):
                before = installed[0]
                diff = differences(simulate(sc, r), simulate(sc, r, lanes=False))
                runs += 1
                print(f"{path.name:26s} {name:16s} replication {r}: {installed[0] - before} lane(s), "
                      f"{'identical' if not diff else 'DIFFERENT: ' + ', '.join(diff)}", flush=True)
                if diff:
                    return 1
    print(f"{runs} runs, identical records with and without lanes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
