"""Capacity plans: the smallest worker count (or queue capacity) that meets the SLO at a target load, beside its Erlang-C estimate.

The search brackets the answer and bisects over the integer setting, starting from the analytic
estimate, running each candidate with the scenario's replications (several candidates at once on
a parallel executor); the answer and the value below it are then re-run with more replications
and fresh random numbers to confirm it. It assumes the SLO figures improve as the setting grows,
which holds for worker counts and for a queue capacity limited on rejections.

Each candidate gets a verdict from its 95% intervals (:mod:`queuesim.experiment.slo`): met, not
met, or borderline when an interval straddles its limit. A borderline candidate gets more
replications, by the rule of :mod:`queuesim.experiment.precision`, up to ``max_replications``;
still borderline there, it counts as not meeting the SLO. The recommendation is the smallest value
whose verdict is met, so noise never decides it.

>>> import queuesim
>>> answer = queuesim.plan("scenarios/quickstart.yaml", load=2.0)     # doctest: +SKIP
>>> answer.recommended, answer.analytic_estimate.value                # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from queuesim import theory
from queuesim.errors import Problem, ScenarioError
from queuesim.experiment.cost import run_cost
from queuesim.experiment.execute import point_outputs
from queuesim.experiment.executors import default_executor, parallelism
from queuesim.experiment.grid import point_seed
from queuesim.experiment.precision import PrecisionRule, precision_rule
from queuesim.experiment.progress import Bar
from queuesim.experiment.slo import Slo, SloReport, Verdict, check_slo, merge_slo
from queuesim.experiment.sweep import run_points
from queuesim.figures import Summary, latency_parts, quantile
from queuesim.outputs import atomic_write
from queuesim.scenario import RedisQueue, Scenario, load_scenario, with_overrides
from queuesim.scenario.problems import validation_problems
from queuesim.scenario.routing import did_you_mean
from queuesim.scenario.study import scenario_data, set_path
from queuesim.version import __version__

__all__ = ["PlanResult", "Evaluation", "AnalyticEstimate", "plan", "check_plan", "parse_load", "scale_load", "LOAD_SOURCE"]

#: The ``source`` of problems with the target load or the searched setting.
LOAD_SOURCE = "--load"
SEARCH_SOURCE = "--search"
#: Bottleneck utilization at which the current design's saturation throughput is measured.
OVERLOAD = 1.5
_MAX_ROUNDS = 40

SearchKind = Literal["count", "capacity"]


def parse_load(value: float | str) -> float:
    """Read a load factor: ``2``, ``2x``, ``1.5×`` or ``150%`` of today's producer rates.

    Raises
    ------
    ScenarioError
        For anything else, or a factor that is not > 0.
    """
    factor: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        factor = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)\s*(x|×|%)?\s*", value)
        if match:
            factor = float(match[1]) / (100 if match[2] == "%" else 1)
    if factor is None or not math.isfinite(factor) or factor <= 0:
        raise ScenarioError([Problem(LOAD_SOURCE, None, "", f"expected a load factor > 0 like 2x, 1.5 or 150%, got {value!r}")])
    return factor


def _validated(data: dict[str, Any], source: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(validation_problems(error, Scenario, source=source, data=data, lines={})) from None


def scale_load(scenario: Scenario, factor: float) -> Scenario:
    """The scenario with every producer's load multiplied by ``factor`` (see :meth:`Scenario.with_load`)."""
    return scenario.with_load(factor)


def _with_setting(scenario: Scenario, path: str, value: int | None) -> Scenario:
    data = scenario_data(scenario)
    set_path(data, path, value)
    return _validated(data, SEARCH_SOURCE)


def _total_rate(scenario: Scenario) -> float:
    return math.fsum(p.mean_rate for p in scenario.producers.values())


