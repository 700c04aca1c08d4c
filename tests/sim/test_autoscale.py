"""Elastic capacity: each controller on a hand-worked timeline, conservation under autoscaling, and fixed pools unchanged.

The timelines use regular arrivals and constant service times, so every sample a controller takes
is known by hand; each test's docstring works out, from the controller's documented rules
(:mod:`queuesim.scenario.autoscale`), when it decides and to what count.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queuesim import load_scenario, run
from queuesim.errors import ScenarioError
from queuesim.experiment.executors import SerialExecutor
from queuesim.scenario import scenario_from_dict
from queuesim.sim.build import simulate

from tests.sim.test_invariants import scenarios

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


def _scenario(pool: dict[str, Any], rate: Any, *, duration: float, broker: dict[str, Any] | None = None) -> Any:
    return scenario_from_dict({
        "duration": duration,
        "producers": {"web": {"to": "q", "arrivals": "regular", "rate": rate}},
        "queues": {"q": broker or {"broker": "redis"}},
        "workers": {"w": {"from": "q", **pool}},
    })


def _log(pool: dict[str, Any], rate: Any, *, duration: float, broker: dict[str, Any] | None = None) -> dict[str, Any]:
    record = simulate(_scenario(pool, rate, duration=duration, broker=broker))
    return record.extra["capacity"]["w"]


def _count_at(log: dict[str, Any], t: float) -> int:
    """The provisioned count just after ``t``."""
    count = 0
    for at, n in zip(log["times"], log["counts"], strict=True):
        if at <= t:
            count = n
    return count


def _steps(log: dict[str, Any]) -> list[tuple[float, int]]:
    """The count's changes, without the notes that repeat a count (a warm-up ending)."""
    out: list[tuple[float, int]] = []
    for at, n in zip(log["times"], log["counts"], strict=True):
        if not out or out[-1][1] != n:
            out.append((at, n))
    return out


def test_target_tracking_scales_out_after_three_datapoints_and_in_after_fifteen() -> None:
    """20/s for 100 s into one worker serving 2/s (constant 0.5 s); target 10 per instance, max 8.

    Datapoints every 60 s: backlog/instance at 60 s ≈ 1,080, 120 s ≈ 1,760, 180 s ≈ 1,640, all above
    10: the third one (180 s) scales out to ceil(1,640 / 10) = 164, capped at max 8. The 7 new
    instances serve from 240 s (warm-up 60 s); 8 workers drain the ≈1,520 left at 16/s by ≈335 s.
    Every datapoint from 360 s is 0 < 0.9 × 10: the fifteenth, at 360 + 14 × 60 = 1,200 s, with the
    cooldown (300 s since 180 s) long over, scales in towards max(min 1, ceil(0 / 10)) = 1, by at
    most ceil(10% × 8) = 1 instance: 7. The alarm stays low, so each cooldown later (1,500 s, 1,800 s)
    it removes one more.
    """
    log = _log({"service": 0.5, "autoscale": {"policy": "target_tracking", "target": 10, "min": 1, "max": 8,
                                              "warmup": 60, "cooldown": 300}},
               [{"until": 100, "rate": 20}, {"until": 1900, "rate": 0}], duration=1900)
    assert log["ups"] == [180.0] and log["downs"] == [1200.0, 1500.0, 1800.0]
    assert _steps(log) == [(0.0, 1), (180.0, 8), (1200.0, 7), (1500.0, 6), (1800.0, 5)]


def test_target_tracking_lag_delays_every_decision() -> None:
    """The same load with datapoints reaching the alarm 120 s late.

    The 180 s datapoint decides at 300 s; the 7 new instances serve from 360 s, when one worker has
    left 2,000 − 720 = 1,280 waiting, cleared at 16/s by ≈440 s. The datapoints taken from 480 s are
    0: the fifteenth is taken at 480 + 14 × 60 = 1,320 s and decides at 1,440 s (8 → 7).
    """
    log = _log({"service": 0.5, "autoscale": {"policy": "target_tracking", "target": 10, "min": 1, "max": 8,
                                              "warmup": 60, "cooldown": 300, "lag": 120}},
               [{"until": 100, "rate": 20}, {"until": 1500, "rate": 0}], duration=1500)
    assert log["ups"] == [300.0] and log["downs"] == [1440.0]


