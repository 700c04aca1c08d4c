"""What limits a design, chosen from its measured figures by small tested rules: ``summary.json``'s ``diagnosis``.

Each rule is a function of the :class:`Evidence` (the summary, the time series, the resolved
scenario and the SLO limits) that returns the findings it sees, each a cause with the figure that
shows it (:class:`queuesim.figures.Finding`). :func:`diagnose` runs them in :data:`RULES` order,
most fundamental cause first: a limit no design change can meet, then the states that feed
themselves (a retry storm), then what one component does to the others (back pressure, a
visibility timeout, faults), then plain lack of capacity. Every threshold is a named constant
with the reason for its value.

The rules read numbers only; the scenario (as ``Scenario.to_dict()`` or ``scenario.json`` hold
it: seconds and per second) supplies the topology (which pool reads which queue, where a pool
publishes) and the settings a figure is compared with (a visibility timeout, a capacity). A rule
whose evidence is missing (no time series, no scenario) finds nothing rather than guessing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from queuesim import theory
from queuesim.figures import (
    PERCENTILES,
    Finding,
    Kind,
    format_figure,
    latency_parts,
    value_or_none,
)
from queuesim.metrics.derive import Derived
from queuesim.records import RunRecord

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BUSY", "STORM_RATIO", "CALM_RATIO", "TAIL_FRACTION", "SPIKE_MARGIN", "SPIKE_SMOOTHING", "FULL",
    "FLOOR_MARGIN", "LOAD_STEP", "BROKER_CAUSES", "WORKER_CAUSES",
    "TimeSeries", "Evidence", "RULES", "diagnose", "offered_ratios",
    "slo_floor", "bistable", "retry_storm", "back_pressure", "visibility_timeout", "broker_faults",
    "worker_faults", "faults", "load_spike", "saturation",
]

#: Utilization at or above which a pool is reported saturated. Past it an M/M/c wait grows as
#: 1/(1 − ρ): from ρ = 0.85 to 0.935 (10% more load) 1/(1 − ρ) goes from 6.7 to 15, so the wait
#: more than doubles for a small rise in load.
BUSY = 0.85
#: Offered load (publish attempts, retries included) over the base load from which retries are
#: reported as a retry storm: every second request, on average, is sent again.
STORM_RATIO = 1.5
#: A replication whose offered / base ratio stays below this did not storm (retries of the odd
#: 503 or timeout add a few percent); one at or above :data:`STORM_RATIO` did. Replications on
#: both sides make the point bistable.
CALM_RATIO = 1.2
#: Share of the measurement window, at its end, in which a storm must still hold to be called
#: persistent (metastable): long after a spike in any scenario whose spike ends mid-run.
TAIL_FRACTION = 0.25
#: Arrivals above capacity by this factor, averaged over :data:`SPIKE_SMOOTHING`, make a load
#: spike: Poisson noise over 5 s at a few hundred per second is a few percent, far below 10%.
SPIKE_MARGIN = 1.1
#: Seconds the arrival rate is averaged over before it is compared with capacity.
SPIKE_SMOOTHING = 5.0
#: Mean depth over capacity from which a downstream queue is full enough to hold its upstream
#: workers (back pressure): a queue that full has no room most of the time.
FULL = 0.9
#: A latency limit at most this factor above the same statistic of the service time alone is at
#: the service-time floor: queueing and broker latency only add to it, so no worker count meets it.
FLOOR_MARGIN = 1.05
#: The load increase for which the Erlang-C growth of the wait is quoted.
LOAD_STEP = 0.10
#: Loss causes that are the broker's (``summary.losses``) and those that are the workers'.
BROKER_CAUSES = ("broker_restart", "overflow", "eviction", "no_subscriber")
WORKER_CAUSES = ("worker_crash", "failure")

#: The time series as the rules read it: ``timeseries.csv`` as a DataFrame, or its columns as arrays
#: (:func:`queuesim.metrics.timeseries.timeseries_columns`, a streamed run's): a run needs no pandas for it.
TimeSeries = Union[Mapping[str, Any], "pd.DataFrame"]


@dataclass(frozen=True)
class Evidence:
    """What the rules read.

    Attributes
    ----------
    summary : mapping
        ``summary.json`` (the :class:`queuesim.figures.Summary` structure).
    timeseries : DataFrame or mapping of arrays, optional
        ``timeseries.csv`` of the same run (:func:`queuesim.metrics.timeseries`), or its columns.
    scenario : mapping, optional
        The resolved scenario as ``Scenario.to_dict()`` gives it (durations in seconds).
    limits : mapping
        SLO limits by summary path, in summary units.
    offered_ratios : sequence of float or None
        Per replication, offered load over base load (:func:`offered_ratios`).
    """

    summary: Mapping[str, Any]
    timeseries: TimeSeries | None = None
    scenario: Mapping[str, Any] | None = None
    limits: Mapping[str, float] = field(default_factory=dict)
    offered_ratios: Sequence[float | None] = ()

    def value(self, path: str) -> float | None:
        """The finite number at a summary path, None where there is none."""
        return _number(value_or_none(self.summary, path))

    @property
    def span(self) -> float:
        """Measured seconds, summed over replications."""
        return (self.value("window") or 0.0) * max(1.0, self.value("replications") or 1.0)

    def pools(self) -> dict[str, Mapping[str, Any]]:
        """The summary's pools."""
        return {n: w for n, w in (self.summary.get("workers") or {}).items() if isinstance(w, Mapping)}

    def readers(self, queue: str) -> list[str]:
        """Pools that take work from ``queue`` (every pool when the scenario is unknown)."""
        workers = (self.scenario or {}).get("workers")
        if not isinstance(workers, Mapping):
            return list(self.pools())
        return [n for n, w in workers.items() if isinstance(w, Mapping) and w.get("from") == queue]

    def entry_queues(self) -> list[str]:
        """Queues the producers publish to (every queue when the scenario is unknown)."""
        producers = (self.scenario or {}).get("producers")
        if not isinstance(producers, Mapping):
            return list(self.summary.get("queues") or {})
        return list(dict.fromkeys(str(p.get("to")) for p in producers.values() if isinstance(p, Mapping)))

    def capacity(self, pool: str) -> float | None:
        """Processings per second a pool finishes when always busy: its rate over its utilization.

        From the summary alone: the pool finished ``completed`` processings in ``span`` seconds
        while busy a fraction ``utilization`` of the time.
        """
        w = self.pools().get(pool) or {}
        u, done = _number(w.get("utilization")), _number(w.get("completed"))
        if not u or not done or not self.span:
            return None
        return done / self.span / u

    def entry_capacity(self) -> float | None:
        """Processings per second of the pools reading the producers' queues, None if unknown."""
        caps = [self.capacity(p) for q in self.entry_queues() for p in self.readers(q)]
        known = [c for c in caps if c is not None]
        return sum(known) if known and len(known) == len(caps) else None


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool | str):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _show(kind: Kind, v: float | None) -> str:
    return format_figure(kind, v, "report")


