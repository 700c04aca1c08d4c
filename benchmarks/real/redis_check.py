"""A short experiment against a real Redis server on loopback, run again in queuesim: measured vs predicted, with intervals.

Real processes: a producer doing LPUSH at Poisson times (each message carries its enqueue time and
a service time drawn from a known distribution), and worker processes doing BRPOP and sleeping for
the service time; with a crash probability a worker exits part-way through its message (the message
is lost: a Redis list is at-most-once) and is restarted after a delay. The script starts its own
``redis-server`` (a free loopback port, a temp dir, no persistence) and stops exactly that process,
also on Ctrl-C or an error.

Then queuesim runs the same scenario through the public API twice: with the nominal service time,
and calibrated with what the run measured (each worker's per-message overhead — sleep overrun,
result write, next BRPOP — added to the service time, and the measured restart time). The table
compares the mean and p99 wait (enqueue → pop) and the loss rate, each with a 95% interval:
batch means over the real run, independent replications in queuesim.

    .venv/bin/python benchmarks/real/redis_check.py            # ~1.5 minutes
    .venv/bin/python benchmarks/real/redis_check.py --short    # ~30 s, as tests/e2e/test_real_broker.py runs it

Needs Debian's ``redis-server`` (``apt-get install redis-server``) and the ``redis`` client
(``pip install 'queuesim-async[real]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import multiprocessing as mp
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import numpy as np

QUEUE, RESULTS, EVENTS, STOP = "jobs", "results", "events", "stop"
BATCHES = 10  # batch means over the real run: 10 batches of consecutive messages


@dataclass(frozen=True)
class Config:
    """The experiment: the same numbers drive the real run and the queuesim scenario."""

    rate: float = 140.0  # Poisson arrivals per second
    workers: int = 4
    service_mean: float = 0.020  # exponential service time, seconds (slept by the worker)
    crash_probability: float = 0.01  # per message; the worker exits at a uniform point of the service
    restart_delay: float = 0.2  # the supervisor restarts a crashed worker this long after it died
    duration: float = 60.0  # seconds of arrivals
    warmup: float = 5.0  # arrivals before this are left out on both sides
    replications: int = 10  # queuesim replications for the predicted intervals
    seed: int = 1


# --- the Redis server this script starts -------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server(executable: str | None = None) -> Iterator[int]:
    """Start ``redis-server`` on a free loopback port with no persistence; yield the port; stop that process."""
    exe = executable or shutil.which("redis-server") or "/usr/bin/redis-server"
    workdir = Path(tempfile.mkdtemp(prefix="queuesim-redis-"))
    port = free_port()
    log = (workdir / "redis.log").open("w")
    # its own session: a Ctrl-C reaches this script, which then stops the server itself
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--daemonize", "no", "--protected-mode", "yes"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_for(port, proc, workdir / "redis.log")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(redis.ConnectionError):
            if redis.Redis(host="127.0.0.1", port=port).ping():
                return
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on 127.0.0.1:{port} within 10 s")


# --- the real producer and workers (child processes) ------------------------------------------


def _child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops its children


def producer_main(port: int, cfg: Config, start: float, out: Connection) -> None:
    """LPUSH ``id enqueue_time service`` at Poisson times from ``start``; send back how many were pushed."""
    import redis

    _child_setup()
    r = redis.Redis(host="127.0.0.1", port=port)
    rng = np.random.default_rng([cfg.seed, 0])
    n = int(cfg.rate * cfg.duration * 1.2) + 100
    times = start + np.cumsum(rng.exponential(1 / cfg.rate, n))
    services = rng.exponential(cfg.service_mean, n)
    end = start + cfg.duration
    pushed = 0
    for i in range(n):
        if times[i] >= end:
            break
        delay = times[i] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        # CLOCK_MONOTONIC is one clock for every process on the machine, so times compare across them
        r.lpush(QUEUE, f"{i} {time.monotonic():.9f} {services[i]:.9f}")
        pushed += 1
    out.send(pushed)
    out.close()


def worker_main(port: int, slot: int, generation: int, cfg: Config) -> None:
    """BRPOP, sleep for the message's service time, record it; crash part-way with ``crash_probability``."""
    import redis

    _child_setup()
    r = redis.Redis(host="127.0.0.1", port=port)
    rng = random.Random(cfg.seed * 1_000_003 + slot * 1009 + generation)
    r.rpush(EVENTS, f"ready {slot} {time.monotonic():.9f}")
    while True:
        item = r.brpop([QUEUE], timeout=0)
        popped = time.monotonic()
        assert item is not None
        raw = item[1]
        body = raw.decode() if isinstance(raw, bytes) else str(raw)
        if body == STOP:
            return
        msg, enqueued, service = body.split()
        if rng.random() < cfg.crash_probability:
            time.sleep(rng.random() * float(service))
            r.rpush(EVENTS, f"crash {slot} {time.monotonic():.9f} {msg} {enqueued}")
            os._exit(1)  # dies with the message in hand: no cleanup, no ack (there is none on a list)
        time.sleep(float(service))
        # one write per message, nothing else: the loop is what a real consumer does between messages
        r.rpush(RESULTS, f"{msg} {enqueued} {popped:.9f} {time.monotonic():.9f} {service} {slot} {generation}")