def test_keda_activates_from_zero_hpa_doubles_and_a_redis_list_is_scaled_to_zero_while_busy() -> None:
    """10/s from 10 s to 100 s into a Redis list, 0.1 s jobs; KEDA min 0, max 10, pods start in 10 s.

    KEDA polls at 0, 30, 60 …: at 30 s LLEN is 200 > activation 0, so KEDA scales 0 → 1. The HPA
    syncs every 15 s, after KEDA at 30 s: 200 / 5 = 40 wanted, limited to max(1 + 4 pods, 2 × 1) = 5.
    At 45 s the 5 pods (serving since 40 s) left ≈100 waiting: 20 wanted, the limit is now
    max(5 + 4, 10) = 10 = max. From 60 s the list is empty at every poll (each job is taken at
    once): the HPA wants 0 (→ min 1) but its 300 s scale-down window still holds 40 and 20, and
    KEDA, whose Redis scaler reads only LLEN, last saw activity at 30 s: at 30 + 300 = 330 s it
    scales the deployment to zero, before the HPA's window (45 + 300 = 345 s) would have.
    """
    log = _log({"service": 0.1, "autoscale": {"policy": "keda", "max": 10, "startup": 10}},
               [{"until": 10, "rate": 0}, {"until": 100, "rate": 10}, {"until": 400, "rate": 0}], duration=400)
    assert log["ups"] == [30.0, 30.0, 45.0] and log["downs"] == [330.0]
    assert _steps(log) == [(0.0, 0), (30.0, 5), (45.0, 10), (330.0, 0)]


def test_keda_on_sqs_counts_in_flight_and_the_hpa_scales_down_when_its_window_expires() -> None:
    """The same load on SQS, 0.25 s jobs, pods start in 5 s: KEDA's default metric adds the in-flight messages.

    30 s: 0 → 1 → 5 as before. At 45 s the 5 pods (serving since 35 s, 4/s each) left ≈150: → 10.
    They clear the backlog by ≈54 s, so from 60 s the metric is the 2 or 3 messages in flight
    (10/s × 0.25 s): the HPA wants ceil(3 / 5) = 1, but waits for the 45 s recommendation to leave
    its 300 s window: at 345 s it scales 10 → 1 (100% may go per 15 s). While the load lasts every
    KEDA poll sees work in flight, so the last active poll is at 90 s: zero at 90 + 300 = 390 s.
    """
    log = _log({"service": 0.25, "autoscale": {"policy": "keda", "max": 10, "startup": 5}},
               [{"until": 10, "rate": 0}, {"until": 100, "rate": 10}, {"until": 400, "rate": 0}], duration=400,
               broker={"broker": "sqs", "visibility_timeout": 600})
    assert log["ups"] == [30.0, 30.0, 45.0] and log["downs"] == [345.0, 390.0]
    assert _steps(log) == [(0.0, 0), (30.0, 5), (45.0, 10), (345.0, 1), (390.0, 0)]


def test_keda_scale_to_zero_abandons_a_long_job_after_the_grace_period() -> None:
    """A 1,000 s job on SQS with ``in_flight: false``: every poll after the first sees an empty queue.

    One message at 2 s; KEDA activates at 30 s; the pod (startup 0) takes it at once and the queue
    is empty from then on. 300 s after 30 s, at 330 s, KEDA scales to zero: the pod has 30 s of
    grace, its job needs 1,000 s, so at 360 s it lets the message go; SQS makes it visible again when
    its visibility timeout (400 s from 30 s) ends, at 430 s, which activates KEDA at the 450 s poll.
    """
    sc = _scenario({"service": 1000, "autoscale": {"policy": "keda", "max": 2, "startup": 0, "in_flight": False}},
                   [{"until": 1, "rate": 0}, {"until": 2.5, "rate": 1}, {"until": 600, "rate": 0}], duration=600,
                   broker={"broker": "sqs", "visibility_timeout": 400})
    record = simulate(sc)
    log = record.extra["capacity"]["w"]
    assert log["downs"][0] == 330.0 and _count_at(log, 331) == 1 and _count_at(log, 361) == 0
    assert 450.0 in log["ups"]
    dl = record.deliveries
    assert list(dl["started"][~(dl["started"] != dl["started"])][:2]) == [30.0, 450.0]


def test_lambda_ramps_by_300_a_minute_from_five() -> None:
    """1,000/s from 10 s, 1 s jobs: five concurrent batches at first, then +300 a minute up to 1,000.

    At every minute the backlog is far above what the concurrency clears, so it grows by the ramp:
    305 at 60 s, 605 at 120 s, 905 at 180 s, and 1,000 (the maximum) at 240 s.
    """
    log = _log({"service": 1.0, "autoscale": {"policy": "lambda_sqs"}},
               [{"until": 10, "rate": 0}, {"rate": 1000}], duration=250, broker={"broker": "sqs"})
    assert log["ups"] == [60.0, 120.0, 180.0, 240.0]
    assert [_count_at(log, t) for t in (59, 60, 120, 180, 240)] == [5, 305, 605, 905, 1000]