def _finding(cause: str, figure: str, value: float | None, message: str) -> Finding:
    return {"cause": cause, "figure": figure, "value": value, "message": message}


# --------------------------------------------------------------------------------------------
# The time series, reduced to what the rules ask of it.


@dataclass(frozen=True)
class _Series:
    """The measurement window's buckets: start times, widths, new requests and publish attempts."""

    start: np.ndarray
    width: np.ndarray
    produced: np.ndarray
    offered: np.ndarray

    @property
    def end(self) -> float:
        return float(self.start[-1] + self.width[-1])


def _window_series(ev: Evidence) -> _Series | None:
    ts = ev.timeseries
    if ts is None or not {"time", "produced", "offered"} <= set(ts.keys()):
        return None
    start = np.asarray(ts["time"], dtype=float)
    if start.size < 2:
        return None
    duration = ev.value("duration") or float(start[-1] + (start[-1] - start[-2]))
    width = np.diff(np.append(start, max(duration, float(start[-1]))))
    keep = width > 0
    if "warmup" in ts:
        keep &= ~np.asarray(ts["warmup"], dtype=bool)
    if np.count_nonzero(keep) < 2:
        return None
    return _Series(start[keep], width[keep], np.asarray(ts["produced"], dtype=float)[keep],
                   np.asarray(ts["offered"], dtype=float)[keep])


@dataclass(frozen=True)
class _Spike:
    start: float
    end: float
    peak: float
    capacity: float


