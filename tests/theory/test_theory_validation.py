"""The simulator against closed-form queueing theory.

Each test runs independent replications with a warm-up and checks that theory lies within a
tolerance computed from the spread of the replication estimates (see ``assert_close_to_theory``):
longer runs give tighter tolerances, and nothing is tuned to one seed.
"""

from __future__ import annotations

import pytest
from queuesim import run, theory
from queuesim.experiment.executors import SerialExecutor
from queuesim.metrics import summarize

from conftest import assert_close_to_theory, scenario


def per_replication(text: str, replications: int, **sets: object) -> list[dict]:
    result = run(scenario(text, **sets), replications=replications, executor=SerialExecutor())
    return [summarize([rec]) for rec in result.records]


MMC = """
    seed: 11
    duration: {duration}
    warmup: {warmup}
    producers:
      web: {{to: jobs, rate: {rate}}}
    queues:
      jobs: {{broker: {broker}}}
    workers:
      pool: {{from: jobs, count: {c}, service: {service}}}
"""


@pytest.mark.parametrize(
    ("rate", "c", "broker", "duration"),
    [(80, 1, "redis", "300s"), (360, 4, "redis", "300s"), (280, 4, "sqs", "120s"), (1500, 20, "redis", "60s")],
    ids=["M/M/1 rho=0.8", "M/M/4 rho=0.9", "M/M/4 rho=0.7 sqs", "M/M/20 rho=0.75"],
)
def test_mmc_mean_wait_matches_erlang_c(rate: float, c: int, broker: str, duration: str) -> None:
    mu = 100.0  # service mean 10 ms
    reps = per_replication(MMC.format(duration=duration, warmup="10s", rate=rate, broker=broker, c=c,
                                      service="{dist: exponential, mean: 10ms}"), 10)
    expected = theory.mmc(rate, mu, c)
    assert_close_to_theory([r["latency"]["queue_wait"]["mean"] for r in reps], expected.wait, "Wq")
    assert_close_to_theory([r["latency"]["end_to_end"]["mean"] for r in reps], expected.sojourn, "W")
    assert_close_to_theory([r["workers"]["pool"]["utilization"] for r in reps], expected.utilization, "rho")
    assert_close_to_theory([r["queues"]["jobs"]["mean_depth"] for r in reps], expected.queue_length, "Lq")


def test_mmc_wait_percentile_matches_erlang_c_tail() -> None:
    rate, mu, c = 360.0, 100.0, 4
    reps = per_replication(MMC.format(duration="150s", warmup="10s", rate=rate, broker="redis", c=c,
                                      service="{dist: exponential, mean: 10ms}"), 10)
    for key, q in (("p90", 0.90), ("p99", 0.99)):
        assert_close_to_theory([r["latency"]["queue_wait"][key] for r in reps],
                               theory.mmc_wait_quantile(rate, mu, c, q), f"Wq {key}")


@pytest.mark.parametrize(("rate", "c", "capacity"), [(240, 2, 3), (90, 1, 5), (700, 8, 4)])
def test_bounded_queue_blocking_matches_mmck(rate: float, c: int, capacity: int) -> None:
    text = MMC.format(duration=f"{40_000 // rate}s", warmup="5s", rate=rate, broker="redis", c=c,
                      service="{dist: exponential, mean: 10ms}").replace(
        "{broker: redis}", f"{{broker: redis, capacity: {capacity}}}")
    reps = per_replication(text, 8)
    expected = theory.mmck(rate, 100.0, c, capacity + c)
    assert_close_to_theory([r["rates"]["rejection"] for r in reps], expected.p_block, "P(block)")
    assert_close_to_theory([r["queues"]["jobs"]["mean_depth"] for r in reps], expected.queue_length, "Lq")
    assert_close_to_theory([r["latency"]["queue_wait"]["mean"] for r in reps], expected.wait, "Wq")


@pytest.mark.parametrize("broker", ["redis", "sqs"])
def test_no_waiting_room_blocks_as_erlang_b(broker: str) -> None:
    # capacity 0 on a broker queue: a publish is taken only by an idle worker (M/M/4/4, a = 3)
    rate, mu, c = 300.0, 100.0, 4
    text = MMC.format(duration="150s", warmup="5s", rate=rate, broker=broker, c=c,
                      service="{dist: exponential, mean: 10ms}").replace(
        f"{{broker: {broker}}}", f"{{broker: {broker}, capacity: 0}}")
    reps = per_replication(text, 8)
    blocking = theory.erlang_b(c, rate / mu)
    assert_close_to_theory([r["rates"]["rejection"] for r in reps], blocking, f"P(block) {broker}")
    assert_close_to_theory([r["workers"]["pool"]["utilization"] for r in reps], rate * (1 - blocking) / (c * mu),
                           f"rho {broker}")
    assert all(r["latency"]["queue_wait"]["max"] == 0 for r in reps)  # nothing ever waits