@dataclass(frozen=True)
class Evaluation:
    """One simulated candidate: the setting, how it was run and how it did against the SLO."""

    value: int
    replications: int
    seed: int
    slo: SloReport
    summary: Summary = field(repr=False)
    confirmation: bool = False

    @property
    def verdict(self) -> Verdict:
        """The worst verdict of its limits: ``met`` only when every 95% interval is at or below its limit."""
        return self.slo.verdict

    @property
    def meets(self) -> bool:
        """Whether the verdict is met (a borderline candidate does not meet the SLO)."""
        return self.verdict == "met"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (without the whole summary)."""
        return {
            "value": self.value,
            "meets_slo": self.meets,
            "verdict": self.verdict,
            "replications": self.replications,
            "seed": self.seed,
            "confirmation": self.confirmation,
            "throughput": self.summary["rates"]["throughput"],
            "checks": [c.to_dict() for c in self.slo.checks],
            "precision": self.summary.get("precision"),
        }


@dataclass(frozen=True)
class AnalyticEstimate:
    """The closed-form answer beside the simulated one.

    ``value`` is the largest of the per-limit answers (None when no limit could be modelled);
    ``per_limit`` maps each limit to its answer, None where the model does not cover it (listed
    in ``not_modelled`` with the reason).
    """

    value: int | None
    model: str
    arrival_rate: float | None = None
    service_rate: float | None = None
    service_scv: float | None = None
    per_limit: dict[str, int | None] = field(default_factory=dict)
    not_modelled: dict[str, str] = field(default_factory=dict)
    assumptions: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "value": self.value,
            "model": self.model,
            "arrival_rate": self.arrival_rate,
            "service_rate": self.service_rate,
            "service_scv": self.service_scv,
            "per_limit": dict(self.per_limit),
            "not_modelled": dict(self.not_modelled),
            "assumptions": self.assumptions,
        }


@dataclass
class PlanResult:
    """The answer of :func:`plan`.

    ``recommended`` is the smallest value of ``search`` that met the SLO at the target load
    (None if no value up to the search limit did); ``final`` is its confirmation run.
    """

    scenario: Scenario
    target_load: float
    search: str
    current: int | None
    recommended: int | None
    confirmed: bool
    slo: Slo
    final: Evaluation | None
    evaluations: list[Evaluation]
    base_rate: float
    saturation_throughput: float | None
    saturation_throughput_analytic: float | None
    analytic_estimate: AnalyticEstimate
    cost: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    source: str | None = None

    @property
    def meets_slo(self) -> bool:
        """Whether the recommendation's verdict is met in its confirmation run."""
        return self.final is not None and self.final.meets

    @property
    def verdict(self) -> Verdict:
        """The recommendation's verdict in its confirmation run (``not met`` without a recommendation)."""
        return "not met" if self.final is None else self.final.verdict

    @property
    def target_rate(self) -> float:
        """Requests per second at the target load."""
        return self.base_rate * self.target_load

    @property
    def headroom(self) -> float | None:
        """How much more load than today the current design carries before saturating, as a fraction (0.25 = 25% more)."""
        if self.saturation_throughput is None or self.base_rate == 0:
            return None
        return self.saturation_throughput / self.base_rate - 1

    @property
    def current_meets_slo(self) -> bool | None:
        """Whether today's setting meets the SLO at the target load, if it was simulated."""
        runs = [e for e in self.evaluations if e.value == self.current]
        return runs[-1].meets if runs else None

    def to_dict(self) -> dict[str, Any]:
        """The ``plan.json`` content."""
        return {
            "queuesim_version": __version__,
            "scenario": self.scenario.name,
            "source": self.source,
            "target_load": self.target_load,
            "base_rate": self.base_rate,
            "target_rate": self.target_rate,
            "search": self.search,
            "current": {self.search: self.current},
            "current_meets_slo": self.current_meets_slo,
            "recommended": {self.search: self.recommended},
            "meets_slo": self.meets_slo,
            "verdict": self.verdict,
            "confirmed": self.confirmed,
            "slo": self.slo.limits,
            "at_recommended": self.final.to_dict() if self.final is not None else None,
            "saturation_throughput": self.saturation_throughput,
            "saturation_throughput_analytic": self.saturation_throughput_analytic,
            "headroom": self.headroom,
            "analytic_estimate": self.analytic_estimate.to_dict(),
            "cost": self.cost,
            "evaluations": [e.to_dict() for e in self.evaluations],
            "notes": list(self.notes),
        }

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``plan.json`` into ``out_dir`` (whole or not at all); return its path in a list."""
        return [atomic_write(Path(out_dir) / "plan.json", json.dumps(self.to_dict(), indent=2) + "\n")]


# ---------------------------------------------------------------------------------------------
# What is searched.


def _search_target(scenario: Scenario, search: str | None) -> tuple[str, SearchKind, str, int]:
    """(path, kind, pool or queue name, smallest allowed value)."""
    if search is None:
        first, pool = next(iter(scenario.workers.items()))
        search = f"workers.{first}.autoscale.max" if pool.autoscale is not None else f"workers.{first}.count"
    parts = search.split(".")
    if len(parts) == 3 and parts[0] == "workers" and parts[2] == "count" and parts[1] in scenario.workers:
        pool = scenario.workers[parts[1]]
        if pool.autoscale is not None or not isinstance(pool.count_spec, int):
            what = "an autoscaler sets its count: search its ceiling, " + f"workers.{parts[1]}.autoscale.max" \
                if pool.autoscale is not None else "its count is a schedule: give a fixed count to size it"
            raise ScenarioError([Problem(SEARCH_SOURCE, None, search, what)])
        return search, "count", parts[1], 1
    if (len(parts) == 4 and parts[0] == "workers" and parts[2:] == ["autoscale", "max"] and parts[1] in scenario.workers
            and scenario.workers[parts[1]].autoscale is not None):
        # the autoscaler's ceiling is the pool's count (WorkerPool.count): sized like a fixed count,
        # from the smallest ceiling its min and starting count allow
        pool = scenario.workers[parts[1]]
        assert pool.autoscale is not None
        start = pool.count_spec if isinstance(pool.count_spec, int) else 0
        return search, "count", parts[1], max(2 if pool.autoscale.policy == "lambda_sqs" else 1, pool.autoscale.min, start)
    if len(parts) == 3 and parts[0] == "queues" and parts[2] == "capacity" and parts[1] in scenario.queues:
        queue = scenario.queues[parts[1]]
        if isinstance(queue, RedisQueue) and queue.mode == "pubsub":
            raise ScenarioError([Problem(SEARCH_SOURCE, None, search, "a redis pubsub queue keeps no backlog: it has no capacity to search")])
        # from 0: no waiting room, where every broker takes a publish only when a consumer is idle
        # for it (M/M/c/c, Erlang B), so the analytic estimate and the simulation agree there too
        return search, "capacity", parts[1], 0
    choices = ([f"workers.{w}.autoscale.max" if p.autoscale is not None else f"workers.{w}.count" for w, p in scenario.workers.items()]
               + [f"queues.{q}.capacity" for q in scenario.queues])
    hint = did_you_mean(search, choices)
    raise ScenarioError([Problem(SEARCH_SOURCE, None, search, f"can search a worker count, an autoscaler's max or a queue capacity{hint or ': ' + ', '.join(choices)}")])


def _current(scenario: Scenario, kind: SearchKind, name: str) -> int | None:
    return scenario.workers[name].count if kind == "count" else scenario.queues[name].capacity


# ---------------------------------------------------------------------------------------------
# The analytic estimate.


def _smallest(good: Callable[[int], bool], start: int, limit: int) -> int | None:
    """Smallest n in [start, limit] with good(n), for good monotone (false then true); None if none."""
    if start > limit:
        return None
    if good(start):
        return start
    low, step = start, 1  # good(low) is false
    while True:
        high = min(limit, low + step)
        if good(high):
            break
        if high == limit:
            return None
        low, step = high, step * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if good(mid) else (mid, high)
    return high


def _analytic(target: Scenario, kind: SearchKind, name: str, slo: Slo, limit: int) -> AnalyticEstimate:
    queue_name = target.workers[name].source if kind == "count" else name
    readers = target.pools_reading(queue_name)
    if len(readers) != 1:
        return AnalyticEstimate(None, "none", not_modelled={p: f"{len(readers)} pools compete for queue {queue_name!r}" for p in slo})
    pool_name, pool = readers[0]
    if pool.celery is not None:
        # count is instances of concurrency processes, and prefetch keeps work in the workers: not M/M/c
        return AnalyticEstimate(None, "none", not_modelled={p: f"pool {pool_name!r} is a Celery pool (prefetch, ack timing)" for p in slo})
    queue = target.queues[queue_name]
    lam = target.arrival_rates()[queue_name]
    mean_service = pool.service.mean
    if mean_service <= 0 or lam <= 0:
        return AnalyticEstimate(None, "none", not_modelled={p: "no load or no service time" for p in slo})
    mu = 1.0 / mean_service
    delay = queue.latency.mean
    delay_constant = queue.latency.scv == 0
    single_stage = len(target.queues) == 1 and pool.to is None
    fixed_c = pool.count
    bounded = queue.capacity is not None if kind == "count" else True

    def wait_of(c: int, m: int | None) -> float:
        if m is None:
            return theory.mmc(lam, mu, c).wait if lam < c * mu else math.inf
        return theory.mmck(lam, mu, c, c + m).wait

    def block_of(c: int, m: int | None) -> float:
        return 0.0 if m is None else theory.mmck(lam, mu, c, c + m).p_block

    per_limit: dict[str, int | None] = {}
    skipped: dict[str, str] = {}
    stable = math.floor(lam / mu) + 1  # the fewest servers with lam < c mu
    m = queue.capacity
    first = 1 if bounded else stable

    def fewest_waiting(target_wait: float) -> int | None:
        return _smallest(lambda c: wait_of(c, m) <= target_wait, first, limit) if target_wait > 0 else None

    def fewest_blocking(bound: float) -> int | None:
        return _smallest(lambda c: block_of(c, m) <= bound, first, limit)

    def fewest_within(t: float, q: float) -> int | None:
        return _smallest(lambda c: theory.mmc_sojourn_cdf(lam, mu, c, t) >= q, stable, limit) if t > 0 else None

    def smallest_buffer(bound: float) -> int | None:
        return _smallest(lambda b: block_of(fixed_c, b) <= bound, 0, limit)

    for path, bound in slo.limits.items():
        if kind == "capacity":
            if path == "rates.rejection":
                per_limit[path] = smallest_buffer(bound)
            else:
                skipped[path] = "only rejections fall as a queue grows"
            continue
        latency = latency_parts(path)
        q = None if latency is None else quantile(latency[1])  # None unless a percentile
        if (path == "latency.queue_wait.mean" and single_stage) or path == f"queues.{queue_name}.mean_wait":
            per_limit[path] = fewest_waiting(bound - delay)
        elif path == "latency.end_to_end.mean" and single_stage:
            per_limit[path] = fewest_waiting(bound - delay - mean_service)
        # Percentiles use the infinite-buffer M/M/c: a finite buffer only shortens admitted waits,
        # so with a bounded queue this errs towards more workers.
        elif latency is not None and latency[0] == "queue_wait" and q is not None and single_stage and delay_constant:
            per_limit[path] = theory.min_servers_for_wait(lam, mu, max(0.0, bound - delay), q) if bound >= delay else None
        elif latency is not None and latency[0] == "end_to_end" and q is not None and single_stage and delay_constant:
            per_limit[path] = fewest_within(bound - delay, q)
        elif path == "rates.rejection":
            per_limit[path] = fewest_blocking(bound)
        elif path == f"workers.{pool_name}.utilization":
            per_limit[path] = max(1, math.ceil(lam / (mu * bound) - 1e-9)) if bound > 0 else None
        else:
            skipped[path] = "not modelled by M/M/c" if single_stage or latency is None else "end-to-end figures of a pipeline are not modelled"
    answers = [v for v in per_limit.values()]
    value = None if not answers or any(v is None for v in answers) else max(answers)  # type: ignore[type-var]
    if value is not None and kind == "count" and not bounded:
        value = max(value, stable)
    model = ("M/M/c/K" if bounded else "M/M/c") + (f" (c={fixed_c})" if kind == "capacity" else "")
    poisson = all(p.rate is not None and p.batch is None for p in target.producers.values())
    assumptions = (
        f"Poisson arrivals at {lam:.6g}/s into queue {queue_name!r}, exponential service with mean {mean_service:.6g}s "
        f"(this service has scv {pool.service.scv:.3g})"
        + ("" if poisson else "; some arrivals are not Poisson at a constant rate (a time-varying load is taken at its "
                                "mean: size for the peak with a sweep)")
        + "; retries, timeouts and downstream stages ignored"
    )
    return AnalyticEstimate(
        value=value,
        model=model,
        arrival_rate=lam,
        service_rate=mu,
        service_scv=pool.service.scv,
        per_limit=per_limit,
        not_modelled=skipped,
        assumptions=assumptions,
    )


# ---------------------------------------------------------------------------------------------
# The search.


class _Search:
    """Runs candidates of the searched setting and remembers how each did."""

    def __init__(self, target: Scenario, path: str, slo: Slo, replications: int, executor: Executor, bar: Bar,
                 next_round: float = 0.0, later: float = 0.0, rule: PrecisionRule | None = None):
        self.target, self.path, self.slo = target, path, slo
        self.replications, self.executor, self.bar = replications, executor, bar
        self.rule = rule  # settles a borderline candidate with more replications
        self.runs: dict[int, Evaluation] = {}
        self.history: list[Evaluation] = []
        # the bar's estimate of what is left, in replications: another search round while the
        # search goes on (``next_round``), then what follows it (``later``: confirmation, saturation)
        self.next_round, self.later = next_round, later

    def run(self, values: Sequence[int], *, seed: int | None = None, replications: int | None = None, confirmation: bool = False) -> dict[int, Evaluation]:
        seed = self.target.seed if seed is None else seed
        reps = replications or self.replications
        scenarios = [_with_setting(self.target, self.path, v).model_copy(update={"seed": seed}) for v in values]
        label = "confirm" if confirmation else "search"
        self.bar.update(stage=f"{label} {','.join(map(str, values))}")
        self.bar.expect(len(values) * reps + self.next_round + self.later)
        summaries, interrupted = run_points(
            scenarios, reps, executor=self.executor, progress=self.bar,
            description=f"plan {label} {self.path}={','.join(map(str, values))}",
            names=[f"{self.path}={v}" for v in values], limits=self.slo.limits,
            precision=self.rule, slo=self.slo, outputs=point_outputs(self.target),
        )
        if interrupted:
            raise KeyboardInterrupt
        out = {}
        for value, summary in zip(values, summaries, strict=True):
            assert summary is not None
            # the rule may have added replications to settle a borderline verdict
            evaluation = Evaluation(value, int(summary["replications"]), seed, check_slo(summary, self.slo), summary,
                                    confirmation)
            out[value] = evaluation
            self.history.append(evaluation)
            if not confirmation:
                self.runs[value] = evaluation
        self.bar.update(candidates=len(self.history))
        return out


def _bracket(search: _Search, guess: int, minimum: int, limit: int, slots: int, notes: list[str]) -> int | None:
    """Smallest value meeting the SLO (monotone assumption), or None if none up to ``limit``."""
    candidates = sorted({v for v in (guess - 1, guess) if minimum <= v <= limit}) or [minimum]
    for _ in range(_MAX_ROUNDS):
        search.run([v for v in candidates if v not in search.runs])
        meeting = sorted(v for v, e in search.runs.items() if e.meets)
        hi = meeting[0] if meeting else None
        lo = max([minimum - 1] + [v for v, e in search.runs.items() if not e.meets and (hi is None or v < hi)])
        if hi is not None and hi - lo == 1:
            above = sorted(v for v, e in search.runs.items() if not e.meets and v > hi)
            if above:
                notes.append(f"{search.path}={above[0]} was {search.runs[above[0]].verdict} although {hi} met the SLO: "
                             "the figures are noisy near the limit")
            return hi
        if hi is None:
            if lo >= limit:
                return None
            step = max(1, lo - minimum + 1)
            candidates = sorted({min(limit, lo + step * 2**i) for i in range(slots)})
        else:
            candidates = sorted({lo + max(1, round((hi - lo) * j / (slots + 1))) for j in range(1, slots + 1)} - {hi})
            candidates = [v for v in candidates if lo < v < hi] or [(lo + hi) // 2]
    notes.append(f"stopped after {_MAX_ROUNDS} rounds")
    meeting = sorted(v for v, e in search.runs.items() if e.meets)
    return meeting[0] if meeting else None


def _bottleneck(scenario: Scenario) -> float:
    return max(scenario.offered_load().values(), default=0.0)


def _overloaded(scenario: Scenario, rho: float) -> Scenario:
    """The design at ``OVERLOAD`` times its bottleneck's capacity, each unbounded queue given a finite buffer.

    Under overload an unbounded backlog grows for the whole run and requests created late never
    finish, so the completion rate would understate what the workers sustain; with a buffer the
    run settles into the steady state of a saturated system and its throughput is the ceiling.
    """
    overloaded = scale_load(scenario, OVERLOAD / rho)
    data = scenario_data(overloaded)
    for name, queue in data["queues"].items():
        if queue.get("capacity") is None:
            queue["capacity"] = max(50, 20 * sum(p.count for _, p in scenario.pools_reading(name)))
    try:
        return _validated(data, LOAD_SOURCE)
    except ScenarioError:  # a broker kind without a capacity setting: measure it unbounded
        return overloaded


def check_plan(
    scenario: Scenario,
    load: float | str = 2.0,
    search: str | None = None,
    slo: Slo | Mapping[str, Any] | Sequence[str] | None = None,
    *,
    source: str | None = None,
    precision: float | str | None = None,
    max_replications: int | None = None,
) -> tuple[float, Slo, tuple[str, SearchKind, str, int]]:
    """Check a plan's inputs together, before anything runs: the load, the searched path, the SLO and the precision.

    Returns
    -------
    (load factor, SLO, (path, kind, name, smallest value))

    Raises
    ------
    ScenarioError
        With every problem found.
    """
    problems: list[Problem] = []
    factor = limits = target = None
    try:
        factor = parse_load(load)
    except ScenarioError as error:
        problems += error.problems
    try:
        target = _search_target(scenario, search)
    except ScenarioError as error:
        problems += error.problems
    try:
        limits = merge_slo(scenario, slo)
        if limits is None or not len(limits):
            problems.append(Problem(source or scenario.name, None, "slo", "a plan needs an SLO: add an `slo:` section or pass --slo latency.end_to_end.p99=500ms"))
    except ScenarioError as error:
        problems += error.problems
    try:
        precision_rule(scenario, precision, max_replications, settle=True)
    except ScenarioError as error:
        problems += error.problems
    if problems:
        raise ScenarioError(problems)
    assert factor is not None and limits is not None and target is not None
    return factor, limits, target


def plan(
    scenario: Scenario | str | os.PathLike[str],
    load: float | str = 2.0,
    search: str | None = None,
    *,
    slo: Slo | Mapping[str, Any] | Sequence[str] | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    replications: int | None = None,
    overrides: Sequence[str] = (),
    max_value: int | None = None,
    confirm: bool = True,
    saturation: bool = True,
    precision: float | str | None = None,
    max_replications: int | None = None,
) -> PlanResult:
    """Find the smallest worker count (or queue capacity) that meets the SLO at a target load.

    Parameters
    ----------
    scenario : Scenario, str or path-like
        The current design, with an ``slo:`` section (or pass ``slo``).
    load : float or str, default 2.0
        Target load as a multiple of every producer's rate: ``2``, ``'2x'``, ``'150%'``.
    search : str, optional
        ``workers.<pool>.count`` (default: the first pool) or ``queues.<queue>.capacity``.
    slo : Slo, mapping or sequence of str, optional
        Limits added to the scenario's (``['latency.end_to_end.p99=500ms']``).
    executor : concurrent.futures.Executor, optional
        Where candidates run; default a process pool on every core. Several candidates run at
        once when the executor runs several tasks at once.
    progress : bool, default True
        Show one bar on stderr (a terminal only): candidates simulated, and time left by an overall
        estimate that is revised as the search narrows.
    replications : int, optional
        Replications per candidate (default the scenario's, at least 2); confirmation runs use
        twice as many with fresh random numbers.
    overrides : sequence of str
        ``--set`` style changes to the scenario first.
    max_value : int, optional
        Largest value tried; default 64 times the larger of today's value and the estimate.
    confirm : bool, default True
        Re-run the answer and the value below it with more replications and fresh seeds.
    saturation : bool, default True
        Simulate the current design overloaded to measure its saturation throughput.
    precision : float or str, optional
        Also make every limited figure this precise at each candidate (``'2%'``; default the
        scenario's ``precision:``). Without it a candidate still gets more replications while its
        verdict is borderline.
    max_replications : int, optional
        Most replications a candidate grows to (default the scenario's ``precision:``, else 50).

    Returns
    -------
    PlanResult

    Raises
    ------
    ScenarioError
        For a bad scenario, load, search path or SLO, or when there is no SLO at all.
    """
    source = None
    if not isinstance(scenario, Scenario):
        source = os.fspath(scenario)
        scenario = load_scenario(source, overrides)
    elif overrides:
        scenario = with_overrides(scenario, overrides)
    factor, limits, (path, kind, name, minimum) = check_plan(scenario, load, search, slo, source=source,
                                                             precision=precision, max_replications=max_replications)
    current = _current(scenario, kind, name)
    target = scale_load(scenario, factor)
    reps = max(2, replications or scenario.replications)
    ceiling = max_value or 64 * max(current or 1, 1)
    estimate = _analytic(target, kind, name, limits, ceiling)
    if max_value is None and estimate.value is not None:
        ceiling = max(ceiling, 64 * estimate.value)
    guess = estimate.value if estimate.value is not None else (current if current is not None else minimum)
    guess = min(max(guess, minimum), ceiling)
    notes: list[str] = []

    rule = precision_rule(scenario, precision, max_replications, settle=True)
    assert rule is not None  # settle is on
    context: AbstractContextManager[Executor] = nullcontext(executor) if executor is not None else default_executor(16)
    rho = _bottleneck(scenario)
    with context as ex, Bar("plan", 0, "{task.fields[stage]}: {task.fields[candidates]} candidates done",
                            enabled=progress, candidates=0, stage="search") as bar:
        slots = max(1, parallelism(ex))
        # the estimate, in replications: rounds of `slots` candidates, then the confirmation of the
        # answer and the value below it (twice the replications) and the saturation run
        later = (4 * reps if confirm else 0) + (reps if saturation and rho > 0 else 0)
        runner = _Search(target, path, limits, reps, ex, bar, next_round=max(2, slots) * reps, later=later,
                         rule=rule)
        best = _bracket(runner, guess, minimum, ceiling, slots, notes)
        runner.next_round, runner.later = 0.0, later - (4 * reps if confirm else 0)
        final: Evaluation | None = None
        confirmed = False
        if best is not None and confirm:
            fresh = point_seed(scenario.seed, {"plan": "confirmation"})
            checks = runner.run([v for v in (best - 1, best) if v >= minimum], seed=fresh, replications=2 * reps, confirmation=True)
            final = checks[best]
            steps = 0
            while not final.meets and best < ceiling and steps < 8:
                notes.append(f"{path}={best} failed the SLO on confirmation; trying {best + 1}")
                best, steps = best + 1, steps + 1
                final = runner.run([best], seed=fresh, replications=2 * reps, confirmation=True)[best]
            confirmed = final.meets
            below = checks.get(best - 1)
            if confirmed and below is not None and below.meets and steps == 0:
                notes.append(f"{path}={best - 1} also met the SLO on confirmation: the limit sits within the noise, {best} is the safe choice")
        elif best is not None:
            final = runner.runs[best]
            confirmed = False
        if best is None:
            notes.append(f"no value of {path} up to {ceiling} meets the SLO at {factor:g}x load")
        for e in runner.history:
            if e.verdict == "borderline":
                straddling = ", ".join(c.path for c in e.slo.checks if c.verdict == "borderline")
                notes.append(f"{path}={e.value}{' (confirmation)' if e.confirmation else ''} is borderline after "
                             f"{e.replications} replications: the 95% interval of {straddling} contains the limit, "
                             "so it does not count as meeting the SLO")

        measured = analytic_saturation = None
        if rho > 0:
            analytic_saturation = _total_rate(scenario) / rho
            if saturation:
                bar.update(stage="saturation")
                bar.expect(reps)
                # streamed as the candidates are, so that its replications run on every core at once
                summaries, interrupted = run_points([_overloaded(scenario, rho)], reps, executor=ex, progress=bar,
                                                    description="plan saturation", outputs=point_outputs(scenario))
                if interrupted:
                    raise KeyboardInterrupt
                assert summaries[0] is not None
                measured = float(summaries[0]["rates"]["throughput"])

    cost = None
    if final is not None and scenario.cost is not None:
        cost = run_cost(_with_setting(target, path, best), final.summary)
    return PlanResult(
        scenario=scenario,
        target_load=factor,
        search=path,
        current=current,
        recommended=best,
        confirmed=confirmed,
        slo=limits,
        final=final,
        evaluations=runner.history,
        base_rate=_total_rate(scenario),
        saturation_throughput=measured,
        saturation_throughput_analytic=analytic_saturation,
        analytic_estimate=estimate,
        cost=cost,
        notes=notes,
        source=source,
    )