def _spike(ev: Evidence) -> _Spike | None:
    """The longest stretch of arrivals above the producers' pools' capacity, if it is a spike.

    The arrival rate is averaged over :data:`SPIKE_SMOOTHING` seconds; a stretch counts above
    :data:`SPIKE_MARGIN` × capacity. Over-capacity time of more than half the window is no spike
    but a design short of capacity, which :func:`saturation` reports.
    """
    s, capacity = _window_series(ev), ev.entry_capacity()
    if s is None or capacity is None:
        return None
    # np.convolve's "same" output is as long as the longer input: the kernel never exceeds the series
    n = min(len(s.width), max(1, round(SPIKE_SMOOTHING / float(np.median(s.width)))))
    kernel = np.ones(n)
    rate = np.convolve(s.produced, kernel, "same") / np.convolve(s.width, kernel, "same")
    over = rate > capacity * SPIKE_MARGIN
    if not over.any() or float(s.width[over].sum()) > 0.5 * float(s.width.sum()):
        return None
    # the longest run of consecutive buckets above the threshold
    edges = np.flatnonzero(np.diff(np.concatenate([[0], over.astype(np.int8), [0]])))
    runs = list(zip(edges[::2], edges[1::2], strict=True))
    a, b = max(runs, key=lambda r: float(s.width[r[0]:r[1]].sum()))
    return _Spike(float(s.start[a]), float(s.start[b - 1] + s.width[b - 1]), float(rate[a:b].max()), capacity)


def _seconds(t: float) -> str:
    """A time or span of a run in whole seconds (``12 s``, ``1,200 s``), as the time series' axis shows it."""
    return f"{t:,.0f} s"


def _spike_text(sp: _Spike) -> str:
    return f"arrivals peaked at {_show('rate', sp.peak)} for about {_seconds(sp.end - sp.start)} from t = {_seconds(sp.start)}"


# --------------------------------------------------------------------------------------------
# The rules, in the order diagnose() runs them.


def slo_floor(ev: Evidence) -> list[Finding]:
    """A latency limit at or just above the service time's own statistic: no worker count meets it.

    End-to-end latency (and a waiting client's response, with one pool) contains at least one
    processing, so its p99 cannot be below the p99 of the service time alone; a limit within
    :data:`FLOOR_MARGIN` of that floor leaves no room for any wait or broker latency.
    """
    out: list[Finding] = []
    for path, limit in ev.limits.items():
        parts = latency_parts(path)
        if parts is None or parts[0] not in ("end_to_end", "response") or parts[1] == "max":
            continue
        kind, stat = parts
        if kind == "response" and len(ev.pools()) != 1:
            continue  # a client waits for its first stage only: another pool's service is no floor
        floor = ev.value(f"latency.service.{stat}")
        if floor is None or limit > floor * FLOOR_MARGIN:
            continue
        name = "mean" if stat == "mean" else f"p{PERCENTILES[stat]:g}"
        out.append(_finding(
            "slo_floor", f"latency.service.{stat}", floor,
            f"the service-time floor: the SLO {path} ≤ {_show('duration', limit)} leaves no room, processing alone has "
            f"{name} {_show('duration', floor)}, so no worker count can meet it (faster processing or a looser "
            f"limit can)"))
    return out


def bistable(ev: Evidence) -> list[Finding]:
    """Replications that disagree: some stormed (offered ≥ :data:`STORM_RATIO` × base), some stayed calm.

    Pooled figures then average two different states, and the point's outcome depends on luck.
    """
    ratios = [r for r in ev.offered_ratios if r is not None]
    stormed = [r for r in ratios if r >= STORM_RATIO]
    calm = [r for r in ratios if r < CALM_RATIO]
    if not stormed or not calm:
        return []
    return [_finding(
        "bistable", "rates.offered", len(stormed) / len(ratios),
        f"a bistable load: {len(stormed)} of {len(ratios)} replications went into a retry storm (offered up to "
        f"{max(stormed):.1f}× the base load) and {len(calm)} did not ({min(calm):.2f}×): at this load the "
        f"outcome depends on chance, and the pooled figures average both states")]