def test_lambda_falls_back_to_five_when_the_backlog_is_gone() -> None:
    """1,000/s from 10 s to 70 s, 10 ms jobs: five slots clear 500/s, so 25,000 wait at 60 s and it
    ramps to 305; those clear the backlog within a second of their cold start. At 120 s nothing
    waits and nothing runs: back to five."""
    log = _log({"service": 0.01, "autoscale": {"policy": "lambda_sqs"}},
               [{"until": 10, "rate": 0}, {"until": 70, "rate": 1000}, {"until": 200, "rate": 0}], duration=200,
               broker={"broker": "sqs"})
    assert log["ups"] == [60.0] and log["downs"] == [120.0]
    assert _steps(log) == [(0.0, 5), (60.0, 305), (120.0, 5)]


def test_celery_autoscale_grows_to_its_reserved_tasks_and_shrinks_after_keepalive() -> None:
    """``--autoscale=10,2``: 10/s from 10 s to 15 s (50 tasks), 1 s each; checks every second.

    At 11 s two processes run and ≈8 wait; the worker reserves at most 4 × 2 = 8: grow to 8. At 12 s
    it reserves 8 running + the rest waiting (up to 32): more than 10, grow to max 10. All 50 are
    done by ≈17 s, but a shrink needs keepalive (30 s) since the last scale-up (12 s): the first
    check with now − 12 > 30 is 43 s, which shrinks the idle pool to min 2.
    """
    log = _log({"service": 1.0, "autoscale": {"policy": "celery_autoscale", "min": 2, "max": 10}},
               [{"until": 10, "rate": 0}, {"until": 15, "rate": 10}, {"until": 60, "rate": 0}], duration=60)
    assert log["ups"] == [11.0, 12.0] and log["downs"] == [43.0]
    assert _steps(log) == [(0.0, 2), (11.0, 8), (12.0, 10), (43.0, 2)]


def test_schedule_and_deploy() -> None:
    """A schedule 2 → 5 (at 10 s) → 1 (at 20 s) with 2 s start-up, and a deploy at 30 s.

    Idle workers stop at once; the three added at 10 s are billed while they start. The deploy
    starts one replacement at 30 s and stops the old worker when it serves, at 32 s.
    """
    sc = _scenario({"service": 0.01, "startup": 2, "deploys": [30],
                    "count": [{"until": 10, "count": 2}, {"until": 20, "count": 5}, {"count": 1}]},
                   1.0, duration=40)
    record = simulate(sc)
    log = record.extra["capacity"]["w"]
    assert _steps(log) == [(0.0, 2), (10.0, 5), (20.0, 1), (30.0, 2), (32.0, 1)]
    summary = run(sc, executor=SerialExecutor()).summary
    pool = summary["workers"]["w"]
    assert pool["count"] == 5 and pool["count_max"] == 5
    assert pool["worker_seconds"] == pytest.approx(2 * 10 + 5 * 10 + 1 * 10 + 2 * 2 + 1 * 8)
    assert pool["count_mean"] == pytest.approx(pool["worker_seconds"] / 40)
    assert (pool["scale_ups"], pool["scale_downs"], pool["time_at_max"]) == (1, 1, 10.0)
    ts = run(sc, executor=SerialExecutor()).timeseries
    assert {"workers.w", "end_to_end.p99"} <= set(ts.columns)


def test_a_finishing_scale_in_loses_nothing_on_a_redis_list() -> None:
    """Scale-in with ``finish``: a draining worker completes what it holds even on an at-most-once broker."""
    sc = _scenario({"service": 3.0, "count": [{"until": 5, "count": 4}, {"count": 1}]}, 1.0, duration=30)
    s = run(sc, executor=SerialExecutor()).summary
    assert s["messages"]["lost"] == 0


@pytest.mark.parametrize("count", ["{min: 2, max: 8}", "[{until: 1m, count: 2}, {count: x}]"])
def test_bad_counts_are_located_errors(tmp_path: Path, count: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"duration: 10s\nproducers: {{p: {{to: q, rate: 1/s}}}}\nqueues: {{q: {{broker: redis}}}}\n"
                    f"workers:\n  w: {{from: q, service: 1s, count: {count}}}\n")
    with pytest.raises(ScenarioError) as error:
        load_scenario(str(path))
    assert any(p.line == 5 and p.field.startswith("workers.w.count") for p in error.value.problems)


def test_autoscale_bounds_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("duration: 10s\nproducers: {p: {to: q, rate: 1/s}}\nqueues: {q: {broker: redis}}\n"
                    "workers:\n  w: {from: q, service: 1s, count: 9,\n      autoscale: {policy: keda, min: 3, max: 2}}\n")
    with pytest.raises(ScenarioError) as error:
        load_scenario(str(path))
    fields = {p.field for p in error.value.problems}
    assert "workers.w.autoscale.min" in fields


