"""Properties that hold for every scenario: conservation, bounds, determinism across executors."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from queuesim import RunResult, run
from queuesim.experiment.executors import SerialExecutor
from queuesim.scenario import scenario_from_dict


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    stages = draw(st.integers(1, 3))
    queues, workers = {}, {}
    for i in range(stages):
        broker = draw(st.sampled_from(["redis", "sqs", "rabbitmq"]))
        q: dict[str, Any] = {"broker": broker}
        mode = draw(st.sampled_from(["list", "reliable", "stream", "pubsub"])) if broker == "redis" else None
        if draw(st.booleans()) and mode != "pubsub":
            q["capacity"] = draw(st.sampled_from([0, 0, 1, 5, 30]))  # 0: no waiting room
        if draw(st.booleans()) and mode != "pubsub":
            q["ttl"] = draw(st.sampled_from([0.01, 0.1, 1.0]))
            q["ttl_dead_letter"] = draw(st.booleans())
        if broker == "sqs":
            q["visibility_timeout"] = draw(st.sampled_from([0.02, 0.05, 0.2, 30.0]))
            if draw(st.booleans()):
                q["max_receives"] = draw(st.integers(1, 4))
            if draw(st.booleans()):
                q["kind"] = "fifo"
                q["groups"] = draw(st.sampled_from([1, 3, None]))
            else:
                q["duplicate_probability"] = draw(st.sampled_from([0.0, 0.05]))
                q["stale_receipts"] = draw(st.sampled_from(["delete", "ignored"]))
        if broker == "rabbitmq":
            q["prefetch"] = draw(st.integers(1, 4))
            q["overflow"] = draw(st.sampled_from(["drop-head", "reject-publish"]))
            q["ack"] = draw(st.sampled_from(["manual", "auto"]))
            if draw(st.booleans()):
                q["delivery_limit"] = draw(st.integers(1, 4))
        if broker == "redis":
            q["mode"] = mode
            q["persistence"] = draw(st.sampled_from(["none", "aof-everysec", "aof-always", "rdb"]))
            q["snapshot_every"] = 0.7
            if mode in ("reliable", "stream"):
                q["reclaim_after" if mode == "reliable" else "min_idle"] = draw(st.sampled_from([0.03, 0.3]))
            if draw(st.booleans()) and mode != "pubsub":
                q["maxmemory"] = draw(st.integers(1, 20))
                q["policy"] = draw(st.sampled_from(["noeviction", "allkeys-lru"]))
        if draw(st.booleans()):
            q["latency"] = {"dist": "exponential", "mean": draw(st.sampled_from([0.001, 0.01]))}
        queues[f"q{i}"] = q
        w: dict[str, Any] = {
            "from": f"q{i}",
            "count": draw(st.integers(1, 6)),
            "service": {"dist": draw(st.sampled_from(["exponential", "lognormal"])),
                        "mean": draw(st.sampled_from([0.005, 0.02, 0.08]))},
        }
        if w["service"]["dist"] == "lognormal":
            w["service"]["cv"] = 1.5
        if i + 1 < stages:
            w["to"] = f"q{i + 1}"
            w["fanout"] = draw(st.integers(1, 3))
        if draw(st.booleans()):
            w["crash"] = {"probability": draw(st.sampled_from([0.0, 0.05])), "restart": 0.05}
            w["failure"] = {"probability": draw(st.sampled_from([0.0, 0.1]))}
            w["poison"] = {"probability": draw(st.sampled_from([0.0, 0.05]))}
            if draw(st.booleans()):
                w["mtbf"] = 0.5
            if draw(st.booleans()):
                w["timeout"] = 0.05
            w["idempotent"] = draw(st.booleans())
        workers[f"w{i}"] = w
    faults = [
        {"at": draw(st.sampled_from([0.3, 1.0, 1.7])), "queue": f"q{draw(st.integers(0, stages - 1))}",
         "kind": kind, ("downtime" if kind == "restart" else "duration"): draw(st.sampled_from([0.0, 0.2, 1.0]))}
        for kind in draw(st.lists(st.sampled_from(["restart", "outage"]), max_size=2))
    ]
    producer: dict = {
        "to": "q0",
        "rate": draw(st.sampled_from([20.0, 100.0, 400.0])),
        "retry": {"attempts": draw(st.integers(1, 4)), "backoff": 0.01,
                  "jitter": draw(st.sampled_from(["none", "full", "equal", "decorrelated"]))},
    }
    if draw(st.booleans()):
        producer["patience"] = draw(st.sampled_from([0.005, {"dist": "exponential", "mean": 0.02}]))
    producers = {"p": producer}
    # client resilience (queuesim.scenario.resilience): each on or off, so every combination of
    # breaker, budget, cap, hedging, deadlines and a closed population meets every broker
    if draw(st.booleans()):
        producer["breaker"] = draw(st.sampled_from([
            {"failure_rate": 0.3, "window": 10, "open_for": 0.2},
            {"consecutive_failures": 2, "open_for": 0.1, "half_open_calls": 2},
        ]))
    if draw(st.booleans()):
        producer["retry"]["budget"] = draw(st.sampled_from([
            {"kind": "token_bucket", "capacity": 20}, {"kind": "ratio", "percent": 0.1, "min_concurrency": 1}]))
    if draw(st.booleans()):
        producer["max_in_flight"] = draw(st.integers(1, 20))
    if draw(st.booleans()):
        producer["await_result"] = True
        producer["timeout"] = draw(st.sampled_from([0.05, 0.3]))
        if draw(st.booleans()):
            producer["hedge"] = {"after": draw(st.sampled_from([0.01, "p90"])), "min_samples": 5,
                                 "cancel": draw(st.booleans())}
        elif draw(st.booleans()):
            producer["retry"]["on_timeout"] = True
        workers["w0"]["drop_expired"] = draw(st.booleans())
    if draw(st.booleans()):
        producers["users"] = {"to": "q0", "users": draw(st.integers(1, 8)), "think": 0.02,
                              "await_result": draw(st.booleans())}
    return {
        "faults": faults,
        "seed": draw(st.integers(0, 2**31)),
        "duration": draw(st.sampled_from([2.0, 5.0])),
        "warmup": draw(st.sampled_from([0.0, 0.5])),
        "producers": producers,
        "queues": queues,
        "workers": workers,
    }


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # examples: the profile's (conftest)
@given(scenarios())
def test_every_message_is_accounted_for_and_bounds_hold(data: dict[str, Any]) -> None:
    sc = scenario_from_dict(data)
    result = run(sc, executor=SerialExecutor())
    s = result.summary
    m = s["messages"]
    assert m["produced"] == (m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["expired"]
                             + m["reneged"] + m["in_flight"] + m["short_circuited"])
    copies = any(p.hedge is not None or p.retry.on_timeout for p in sc.producers.values())
    dropped = any(w.drop_expired for w in sc.workers.values())
    # with copies of a request `accepted` counts accepted copies, and a dropped expired message
    # makes an accepted request give up
    if not copies and not dropped:
        assert m["accepted"] + m["gave_up"] + m["short_circuited"] + _never_settled_unaccepted(result) == m["produced"]
    assert m["retry_budget_exhausted"] <= m["gave_up"] + m["abandoned"]
    assert m["hedge_wins"] <= m["hedged"]
    # a request's outcome is never CANCELLED: that is for a copy its client no longer wanted
    assert not (result.requests["outcome"] == "cancelled").any()
    for b in s["breakers"].values():
        assert 0.0 <= b["open_fraction"] + b["half_open_fraction"] <= 1.0 + 1e-12
        assert b["short_circuited"] <= m["short_circuited"]
    for name, q in s["queues"].items():
        assert 0 <= q["mean_depth"] <= q["max_depth"] * (1 + 1e-12)  # a time average summed in floats
        cap = sc.queues[name].capacity
        if cap is not None:
            # publishes never exceed capacity; a copy that comes back (visibility expired, a
            # reclaimed or requeued delivery, a restart replaying a pop) re-enters without the
            # check, because the broker already stores it: every waiting spell after the first
            spells = result.deliveries[result.deliveries["queue"] == name]
            accepted = result.messages.set_index("message")["accepted"]
            returns = int((spells["since"].to_numpy() > accepted.loc[spells["message"]].to_numpy()).sum())
            # without waiting room a message may still be in transit (broker latency) to the idle
            # consumer credit it was promised: at most one per credit of the pools reading the queue
            promised = 0
            if cap == 0:
                prefetch = getattr(sc.queues[name], "prefetch", 1)
                promised = sum(p.count for _, p in sc.pools_reading(name)) * prefetch
            assert q["max_depth"] <= cap + returns + promised
    for w in s["workers"].values():
        assert 0.0 <= w["utilization"] <= 1.0 + 1e-12
    msgs = result.messages
    done = msgs["outcome"] == "completed"
    assert (msgs.loc[done, "processings"] >= 1).all()
    assert (msgs["processings"] <= msgs["receives"]).all()
    # a client reneges only on a request that has not started: its message was never received
    assert (msgs.loc[msgs["outcome"] == "reneged", "receives"] == 0).all()
    # a request is completed only when every message it caused by then completed (a duplicate
    # processing may publish more children later: extra work, which does not reopen it)
    req = result.requests.set_index("request")
    joined = msgs.join(req[["done", "outcome"]].add_prefix("request_"), on="request")
    part = joined[(joined["request_outcome"] == "completed") & (joined["created"] < joined["request_done"])]
    # (a cancelled copy, one its client no longer wanted, is no failure of its request)
    assert part["outcome"].isin(["completed", "cancelled"]).all()
    for key in ("rejection", "loss", "duplicate", "gave_up"):
        v = s["rates"][key]
        assert v is None or v >= 0


def _never_settled_unaccepted(result: RunResult) -> int:
    """Requests whose first message is still between publish attempts (retry pending) at the end."""
    m = result.messages
    root = m[(m["stage"] == 0) & m["in_window"]]
    return int((root["accepted"].isna() & (root["outcome"] == "in_flight")).sum())


@st.composite
def client_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """A rate-limited client that times out and retries, in front of a queue that can lose, refuse and redeliver."""
    client: dict[str, Any] = {
        "to": "q",
        "rate": draw(st.sampled_from([50.0, 200.0, 600.0])),
        "rate_limit": {"rate": draw(st.sampled_from([20.0, 100.0, 400.0])), "burst": draw(st.integers(1, 20))},
        "timeout": draw(st.sampled_from([0.02, 0.1, 0.5])),
        "retry": {"attempts": draw(st.integers(1, 4)), "backoff": 0.01, "on_timeout": True},
    }
    client[draw(st.sampled_from(["await_result", "sync"]))] = True
    queue = draw(st.sampled_from([
        {"broker": "redis", "capacity": 20},
        {"broker": "sqs", "visibility_timeout": 0.05, "max_receives": 2},
        {"broker": "rabbitmq", "capacity": 10, "overflow": "reject-publish"},
    ]))
    if client.get("sync") and queue["broker"] == "sqs":
        queue = {"broker": "redis", "capacity": 5}
    pool = {"from": "q", "count": draw(st.integers(1, 4)), "service": {"dist": "exponential", "mean": draw(st.sampled_from([0.005, 0.05]))},
            "failure": {"probability": draw(st.sampled_from([0.0, 0.2]))}, "crash": {"probability": draw(st.sampled_from([0.0, 0.05])), "restart": 0.1}}
    return {"seed": draw(st.integers(0, 2**31)), "duration": 4.0, "warmup": draw(st.sampled_from([0.0, 1.0])),
            "producers": {"web": client}, "queues": {"q": queue}, "workers": {"w": pool}}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(client_scenarios())
def test_a_throttled_request_never_completes_and_gives_up_unless_an_earlier_copy_runs(data: dict[str, Any]) -> None:
    # README: a request refused before any copy was sent ends there (gave_up); one refused on a retry
    # after a client timeout keeps the outcome of the copies already sent, which still run. Hypothesis
    # once found throttled (38) > gave_up (36): those were retries whose first copy was in flight.
    result = run(scenario_from_dict(data), executor=SerialExecutor())
    m = result.summary["messages"]
    assert m["produced"] == m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["in_flight"]
    req = result.requests[result.requests["in_window"]]
    throttled = req[req["throttled"].notna()]
    assert len(throttled) == m["throttled"] <= m["produced"] - m["completed"]
    assert not (throttled["outcome"] == "completed").any()
    msgs = result.messages
    copies = msgs[msgs["stage"] == 0].groupby("request").size()
    # one copy (the refusal came at its first publish or a 503 retry of it): nothing else is left to decide
    single = throttled[throttled["request"].map(copies) == 1]
    assert (single["outcome"] == "gave_up").all()


QUICK: dict[str, Any] = {
    "seed": 4,
    "duration": 20.0,
    "warmup": 1.0,
    "replications": 3,
    "producers": {"web": {"to": "jobs", "rate": 300.0, "retry": {"attempts": 3}}},
    "queues": {"jobs": {"broker": "sqs", "capacity": 20, "visibility_timeout": 0.05, "max_receives": 3}},
    "workers": {"pool": {"from": "jobs", "count": 4, "service": {"dist": "lognormal", "mean": 0.012, "cv": 2}}},
}


def _dump(summary: dict[str, Any]) -> str:
    return json.dumps(summary, sort_keys=True)


def test_same_seed_same_results_other_seed_different() -> None:
    sc = scenario_from_dict(QUICK)
    a = run(sc, executor=SerialExecutor()).summary
    b = run(sc, executor=SerialExecutor()).summary
    c = run(sc, seed=5, executor=SerialExecutor()).summary
    assert _dump(a) == _dump(b)
    assert a["messages"] != c["messages"]


def test_process_pool_and_serial_give_identical_results() -> None:
    sc = scenario_from_dict(QUICK)
    serial = run(sc, executor=SerialExecutor())
    with ProcessPoolExecutor(max_workers=2) as pool:
        parallel = run(sc, executor=pool)
    assert _dump(serial.summary) == _dump(parallel.summary)
    assert serial.messages.equals(parallel.messages)


def test_adding_a_producer_leaves_the_other_streams_unchanged() -> None:
    # streams are keyed by component name: a new producer on another queue does not shift the draws
    base = scenario_from_dict(QUICK)
    more = dict(QUICK, producers={**QUICK["producers"], "batch": {"to": "side", "rate": 50.0}},
                queues={**QUICK["queues"], "side": {"broker": "redis"}},
                workers={**QUICK["workers"], "side_pool": {"from": "side", "count": 1, "service": 0.001}})
    a = run(base, replications=1, executor=SerialExecutor()).requests
    b = run(scenario_from_dict(more), replications=1, executor=SerialExecutor()).requests
    web_b = b[b["producer"] == "web"]
    assert np.array_equal(a["created"].to_numpy(), web_b["created"].to_numpy())


@st.composite
def celery_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Celery workers (prefetch, ack timing, retries, limits, ETAs, crashes) on a queue that may carry priorities."""
    broker = draw(st.sampled_from(["rabbitmq", "redis", "sqs"]))
    q: dict[str, Any] = {"broker": broker}
    if broker == "redis":
        q["mode"] = "celery"
        q["visibility_timeout"] = draw(st.sampled_from([0.05, 0.5, 3600.0]))
    if broker == "sqs":
        q["visibility_timeout"] = draw(st.sampled_from([0.05, 30.0]))
    if broker == "rabbitmq" and draw(st.booleans()):
        q["delivery_limit"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        q["capacity"] = draw(st.sampled_from([0, 3, 30]))
    top = draw(st.sampled_from([None, 2])) if broker != "sqs" else None
    if top is not None:
        q["max_priority"] = top
    if draw(st.booleans()):
        q["latency"] = {"dist": "exponential", "mean": 0.002}
    celery: dict[str, Any] = {
        "concurrency": draw(st.integers(1, 4)),
        "prefetch_multiplier": draw(st.integers(1, 4)),
        "acks_late": draw(st.booleans()),
    }
    if draw(st.booleans()):
        celery["time_limit"] = draw(st.sampled_from([0.03, 0.2]))
        if draw(st.booleans()):
            celery["soft_time_limit"] = celery["time_limit"] / 2
    if draw(st.booleans()):
        celery["retry"] = {"max_retries": draw(st.sampled_from([0, 2, None])), "countdown": draw(st.sampled_from([0.0, 0.05])),
                           "backoff": draw(st.sampled_from([False, 0.01])), "jitter": draw(st.booleans())}
    w: dict[str, Any] = {"from": "q", "count": draw(st.integers(1, 3)), "celery": celery,
                         "service": {"dist": "exponential", "mean": draw(st.sampled_from([0.005, 0.03]))}}
    if draw(st.booleans()):
        w["crash"] = {"probability": draw(st.sampled_from([0.0, 0.05])), "restart": 0.05}
        w["failure"] = {"probability": draw(st.sampled_from([0.0, 0.2]))}
        w["poison"] = {"probability": draw(st.sampled_from([0.0, 0.05]))}
        if draw(st.booleans()):
            w["mtbf"] = 0.5
        if draw(st.booleans()):
            w["timeout"] = 0.05
        w["idempotent"] = draw(st.booleans())
    producers: dict[str, Any] = {
        "urgent": {"to": "q", "rate": draw(st.sampled_from([20.0, 100.0])), **({"priority": top} if top else {}),
                   "retry": {"attempts": draw(st.integers(1, 3)), "backoff": 0.01}},
        "bulk": {"to": "q", "rate": draw(st.sampled_from([50.0, 300.0])),
                 **({"countdown": draw(st.sampled_from([0.01, 0.3, 1.5]))} if draw(st.booleans()) else {})},
    }
    if draw(st.booleans()):
        producers["beat"] = {"to": "q", "beat": {"every": 0.5, "tasks": 3, "beats": draw(st.integers(1, 2))}}
    queues = {"q": q}
    if draw(st.booleans()):  # celery worker -Q q,q2
        queues["q2"] = {k: v for k, v in q.items() if k != "max_priority"}
        w["from"] = ["q", "q2"]
        producers["bulk"]["to"] = "q2"
        if broker != "rabbitmq":
            celery["queue_order"] = draw(st.sampled_from(["round_robin", "priority"]))
    faults = [{"at": 1.0, "queue": draw(st.sampled_from(list(queues))), "kind": "outage", "duration": 0.2}] if draw(st.booleans()) else []
    return {"seed": draw(st.integers(0, 2**31)), "duration": 3.0, "warmup": draw(st.sampled_from([0.0, 0.5])),
            "producers": producers, "queues": queues, "workers": {"w": w}, "faults": faults}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(celery_scenarios())
def test_celery_workers_and_priorities_account_for_every_message(data: dict[str, Any]) -> None:
    result = run(scenario_from_dict(data), executor=SerialExecutor())
    s = result.summary
    m = s["messages"]
    assert m["produced"] == (m["completed"] + m["gave_up"] + m["lost"] + m["dead_lettered"] + m["expired"]
                             + m["reneged"] + m["in_flight"])
    for key, total in m.items():
        assert sum(p["messages"][key] for p in s["producers"].values()) == total, key
    for w in s["workers"].values():
        assert 0.0 <= w["utilization"] <= 1.0 + 1e-12
    msgs = result.messages
    assert (msgs.loc[msgs["outcome"] == "completed", "processings"] >= 0).all()
    assert (msgs["processings"] <= msgs["receives"]).all()
    # a delivery starts no earlier than it was received, and a process runs one task at a time
    d = result.deliveries
    ran = d[d["started"].notna()]
    assert (ran["started"] >= ran["until"] - 1e-12).all()
    for _, rows in ran.groupby("worker"):
        rows = rows.sort_values("started")
        assert (rows["started"].to_numpy()[1:] >= rows["finished"].to_numpy()[:-1] - 1e-9).all()