def retry_storm(ev: Evidence) -> list[Finding]:
    """Offered load well above the base load: retries multiply the work (a storm), metastable when it lasts.

    Metastable: the storm still holds in the last :data:`TAIL_FRACTION` of the window although the
    producers' pools could serve the base load (Bronson et al., HotOS 2021): the retries, not the
    arrivals, sustain it.
    """
    offered, base = ev.value("rates.offered"), ev.value("rates.base_load")
    if offered is None or not base or offered < STORM_RATIO * base:
        return []
    ratio = offered / base
    text = (f"offered load {_show('rate', offered)} (publish attempts, retries included) is {ratio:.1f}× "
            f"the base load of {_show('rate', base)}")
    s = _window_series(ev)
    if s is None:
        return [_finding("retry_storm", "rates.offered", offered, f"a retry storm: {text}")]
    tail = s.start >= s.end - TAIL_FRACTION * float(s.width.sum())
    produced = float(s.produced[tail].sum())
    tail_ratio = float(s.offered[tail].sum()) / produced if produced else math.inf
    capacity = ev.entry_capacity()
    if tail_ratio >= STORM_RATIO and (capacity is None or base < capacity):
        tail_start = s.end - TAIL_FRACTION * float(s.width.sum())
        sp = _spike(ev)
        after = f", long after the load spike ({_spike_text(sp)})" if sp is not None and sp.end < tail_start else ""
        serves = "" if capacity is None else f"; the workers could serve the base load ({_show('rate', capacity)}), so"
        return [_finding(
            "metastable", "rates.offered", offered,
            f"a retry storm, metastable: {text} and still {tail_ratio:.1f}× in the last "
            f"{_seconds(s.end - tail_start)} of the run{after}{serves or ':'} the retries sustain "
            f"the overload")]
    how = "it still held at the end" if tail_ratio >= STORM_RATIO else f"it had subsided by the end ({tail_ratio:.2f}×)"
    return [_finding("retry_storm", "rates.offered", offered, f"a retry storm: {text}; {how}")]


def back_pressure(ev: Evidence) -> list[Finding]:
    """A downstream queue full (mean depth ≥ :data:`FULL` × capacity): its writers hold finished work and stall."""
    workers = (ev.scenario or {}).get("workers")
    queues = (ev.scenario or {}).get("queues")
    if not isinstance(workers, Mapping) or not isinstance(queues, Mapping):
        return []
    out: list[Finding] = []
    for queue in dict.fromkeys(w.get("to") for w in workers.values() if isinstance(w, Mapping) and w.get("to")):
        capacity = _number((queues.get(queue) or {}).get("capacity"))
        depth = ev.value(f"queues.{queue}.mean_depth")
        if not capacity or depth is None or depth < FULL * capacity:
            continue
        writers = [f"`{n}`" for n, w in workers.items() if isinstance(w, Mapping) and w.get("to") == queue]
        upstream = [str(w.get("from")) for w in workers.values() if isinstance(w, Mapping) and w.get("to") == queue]
        readers = ev.readers(str(queue))
        busy = ", ".join(f"`{r}` {_show('fraction', ev.value(f'workers.{r}.utilization'))} busy" for r in readers)
        held = "; ".join(
            f"`{q}` reached {_show('count', ev.value(f'queues.{q}.max_depth'))} waiting"
            + (f" and answered {_show('count', rej)} publishes with 503" if (rej := ev.value(f"queues.{q}.rejected")) else "")
            for q in dict.fromkeys(upstream))
        out.append(_finding(
            "back_pressure", f"queues.{queue}.mean_depth", depth,
            f"back pressure from `{queue}`: it held {_show('number', depth)} of its {_show('count', capacity)} "
            f"places on average ({depth / capacity:.0%} full), so {', '.join(writers)} waited for room; {held}. "
            f"The stage reading it is the bottleneck ({busy or 'no pool reads it'})"))
    return out


