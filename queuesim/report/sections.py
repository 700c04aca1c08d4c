"""Sections that run and sweep reports share: the scenario, headline figures, assumptions and header line."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from queuesim.figures import display_duration as format_duration
from queuesim.figures import latency_path, stat_label
from queuesim.report import figures_sweep as fs
from queuesim.report.formatting import (
    as_number,
    ci_text,
    fmt_count,
    fmt_duration,
    fmt_fraction,
    fmt_number,
    fmt_per_second,
)
from queuesim.report.inputs import source_candidates
from queuesim.report.render import Block, Cell, Tone, note, p, table
from queuesim.version import __version__

BUSY = 0.85  # utilization above which a pool is reported as having little headroom
_LATENCY_COLUMNS = ("mean", "p50", "p90", "p99", "p999", "max")  # of a report's latency table
IDLE = 0.30  # utilization below which a pool meeting its SLO is reported as possibly oversized

def _dist(d: Any) -> str:
    if d is None:
        return "—"
    if not isinstance(d, Mapping):
        return str(d)
    kind = d.get("dist", "?")
    args = ", ".join(f"{k}={format_duration(v) if k in ('mean', 'value', 'low', 'high') and as_number(v) is not None else v}"
                     for k, v in d.items() if k != "dist" and k != "samples")
    if "samples" in d:
        args = f"{len(d['samples'])} samples"
    return f"{kind}({args})"



_SCENARIO_KEYS = ("name", "seed", "duration", "warmup", "replications", "producers", "queues", "workers",
                  "sweep", "slo")



def _extras(node: Mapping[str, Any], known: Sequence[str]) -> str:
    """Settings of a component beyond the ones a table has columns for (keys later versions add)."""
    items = [f"{k.replace('_', ' ')}: {_show(k, v)}" for k, v in node.items()
             if k not in known and v not in (None, {}, [], False)]
    return "; ".join(items) or "—"



#: Per broker, when each of its settings takes effect (the scenario stores every field with its default,
#: so a Redis list also carries the stream's ``min_idle``; the report shows only what applies).
_APPLIES: dict[str, dict[str, Callable[[Mapping[str, Any]], bool]]] = {
    "redis": {
        "mode": lambda q: True,
        "reclaim_after": lambda q: q.get("mode") == "reliable",
        "min_idle": lambda q: q.get("mode") == "stream",
        "max_deliveries": lambda q: q.get("mode") in ("stream", "reliable") and q.get("max_deliveries") is not None,
        "persistence": lambda q: q.get("mode") != "pubsub",
        "snapshot_every": lambda q: q.get("persistence") == "rdb",
        "maxmemory": lambda q: q.get("maxmemory") is not None,
        "policy": lambda q: q.get("maxmemory") is not None,
    },
    "sqs": {
        "kind": lambda q: True,
        "visibility_timeout": lambda q: True,
        "max_receives": lambda q: q.get("max_receives") is not None,
        "duplicate_probability": lambda q: q.get("kind") != "fifo" and bool(q.get("duplicate_probability")),
        "groups": lambda q: q.get("kind") == "fifo",
        "tps": lambda q: q.get("kind") == "fifo",
    },
    "rabbitmq": {
        "ack": lambda q: True,
        "prefetch": lambda q: q.get("ack", "manual") == "manual",
        "overflow": lambda q: q.get("capacity") is not None,
        "delivery_limit": lambda q: q.get("delivery_limit") is not None,
        "consumer_timeout": lambda q: q.get("ack", "manual") == "manual",
    },
}
#: Settings every queue has, shown in columns of their own or not at all.
_QUEUE_COLUMNS = ("broker", "capacity", "latency")


def _broker_settings(q: Mapping[str, Any]) -> list[str]:
    """The settings of a queue that apply to its broker and mode, in words (``visibility 250 ms``)."""
    applies = _APPLIES.get(str(q.get("broker")))
    out = []
    for key, value in q.items():
        if key in _QUEUE_COLUMNS or value in (None, {}, []):
            continue
        if applies is not None and key in applies and not applies[key](q):
            continue
        if key == "visibility_timeout":
            out.append(f"visibility {format_duration(float(value))}")
        elif key == "max_receives":
            out.append(f"DLQ after {value} receives")
        elif key == "tps" and value is None:
            continue
        else:
            out.append(f"{key.replace('_', ' ')}: {_show(key, value)}")
    return out


def _arrivals(pr: Mapping[str, Any]) -> str:
    """How a producer's requests arrive, in words."""
    rate = pr.get("rate")
    process = "Poisson" if pr.get("arrivals", "poisson") == "poisson" else str(pr.get("arrivals"))
    if as_number(rate) is not None:
        return f"{process} {rate_text(rate)}"
    if isinstance(rate, Mapping):
        return f"{process}, rate {_show('rate', rate)}"
    if isinstance(rate, list):
        return f"{process}, rate schedule {_show('rate', rate)}"
    for key in ("interarrival", "trace", "batch"):
        if pr.get(key) not in (None, {}, []):
            return f"{key} {_dist(pr[key]) if key == 'interarrival' else _show(key, pr[key])}"
    return "—"



