"""The command line: parse arguments, call the API, print a compact table, write files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from queuesim.errors import ScenarioError

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
    head = Table(title=f"{summary['scenario']} — {summary['replications']} replication(s), "
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
                        ("service", "service"), ("ack", "publish ack")):
        d = lat[name]
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
    out: Annotated[Path | None, typer.Option("--out", help="Output folder [default: reports/<scenario stem>/].")] = None,
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
