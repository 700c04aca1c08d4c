"""The command line: parse arguments, call the API, print a compact table, write files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
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


@app.command()
def run(
    scenario: ScenarioArg,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<scenario stem>/).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    replications: Annotated[int | None, typer.Option(min=1, help="Override the number of replications.")] = None,
    plots: Annotated[bool, typer.Option(help="Write the PNG plots.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Run a scenario and write summary.json, messages.parquet, timeseries.csv and plots."""
    from queuesim.api import run as run_scenario

    try:
        result = run_scenario(scenario, seed=seed, replications=replications, overrides=set_ or ())
    except ScenarioError as err:
        _fail(err)
        return
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
    loads = ", ".join(f"{q} ρ={rho:.2f}" for q, rho in sc.offered_load().items())
    out_console.print(f"[green]ok[/] {scenario}: {len(sc.producers)} producer(s), {len(sc.queues)} queue(s), "
                      f"{len(sc.workers)} worker pool(s); offered load {loads}", highlight=False, soft_wrap=True)
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
    if result.partial:
        err_console.print(f"[bold yellow]interrupted[/]: kept {result.finished} of {len(result.points)} points "
                          f"(the table is marked partial)", highlight=False)
        raise typer.Exit(130)


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
    simulate: Annotated[bool, typer.Option(help="For a sweep, re-simulate the peak point (one replication) to draw its queue depth over time.")] = True,
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
    from queuesim.experiment.compare import COLUMNS
    from queuesim.experiment.compare import compare as run_compare

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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