def rate_text(v: Any) -> str:
    from queuesim.scenario import format_rate

    return "—" if as_number(v) is None else format_rate(float(v), digits=4)



def scenario_blocks(data: Mapping[str, Any] | None, summary: Mapping[str, Any] | None,
                     origin: str | None, swept: Sequence[str] = ()) -> list[Block]:
    if not data:
        return [note("The scenario is not stored with this result and its source file could not be "
                     "read, so only the figures are shown.")]
    blocks: list[Block] = []

    def mark(path: str, text: str) -> str:  # a setting the sweep varies: its base value, marked
        return f"{text} (base; swept)" if path in swept else text

    loads = (summary or {}).get("offered_load") or {}
    overview = [
        ("name", f"{data.get('name')}"),
        ("simulated time", f"{format_duration(data['duration'])}, of which warm-up {format_duration(data.get('warmup') or 0)}"),
        ("replications", str(data.get("replications", 1))),
        ("seed", str(data.get("seed", 0))),
    ]
    if loads:
        overview.append(("offered load ρ", ", ".join(f"`{q}` {rho:.2f}" for q, rho in loads.items())))
    blocks.append(table(("setting", "value"), overview, align="ll"))
    rows: list[tuple[str, ...]] = []
    for name, pr in (data.get("producers") or {}).items():
        arrivals = mark(f"producers.{name}.rate", _arrivals(pr))
        r = pr.get("retry") or {}
        retry = "no retry" if r.get("attempts", 1) <= 1 else (
            f"{r['attempts']} attempts, backoff {format_duration(r['backoff'])} ×{r.get('multiplier', 2):g} "
            f"≤ {format_duration(r['max_backoff'])}, {r.get('jitter', 'full')} jitter")
        rows.append((f"`{name}`", f"`{pr.get('to')}`", arrivals, retry,
                     _extras(pr, ("to", "rate", "interarrival", "trace", "batch", "arrivals", "retry"))))
    blocks.append(table(("producer", "to queue", "arrivals", "on 503", "other"), rows, align="lllll", caption="Producers"))
    rows = []
    for name, q in (data.get("queues") or {}).items():
        extra = _broker_settings(q)
        rows.append((f"`{name}`", mark(f"queues.{name}.broker", str(q.get("broker"))),
                     mark(f"queues.{name}.capacity", "unbounded" if q.get("capacity") is None else f"{q['capacity']:,}"),
                     _dist(q.get("latency")), "; ".join(extra) or "—"))
    blocks.append(table(("queue", "broker", "capacity", "delivery latency", "semantics"), rows,
                        align="lllll", caption="Queues (capacity counts waiting messages)"))
    rows = []
    for name, w in (data.get("workers") or {}).items():
        to = "—" if not w.get("to") else f"`{w['to']}`" + (f" ×{w['fanout']}" if w.get("fanout", 1) != 1 else "")
        count = w.get("count")
        shown = str(count) if isinstance(count, int) else ("autoscaled" if w.get("autoscale") else "scheduled")
        rows.append((f"`{name}`", f"`{w.get('from')}`", mark(f"workers.{name}.count", shown),
                     mark(f"workers.{name}.service", _dist(w.get("service"))), to,
                     # the dedupe cost only matters to an idempotent pool
                     _extras(w, ("from", "count", "service", "to", "fanout")
                             + (() if w.get("idempotent") else ("dedupe",))
                             # how workers start and stop matters only when the count changes
                             + (() if not isinstance(count, int) or w.get("autoscale") or w.get("deploys")
                                else ("startup", "scale_in")))))
    blocks.append(table(("pool", "from queue", "workers", "service time", "publishes to", "other"), rows,
                        align="llrlll", caption="Worker pools"))
    others = [(f"`{k}`", _show(k, v)) for k, v in data.items()
              if k not in _SCENARIO_KEYS and v not in (None, {}, [])]
    if others:
        blocks.append(table(("section", "value"), others, align="ll", caption="Other scenario sections"))
    sweep = data.get("sweep")
    if isinstance(sweep, Mapping) and sweep.get("vary"):
        blocks.append(p("Sweep section: " + ", ".join(f"`{k}` = {v}" for k, v in sweep["vary"].items()) + "."))
    blocks.append(Block("code", text=json.dumps(data, indent=2),
                        caption=f"The resolved scenario ({origin}), durations in seconds and rates per second"))
    return blocks