# --- running the real experiment ---------------------------------------------------------------


@dataclass
class Measured:
    """What the real run recorded."""

    waits: np.ndarray  # enqueue → pop, per completed message in the window, in enqueue order
    produced: int  # messages enqueued in the window
    lost: int  # of those, taken by a worker that crashed
    services: np.ndarray  # the service time every completed message asked for
    overhead: np.ndarray  # per back-to-back cycle: time from one pop to the next beyond the service time
    restarts: np.ndarray  # crash → the new worker connected
    crashes: int
    elapsed: float


def run_real(port: int, cfg: Config) -> Measured:
    """Run the producer and the workers against the server on ``port`` until every message is done or lost."""
    import redis

    r = redis.Redis(host="127.0.0.1", port=port)
    r.delete(QUEUE, RESULTS, EVENTS)
    ctx = mp.get_context("fork")  # a restart is a fork, as a process supervisor would do
    children: list[BaseProcess] = []

    def start_worker(slot: int, generation: int) -> BaseProcess:
        p = ctx.Process(target=worker_main, args=(port, slot, generation, cfg), daemon=True)
        p.start()
        children.append(p)
        return p

    began = time.monotonic()
    try:
        workers = {slot: start_worker(slot, 0) for slot in range(cfg.workers)}
        generation = dict.fromkeys(workers, 0)
        start = time.monotonic() + 0.5  # arrivals start once the workers are connected
        receive, send = ctx.Pipe(duplex=False)
        producer = ctx.Process(target=producer_main, args=(port, cfg, start, send), daemon=True)
        producer.start()
        children.append(producer)
        pushed: int | None = None
        restart_at: dict[int, float] = {}
        deadline = start + cfg.duration + 60
        while True:
            now = time.monotonic()
            for slot, p in workers.items():
                if not p.is_alive() and slot not in restart_at:
                    p.join()
                    restart_at[slot] = now + cfg.restart_delay
            for slot, at in list(restart_at.items()):
                if now >= at:
                    generation[slot] += 1
                    workers[slot] = start_worker(slot, generation[slot])
                    del restart_at[slot]
            if pushed is None and receive.poll():
                pushed = int(receive.recv())
            if pushed is not None:
                crashes = sum(1 for e in r.lrange(EVENTS, 0, -1) if e[:5] == b"crash")
                if int(r.llen(RESULTS)) + crashes >= pushed:
                    break
            if now > deadline:
                raise RuntimeError("the real run did not finish: workers stopped taking messages")
            time.sleep(0.002)
        for _ in workers:
            r.lpush(QUEUE, STOP)
        for p in workers.values():
            p.join(timeout=5)
    finally:
        for p in children:  # only the processes this function started
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
    return _measured(r, cfg, start, time.monotonic() - began)