def visibility_timeout(ev: Evidence) -> list[Finding]:
    """Duplicates at a queue whose visibility timeout (SQS) or claim idle time (Redis streams) is below the service p99.

    A processing that outlasts the timeout is delivered again while it still runs.
    """
    queues = (ev.scenario or {}).get("queues")
    if not isinstance(queues, Mapping):
        return []
    service = {s: ev.value(f"latency.service.{s}") for s in PERCENTILES}
    p99 = service.get("p99")
    out: list[Finding] = []
    for name, q in queues.items():
        if not isinstance(q, Mapping):
            continue
        if q.get("broker") == "sqs":
            timeout, what = _number(q.get("visibility_timeout")), "visibility timeout"
        elif q.get("broker") == "redis" and q.get("mode") == "stream":
            timeout, what = _number(q.get("min_idle")), "claim idle time (min_idle)"
        else:
            continue
        duplicates = ev.value(f"queues.{name}.duplicates")
        if timeout is None or p99 is None or not duplicates or timeout >= p99:
            continue
        # the lowest percentile of the service time above the timeout bounds the share outlasting it
        above = next((s for s in PERCENTILES if (v := service.get(s)) is not None and v > timeout), "p99")
        share = format_figure("fraction", 1 - PERCENTILES[above] / 100, "report")
        out.append(_finding(
            "visibility_timeout", "rates.duplicate", ev.value("rates.duplicate"),
            f"duplicates from a {what} below the service time: `{name}` hides a message for "
            f"{_show('duration', timeout)} but processing has p99 {_show('duration', p99)} "
            f"({above} {_show('duration', service[above])}: more than {share} of processings outlast it), "
            f"so {_show('count', duplicates)} processings ran twice ({_show('fraction', ev.value('rates.duplicate'))} "
            f"of messages processed); raise the timeout above the longest processing or make the work idempotent"))
    return out


def _losses(ev: Evidence, causes: Sequence[str]) -> dict[str, float]:
    losses = ev.summary.get("losses") or {}
    return {c: n for c in causes if (n := _number(losses.get(c)))}


def broker_faults(ev: Evidence) -> list[Finding]:
    """Messages the broker lost (restart, overflow, eviction, no subscriber), and scheduled faults left undrained."""
    lost = _losses(ev, BROKER_CAUSES)
    undrained = [f for f in ev.summary.get("faults") or [] if isinstance(f, Mapping) and f.get("drain_time") is None]
    if not lost and not undrained:
        return []
    parts = []
    if lost:
        parts.append("the broker lost " + ", ".join(f"{_show('count', n)} to {c.replace('_', ' ')}" for c, n in lost.items())
                     + f" ({_show('fraction', ev.value('rates.loss'))} of requests lost in all)")
    for f in undrained:
        parts.append(f"the {f.get('kind')} of `{f.get('queue')}` at t = {_seconds(float(f.get('at') or 0))} "
                     f"built a backlog of {_show('count', _number(f.get('backlog_peak')))} that had not drained by the end")
    worst = max(lost, key=lambda c: lost[c]) if lost else None
    figure, value = (f"losses.{worst}", lost[worst]) if worst else (f"queues.{undrained[0].get('queue')}.max_depth",
                                                                    ev.value(f"queues.{undrained[0].get('queue')}.max_depth"))
    return [_finding("broker_faults", figure, value, "broker faults: " + "; ".join(parts))]


def worker_faults(ev: Evidence) -> list[Finding]:
    """Messages lost with a worker (a crash, a failed handler) on a broker that does not redeliver them."""
    lost = _losses(ev, WORKER_CAUSES)
    if not lost:
        return []
    worst = max(lost, key=lambda c: lost[c])
    return [_finding(
        "worker_faults", f"losses.{worst}", lost[worst],
        "worker faults: lost " + ", ".join(f"{_show('count', n)} to {c.replace('_', ' ')}" for c, n in lost.items())
        + " (the broker removed them on receive, so nothing brings them back; an at-least-once broker would redeliver)")]


def faults(ev: Evidence) -> list[Finding]:
    """Broker and worker faults together, the one that lost more messages first (an undrained backlog
    that lost nothing ranks after any loss)."""
    lost = {"broker_faults": sum(_losses(ev, BROKER_CAUSES).values()),
            "worker_faults": sum(_losses(ev, WORKER_CAUSES).values())}
    return sorted(broker_faults(ev) + worker_faults(ev), key=lambda f: -lost[f["cause"]])