def interval_method(method: Any, reps: Any) -> str:
    """How summary.json's intervals were made (``ci_method``), as a caption sentence."""
    if method == "replications":
        return (f"intervals over {reps} independent replications: Student-t over their means and rates, "
                "percentiles by sectioning (the spread of the percentile across groups of replications, on "
                "a log scale). A percentile with too few samples beyond it for two sections has none (—).")
    if method == "batch_means":
        return ("intervals from the one run: means and rates from 10 consecutive batches as a ratio estimator on "
                "a log scale, percentiles by sectioning the run (the spread of the percentile across consecutive "
                "sections). A percentile with too few samples beyond it for two sections has none (—); "
                "their coverage on a busy M/M/c queue is measured in README's Correctness section.")
    return "intervals as stored in summary.json."


def headline_blocks(summary: Mapping[str, Any], focus: str = "") -> list[Block]:
    m, r, lat = summary.get("messages") or {}, summary.get("rates") or {}, summary.get("latency") or {}
    reps = summary.get("replications")
    method = summary.get("ci_method")
    rows: list[tuple[str, str, str]] = [
        ("throughput", fmt_per_second(r.get("throughput")), ci_text(summary, "rates.throughput", fmt_per_second)),
        ("requests produced / completed", f"{fmt_count(m.get('produced'))} / {fmt_count(m.get('completed'))}", ""),
        ("503 rejections (of publish attempts)", f"{fmt_fraction(r.get('rejection'))} ({fmt_count(m.get('rejected'))})",
         ci_text(summary, "rates.rejection", fmt_fraction)),
        ("gave up after retries", f"{fmt_fraction(r.get('gave_up'))} ({fmt_count(m.get('gave_up'))})",
         ci_text(summary, "rates.gave_up", fmt_fraction)),
        ("lost", f"{fmt_fraction(r.get('loss'))} ({fmt_count(m.get('lost'))})", ci_text(summary, "rates.loss", fmt_fraction)),
        ("duplicate processings", f"{fmt_fraction(r.get('duplicate'))} ({fmt_count(m.get('duplicates'))})",
         ci_text(summary, "rates.duplicate", fmt_fraction)),
        ("dead-lettered", fmt_count(m.get("dead_lettered")), ""),
        ("in flight at the end", fmt_count(m.get("in_flight")), ""),
    ]
    if as_number(r.get("offered")) is not None:
        base = as_number(r.get("base_load"))
        rows.insert(1, ("offered (publish attempts, retries included)",
                        fmt_per_second(r["offered"]) + ("" if base is None else f" (base {fmt_per_second(base)})"),
                        ci_text(summary, "rates.offered", fmt_per_second)))
    if as_number(m.get("abandoned")):
        rows.append(("abandoned (the user stopped waiting)", f"{fmt_fraction(r.get('abandoned'))} ({fmt_count(m['abandoned'])})",
                     ci_text(summary, "rates.abandoned", fmt_fraction)))
    kinds = [("response", "response time (what the user waits)")] if (lat.get("response") or {}).get("count") else []
    for kind, label in [*kinds, ("end_to_end", "end-to-end latency"), ("queue_wait", "queue wait")]:
        d = lat.get(kind) or {}
        rows.append((f"{label}, mean", fmt_duration(d.get("mean")), ci_text(summary, latency_path(kind, "mean"), fmt_duration)))
        rows.append((f"{label}, p99", fmt_duration(d.get("p99")),
                     ci_text(summary, latency_path(kind, "p99"), fmt_duration) or "—"))
    caption = f"{focus}95% CI: {interval_method(method, reps)}"
    blocks = [table(("figure", "value", "95% CI"), rows, caption=caption)]

    lrows = []
    for kind, label in (("response", "response (what the user waits)"), ("end_to_end", "end to end"),
                        ("queue_wait", "queue wait"), ("service", "service"), ("ack", "publish ack (retries included)")):
        d = lat.get(kind) or {}
        if not d or (kind == "response" and not d.get("count")):
            continue
        lrows.append((label, *(fmt_duration(d.get(s)) for s in _LATENCY_COLUMNS)))
    if lrows:
        blocks.append(table(("latency", *map(stat_label, _LATENCY_COLUMNS)), lrows,
                            caption="Latency of requests created after the warm-up"))
    qrows = []
    for name, q in (summary.get("queues") or {}).items():
        if not isinstance(q, Mapping):
            continue
        qrows.append((f"`{name}`", fmt_number(as_number(q.get("mean_depth"))), fmt_count(as_number(q.get("max_depth"))),
                      fmt_duration(as_number(q.get("mean_wait"))), fmt_per_second(as_number(q.get("throughput"))),
                      fmt_count(as_number(q.get("rejected"))), fmt_count(as_number(q.get("redeliveries"))),
                      fmt_count(as_number(q.get("dead_lettered")))))
    if qrows:
        blocks.append(table(("queue", "mean depth", "max depth", "mean wait", "accepted/s", "503s",
                             "redelivered", "dead-lettered"), qrows, caption="Queues"))
    pools = {n: w for n, w in (summary.get("workers") or {}).items() if isinstance(w, Mapping)}
    faulty = any(as_number(w.get(k)) for w in pools.values() for k in ("crashes", "failures"))
    wrows = []
    for name, w in pools.items():
        u = as_number(w.get("utilization"))
        tone: Tone = "warn" if u is not None and u >= BUSY else ""
        row = [Cell(f"`{name}`"), Cell(fmt_count(as_number(w.get("count")))), Cell(fmt_fraction(u), tone),
               Cell(fmt_count(as_number(w.get("completed"))))]
        if faulty:
            row += [Cell(fmt_count(as_number(w.get("crashes")))), Cell(fmt_count(as_number(w.get("failures"))))]
        wrows.append(row)
    if wrows:
        blocks.append(table(("pool", "workers", "utilization", "processings") + (("crashes", "failures") if faulty else ()),
                            wrows, caption="Worker pools"))
    losses = {k: v for k, v in (summary.get("losses") or {}).items() if as_number(v)}
    if losses:
        blocks.append(table(("cause", "lost messages"), [(k.replace("_", " "), fmt_count(v)) for k, v in losses.items()],
                            caption="Lost messages by cause"))
    return blocks



