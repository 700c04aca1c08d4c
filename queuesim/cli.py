"""The command line: parse arguments, call the API, print a compact table, write files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from queuesim import figures
from queuesim.errors import ScenarioError
from queuesim.figures import Summary

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate producers, brokers, bounded queues and worker pools before you build them.",
)
out_console = Console()
err_console = Console(stderr=True)

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario value: path=value (repeatable), e.g. workers.fulfil.count=12."),
]


def _fail(err: ScenarioError) -> None:
    for problem in err.problems:
        err_console.print(f"[bold red]error[/] {problem}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(2)


def _show(summary: Mapping[str, Any], path: str, **style: Any) -> str:
    """The summary figure at ``path`` as the CLI's tables print it (the catalogue's terminal style)."""
    return figures.spec(path).format(figures.value_or_none(summary, path), "terminal", **style)


def _ci(summary: Mapping[str, Any], path: str, **style: Any) -> str:
    ci = summary["ci95"].get(path)
    if not ci:
        return ""
    fmt = figures.spec(path)
    return f"{fmt.format(ci[0], 'terminal', **style)} … {fmt.format(ci[1], 'terminal', **style)}"


#: The latency statistics of the run table, in column order.
_LATENCY_COLUMNS = ("mean", "p50", "p90", "p99", "p999", "max")


def summary_tables(summary: Summary) -> list[Table]:
    """Rich tables of the headline figures of a summary."""
    head = Table(title=f"{summary['scenario']} — {summary['replications']} replication(s), "
                       f"window {summary['window']:g} s", title_justify="left")
    head.add_column("figure")
    head.add_column("value", justify="right")
    head.add_column("95% CI", justify="right", style="dim")

    def counted(count: str, rate: str) -> str:  # "1,234 (0.123%)"
        return f"{_show(summary, count)} ({_show(summary, rate)})"

    head.add_row("produced", _show(summary, "messages.produced"), "")
    head.add_row("completed", _show(summary, "messages.completed"), "")
    head.add_row("throughput", _show(summary, "rates.throughput"), _ci(summary, "rates.throughput", unit=False))
    head.add_row("503 rejections", counted("messages.rejected", "rates.rejection"), _ci(summary, "rates.rejection"))
    head.add_row("gave up", counted("messages.gave_up", "rates.gave_up"), "")
    head.add_row("lost", counted("messages.lost", "rates.loss"), "")
    head.add_row("duplicates", counted("messages.duplicates", "rates.duplicate"), "")
    head.add_row("dead-lettered", _show(summary, "messages.dead_lettered"), "")
    head.add_row("in flight at end", _show(summary, "messages.in_flight"), "")

    lt = Table(title="latency", title_justify="left")
    lt.add_column("")
    for col in _LATENCY_COLUMNS:
        lt.add_column(col, justify="right")
    for kind, label in figures.LATENCY_LABELS.items():
        if not figures.value_or_none(summary, figures.latency_path(kind, "count")):
            continue
        lt.add_row(label, *(_show(summary, figures.latency_path(kind, c)) for c in _LATENCY_COLUMNS))

    qt = Table(title="queues", title_justify="left")
    for col in ("queue", "mean depth", "max depth", "mean wait", "503s", "redelivered", "DLQ"):
        qt.add_column(col, justify="left" if col == "queue" else "right")
    for name in summary["queues"]:
        qt.add_row(name, *(_show(summary, f"queues.{name}.{figure}")
                           for figure in ("mean_depth", "max_depth", "mean_wait", "rejected", "redeliveries", "dead_lettered")))
    wt = Table(title="workers", title_justify="left")
    for col in ("pool", "workers", "utilization", "processed"):
        wt.add_column(col, justify="left" if col == "pool" else "right")
    for name in summary["workers"]:
        wt.add_row(name, _show(summary, f"workers.{name}.count"), _show(summary, f"workers.{name}.utilization", decimals=1),
                   _show(summary, f"workers.{name}.completed"))
    return [head, lt, qt, wt]


class OutputsChoice(StrEnum):
    """What ``run`` keeps and writes."""

    full = "full"
    summary = "summary"


MaxEventsOpt = Annotated[
    int | None,
    typer.Option("--max-events", min=0, show_default=False,
                 help="Refuse a run estimated to need more simulation events (default: half this machine's memory; 0: no limit)."),
]


@app.command()
def run(
    scenario: ScenarioArg,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<scenario stem>/).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="Override the number of replications.")] = None,
    plots: Annotated[bool, typer.Option(help="Write the PNG plots.")] = True,
    max_events: MaxEventsOpt = None,
    outputs: Annotated[OutputsChoice | None, typer.Option(
        "--outputs", help="full: every record (parquet, plots); summary: streamed statistics only (summary.json, "
        "scenario.json, timeseries.csv), in memory that does not grow with the run (default: the scenario's outputs).",
        show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Run a scenario and write summary.json, messages.parquet, timeseries.csv and plots."""
    from queuesim.api import run as run_scenario
    from queuesim.experiment.budget import BudgetError

    try:
        result = run_scenario(scenario, seed=seed, replications=replications, overrides=set_ or (),
                              max_events=max_events, outputs=outputs.value if outputs is not None else None)
    except ScenarioError as err:
        _fail(err)
        return
    except BudgetError as err:
        err_console.print(f"[bold red]error[/] {escape(str(scenario))}: {escape(str(err))}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(2) from None
    for w in result.warnings:
        err_console.print(f"[bold yellow]warning[/] {w}", highlight=False, soft_wrap=True)
    out_dir = out or Path("reports") / scenario.stem
    written = result.save(out_dir, plots=plots)
    if not quiet:
        for table in summary_tables(result.summary):
            out_console.print(table)
        out_console.print(f"wrote {len(written)} files to [bold]{out_dir}[/]", highlight=False)


@app.command()
def validate(scenario: ScenarioArg, set_: SetOpt = None) -> None:
    """Check a scenario file without running it."""
    from queuesim.scenario import load_scenario

    try:
        sc = load_scenario(scenario, set_ or ())
    except ScenarioError as err:
        _fail(err)
        return
    from queuesim.experiment.budget import default_max_events, estimate

    loads = ", ".join(f"{q} ρ={rho:.2f}" for q, rho in sc.offered_load().items())
    out_console.print(f"[green]ok[/] {escape(str(scenario))}: {len(sc.producers)} producer(s), {len(sc.queues)} queue(s), "
                      f"{len(sc.workers)} worker pool(s); offered load {loads}", highlight=False, soft_wrap=True)
    cost = estimate(sc)
    out_console.print(f"estimate: {cost}", highlight=False, soft_wrap=True)
    if cost.events > default_max_events():
        err_console.print("[bold yellow]warning[/] above this machine's limit: `queuesim run` will refuse it "
                          "unless given --max-events", highlight=False)
    for q in sc.unstable_queues():
        err_console.print(f"[bold yellow]warning[/] queue '{q}' is unstable (offered load ≥ 1, unbounded)")


# --- sweep and plan ------------------------------------------------------------------------------


class ExecutorChoice(StrEnum):
    """Where sweep points and plan candidates run."""

    process = "process"
    serial = "serial"
    dask = "dask"


VaryOpt = Annotated[
    list[str] | None,
    typer.Option("--vary", help="Vary a scenario value: path=values (repeatable): 4..16 (integers), "
                 "200/s..2000/s:10 (10 evenly spaced), a,b,c (a list)."),
]
SloOpt = Annotated[
    list[str] | None,
    typer.Option("--slo", help="Add an SLO limit: path=limit (repeatable), e.g. latency.end_to_end.p99=500ms, rates.rejection=0.1%."),
]
ExecutorOpt = Annotated[ExecutorChoice, typer.Option("--executor", help="Where points run: process (every core), serial or dask.")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Dask scheduler address, tcp://HOST:8786 (default: start a local Dask cluster)."),
]
WorkersOpt = Annotated[int | None, typer.Option("--workers", min=1, help="Processes of the pool or local Dask cluster (default: every core).")]
ProgressOpt = Annotated[bool, typer.Option(help="Show a progress bar on stderr.")]


def _fail_other(err: Exception) -> None:
    err_console.print(f"[bold red]error[/] {err}", highlight=False, markup=True, soft_wrap=True)
    raise typer.Exit(1)


def _figure(row: Any, column: str, fmt: Callable[[Any], str]) -> str:
    value = row.get(column)
    return "—" if value is None or value != value else fmt(value)


def _terminal(path: str, **style: Any) -> Callable[[Any], str]:
    """How a sweep column of a summary figure prints (the catalogue's terminal style)."""
    found = figures.spec(path)
    return lambda v: found.format(v, "terminal", **style)


def sweep_table(result: Any, limit: int = 30) -> Table:
    """A rich table of the headline columns of a sweep, one row per point."""
    table = result.table
    out = Table(title=f"sweep {result.scenario.name} — {result.finished} of {len(result.points)} point(s), "
                      f"{result.replications} replication(s) each", title_justify="left")
    axes = [a.path for a in result.axes]
    for path in axes:
        out.add_column(path, justify="right", no_wrap=True, min_width=len(path))
    columns: list[tuple[str, str, Callable[[Any], str]]] = [
        ("throughput /s", "rates.throughput", _terminal("rates.throughput", decimals=1, unit=False)),
        ("e2e mean", "latency.end_to_end.mean", _terminal("latency.end_to_end.mean")),
        ("e2e p99", "latency.end_to_end.p99", _terminal("latency.end_to_end.p99")),
        ("503 rate", "rates.rejection", _terminal("rates.rejection"))]
    if "slo.met" in table.columns:
        columns.append(("SLO", "slo.met", lambda v: "[green]met[/]" if v else "[red]not met[/]"))
    if "cost.total_per_hour" in table.columns:
        currency = result.scenario.cost.currency if result.scenario.cost else ""
        columns.append((f"cost {currency}/h", "cost.total_per_hour", lambda v: f"{v:,.2f}"))
    for label, *_ in columns:
        out.add_column(label, justify="right", overflow="fold")
    labels = {p.index: p.labels for p in result.points}
    for row in table.head(limit).to_dict("records"):
        out.add_row(*(labels[row["point"]][path] for path in axes), *(_figure(row, col, fmt) for _, col, fmt in columns))
    if len(table) > limit:
        out.caption = f"… {len(table) - limit} more row(s) in sweep.csv"
    return out


@app.command()
def sweep(
    scenario: ScenarioArg,
    vary: VaryOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<scenario stem>-sweep/).")] = None,
    set_: SetOpt = None,
    slo: SloOpt = None,
    executor: ExecutorOpt = ExecutorChoice.process,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    replications: Annotated[int | None, typer.Option(min=1, help="Replications per point (default: the scenario's).")] = None,
    progress: ProgressOpt = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Run a grid of variants (the scenario's sweep: section and --vary) and write sweep.parquet, sweep.csv, sweep.json."""
    from queuesim.errors import QueuesimError
    from queuesim.experiment import open_executor, sweep_axes
    from queuesim.experiment import sweep as run_sweep
    from queuesim.experiment.slo import merge_slo
    from queuesim.scenario import load_scenario

    try:
        sc = load_scenario(scenario, set_ or ())
        axes = sweep_axes(sc, vary)  # every bad --vary is reported before an executor starts
        merge_slo(sc, slo)
        points = 1
        for axis in axes:
            points *= len(axis)
        with open_executor(executor.value, workers=workers, scheduler=scheduler, tasks=points) as ex:
            result = run_sweep(sc, vary, executor=ex, progress=progress and not quiet, replications=replications, slo=slo)
    except ScenarioError as err:
        _fail(err)
        return
    except QueuesimError as err:
        _fail_other(err)
        return
    result.source = str(scenario)
    out_dir = out or Path("reports") / f"{scenario.stem}-sweep"
    written = result.save(out_dir)
    if not quiet:
        out_console.print(sweep_table(result))
        out_console.print(f"wrote {len(written)} files to [bold]{out_dir}[/]", highlight=False)
    for index, message in sorted(result.errors.items()):
        err_console.print(f"[bold red]error[/] point {index} ({escape(result.points[index].describe())}): "
                          f"{escape(message)}", highlight=False)
    if result.partial:
        why = f"{len(result.errors)} point(s) failed" if result.errors else "interrupted"
        err_console.print(f"[bold yellow]{why}[/]: kept {result.finished} of {len(result.points)} points "
                          f"(the table is marked partial)", highlight=False)
        interrupted = result.finished + len(result.errors) < len(result.points)
        raise typer.Exit(130 if interrupted else 1)


def plan_report(result: Any) -> list[Any]:
    """Rich renderables that answer the capacity question readably."""
    from queuesim.figures import format_figure

    d = result.to_dict()
    path = result.search
    head = Table(title=f"capacity plan: {result.scenario.name} at {result.target_load:g}× load "
                       f"({result.target_rate:,.1f} requests/s)", title_justify="left", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    if result.recommended is None:
        head.add_row("recommended", f"[red]none[/]: no {path} up to the search limit meets the SLO")
    else:
        verdict = "[green]meets the SLO[/]" if result.meets_slo else "[red]does not meet the SLO[/]"
        how = f", confirmed with {result.final.replications} fresh replications" if result.confirmed else ""
        head.add_row("recommended", f"{path} = [bold]{result.recommended}[/] (today {result.current}) — {verdict}{how}")
    est = result.analytic_estimate
    if est.value is not None:
        head.add_row("Erlang C estimate", f"{path} = {est.value} ({est.model}; {est.assumptions})")
    else:
        why = "; ".join(f"{k}: {v}" for k, v in est.not_modelled.items()) or "no limit has a closed form"
        head.add_row("Erlang C estimate", f"— ({why})")
    if result.saturation_throughput is not None or result.saturation_throughput_analytic is not None:
        measured = result.saturation_throughput
        analytic = result.saturation_throughput_analytic
        text = (f"today's design saturates at {measured:,.1f}/s" if measured is not None else "today's design saturates")
        if analytic is not None:
            text += f" (analytic {analytic:,.1f}/s)"
        if result.headroom is not None:
            text += f": headroom {result.headroom:+.0%} over today's {result.base_rate:,.1f}/s"
        head.add_row("saturation", text)
    if result.cost is not None:
        c = result.cost
        head.add_row("cost", f"{c['total_per_hour']:,.2f} {c['currency']}/h ({c['total_per_month']:,.0f} {c['currency']}/month): "
                             f"workers {c['workers_per_hour']:,.2f}/h, broker {c['broker_per_hour']:,.2f}/h")
    renderables: list[Any] = [head]
    if result.final is not None:
        checks = Table(title=f"SLO at {path} = {result.recommended} ({result.final.replications} replications)", title_justify="left")
        for col in ("figure", "limit", "simulated", "95% CI", ""):
            checks.add_column(col, justify="left" if col == "figure" else "right")
        for c in result.final.slo.checks:
            ci = "" if c.ci95 is None else f"{format_figure(c.kind, c.ci95[0])} … {format_figure(c.kind, c.ci95[1])}"
            checks.add_row(c.path, format_figure(c.kind, c.limit), format_figure(c.kind, c.value), ci,
                           "[green]met[/]" if c.met else "[red]not met[/]")
        renderables.append(checks)
    tried = " ".join(f"{e['value']}{'✓' if e['meets_slo'] else '✗'}{'ᶜ' if e['confirmation'] else ''}" for e in d["evaluations"])
    renderables.append(f"[dim]simulated {path}: {tried}  (ᶜ confirmation run)[/]")
    for note in result.notes:
        renderables.append(f"[yellow]note[/] {note}")
    return renderables


@app.command()
def plan(
    scenario: ScenarioArg,
    load: Annotated[str, typer.Option("--load", help="Target load as a multiple of today's producer rates: 2x, 1.5, 150%.")] = "2x",
    search: Annotated[str | None, typer.Option("--search", help="What to size: workers.<pool>.count or queues.<queue>.capacity "
                                               "(default: the first pool's count).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<scenario stem>-plan/).")] = None,
    set_: SetOpt = None,
    slo: SloOpt = None,
    executor: ExecutorOpt = ExecutorChoice.process,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    replications: Annotated[int | None, typer.Option(min=1, help="Replications per candidate (default: the scenario's, at least 2).")] = None,
    max_value: Annotated[int | None, typer.Option("--max", min=1, help="Largest value to try.")] = None,
    progress: ProgressOpt = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Find the smallest worker count (or queue capacity) meeting the SLO at a target load; write plan.json."""
    from queuesim.errors import QueuesimError
    from queuesim.experiment import open_executor
    from queuesim.experiment.plan import check_plan
    from queuesim.experiment.plan import plan as make_plan
    from queuesim.scenario import load_scenario

    try:
        sc = load_scenario(scenario, set_ or ())
        check_plan(sc, load, search, slo, source=str(scenario))  # every bad input is reported before an executor starts
        with open_executor(executor.value, workers=workers, scheduler=scheduler) as ex:
            result = make_plan(sc, load, search, slo=slo, executor=ex, progress=progress and not quiet,
                               replications=replications, max_value=max_value)
    except ScenarioError as err:
        _fail(err)
        return
    except QueuesimError as err:
        _fail_other(err)
        return
    result.source = str(scenario)
    out_dir = out or Path("reports") / f"{scenario.stem}-plan"
    written = result.save(out_dir)
    if not quiet:
        for item in plan_report(result):
            out_console.print(item, highlight=False, soft_wrap=True)
        out_console.print(f"wrote {written[0]}", highlight=False)


@app.command()
def report(
    result: Annotated[Path, typer.Argument(help="A run or sweep output folder (queuesim run / queuesim sweep).", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder \\[default: reports/<result folder name>/].")] = None,
    plan_json: Annotated[Path | None, typer.Option("--plan", help="A plan.json to show with a sweep \\[default: plan.json in the sweep folder, if any].")] = None,
    slo: Annotated[list[str] | None, typer.Option("--slo", help="Add an SLO limit: path=limit (repeatable), e.g. latency.end_to_end.p99=500ms.")] = None,
    simulate: Annotated[bool, typer.Option(help="For a sweep, draw the queue depth over time at its peak point (from the time series the sweep kept).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Write report.html (self-contained, figures embedded) and report.md for a run or a sweep."""
    from queuesim.errors import QueuesimError
    from queuesim.report import build_report
    from queuesim.report.document import default_out_dir

    try:
        limits = None
        if slo:
            from queuesim.experiment.slo import parse_slo

            limits = parse_slo(slo).limits
        doc = build_report(result, plan=plan_json, slo=limits, simulate_peak=simulate)
    except ScenarioError as err:
        _fail(err)
        return
    except QueuesimError as err:
        err_console.print(f"[bold red]error[/] {err}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    out_dir = out or default_out_dir(result)
    written = doc.save(out_dir)
    if not quiet:
        tone, headline, _ = doc.verdict
        colour = {"ok": "green", "bad": "red", "warn": "yellow"}.get(tone, "default")
        out_console.print(f"[{colour}]{headline.replace('`', '')}[/]", highlight=False, soft_wrap=True, markup=True)
        out_console.print(f"wrote {written[0]} and {written[1].name} ({len(doc.figures)} figures)", highlight=False)

@app.command()
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="One scenario with `variants:`, or several scenario files.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<stem>-compare/).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Seed for every variant (common random numbers).")] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="Override the number of replications.")] = None,
    plots: Annotated[bool, typer.Option(help="Write compare.png.")] = True,
) -> None:
    """Run variants (brokers) side by side on the same workload and faults; print and plot the differences."""
    from queuesim.api import compare as run_compare
    from queuesim.experiment.compare import COLUMNS

    try:
        result = run_compare(scenarios, seed=seed, replications=replications, overrides=set_ or ())
    except ScenarioError as err:
        _fail(err)
        return
    table = result.table
    rt = Table(title="comparison (same seed, same workload)", title_justify="left")
    paths = dict(COLUMNS)  # table column -> summary path
    cols = [("lost", "lost", _terminal(paths["lost"])), ("loss_rate", "loss", _terminal(paths["loss_rate"])),
            ("duplicates", "dupes", _terminal(paths["duplicates"])),
            ("redeliveries", "redelivered", _terminal(paths["redeliveries"])),
            ("dead_lettered", "DLQ", _terminal(paths["dead_lettered"])),
            ("rejection_rate", "503s", _terminal(paths["rejection_rate"], decimals=2)),
            ("p50", "p50", _terminal(paths["p50"])), ("p99", "p99", _terminal(paths["p99"]))]
    rt.add_column("variant")
    rt.add_column("brokers", style="dim")
    for _, label, _f in cols:
        rt.add_column(label, justify="right")
    for name, row in table.iterrows():
        rt.add_row(str(name), str(row["brokers"]), *(_figure(row, col, fmt) for col, _label, fmt in cols))
    Console(width=max(out_console.width, 132)).print(rt)
    stem = scenarios[0].stem if len(scenarios) == 1 else "compare"
    out_dir = out or Path("reports") / f"{stem}-compare"
    written = result.save(out_dir, plots=plots)
    out_console.print(f"wrote {len(written)} files to [bold]{out_dir}[/]", highlight=False)