def _measured(r: Any, cfg: Config, start: float, elapsed: float) -> Measured:
    # msg, enqueued, popped, done, service, slot, generation
    rows = np.array([[float(v) for v in line.split()] for line in r.lrange(RESULTS, 0, -1)]).reshape(-1, 7)
    events = [line.decode().split() for line in r.lrange(EVENTS, 0, -1)]
    low, high = start + cfg.warmup, start + cfg.duration
    rows = rows[np.argsort(rows[:, 1])]
    inside = (rows[:, 1] >= low) & (rows[:, 1] < high)
    crashed = [(int(e[1]), float(e[2]), float(e[4])) for e in events if e[0] == "crash"]
    lost = sum(1 for _, _, enqueued in crashed if low <= enqueued < high)
    ready = [(int(e[1]), float(e[2])) for e in events if e[0] == "ready"]
    restarts = [min(t for s, t in ready if s == slot and t > when) - when
                for slot, when, _ in crashed if any(s == slot and t > when for s, t in ready)]
    # Back-to-back cycles of one worker process: the next message was already waiting when this one's
    # sleep ended, so the time between the two pops is the service plus everything else a worker does.
    overhead = []
    for _key, group in _groups(rows):
        g = group[np.argsort(group[:, 2])]
        for a, b in itertools.pairwise(g):
            if b[1] < a[3]:
                overhead.append(b[2] - a[2] - a[4])
    return Measured(waits=rows[inside, 2] - rows[inside, 1], produced=int(inside.sum()) + lost, lost=lost,
                    services=rows[:, 4], overhead=np.asarray(overhead), restarts=np.asarray(restarts),
                    crashes=len(crashed), elapsed=elapsed)