def _overrides(data: Mapping[str, Any] | None, source: str | None, directory: Path | None) -> list[str]:
    """Settings of the result that differ from its source file (``--set`` overrides), as ``path: a → b``."""
    from queuesim.errors import ScenarioError
    from queuesim.scenario import load_scenario

    if not data or not source:
        return []
    for candidate in source_candidates(source, directory or Path.cwd()):
        try:
            original = load_scenario(candidate).to_dict()
        except (ScenarioError, OSError):
            return []
        diffs: list[str] = []
        _diff(original, dict(data), "", diffs)
        return diffs
    return []



#: Keys whose numbers are durations in seconds (scenario.json holds every duration in seconds).
_DURATION_KEYS = fs._DURATION_LEAVES | {"at", "downtime", "restart", "backoff", "timeout", "end"}



def _show(path: str, v: Any) -> str:
    leaf = path.rsplit(".", 1)[-1]
    if isinstance(v, Mapping) and "dist" in v:
        return _dist(v)
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_show(k, x)}" for k, x in v.items() if x is not None) + "}"
    if isinstance(v, list) and len(v) <= 6:
        return "[" + ", ".join(_show(leaf, x) for x in v) + "]"
    if as_number(v) is not None and (leaf in _DURATION_KEYS or leaf.endswith(("_after", "_every", "_idle", "_timeout"))):
        return format_duration(float(v))
    if as_number(v) is not None and leaf in ("rate", "base", "peak", "tps"):
        return rate_text(v)
    return json.dumps(v) if isinstance(v, (Mapping, list)) else str(v)