def load_spike(ev: Evidence) -> list[Finding]:
    """Arrivals above the capacity of the pools serving the producers for part of the run (a spike).

    What the spike cost is named with it: the backlog, 503s, give-ups and abandoned requests.
    """
    sp = _spike(ev)
    if sp is None:
        return []
    costs = []
    queues = ev.entry_queues()
    for q in queues:
        peak = ev.value(f"queues.{q}.max_depth")
        if peak:
            costs.append(f"`{q}` backed up to {_show('count', peak)} waiting")
    for path, what in (("rates.rejection", "of publish attempts got 503"), ("rates.gave_up", "of requests gave up"),
                       ("rates.abandoned", "of requests were abandoned by their client")):
        v = ev.value(path)
        if v:
            costs.append(f"{_show('fraction', v)} {what}")
    response = ev.value("latency.response.p99")
    if response is not None and ev.value("rates.abandoned"):
        costs.append(f"response p99 {_show('duration', response)}")
    return [_finding(
        "load_spike", "rates.base_load", ev.value("rates.base_load"),
        f"a load spike beyond capacity: {_spike_text(sp)}, above the {_show('rate', sp.capacity)} the workers can "
        f"serve" + (f"; {', '.join(costs)}" if costs else ""))]


def saturation(ev: Evidence) -> list[Finding]:
    """A pool at least :data:`BUSY` busy: utilization, headroom to saturation and the Erlang-C growth of its wait.

    Headroom is the load increase the pool can absorb before it is always busy (1/ρ − 1); Erlang C
    (M/M/c with the measured load) gives the probability that a job waits and how much the mean
    wait grows with :data:`LOAD_STEP` more load.
    """
    out: list[Finding] = []
    for name, w in ev.pools().items():
        u, count = _number(w.get("utilization")), _number(w.get("count"))
        if u is None or not count or u < BUSY:
            continue
        c = int(count)
        capacity = ev.capacity(name)
        served = "" if capacity is None else f" at {_show('rate', capacity)}"
        a = u * c
        if u >= 0.995 or a >= c:
            text = f"saturation: pool `{name}` is always busy, {_show('fraction', u)} ({c} workers){served}, no headroom"
        else:
            waits = theory.erlang_c(c, a)
            step = a * (1 + LOAD_STEP)
            growth = (f"+{LOAD_STEP:.0%} load would multiply the mean wait by "
                      f"{theory.erlang_c(c, step) * (c - a) / (waits * (c - step)):.1f}"
                      if step < c else f"+{LOAD_STEP:.0%} load would saturate it")
            text = (f"saturation: pool `{name}` is {_show('fraction', u)} busy ({c} workers): {1 / u - 1:.0%} headroom before it "
                    f"saturates{served}; Erlang C: {waits:.0%} of jobs wait, and {growth}")
        out.append(_finding("saturation", f"workers.{name}.utilization", u, text))
    return out


#: The rules in the order their findings are listed: most fundamental cause first.
RULES: tuple[Callable[[Evidence], list[Finding]], ...] = (
    slo_floor, bistable, retry_storm, back_pressure, visibility_timeout, faults, load_spike, saturation,
)


def diagnose(
    summary: Mapping[str, Any],
    timeseries: TimeSeries | None = None,
    scenario: Mapping[str, Any] | None = None,
    limits: Mapping[str, float] | None = None,
    offered_ratios: Sequence[float | None] = (),
) -> list[Finding]:
    """What limits the design, most fundamental cause first (an empty list when nothing does).

    Parameters
    ----------
    summary : mapping
        ``summary.json`` of the run.
    timeseries : DataFrame or mapping of arrays, optional
        Its ``timeseries.csv`` (or the columns): needed to tell a lasting storm from a passing one and to find spikes.
    scenario : mapping, optional
        The resolved scenario (``Scenario.to_dict()``): topology, timeouts and capacities.
    limits : mapping, optional
        SLO limits by summary path.
    offered_ratios : sequence of float or None
        Per replication offered over base load, to flag a bistable point.
    """
    ev = Evidence(summary, timeseries, scenario, dict(limits or {}), tuple(offered_ratios))
    return [finding for rule in RULES for finding in rule(ev)]


def offered_ratios(records: Sequence[RunRecord]) -> list[float | None]:
    """Each replication's offered load over its base load (``rates.offered / rates.base_load`` of that replication alone).

    Publish attempts of the window's requests (first attempts and retries) per second of window,
    as :func:`queuesim.metrics.summarize` counts them; None where the records know no base load.
    """
    out: list[float | None] = []
    for rec in records:
        d = Derived(rec)
        root = d.message_in & (rec.messages["stage"] == 0)
        attempts = float(rec.messages["attempts"][root].sum())
        base = _number(rec.extra.get("base_load"))
        window = rec.duration - rec.warmup
        out.append(attempts / window / base if base and window > 0 else None)
    return out
