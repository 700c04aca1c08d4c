"""Summaries of every sample scenario on a short horizon: a bit-for-bit check for engine and summary changes.

A change meant to be only faster (the engine's timers, the summary's memory) must leave every
figure exactly as it was. Write the summaries before the change, again after, and compare:

    python benchmarks/sample_summaries.py /tmp/before.json          # on the old tree
    python benchmarks/sample_summaries.py /tmp/after.json --compare /tmp/before.json

Exits 1 and lists the first differing figures when they differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from queuesim import ScenarioError, load_scenario
from queuesim.metrics.summary import summarize
from queuesim.sim import simulate

ROOT = Path(__file__).resolve().parents[1]


def summaries() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        try:
            sc = load_scenario(path, ["duration=40s", "warmup=5s", "replications=1"])
        except ScenarioError:  # its faults or schedule need its own horizon
            sc = load_scenario(path, ["replications=1"])
        out[path.name] = json.loads(json.dumps(summarize([simulate(sc)]), default=str))
    return out


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--compare", type=Path, default=None)
    args = ap.parse_args()
    now = summaries()
    args.out.write_text(json.dumps(now, sort_keys=True))
    print(f"{len(now)} scenarios → {args.out}")
    if args.compare is not None:
        diff = differences(json.loads(args.compare.read_text()), now)
        print("identical" if not diff else "\n".join(diff[:20]))
        sys.exit(1 if diff else 0)


if __name__ == "__main__":
    main()