def _diff(a: Any, b: Any, prefix: str, out: list[str]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in list(a) + [k for k in b if k not in a]:
            if k == "sweep":
                continue
            _diff(a.get(k), b.get(k), f"{prefix}{k}.", out)
    elif a != b:
        path = prefix[:-1]
        out.append(f"`{path}`: {_show(path, a)} → {_show(path, b)}")



def assumption_lines(summary: Mapping[str, Any] | None, data: Mapping[str, Any] | None, origin: str | None,
                 source: str | None, directory: Path | None, sweep_meta: Mapping[str, Any] | None = None,
                 skip_diff: bool = False, slo_note: str = "") -> list[str]:
    out = []
    s = summary or {}
    if data:
        out.append(f"Simulated {format_duration(data['duration'])} per replication; requests created in the first "
                   f"{format_duration(data.get('warmup') or 0)} (warm-up) are left out of every statistic.")
        arrivals = [f"`{name}` {_arrivals(pr)}" for name, pr in (data.get("producers") or {}).items()]
        if arrivals:
            out.append("Arrivals are open-loop (clients do not wait for each other): " + "; ".join(arrivals) + ".")
    if sweep_meta:
        reps = sweep_meta.get("replications")
        seeds = sweep_meta.get("seeds")
        out.append(f"Each point ran {reps} replication(s); seeds {seeds}"
                   + (" (every point uses the scenario's seed, so points differ only in what is varied)" if seeds == "common" else "")
                   + ".")
        if sweep_meta.get("partial"):
            out.append(f"The sweep was interrupted: {sweep_meta.get('finished')} of {sweep_meta.get('points')} points ran.")
    elif s:
        method = s.get("ci_method")
        reps = s.get("replications")
        if method == "batch_means":
            out.append(f"One replication (seed {s.get('seed')}): 95% {interval_method(method, reps)}")
        else:
            out.append(f"{reps} independent replications (seed {s.get('seed')}): 95% {interval_method(method, reps)}")
    if slo_note:
        out.append(slo_note)
    out.append("Percentiles are pooled over replications. An SLO limit is met when the figure's whole 95% "
               "interval is at or below it, not met when the interval is wholly above it, and borderline when "
               "the interval contains the limit (or the run had too few samples for one); `--precision` adds "
               "replications until it is settled.")
    changed = _overrides(data, source, directory)
    if changed:
        out.append(f"This result was run with settings that differ from `{source}`: " + "; ".join(changed) + ".")
    if origin and origin not in ("scenario.json", "the run"):
        out.append(f"The result stores no scenario, so the scenario shown is read from `{origin}` as it is now"
                   + (", with the duration, warm-up, seed and replications the result records" if skip_diff else "")
                   + "; other `--set` overrides used when the result was made are not known.")
    out.append("Only what the scenario describes is modelled: the brokers' delivery semantics, capacities, "
               "delivery latency, retries and worker service times. Network, serialization and broker CPU costs "
               "appear only through the delivery latency given.")
    out += [f"Warning from the run: {w}" for w in s.get("warnings") or []]
    return out



def _generated() -> datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (reproducible output: regenerated samples do not churn)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), UTC)
    return datetime.now(UTC)



def meta_rows(source: Any, seed: Any, reps: Any, version: Any, path: Path | None) -> list[tuple[str, str]]:
    out = []
    if source:
        out.append(("scenario file", str(source)))
    if path is not None:
        out.append(("result", path.name))
    if seed is not None:
        out.append(("seed", str(seed)))
    if reps is not None:
        out.append(("replications", str(reps)))
    out.append(("queuesim", str(version or __version__)))
    out.append(("generated", _generated().strftime("%Y-%m-%d %H:%M UTC")))
    return out