RENEGING = """
    seed: 17
    duration: {duration}
    warmup: 10s
    producers:
      web: {{to: jobs, rate: {rate}, patience: {patience}}}
    queues:
      jobs: {{broker: {broker}}}
    workers:
      pool: {{from: jobs, count: {c}, service: {{dist: exponential, mean: 10ms}}}}
"""


def _check_abandonment(reps: list[dict], expected: theory.AbandonmentMetrics, label: str) -> None:
    """P(abandon), the mean wait of every arrival and of the served ones, and utilization against theory."""
    assert_close_to_theory([r["messages"]["reneged"] / r["messages"]["produced"] for r in reps],
                           expected.p_abandon, f"P(Ab) {label}")
    assert_close_to_theory([r["rates"]["abandoned"] for r in reps], expected.p_abandon, f"abandoned {label}")
    # every spell, reneged ones to their end: the mean wait over all arrivals (Little's law)
    assert_close_to_theory([r["queues"]["jobs"]["mean_wait"] for r in reps], expected.wait, f"E[W] {label}")
    assert_close_to_theory([r["latency"]["queue_wait"]["mean"] for r in reps], expected.wait_served,
                           f"E[W | served] {label}")
    assert_close_to_theory([r["workers"]["pool"]["utilization"] for r in reps], expected.utilization, f"rho {label}")


@pytest.mark.parametrize(
    ("rate", "c", "patience_mean", "broker", "duration"),
    [(400, 4, 0.020, "redis", "120s"), (2200, 20, 0.050, "sqs", "50s")],
    ids=["M/M/4+M rho=1.0", "M/M/20+M rho=1.1 sqs"],
)
def test_reneging_matches_erlang_a(rate: float, c: int, patience_mean: float, broker: str, duration: str) -> None:
    # exponential patience: a request still waiting when it runs out leaves the queue (Erlang-A);
    # stable even above saturation, since the impatient leave
    text = RENEGING.format(duration=duration, rate=rate, broker=broker, c=c,
                           patience=f"{{dist: exponential, mean: {patience_mean}}}")
    expected = theory.erlang_a(rate, 100.0, c, 1 / patience_mean)
    _check_abandonment(per_replication(text, 8), expected, "Erlang-A")


def test_constant_patience_matches_mmc_plus_d() -> None:
    # every client waits 20 ms for its request to start: M/M/4+D at rho = 1
    text = RENEGING.format(duration="120s", rate=400, broker="redis", c=4, patience="20ms")
    expected = theory.mmc_constant_patience(400.0, 100.0, 4, 0.020)
    reps = per_replication(text, 8)
    _check_abandonment(reps, expected, "M/M/c+D")
    # an abandoning request waited exactly its patience; a served one less
    assert all(r["latency"]["queue_wait"]["max"] <= 0.020 for r in reps)


@pytest.mark.parametrize(
    ("service", "mean", "scv"),
    [("10ms", 0.010, 0.0), ("{dist: gamma, mean: 10ms, cv: 2}", 0.010, 4.0),
     ("{dist: uniform, low: 0ms, high: 20ms}", 0.010, 1 / 3)],
    ids=["M/D/1", "M/G/1 gamma cv=2", "M/G/1 uniform"],
)
def test_single_server_matches_pollaczek_khinchine(service: str, mean: float, scv: float) -> None:
    rate = 70.0
    reps = per_replication(MMC.format(duration="400s", warmup="20s", rate=rate, broker="redis", c=1,
                                      service=service), 10)
    expected = theory.mg1(rate, mean, scv)
    assert_close_to_theory([r["latency"]["queue_wait"]["mean"] for r in reps], expected.wait, "Wq (P-K)")


def test_tandem_pipeline_matches_jackson() -> None:
    text = """
        seed: 5
        duration: 300s
        warmup: 20s
        producers:
          web: {to: first, rate: 50/s}
        queues:
          first: {broker: redis}
          second: {broker: redis}
        workers:
          a: {from: first, count: 1, service: {dist: exponential, mean: 12ms}, to: second}
          b: {from: second, count: 2, service: {dist: exponential, mean: 30ms}}
    """
    reps = per_replication(text, 10)
    expected = theory.jackson_tandem(50.0, [(0.012, 1), (0.030, 2)])
    assert_close_to_theory([r["latency"]["end_to_end"]["mean"] for r in reps], expected.sojourn, "W network")
    for name, node in zip(("first", "second"), expected.nodes, strict=True):
        assert_close_to_theory([r["queues"][name]["mean_wait"] for r in reps], node.wait, f"Wq {name}")


