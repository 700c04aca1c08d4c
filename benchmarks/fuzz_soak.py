"""Soak: ten thousand mutated scenario files and CLI arguments, each answered in a worker held to a time and memory limit.

Inputs come from ``tests/fuzzing.py`` (the mutations the fuzz test uses), drawn from one seeded
``random.Random``, so a run is reproducible: the same ``--seed`` gives the same inputs. Each
input runs through the CLI in-process (``CliRunner``) in a worker process whose address space is
capped with ``resource.setrlimit``; the parent kills a worker that takes longer than
``--timeout`` and counts a hang. Inputs are read, not simulated: run, sweep and compare stop
where they would start simulating (what an accepted input costs to run is a matter for a
pre-run cost estimate, not for input validation).

Prints: inputs tried, clean errors with a file:line, clean errors without a line, accepted,
tracebacks, hangs, out-of-memory, the slowest input, and each failure's first line.

With ``--run-accepted N`` the first N accepted files are then simulated for real (one
replication, no plots) under ``--run-timeout``: a run-time crash shows as a traceback there.

Usage: python benchmarks/fuzz_soak.py [--inputs 10000] [--seed 11] [--timeout 20] [--memory-mib 2048] [--workers 2]
       [--run-accepted 100] [--run-timeout 60]
"""

from __future__ import annotations

import argparse
import collections
import importlib
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fuzzing  # tests/fuzzing.py: the mutations the fuzz test uses

Case = tuple[int, list[str], str]  # (number, CLI arguments, description)


def _worker(connection: Connection, memory_mib: int) -> None:
    """Answer (arguments, dry) cases from the pipe until it closes; each answer is (kind, first line, seconds)."""
    limit = memory_mib << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            args, dry = connection.recv()
        except EOFError:
            return
        try:
            answer = fuzzing.answer(args, dry=dry)
            connection.send((answer.kind, answer.first, answer.seconds))
        except MemoryError:
            connection.send(("oom", "MemoryError", 0.0))


class _Slot:
    """One worker process and the case it is answering."""

    def __init__(self, memory_mib: int) -> None:
        self.memory_mib = memory_mib
        self.start()

    def start(self) -> None:
        self.connection, child = mp.Pipe()
        self.process = mp.get_context("fork").Process(target=_worker, args=(child, self.memory_mib), daemon=True)
        self.process.start()
        child.close()
        self.case: Case | None = None
        self.since = 0.0

    def give(self, case: Case, dry: bool) -> None:
        self.case, self.since = case, time.monotonic()
        self.connection.send((case[1], dry))

    def restart(self) -> None:
        self.kill()
        self.start()

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()


def _cases(count: int, seed: int, folder: Path) -> list[Case]:
    rng = random.Random(seed)
    out: list[Case] = []
    for n in range(count):
        case_folder = folder / str(n)
        case_folder.mkdir()
        # three in four inputs are mutated files, the rest mangled arguments to an example
        args, description = fuzzing.file_case(rng, case_folder) if rng.random() < 0.75 else fuzzing.argument_case(rng)
        out.append((n, args, description))
    return out


Result = tuple[Case, str, str, float]  # (case, kind, first line, seconds)


def _answer_all(cases: list[Case], dry: bool, timeout: float, memory_mib: int, workers: int) -> list[Result]:
    """Every case answered by a pool of limited workers; a worker past ``timeout`` is killed (a hang)."""
    results: list[Result] = []
    pending = collections.deque(cases)
    slots = [_Slot(memory_mib) for _ in range(workers)]
    try:
        while pending or any(s.case is not None for s in slots):
            for slot in slots:
                if slot.case is None and pending:
                    slot.give(pending.popleft(), dry)
            for slot in slots:
                case = slot.case  # restart() clears it
                if case is None:
                    continue
                if slot.connection.poll(0.01):
                    try:
                        kind, first, seconds = slot.connection.recv()
                    except EOFError:  # the worker died (the kernel's OOM killer, a segfault)
                        kind, first, seconds = "crash", f"worker died ({slot.process.exitcode})", time.monotonic() - slot.since
                        slot.restart()
                elif time.monotonic() - slot.since > timeout:
                    kind, first, seconds = "hang", f"no answer within {timeout:g} s", timeout
                    slot.restart()
                else:
                    continue
                results.append((case, kind, first, seconds))
                slot.case = None
    finally:
        for slot in slots:
            slot.kill()
    return results


def _report(results: list[Result], timeout: float) -> int:
    if not results:
        return 0
    kinds = collections.Counter(kind for _, kind, _, _ in results)
    (number, _, description), _, _, seconds = max(results, key=lambda r: r[3])
    print(f"clean errors with file:line    {kinds['line']:>7,}")
    print(f"clean errors without a line    {kinds['no-line']:>7,}   (--set/--vary/--out problems, missing top-level keys, usage errors)")
    print(f"accepted                       {kinds['accepted']:>7,}")
    print(f"tracebacks                     {kinds['traceback']:>7,}")
    print(f"{f'hangs (> {timeout:g} s)':<31}{kinds['hang']:>7,}")
    print(f"out of memory / crashed        {kinds['oom'] + kinds['crash']:>7,}")
    print(f"slowest input                  {seconds:>7.2f} s   #{number} {description}")
    failures = [(kind, case, first) for case, kind, first, _ in results if kind not in ("line", "no-line", "accepted")]
    for kind, (n, _, text), first in failures[:50]:
        print(f"  {kind}: #{n} {text}\n      {first}")
    return len(failures)


def soak(count: int, seed: int, timeout: float, memory_mib: int, workers: int, run_accepted: int, run_timeout: float) -> int:
    """Run the soak and print its figures; the exit status is 1 if any input failed."""
    importlib.import_module("queuesim.cli")  # workers fork with it loaded: no import time inside a timeout
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="queuesim-fuzz-") as folder:
        results = _answer_all(_cases(count, seed, Path(folder)), True, timeout, memory_mib, workers)
        print(f"inputs tried                   {len(results):>7,}   (seed {seed}, {time.monotonic() - started:.0f} s, {workers} workers, "
              f"{timeout:g} s and {memory_mib:,} MiB per input)")
        failed = _report(results, timeout)
        if run_accepted:
            # Accepted files, simulated for real: a scenario too costly to run within the limit shows up as a
            # hang here (a pre-run cost estimate's business); a traceback is a bug.
            # only mutated files (in the temporary folder): an argument case names an example in scenarios/
            accepted = [case for case, kind, _, _ in results
                        if kind == "accepted" and case[1][0] == "validate" and case[1][1].startswith(folder)][:run_accepted]
            runs = [(n, ["run", args[1], "--out", str(Path(args[1]).with_suffix("")), "-q", "--no-plots", "--replications", "1"], text)
                    for n, args, text in accepted]
            started = time.monotonic()
            ran = _answer_all(runs, False, run_timeout, memory_mib, workers)
            print(f"\naccepted files simulated      {len(ran):>7,}   ({time.monotonic() - started:.0f} s, {run_timeout:g} s per run)")
            failed += _report(ran, run_timeout)
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per input before it counts as a hang")
    parser.add_argument("--memory-mib", type=int, default=2048, help="address-space limit of each worker")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--run-accepted", type=int, default=0, help="then simulate up to this many accepted files for real")
    parser.add_argument("--run-timeout", type=float, default=60.0, help="seconds per simulated file")
    args = parser.parse_args()
    sys.exit(soak(args.inputs, args.seed, args.timeout, args.memory_mib, args.workers, args.run_accepted, args.run_timeout))


if __name__ == "__main__":
    main()