_POLICIES = [
    {"policy": "target_tracking", "target": 2, "min": 1, "max": 6, "period": 0.3, "warmup": 0.1, "cooldown": 0.5,
     "scale_out_periods": 1, "scale_in_periods": 2},
    {"policy": "keda", "min": 0, "max": 6, "polling_interval": 0.4, "sync_period": 0.2, "cooldown_period": 0.6,
     "down_stabilization": 0.5, "startup": 0.05, "grace": 0.03, "queue_length": 2},
    {"policy": "lambda_sqs", "min": 2, "max": 8, "ramp": 3, "ramp_interval": 0.25, "cold_start": 0.05},
    {"policy": "celery_autoscale", "min": 0, "max": 6, "keepalive": 0.4, "check": 0.1},
]


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.lists(st.sampled_from(range(len(_POLICIES))), min_size=3, max_size=3),
       st.sampled_from(["finish", "abandon"]))
def test_conservation_holds_under_autoscaling(data: dict[str, Any], policies: list[int], scale_in: str) -> None:
    """Every message ends completed, lost, dead-lettered, expired, reneged, given up or in flight, with
    workers starting, draining and abandoning their messages under every controller and broker."""
    for (_name, pool), which in zip(data["workers"].items(), policies, strict=False):
        pool.pop("count")
        pool["autoscale"] = {**_POLICIES[which], "scale_in": scale_in}
    sc = scenario_from_dict(data)
    result = run(sc, executor=SerialExecutor())
    m = result.summary["messages"]
    assert m["produced"] == (m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["expired"]
                             + m["reneged"] + m["in_flight"] + m["short_circuited"])
    msgs = result.messages
    assert (msgs.loc[msgs["outcome"] == "completed", "processings"] >= 1).all()
    for w in result.summary["workers"].values():
        assert 0.0 <= w["utilization"] <= 1.0 + 1e-9
        assert 0 <= w["count_max"] <= w["count"]


def assert_same_figures(now: Any, before: Any, path: str = "summary") -> None:
    """The same keys in the same order, the same counts and strings, and every float within 4 ulps.

    The simulation is bit for bit the same on every machine, but numpy picks its vectorised log and
    exp by CPU (AVX-512 or AVX2): an interval's bounds, computed on the log scale, move in their
    last bits between machines (``NPY_DISABLE_CPU_FEATURES=X86_V4`` shows it on one).
    """
    assert type(now) is type(before) or {type(now), type(before)} == {int, float}, path
    if isinstance(now, dict):
        assert list(now) == list(before), path
        for key in now:
            assert_same_figures(now[key], before[key], f"{path}.{key}")
    elif isinstance(now, list):
        assert len(now) == len(before), path
        for i, (a, b) in enumerate(zip(now, before, strict=True)):
            assert_same_figures(a, b, f"{path}[{i}]")
    elif isinstance(now, float) and isinstance(before, float):
        same = now == before or (math.isnan(now) and math.isnan(before))
        assert same or abs(now - before) <= 4 * math.ulp(max(abs(now), abs(before))), (path, now, before)
    else:
        assert now == before, (path, now, before)


@pytest.mark.parametrize("name", ["quickstart", "sqs-visibility"])
def test_a_fixed_count_gives_the_summary_it_gave_before_elastic_pools(name: str) -> None:
    """Golden summaries written by the code before issue 12 (one replication, at most 120 s): a fixed
    ``count`` takes the old path, so every figure and its order are the same, and nothing is added.
    (``ci95`` was rewritten by issue 9, whose one-run intervals cover — the ratio estimator and
    sectioned percentiles: every other key is as the pre-issue-12 code wrote it.)"""
    sc = load_scenario(str(ROOT / "scenarios" / f"{name}.yaml"), ["replications=1"])
    if not sc.faults:
        sc = sc.model_copy(update={"duration": min(sc.duration, 120.0)})
    result = run(sc)
    now, before = result.summary, json.loads((DATA / f"{name}-fixed-count.json").read_text())
    now.pop("queuesim_version", None)
    before.pop("queuesim_version", None)
    # issue 12's other half adds producers.<name> (a key, nothing else): one producer's figures are the run's
    (only,) = now.pop("producers").values()
    assert only == {"messages": now["messages"], "latency": now["latency"]}
    assert_same_figures(json.loads(json.dumps(now, default=str)), before)
    if name == "quickstart":
        assert result.timeseries.to_csv(index=False) == (DATA / f"{name}-fixed-count.csv").read_text()