@pytest.mark.parametrize("broker", ["redis", "sqs"])
def test_littles_law_holds_per_queue(broker: str) -> None:
    text = MMC.format(duration="120s", warmup="10s", rate=300, broker=broker, c=4,
                      service="{dist: lognormal, mean: 10ms, cv: 3}")
    if broker == "sqs":
        # a visibility timeout shorter than some services: waits include redelivery spells
        text = text.replace("{broker: sqs}", "{broker: sqs, visibility_timeout: 40ms}")
    result = run(scenario(text), executor=SerialExecutor())
    s = result.summary
    q = s["queues"]["jobs"]
    if broker == "sqs":
        assert q["redeliveries"] > 0
    spells = result.deliveries
    longest = float((spells["until"].fillna(s["duration"]) - spells["since"]).max())
    # the two sides differ only by the waits that straddle the window's edges
    edge = 2 * q["max_depth"] * longest / s["window"]
    lam_w = q["throughput"] * q["mean_wait"]
    print(f"Little {broker}: L={q['mean_depth']:.5f} lambda*W={lam_w:.5f} edge bound {edge:.2g}")
    assert abs(q["mean_depth"] - lam_w) <= edge


PRIORITY = """
    seed: {seed}
    duration: 80s
    warmup: 10s
    producers:
      urgent: {{to: jobs, rate: 100/s, priority: {high}}}
      bulk: {{to: jobs, rate: 220/s}}
    queues:
      jobs: {{broker: {broker}, max_priority: {high}{extra}}}
    workers:
      pool: {{from: jobs, count: 4, service: {{dist: exponential, mean: 10ms}}}}
"""


@pytest.mark.parametrize(
    ("broker", "high", "extra", "seed"),
    [("rabbitmq", 2, ", prefetch: 1", 12), ("redis", 9, "", 13)],
    ids=["rabbitmq x-max-priority", "redis priority steps"],
)
def test_priority_classes_match_cobham(broker: str, high: int, extra: str, seed: int) -> None:
    # non-preemptive priority M/M/4 at rho = 0.8: each class's mean wait, from its own producer's figures
    # (the seeds differ: with one seed both brokers would replay the same arrivals and services)
    reps = per_replication(PRIORITY.format(broker=broker, high=high, extra=extra, seed=seed), 10)
    urgent, bulk = theory.mmc_priority([100.0, 220.0], 100.0, 4)
    for name, expected in (("urgent", urgent), ("bulk", bulk)):
        lat = [r["producers"][name]["latency"] for r in reps]
        assert_close_to_theory([x["queue_wait"]["mean"] for x in lat], expected.wait, f"{name} Wq")
        assert_close_to_theory([x["end_to_end"]["mean"] for x in lat], expected.sojourn, f"{name} W")
    # the pool's utilization is the whole queue's, whatever the order
    assert_close_to_theory([r["workers"]["pool"]["utilization"] for r in reps], urgent.utilization, "rho")


CLOSED = """
    seed: 17
    duration: {duration}
    warmup: 10s
    producers:
      users: {{to: jobs, users: {users}, think: {{dist: exponential, mean: {think}}}, await_result: {waits}}}
    queues:
      jobs: {{broker: redis}}
    workers:
      pool: {{from: jobs, count: {c}, service: {{dist: exponential, mean: 10ms}}}}
"""


@pytest.mark.parametrize(
    ("users", "think", "c", "waits"),
    [(20, 0.1, 2, True), (50, 0.4, 4, False), (5, 0.02, 1, True)],
    ids=["N=20 Z=100ms c=2 (awaits result)", "N=50 Z=400ms c=4 (fire and forget)", "N=5 Z=20ms c=1"],
)
def test_closed_population_matches_machine_repair(users: int, think: float, c: int, waits: bool) -> None:
    # users think, send, wait for the work to end (the response, or the task's end for a
    # fire-and-forget user), think again: M/M/c//N with exponential think and service times
    text = CLOSED.format(duration="70s", users=users, think=f"{think * 1000:g}ms", c=c, waits=str(waits).lower())
    reps = per_replication(text, 10)
    expected = theory.machine_repair(users, think, 100.0, c)
    assert_close_to_theory([r["rates"]["throughput"] for r in reps], expected.throughput, "X")
    assert_close_to_theory([r["latency"]["end_to_end"]["mean"] for r in reps], expected.response, "R")
    assert_close_to_theory([r["latency"]["queue_wait"]["mean"] for r in reps], expected.wait, "Wq")
    assert_close_to_theory([r["workers"]["pool"]["utilization"] for r in reps], expected.utilization, "U")