# --- fit: calibration from a recorded log ---------------------------------------------------------


class UnitChoice(StrEnum):
    """Time units a log's numbers can be in."""

    s = "s"
    ms = "ms"
    us = "us"


def _p(x: float) -> str:
    return "—" if x != x else f"{x:.3f}"


def fit_report(fitted: Any, what: str) -> list[Any]:
    """Rich renderables for a :class:`queuesim.calibration.DurationFit`: the data, the ranking and the notes."""
    d = fitted.describe()
    fmt = format_duration_short
    rows = Table(title=f"{what}: mean {fmt(d['mean'])}, cv {d['cv']:.3g}, p50 {fmt(d['p50'])}, "
                       f"p90 {fmt(d['p90'])}, p99 {fmt(d['p99'])}, max {fmt(d['max'])}", title_justify="left")
    for col in ("#", "family", "fitted", "KS D", "p", "AD A²", "p", "verdict"):
        rows.add_column(col, justify="left" if col in ("family", "fitted", "verdict") else "right", no_wrap=col != "verdict")
    notes: list[str] = []
    for rank, c in enumerate(fitted.candidates, start=1):
        if c.distribution is None:
            rows.add_row("", c.family, "—", "", "", "", "", "[dim]not fitted[/]")
            notes.append(f"{c.family}: {c.note}")
            continue
        verdict = "[red]rejected[/]" if c.rejected else "ok"
        if c.family == fitted.best_family:
            verdict = "[bold green]best[/]"
        elif c.note:
            notes.append(f"{c.family}: {c.note}")
        shape = "" if c.family == "exponential" else f" cv {c.distribution.scv ** 0.5:.4g}"
        rows.add_row(str(rank), c.family, f"mean {fmt(c.distribution.mean)}{shape}",
                     f"{c.ks:.4f}", _p(c.ks_p), f"{c.ad:.3f}", _p(c.ad_p), verdict)
    emp = fitted.empirical
    rows.add_row("", "empirical", f"{len(emp.samples)} quantiles", "", "", "", "",
                 "[bold green]best[/]" if fitted.best_family == "empirical" else "[dim]fallback[/]")
    out: list[Any] = [rows]
    tested = f" (on a subsample of {fitted.tested:,})" if fitted.tested < fitted.n else ""
    naive = next((c for c in fitted.candidates if c.family == fitted.best_family), None)
    contrast = (f" Here the textbook KS p-value of {naive.family} would be {naive.ks_p_naive:.3f} against "
                f"{naive.ks_p:.3f} from the bootstrap." if naive is not None else "")
    out.append(f"[dim]p-values{tested}: parametric bootstrap, {fitted.replicates} samples per family drawn from the fit "
               f"and each refitted, because parameters estimated from the same data make textbook KS/AD p-values "
               f"too large.{contrast} Rejected: Anderson–Darling p < {fitted.alpha:g}. Ranking: not rejected first, "
               f"by A² (the tails weigh most), the exponential first when its nesting families do not need their "
               f"shape parameter (likelihood ratio).[/]")
    out.extend(f"[dim]{note}[/]" for note in notes)
    out.extend(f"[bold yellow]warning[/] {w}" for w in fitted.warnings)
    out.append(f"best: [bold]{fitted.best_family}[/] — {fitted.reason}")
    return out