def _groups(rows: np.ndarray) -> Iterator[tuple[tuple[int, int], np.ndarray]]:
    keys = rows[:, 5] * 10_000 + rows[:, 6]
    for key in np.unique(keys):
        yield (int(key // 10_000), int(key % 10_000)), rows[keys == key]


# --- the same scenario in queuesim ---------------------------------------------------------------


def scenario_yaml(cfg: Config, *, service: str, restart: float) -> str:
    """The scenario of the experiment, in queuesim's YAML."""
    return f"""
name: redis-check
seed: {cfg.seed}
duration: {cfg.duration}s
warmup: {cfg.warmup}s
replications: {cfg.replications}
producers:
  web: {{to: jobs, rate: {cfg.rate}/s}}
queues:
  jobs: {{broker: redis}}
workers:
  pool:
    from: jobs
    count: {cfg.workers}
    service: {service}
    crash: {{probability: {cfg.crash_probability}, restart: {restart:.6f}s}}
"""


@dataclass(frozen=True)
class Estimate:
    """A figure and its 95% interval."""

    value: float
    low: float
    high: float

    def overlaps(self, other: Estimate) -> bool:
        return self.low <= other.high and other.low <= self.high


def _t_interval(values: Sequence[float], point: float | None = None) -> Estimate:
    from scipy import stats

    x = np.asarray(values, dtype=float)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    centre = float(x.mean()) if point is None else point
    return Estimate(centre, centre - half, centre + half)


def measured_estimates(m: Measured) -> dict[str, Estimate]:
    """Mean and p99 wait by batch means over the run (consecutive messages); loss as a binomial proportion."""
    batches = np.array_split(m.waits, BATCHES)  # already in enqueue order
    loss = m.lost / m.produced if m.produced else math.nan
    half = 1.96 * math.sqrt(max(loss * (1 - loss), 1e-12) / max(m.produced, 1))
    return {
        "mean wait": _t_interval([float(b.mean()) for b in batches], float(m.waits.mean())),
        "p99 wait": _t_interval([float(np.quantile(b, 0.99)) for b in batches], float(np.quantile(m.waits, 0.99))),
        "loss rate": Estimate(loss, max(0.0, loss - half), loss + half),
    }


def predicted_estimates(yaml_text: str) -> dict[str, Estimate]:
    """Run the scenario through the public API; intervals from independent replications."""
    import queuesim

    result = queuesim.run(queuesim.parse_scenario(yaml_text, source="<redis-check>"))
    s = result.summary
    msgs = result.messages
    got = msgs[msgs["in_window"] & msgs["first_receive"].notna()]
    wait = got["first_receive"] - got["accepted"]
    p99s = [float(np.quantile(w, 0.99)) for _, w in wait.groupby(got["replication"])]
    mean_ci, loss_ci = s["ci95"]["latency.queue_wait.mean"], s["ci95"]["rates.loss"]
    return {
        "mean wait": Estimate(s["latency"]["queue_wait"]["mean"], mean_ci[0], mean_ci[1]),
        "p99 wait": _t_interval(p99s, float(np.quantile(wait, 0.99))),
        "loss rate": Estimate(s["rates"]["loss"], loss_ci[0], loss_ci[1]),
    }


def _fmt(name: str, e: Estimate) -> str:
    if name == "loss rate":
        return f"{e.value:.2%} ({e.low:.2%} – {e.high:.2%})"
    return f"{e.value * 1e3:.2f} ms ({e.low * 1e3:.2f} – {e.high * 1e3:.2f})"


@dataclass(frozen=True)
class Check:
    """Measured against both predictions."""

    cfg: Config
    measured: dict[str, Estimate]
    nominal: dict[str, Estimate]
    calibrated: dict[str, Estimate]
    overhead: float
    restart: float
    calibrated_service: str
    real: Measured

    def agrees(self, figure: str) -> bool:
        """Whether the calibrated prediction's interval overlaps the measured one."""
        return self.measured[figure].overlaps(self.calibrated[figure])

    def markdown(self) -> str:
        c = self.cfg
        lines = [
            f"Real Redis {self._redis_version()} on loopback, {c.workers} worker processes (BRPOP, sleep), Poisson "
            f"{c.rate:g}/s for {c.duration:g} s (first {c.warmup:g} s left out), exponential service "
            f"{c.service_mean * 1e3:g} ms, crash probability {c.crash_probability:g} per message (restart "
            f"{c.restart_delay * 1e3:g} ms after the crash); {self.real.produced:,} messages in the window, "
            f"{self.real.crashes} crashes.",
            "",
            "| figure | measured (95% CI) | queuesim, nominal | queuesim, calibrated | calibrated agrees |",
            "|---|---|---|---|---|",
        ]
        for name in self.measured:
            lines.append(f"| {name} | {_fmt(name, self.measured[name])} | {_fmt(name, self.nominal[name])} | "
                         f"{_fmt(name, self.calibrated[name])} | {'yes' if self.agrees(name) else '**no**'} |")
        lines += [
            "",
            f"Measured intervals: batch means ({BATCHES} batches of consecutive messages) for the waits, binomial for "
            f"the loss; predicted: {c.replications} independent queuesim replications. Calibrated = the measured "
            f"per-message worker overhead ({self.overhead * 1e3:.2f} ms mean over back-to-back messages: sleep overrun, "
            f"result write, next BRPOP) folded into the service time (`{self.calibrated_service}`: the busy time's "
            f"mean and cv), and the "
            f"measured restart ({self.restart * 1e3:.0f} ms: delay, fork, reconnect).",
        ]
        return "\n".join(lines)

    @staticmethod
    def _redis_version() -> str:
        exe = shutil.which("redis-server")
        if exe is None:
            return ""
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout
        return next((w.split("=")[1] for w in out.split() if w.startswith("v=")), "")


def check(cfg: Config) -> Check:
    """Run the real experiment and both queuesim predictions."""
    with redis_server() as port:
        real = run_real(port, cfg)
    if real.waits.size < BATCHES * 10 or real.overhead.size < 10:
        raise RuntimeError(f"the real run recorded too little: {real.waits.size} messages")
    restart = float(real.restarts.mean()) if real.restarts.size else cfg.restart_delay
    # calibrated service: the busy time per message, service + overhead (independent), by its first two moments
    busy_mean = float(real.services.mean() + real.overhead.mean())
    busy_cv = math.sqrt(float(real.services.var() + real.overhead.var())) / busy_mean
    calibrated_service = f"{{dist: gamma, mean: {busy_mean * 1e3:.4f}ms, cv: {busy_cv:.4f}}}"
    nominal = predicted_estimates(scenario_yaml(cfg, service=f"{{dist: exponential, mean: {cfg.service_mean}s}}",
                                                restart=cfg.restart_delay))
    calibrated = predicted_estimates(scenario_yaml(cfg, service=calibrated_service, restart=restart))
    return Check(cfg, measured_estimates(real), nominal, calibrated, float(real.overhead.mean()), restart,
                 calibrated_service, real)


SHORT = Config(duration=25.0, warmup=3.0, replications=8)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: run the check and print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--short", action="store_true", help="25 s of arrivals instead of 60 (as the slow test runs it)")
    parser.add_argument("--duration", type=float, help="seconds of arrivals")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    cfg = SHORT if args.short else Config()
    cfg = replace(cfg, seed=args.seed, **({"duration": args.duration} if args.duration else {}))
    # a SIGTERM unwinds like Ctrl-C, so that the server and the workers are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        result = check(cfg)
    except KeyboardInterrupt:
        print("interrupted: the Redis server and the workers were stopped", file=sys.stderr)
        return 130
    print(result.markdown())
    return 0 if all(result.agrees(name) for name in result.measured) else 1


if __name__ == "__main__":
    sys.exit(main())
