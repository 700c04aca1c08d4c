"""The command line: parse arguments, call the API, print a compact table, write files."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from queuesim.errors import Problem, ScenarioError
from queuesim.scenario.limits import MAX_PROBLEMS_SHOWN, MAX_REPLICATIONS, MAX_SEED, MAX_SHOWN

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Simulate producers, brokers, bounded queues and worker pools before you build them.",
)
# emoji=False: rich would render a user's ":x:" (a file name, a value) as an emoji
out_console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)

ScenarioArg = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario value: path=value (repeatable), e.g. workers.fulfil.count=12."),
]


def shown(text: object) -> str:
    """User text made safe to print with rich: control characters escaped, long text elided, markup escaped.

    Field names, values and file names come from the user: an ESC byte must not reach the
    terminal, a 1 MiB key must not be printed whole, and ``[/]`` or ``[bold]`` is text, not markup.
    """
    raw = str(text)
    if not raw.isprintable():
        raw = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw)
    if len(raw) > MAX_SHOWN:
        raw = f"{raw[:MAX_SHOWN]}… ({len(raw) - MAX_SHOWN:,} more characters)"
    return escape(raw)


def _print(console: Console, prefix: str, text: object) -> None:
    console.print(f"{prefix} {shown(text)}", highlight=False, markup=True, soft_wrap=True)


def _fail(err: ScenarioError) -> None:
    for problem in err.problems[:MAX_PROBLEMS_SHOWN]:
        _print(err_console, "[bold red]error[/]", problem)
    hidden = err.problems[MAX_PROBLEMS_SHOWN:]
    if hidden:
        _print(err_console, "[bold red]error[/]", f"{hidden[0].source}: {len(hidden):,} more problems not shown")
    raise typer.Exit(2)


def _check_out(out: Path | None) -> None:
    """Refuse an output folder that cannot be created, before anything runs (not after an hour of simulation)."""
    if out is None:
        return
    if out.exists() and not out.is_dir():
        raise ScenarioError([Problem("--out", None, "", f"{os.fspath(out)} exists and is not a folder")])
    ancestor = out.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ScenarioError([Problem("--out", None, "", f"cannot create {os.fspath(out)}: {os.fspath(ancestor)} is not a folder")])
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ScenarioError([Problem("--out", None, "", f"cannot create {os.fspath(out)}: {os.fspath(ancestor)} is not writable")])


def _ms(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.3f} s"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.3%}"


def _ci(summary: dict[str, Any], key: str, fmt: Any) -> str:
    ci = summary["ci95"].get(key)
    return "" if not ci else f"{fmt(ci[0])} … {fmt(ci[1])}"


def summary_tables(summary: dict[str, Any]) -> list[Table]:
    """Rich tables of the headline figures of a summary."""
    m, r, lat = summary["messages"], summary["rates"], summary["latency"]
    head = Table(title=f"{shown(summary['scenario'])} — {summary['replications']} replication(s), "
                       f"window {summary['window']:g} s", title_justify="left")
    head.add_column("figure")
    head.add_column("value", justify="right")
    head.add_column("95% CI", justify="right", style="dim")
    head.add_row("produced", f"{m['produced']:,}", "")
    head.add_row("completed", f"{m['completed']:,}", "")
    head.add_row("throughput", f"{r['throughput']:,.2f} /s", _ci(summary, "rates.throughput", lambda v: f"{v:,.2f}"))
    head.add_row("503 rejections", f"{m['rejected']:,} ({_pct(r['rejection'])})",
                 _ci(summary, "rates.rejection", _pct))
    head.add_row("gave up", f"{m['gave_up']:,} ({_pct(r['gave_up'])})", "")
    head.add_row("lost", f"{m['lost']:,} ({_pct(r['loss'])})", "")
    head.add_row("duplicates", f"{m['duplicates']:,} ({_pct(r['duplicate'])})", "")
    head.add_row("dead-lettered", f"{m['dead_lettered']:,}", "")
    head.add_row("in flight at end", f"{m['in_flight']:,}", "")

    lt = Table(title="latency", title_justify="left")
    lt.add_column("")
    for col in ("mean", "p50", "p90", "p99", "p999", "max"):
        lt.add_column(col, justify="right")
    for name, label in (("end_to_end", "end to end"), ("queue_wait", "queue wait"),
                        ("service", "service"), ("ack", "publish ack"), ("response", "client response")):
        d = lat.get(name)
        if not d or not d.get("count"):
            continue
        lt.add_row(label, *(_ms(d[c]) for c in ("mean", "p50", "p90", "p99", "p999", "max")))

    qt = Table(title="queues", title_justify="left")
    for col in ("queue", "mean depth", "max depth", "mean wait", "503s", "redelivered", "DLQ"):
        qt.add_column(col, justify="left" if col == "queue" else "right")
    for name, q in summary["queues"].items():
        qt.add_row(name, f"{q['mean_depth']:.2f}", f"{q['max_depth']:,}", _ms(q["mean_wait"]),
                   f"{q['rejected']:,}", f"{q['redeliveries']:,}", f"{q['dead_lettered']:,}")
    wt = Table(title="workers", title_justify="left")
    for col in ("pool", "workers", "utilization", "processed"):
        wt.add_column(col, justify="left" if col == "pool" else "right")
    for name, w in summary["workers"].items():
        wt.add_row(name, str(w["count"]), f"{w['utilization']:.1%}", f"{w['completed']:,}")
    return [head, lt, qt, wt]


@app.command()
def run(
    scenario: ScenarioArg,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<scenario stem>/).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(min=0, max=MAX_SEED, help="Override the scenario's seed.")] = None,
    replications: Annotated[int | None, typer.Option(min=1, max=MAX_REPLICATIONS, help="Override the number of replications.")] = None,
    plots: Annotated[bool, typer.Option(help="Write the PNG plots.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Run a scenario and write summary.json, messages.parquet, timeseries.csv and plots."""
    from queuesim.api import run as run_scenario

    try:
        _check_out(out)
        result = run_scenario(scenario, seed=seed, replications=replications, overrides=set_ or ())
    except ScenarioError as err:
        _fail(err)
        return
    for w in result.warnings:
        _print(err_console, "[bold yellow]warning[/]", w)
    out_dir = out or Path("reports") / scenario.stem
    written = result.save(out_dir, plots=plots)
    if not quiet:
        for table in summary_tables(result.summary):
            out_console.print(table)
        out_console.print(f"wrote {len(written)} files to [bold]{shown(out_dir)}[/]", highlight=False)


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
    out_console.print(f"[green]ok[/] {shown(scenario)}: {len(sc.producers)} producer(s), {len(sc.queues)} queue(s), "
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
    _print(err_console, "[bold red]error[/]", err)
    raise typer.Exit(1)


def _figure(row: Any, column: str, fmt: Any) -> str:
    value = row.get(column)
    return "—" if value is None or value != value else fmt(value)


def sweep_table(result: Any, limit: int = 30) -> Table:
    """A rich table of the headline columns of a sweep, one row per point."""
    table = result.table
    out = Table(title=f"sweep {shown(result.scenario.name)} — {result.finished} of {len(result.points)} point(s), "
                      f"{result.replications} replication(s) each", title_justify="left")
    axes = [a.path for a in result.axes]
    for path in axes:
        out.add_column(shown(path), justify="right", no_wrap=True, min_width=len(path))
    figures = [("throughput /s", "rates.throughput", lambda v: f"{v:,.1f}"),
               ("e2e mean", "latency.end_to_end.mean", _ms), ("e2e p99", "latency.end_to_end.p99", _ms),
               ("503 rate", "rates.rejection", _pct)]
    if "slo.met" in table.columns:
        figures.append(("SLO", "slo.met", lambda v: "[green]met[/]" if v else "[red]not met[/]"))
    if "cost.total_per_hour" in table.columns:
        currency = result.scenario.cost.currency if result.scenario.cost else ""
        figures.append((f"cost {currency}/h", "cost.total_per_hour", lambda v: f"{v:,.2f}"))
    for label, *_ in figures:
        out.add_column(label, justify="right", overflow="fold")
    labels = {p.index: p.labels for p in result.points}
    for row in table.head(limit).to_dict("records"):
        out.add_row(*(shown(labels[row["point"]][path]) for path in axes), *(_figure(row, col, fmt) for _, col, fmt in figures))
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
    replications: Annotated[int | None, typer.Option(min=1, max=MAX_REPLICATIONS, help="Replications per point (default: the scenario's).")] = None,
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
        _check_out(out)
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
        out_console.print(f"wrote {len(written)} files to [bold]{shown(out_dir)}[/]", highlight=False)
    if result.partial:
        err_console.print(f"[bold yellow]interrupted[/]: kept {result.finished} of {len(result.points)} points "
                          f"(the table is marked partial)", highlight=False)
        raise typer.Exit(130)


def plan_report(result: Any) -> list[Any]:
    """Rich renderables that answer the capacity question readably."""
    from queuesim.experiment.slo import format_figure

    d = result.to_dict()
    path = result.search
    head = Table(title=f"capacity plan: {shown(result.scenario.name)} at {result.target_load:g}× load "
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
    replications: Annotated[int | None, typer.Option(min=1, max=MAX_REPLICATIONS, help="Replications per candidate (default: the scenario's, at least 2).")] = None,
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
        _check_out(out)
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
        out_console.print(f"wrote {shown(written[0])}", highlight=False)


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
        _check_out(out)
        limits = None
        if slo:
            from queuesim.experiment.slo import parse_slo

            limits = parse_slo(slo).limits
        doc = build_report(result, plan=plan_json, slo=limits, simulate_peak=simulate)
    except ScenarioError as err:
        _fail(err)
        return
    except QueuesimError as err:
        _print(err_console, "[bold red]error[/]", err)
        raise typer.Exit(1) from None
    out_dir = out or default_out_dir(result)
    written = doc.save(out_dir)
    if not quiet:
        tone, headline, _ = doc.verdict
        colour = {"ok": "green", "bad": "red", "warn": "yellow"}.get(tone, "default")
        out_console.print(f"[{colour}]{shown(headline.replace('`', ''))}[/]", highlight=False, soft_wrap=True, markup=True)
        out_console.print(f"wrote {shown(written[0])} and {shown(written[1].name)} ({len(doc.figures)} figures)", highlight=False)

@app.command()
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="One scenario with `variants:`, or several scenario files.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<stem>-compare/).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(min=0, max=MAX_SEED, help="Seed for every variant (common random numbers).")] = None,
    replications: Annotated[int | None, typer.Option(min=1, max=MAX_REPLICATIONS, help="Override the number of replications.")] = None,
    plots: Annotated[bool, typer.Option(help="Write compare.png.")] = True,
) -> None:
    """Run variants (brokers) side by side on the same workload and faults; print and plot the differences."""
    from queuesim.experiment.compare import compare as run_compare

    try:
        _check_out(out)
        result = run_compare(scenarios, seed=seed, replications=replications, overrides=set_ or ())
    except ScenarioError as err:
        _fail(err)
        return
    table = result.table
    rt = Table(title="comparison (same seed, same workload)", title_justify="left")
    cols = [("lost", "lost", "{:,.0f}"), ("loss_rate", "loss", "{:.3%}"), ("duplicates", "dupes", "{:,.0f}"),
            ("redeliveries", "redelivered", "{:,.0f}"), ("dead_lettered", "DLQ", "{:,.0f}"),
            ("rejection_rate", "503s", "{:.2%}"), ("p50", "p50", None), ("p99", "p99", None)]
    rt.add_column("variant")
    rt.add_column("brokers", style="dim")
    for _, label, _f in cols:
        rt.add_column(label, justify="right")
    for name, row in table.iterrows():
        cells = []
        for col, _label, fmt in cols:
            v = row[col]
            cells.append("—" if v is None or v != v else (_ms(v) if fmt is None else fmt.format(v)))
        rt.add_row(shown(name), str(row["brokers"]), *cells)
    Console(width=max(out_console.width, 132), emoji=False).print(rt)
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