def format_duration_short(seconds: float) -> str:
    """A duration with 4 significant digits and its unit (``20.13ms``)."""
    from queuesim.scenario import format_duration

    return format_duration(seconds, 4)


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="A CSV file with a header row: a recorded log.", show_default=False)],
    column: Annotated[str, typer.Option("--column", "-c", help="The column to fit: durations, or arrival times with --timestamps.",
                                        show_default=False)],
    timestamps: Annotated[bool, typer.Option("--timestamps", help="The column holds arrival timestamps (numbers, or ISO-8601): "
                                             "fit the gaps between them, estimate the rate, judge whether arrivals are Poisson.")] = False,
    unit: Annotated[UnitChoice | None, typer.Option("--unit", help="Unit of the numbers (default: the column name's suffix, "
                                                    "e.g. duration_ms).")] = None,
    alpha: Annotated[float, typer.Option(min=0.001, max=0.5, help="Level of the goodness-of-fit tests.")] = 0.05,
    replicates: Annotated[int, typer.Option(min=19, help="Parametric-bootstrap samples per family for the p-values.")] = 199,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap draws.")] = 0,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Leave out empty, non-numeric or negative rows instead of failing.")] = False,
) -> None:
    """Fit exponential, lognormal, gamma, Weibull and empirical distributions to a log's column; print the scenario YAML of the best."""
    from queuesim.calibration import DataError, fit_arrivals, fit_durations, read_durations, read_timestamps

    unit_name = unit.value if unit is not None else None
    try:
        if timestamps:
            stamps = read_timestamps(data, column, unit_name, skip_invalid=skip_invalid)
            arrivals = fit_arrivals(stamps, alpha=alpha, replicates=replicates, seed=seed)
        else:
            sample = read_durations(data, column, unit_name, skip_invalid=skip_invalid)
            durations = fit_durations(sample, alpha=alpha, replicates=replicates, seed=seed)
    except DataError as err:
        for problem in err.problems:
            err_console.print(f"[bold red]error[/] {problem}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None
    wide = Console(width=max(out_console.width, 100))  # the ranking table is 90 columns; a pipe gives 80

    def say(item: Any, **kwargs: Any) -> None:
        (wide if isinstance(item, Table) else out_console).print(item, **kwargs)

    if timestamps:
        s = arrivals.timestamps
        unit_text = f" ({s.unit})" if s.unit else " (ISO-8601)"
        say(f"{column} in {data}: {s.values.size:,} timestamps{unit_text} over {format_duration_short(arrivals.span)}"
            + (f", {s.skipped} invalid row(s) left out" if s.skipped else ""), highlight=False, soft_wrap=True)
        low, high = arrivals.rate_ci
        say(f"rate: [bold]{arrivals.rate:,.4g}/s[/] (95% CI {low:,.4g} … {high:,.4g})", highlight=False)
        for item in fit_report(arrivals.gaps, f"{arrivals.gaps.n:,} gaps"):
            say(item, highlight=False, soft_wrap=True)
        for w in arrivals.warnings[len(arrivals.gaps.warnings):]:
            say(f"[bold yellow]warning[/] {w}", highlight=False, soft_wrap=True)
        say(f"Poisson arrivals: [bold]{arrivals.verdict}[/]", highlight=False, soft_wrap=True)
        say("\n# producer arrivals (scenario YAML):", highlight=False, markup=False)
        say(arrivals.yaml(), highlight=False, markup=False, soft_wrap=True)
        return
    s = durations.sample
    say(f"{column} in {data}: {s.values.size:,} values ({s.unit})"
        + (f", {s.skipped} invalid row(s) left out" if s.skipped else ""), highlight=False, soft_wrap=True)
    for item in fit_report(durations, column):
        say(item, highlight=False, soft_wrap=True)
    say("\n# worker service time (scenario YAML):", highlight=False, markup=False)
    say(durations.yaml("service"), highlight=False, markup=False, soft_wrap=True)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
