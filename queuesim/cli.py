"""The command line: parse arguments, call the API, print a compact table, write files."""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from queuesim import figures
from queuesim.errors import Problem, ScenarioError
from queuesim.figures import Summary
from queuesim.scenario.limits import MAX_PROBLEMS_SHOWN, MAX_REPLICATIONS, MAX_SEED, MAX_SHOWN

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # click's own help layout: it wraps option help at spaces in a wide column, where rich's
    # option table cut long examples (workers.fulfil.count=12) with an ellipsis at 80 columns
    rich_markup_mode=None,
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


def _show(summary: Mapping[str, Any], path: str, **style: Any) -> str:
    """The summary figure at ``path`` as the CLI's tables print it (the catalogue's terminal style)."""
    return figures.spec(path).format(figures.value_or_none(summary, path), "terminal", **style)


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


def _ci(summary: Mapping[str, Any], path: str, **style: Any) -> str:
    ci = summary["ci95"].get(path)
    if not ci:
        return ""
    fmt = figures.spec(path)
    return f"{fmt.format(ci[0], 'terminal', **style)} … {fmt.format(ci[1], 'terminal', **style)}"


# --- tables that fit the terminal ---------------------------------------------------------------


def table_width() -> int:
    """Columns the tables may take: the terminal's, or 80 in a pipe (unless ``COLUMNS`` says otherwise)."""
    if out_console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return out_console.width
    return 80


def say(*objects: Any, **options: Any) -> None:
    """Print to stdout within :func:`table_width` (a console of that width: ``print(width=…)`` would
    also make every table stretch to it)."""
    Console(width=table_width(), emoji=False).print(*objects, **options)


@dataclass(frozen=True)
class Column:
    """One column of a CLI table: its heading, its cells, and how readily it is left out.

    Numbers never wrap (``no_wrap``): a table too wide for the terminal leaves out columns,
    highest ``priority`` first (0: never), and says which. A ``text`` column (names, labels)
    wraps at spaces instead and cuts a word too long for it with an ellipsis.
    """

    header: str
    cells: Sequence[str]
    priority: int = 0
    text: bool = False
    style: str | None = None

    def width(self) -> int:
        """The least width it needs: its longest word for text, its longest cell for numbers."""
        lines = [self.header, *(_plain(c) for c in self.cells)]
        if self.text:
            return max((cell_len(word) for line in lines for word in line.split()), default=1)
        return max(cell_len(line) for line in lines)


def _plain(cell: str) -> str:
    return Text.from_markup(cell).plain


def fitted_table(columns: Sequence[Column], *, title: str | None = None, width: int | None = None,
                 caption: str | None = None, show_header: bool = True) -> Table:
    """A table of ``columns`` within ``width`` (:func:`table_width` by default), no number split across lines.

    Columns are left out, highest priority first (the rightmost of equal priority first), until
    the rest fit; the caption names them.
    """
    width = table_width() if width is None else width

    def fits(cols: Sequence[Column]) -> bool:
        # two spaces between columns (a right padding and SIMPLE_HEAD's blank divider), none at the edges
        return sum(c.width() for c in cols) + 2 * (len(cols) - 1) <= width

    kept = list(columns)
    dropped: list[Column] = []
    while not fits(kept) and any(c.priority for c in kept):
        victim = max(reversed(kept), key=lambda c: c.priority)
        kept.remove(victim)
        dropped.append(victim)
    for c in reversed(dropped):  # a narrower column left out on the way may fit again, most needed first
        trial = [x for x in columns if x is c or any(x is y for y in kept)]
        if fits(trial):
            kept = trial
    left_out = [c.header for c in dropped if not any(c is y for y in kept)]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0), show_header=show_header, caption_justify="left")
    for c in kept:
        table.add_column(c.header, justify="left" if c.text else "right", no_wrap=not c.text,
                         overflow="ellipsis", style=c.style, min_width=None if c.text else c.width())
    for row in zip(*(c.cells for c in kept), strict=True):
        table.add_row(*row)
    notes = [caption] if caption else []
    if left_out:
        notes.append(f"left out at {width} columns: {', '.join(left_out)}")
    table.caption = "; ".join(notes) or None
    return table


#: Short names of latency kinds in column headings.
_KIND_SHORT = {"end_to_end": "e2e", "queue_wait": "wait", "service": "service", "ack": "ack", "response": "response"}
_RATE_SHORT = {"throughput": "throughput", "rejection": "503 rate", "loss": "loss", "duplicate": "dupes",
               "gave_up": "gave up", "offered": "offered", "abandoned": "abandoned", "base_load": "base load"}


def figure_heading(path: str) -> str:
    """A summary figure's path as a short column heading: ``e2e p99``, ``503 rate``, ``orders wait``."""
    parts = figures.latency_parts(path)
    if parts is not None:
        return f"{_KIND_SHORT.get(parts[0], parts[0])} {figures.stat_label(parts[1])}"
    head, _, rest = path.partition(".")
    if head == "rates" and rest in _RATE_SHORT:
        return _RATE_SHORT[rest]
    if head in ("queues", "workers") and "." in rest:
        name, figure = rest.split(".", 1)
        return f"{name} {figure.replace('mean_', '').replace('_', ' ')}"
    return short_paths([path])[path]


def short_paths(paths: Sequence[str]) -> dict[str, str]:
    """Each dotted path by its shortest tail of at least two parts that no other path ends with.

    ``producers.web.rate`` → ``web.rate``; ``producers.web.rate`` beside ``queues.web.rate`` keeps
    three parts each, so the headings stay distinct.
    """
    out: dict[str, str] = {}
    split = {p: p.split(".") for p in paths}
    for path, parts in split.items():
        for k in range(min(2, len(parts)), len(parts) + 1):
            tail = parts[-k:]
            if all(other[-k:] != tail for o, other in split.items() if o != path):
                out[path] = ".".join(tail)
                break
        else:
            out[path] = path
    return out


#: A number and its unit (``901 ms``, ``1,534.1/s``): wrapped lines never part them.
_NUMBER_UNIT = re.compile(r"(\d) (ms|s|us|µs|m|h|workers|waiting)\b")
_JOINED, _NAME = "\0", "\1"  # stand-ins while wrapping: a space not to break at, a backtick


def _wrapped(label: str, style: str, message: str, width: int) -> Text:
    """``label message`` word-wrapped to ``width``, a number never parted from its unit; names in bold."""
    plain = _NUMBER_UNIT.sub(rf"\1{_JOINED}\2", message.replace("`", _NAME))
    lines = textwrap.wrap(f"{label} {plain}", width=width, break_long_words=False, break_on_hyphens=False)
    body = "\n".join(lines).replace(_JOINED, " ")[len(label):]
    out = Text(label, style=style)
    for i, part in enumerate(body.split(_NAME)):  # odd parts were between backticks
        out.append(part, style="bold" if i % 2 else None)
    return out


def diagnosis_lines(summary: Mapping[str, Any], most: int = 3, width: int | None = None) -> list[Text]:
    """The run summary's first lines: what limits the design (``summary.json``'s ``diagnosis``), with its figures."""
    width = table_width() if width is None else width
    found = [f for f in summary.get("diagnosis") or [] if isinstance(f, Mapping)]
    if not found:
        busy = [(n, float(w["utilization"])) for n, w in (summary.get("workers") or {}).items()
                if isinstance(w, Mapping) and w.get("utilization") is not None]
        text = "nothing limits this design at this load"
        if busy:
            name, u = max(busy, key=lambda t: t[1])
            text += f": the busiest pool, `{name}`, is {figures.format_figure('fraction', u, 'report')} busy"
        return [_wrapped("ok:", "bold green", text, width)]
    lines = [_wrapped("limited by", "bold red", found[0]["message"], width)]
    lines += [_wrapped("also", "yellow", f["message"], width) for f in found[1:most]]
    if len(found) > most:
        lines.append(Text(f"… and {len(found) - most} more in summary.json (diagnosis)", style="dim"))
    return lines


#: The latency statistics of the run table, in column order, with how readily each is left out.
_LATENCY_COLUMNS = (("mean", 2), ("p50", 1), ("p90", 3), ("p99", 0), ("p999", 4), ("max", 2))


def _offered(summary: Mapping[str, Any]) -> str:
    """``1,534.12 /s (3.45× base 444.12 /s)``: every publish attempt against the producers' own rate."""
    offered = _show(summary, "rates.offered")
    base = figures.value_or_none(summary, "rates.base_load")
    rate = figures.value_or_none(summary, "rates.offered")
    if not base or rate is None:
        return offered
    return f"{offered} ({rate / base:.2f}× base {_show(summary, 'rates.base_load')})"


#: How a verdict prints: met, borderline (the 95% interval contains the limit), not met.
VERDICT_STYLE = {"met": "[green]met[/]", "borderline": "[yellow]borderline[/]", "not met": "[red]not met[/]"}


def _verdict(summary: Mapping[str, Any], path: str, limit: float) -> figures.Verdict:
    """A limit's verdict from the figure's 95% interval (:func:`queuesim.figures.verdict`)."""
    value = figures.value_or_none(summary, path)
    return figures.verdict(None if value is None else float(value), limit, (summary.get("ci95") or {}).get(path),
                           figures.spec(path).ci, figures.percentile_floor(summary, path))


def summary_tables(summary: Summary, limits: Mapping[str, float] | None = None,
                   width: int | None = None) -> list[Table]:
    """Rich tables of the headline figures of a summary, each fitting ``width`` (:func:`table_width`)."""
    def counted(count: str, rate: str) -> str:  # "1,234 (0.123%)"
        return f"{_show(summary, count)} ({_show(summary, rate)})"

    rows = [
        ("produced", _show(summary, "messages.produced"), ""),
        ("completed", _show(summary, "messages.completed"), ""),
        ("throughput", _show(summary, "rates.throughput"), _ci(summary, "rates.throughput", unit=False)),
        ("offered (attempts)", _offered(summary), _ci(summary, "rates.offered", unit=False)),
        ("503 rejections", counted("messages.rejected", "rates.rejection"), _ci(summary, "rates.rejection")),
        ("gave up", counted("messages.gave_up", "rates.gave_up"), ""),
        ("abandoned", counted("messages.abandoned", "rates.abandoned"), _ci(summary, "rates.abandoned")),
        ("lost", counted("messages.lost", "rates.loss"), ""),
        ("duplicates", counted("messages.duplicates", "rates.duplicate"), ""),
        ("dead-lettered", _show(summary, "messages.dead_lettered"), ""),
    ]
    for path, label in (("messages.expired", "expired (ttl)"), ("messages.reneged", "reneged (patience)")):
        if figures.value_or_none(summary, path):  # only where a queue has a ttl or a client a patience
            rows.append((label, _show(summary, path), ""))
    rows.append(("in flight at end", _show(summary, "messages.in_flight"), ""))
    title = (f"{shown(summary['scenario'])} — {summary['replications']} replication(s), "
             f"window {summary['window']:g} s")
    head = fitted_table([Column("figure", [r[0] for r in rows], text=True),
                         Column("value", [r[1] for r in rows]),
                         Column("95% CI", [r[2] for r in rows], priority=1, style="dim")], title=title, width=width)
    out = [head]
    if limits:
        paths = list(limits)
        verdicts = [_verdict(summary, p, limits[p]) for p in paths]
        out.append(fitted_table([
            Column("SLO figure", paths, text=True),
            Column("limit", [f"≤ {figures.spec(p).format(limits[p])}" for p in paths]),
            Column("value", [_show(summary, p) for p in paths]),
            Column("95% CI", [_ci(summary, p) or "—" for p in paths], priority=1, style="dim"),
            Column("verdict", [VERDICT_STYLE[v] for v in verdicts]),
        ], title=f"SLO: {figures.worst(verdicts)}", width=width))

    kinds = [k for k in figures.LATENCY_KINDS if figures.value_or_none(summary, figures.latency_path(k, "count"))]
    kinds.sort(key=lambda k: k != "response")  # what a waiting client sees comes first
    out.append(fitted_table(
        [Column("", [figures.LATENCY_LABELS[k] for k in kinds], text=True)]
        + [Column(stat, [_show(summary, figures.latency_path(k, stat)) for k in kinds], priority=prio)
           for stat, prio in _LATENCY_COLUMNS], title="latency", width=width))

    queues = list(summary["queues"])
    qcols = [Column("queue", [shown(q) for q in queues], text=True)] + [
        Column(head_, [_show(summary, f"queues.{q}.{figure}") for q in queues], priority=prio)
        for head_, figure, prio in (("mean depth", "mean_depth", 1), ("max depth", "max_depth", 0),
                                    ("mean wait", "mean_wait", 0), ("503s", "rejected", 0),
                                    ("redelivered", "redeliveries", 2), ("DLQ", "dead_lettered", 2))]
    out.append(fitted_table(qcols, title="queues", width=width))
    pools = list(summary["workers"])
    out.append(fitted_table([
        Column("pool", [shown(n) for n in pools], text=True),
        Column("workers", [_show(summary, f"workers.{n}.count") for n in pools]),
        Column("utilization", [_show(summary, f"workers.{n}.utilization", decimals=1) for n in pools]),
        Column("processed", [_show(summary, f"workers.{n}.completed") for n in pools], priority=1),
    ], title="workers", width=width))
    return out


class OutputsChoice(StrEnum):
    """What ``run`` keeps and writes."""

    full = "full"
    summary = "summary"


MaxEventsOpt = Annotated[
    int | None,
    typer.Option("--max-events", min=0, show_default=False,
                 help="Refuse a run estimated to need more simulation events (default: half this machine's memory; 0: no limit)."),
]
CheckOpt = Annotated[
    bool,
    typer.Option("--check", help="Exit 1 unless every SLO limit is met, its 95% interval at or below the limit "
                 "(a borderline verdict fails too); exit 2 for bad input or no SLO."),
]
LenientOpt = Annotated[
    bool,
    typer.Option("--check-lenient", help="As --check, but a borderline verdict passes (with a warning): only "
                 "not met exits 1."),
]
PrecisionOpt = Annotated[
    str | None,
    typer.Option("--precision", show_default=False,
                 help="Add replications until every SLO figure (else mean and p99 end-to-end, throughput) has a "
                      "95% interval within this much of its value, e.g. 2% (default: the scenario's precision:)."),
]
MaxReplicationsOpt = Annotated[
    int | None,
    typer.Option("--max-replications", min=2, max=MAX_REPLICATIONS, show_default=False,
                 help="Most replications --precision (or settling a borderline verdict) adds up to (default 50)."),
]


def _needs_slo(check: bool, lenient: bool, slo: Any) -> None:
    """Refuse ``--check`` without any SLO limit (exit 2): a gate with nothing to check would always pass."""
    if (check or lenient) and slo is None:
        err_console.print("[bold red]error[/] --check needs an SLO: add an `slo:` section or pass "
                          "--slo latency.end_to_end.p99=500ms", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


def _gate(verdict: str, check: bool, lenient: bool) -> None:
    """Exit 1 when ``--check`` fails: not met, or borderline unless lenient (k6 fails an unmet threshold)."""
    if not (check or lenient):
        return
    if verdict == "not met" or (verdict == "borderline" and not lenient):
        err_console.print(f"[bold red]SLO {verdict}[/]: exit 1 (--check{'-lenient' if lenient else ''})", highlight=False)
        raise typer.Exit(1)
    if verdict == "borderline":
        err_console.print("[bold yellow]warning[/] SLO borderline: passes --check-lenient; run with --precision to settle it",
                          highlight=False)


@app.command(short_help="Run a scenario; write its summary, tables and plots.")
def run(
    scenario: ScenarioArg,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<scenario stem>/).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(min=0, max=MAX_SEED, help="Override the scenario's seed.")] = None,
    replications: Annotated[int | None, typer.Option(min=1, max=MAX_REPLICATIONS, help="Override the number of replications.")] = None,
    plots: Annotated[bool, typer.Option(help="Write the PNG plots.")] = True,
    max_events: MaxEventsOpt = None,
    outputs: Annotated[OutputsChoice | None, typer.Option(
        "--outputs", help="full: every record (parquet, plots); summary: streamed statistics only (summary.json, "
        "scenario.json, timeseries.csv), in memory that does not grow with the run (default: the scenario's outputs).",
        show_default=False)] = None,
    slo: SloOpt = None,
    precision: PrecisionOpt = None,
    max_replications: MaxReplicationsOpt = None,
    check: CheckOpt = False,
    check_lenient: LenientOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Run a scenario and write summary.json, messages.parquet, timeseries.csv and plots.

    The first lines say what limits the design (summary.json's diagnosis), with its figures.

    \b
    Examples:
      queuesim run scenarios/quickstart.yaml
      queuesim run scenarios/quickstart.yaml --set workers.fulfil.count=10 \\
          --replications 5 --out reports/quickstart-10
    """
    from queuesim.api import run as run_scenario
    from queuesim.experiment.budget import BudgetError
    from queuesim.experiment.precision import precision_rule
    from queuesim.experiment.slo import merge_slo
    from queuesim.scenario import load_scenario

    try:
        _check_out(out)
        sc = load_scenario(scenario, set_ or ())  # every bad option is reported before anything runs
        precision_rule(sc, precision, max_replications)
        _needs_slo(check, check_lenient, merge_slo(sc, slo))
        result = run_scenario(scenario, seed=seed, replications=replications, overrides=set_ or (),
                              max_events=max_events, progress=not quiet, slo=slo, precision=precision,
                              max_replications=max_replications,
                              outputs=outputs.value if outputs is not None else None)
    except ScenarioError as err:
        _fail(err)
        return
    except BudgetError as err:
        err_console.print(f"[bold red]error[/] {shown(scenario)}: {shown(err)}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(2) from None
    # the summary's warnings: those known before the run and those only the run found (its measured load, poison cycling)
    for w in result.summary.get("warnings", result.warnings):
        _warn(w)
    out_dir = out or Path("reports") / scenario.stem
    written = result.save(out_dir, plots=plots)
    verdicts = result.verdicts()
    if not quiet:
        for line in diagnosis_lines(result.summary):
            say(line, highlight=False)
        for table in summary_tables(result.summary, None if result.slo is None else result.slo.limits):
            say(table)
        if "precision" in result.summary:
            from queuesim.experiment.precision import describe_reached

            say(f"precision: {shown(describe_reached(result.summary['precision']))}", highlight=False)
        say(f"wrote {len(written)} files to [bold]{shown(out_dir)}[/]", highlight=False)
    if verdicts is not None:
        _gate(verdicts.verdict, check, check_lenient)


@app.command(short_help="Check a scenario file without running it.")
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
    out_console.print(f"[green]ok[/] {shown(scenario)}: {len(sc.producers)} producer(s), {len(sc.queues)} queue(s), "
                      f"{len(sc.workers)} worker pool(s); offered load {loads}", highlight=False, soft_wrap=True)
    cost = estimate(sc)
    out_console.print(f"estimate: {cost}", highlight=False, soft_wrap=True)
    if cost.events > default_max_events():
        err_console.print("[bold yellow]warning[/] above this machine's limit: `queuesim run` will refuse it "
                          "unless given --max-events", highlight=False)
    for q in sc.unstable_queues():
        err_console.print(f"[bold yellow]warning[/] queue '{q}' is unstable (offered load ≥ 1, unbounded)")
    from queuesim.scenario.advice import visibility_warnings

    for w in visibility_warnings(sc):
        _warn(w)


def _warn(warning: str) -> None:
    """One warning on stderr: an error-level one (work redone for ever) in red, the others in yellow."""
    from queuesim.scenario.advice import ERROR, is_error

    if is_error(warning):
        err_console.print(f"[bold red]error[/] {shown(warning[len(ERROR):])}", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"[bold yellow]warning[/] {shown(warning)}", highlight=False, soft_wrap=True)


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


def _figure(row: Any, column: str, fmt: Callable[[Any], str]) -> str:
    value = row.get(column)
    return "—" if value is None or value != value else fmt(value)


def _terminal(path: str, **style: Any) -> Callable[[Any], str]:
    """How a sweep column of a summary figure prints (the catalogue's terminal style)."""
    found = figures.spec(path)
    return lambda v: found.format(v, "terminal", **style)


def _ratio(row: Mapping[str, Any], top: str, bottom: str) -> str:
    """``3.45×``: one column over another (offered over base load), an em dash where either is missing."""
    a, b = row.get(top), row.get(bottom)
    if a is None or b is None or a != a or b != b or not b:
        return "—"
    return f"{a / b:.2f}×"


def _stormed(row: Mapping[str, Any]) -> bool:
    """Whether a sweep point's offered load is a retry storm's (the diagnosis' threshold)."""
    from queuesim.metrics.diagnosis import STORM_RATIO

    offered, base = row.get("rates.offered"), row.get("rates.base_load")
    return bool(offered and base and offered == offered and base == base and offered >= STORM_RATIO * base)


def _any(rows: Sequence[Mapping[str, Any]], column: str) -> bool:
    """Whether some row has a non-zero value in ``column``."""
    return any((v := r.get(column)) is not None and v == v and v != 0 for r in rows)


def sweep_table(result: Any, limit: int = 30, width: int | None = None) -> Table:
    """A table of a sweep, one row per point, that fits ``width``: the swept paths (abbreviated
    unambiguously), the SLO figures, then the headline figures, the least needed left out first."""
    rows = result.table.head(limit).to_dict("records")
    axes = [a.path for a in result.axes]
    short = short_paths(axes)
    labels = {p.index: p.labels for p in result.points}
    columns = [Column(shown(short[a]), [shown(labels[r["point"]][a]) for r in rows]) for a in axes]
    limits = dict(result.slo.limits) if result.slo is not None else {}
    for path in limits:
        columns.append(Column(figure_heading(path), [_figure(r, path, _terminal(path)) for r in rows]))
    if "slo.verdict" in result.table.columns:
        columns.append(Column("SLO", [_figure(r, "slo.verdict", lambda v: VERDICT_STYLE.get(str(v), str(v)))
                                      for r in rows]))
    waits = _any(rows, "latency.response.count")
    # in a retry storm the offered load is the story: keep it before the other figures
    storm = any(_stormed(r) for r in rows)
    wanted: list[tuple[str, int, Callable[[Mapping[str, Any]], str]]] = [
        ("latency.response.p99", 1, lambda r: _figure(r, "latency.response.p99", _terminal("latency.response.p99"))),
        ("latency.end_to_end.p99", 1, lambda r: _figure(r, "latency.end_to_end.p99", _terminal("latency.end_to_end.p99"))),
        ("rates.throughput", 2, lambda r: _figure(r, "rates.throughput", _terminal("rates.throughput", decimals=1, unit=False))),
        ("rates.rejection", 3, lambda r: _figure(r, "rates.rejection", _terminal("rates.rejection"))),
        ("rates.offered", 1 if storm else 3, lambda r: _ratio(r, "rates.offered", "rates.base_load")),
        ("rates.gave_up", 4, lambda r: _figure(r, "rates.gave_up", _terminal("rates.gave_up"))),
        ("rates.abandoned", 4, lambda r: _figure(r, "rates.abandoned", _terminal("rates.abandoned"))),
        ("latency.end_to_end.mean", 5, lambda r: _figure(r, "latency.end_to_end.mean", _terminal("latency.end_to_end.mean"))),
    ]
    for path, priority, cell in wanted:
        if path in limits or path not in result.table.columns:
            continue
        if path in ("latency.response.p99", "rates.abandoned") and not waits and not _any(rows, path):
            continue  # no client waits for a response: nothing to show
        if path == "rates.gave_up" and not _any(rows, path):
            continue
        heading = {"rates.throughput": "throughput /s", "rates.offered": "offered/base"}.get(path, figure_heading(path))
        columns.append(Column(heading, [cell(r) for r in rows], priority=priority))
    if "cost.total_per_hour" in result.table.columns:
        currency = result.scenario.cost.currency if result.scenario.cost else ""
        columns.append(Column(f"cost {currency}/h", [_figure(r, "cost.total_per_hour", lambda v: f"{v:,.2f}")
                                                     for r in rows], priority=3))
    notes = [f"{shown(short[a])} = {shown(a)}" for a in axes if short[a] != a]
    if len(result.table) > limit:
        notes.append(f"… {len(result.table) - limit} more row(s) in sweep.csv")
    return fitted_table(columns, title=f"sweep {shown(result.scenario.name)} — {result.finished} of {len(result.points)} "
                                       f"point(s), {result.replications} replication(s) each",
                        caption="; ".join(notes) or None, width=width)


@app.command(short_help="Run a grid of variants into one tidy table.")
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
    check: Annotated[bool, typer.Option("--check", help="Exit 1 unless every point meets the SLO (borderline fails "
                                        "too); exit 2 for bad input or no SLO.")] = False,
    check_lenient: LenientOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Run a grid of variants (the scenario's sweep: section and --vary) and write sweep.parquet, sweep.csv, sweep.json.

    \b
    Example:
      queuesim sweep scenarios/quickstart.yaml \\
          --vary workers.fulfil.count=8..16 \\
          --vary producers.web.rate=400/s..1600/s:5 \\
          --slo latency.end_to_end.p99=100ms --slo rates.rejection=0.1%
    """
    from queuesim.errors import QueuesimError
    from queuesim.experiment import open_executor, sweep_axes
    from queuesim.experiment import sweep as run_sweep
    from queuesim.experiment.slo import merge_slo
    from queuesim.scenario import load_scenario

    try:
        _check_out(out)
        sc = load_scenario(scenario, set_ or ())
        axes = sweep_axes(sc, vary)  # every bad --vary is reported before an executor starts
        _needs_slo(check, check_lenient, merge_slo(sc, slo))
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
        say(sweep_table(result))
        say(f"wrote {len(written)} files to [bold]{shown(out_dir)}[/]", highlight=False)
    for index, message in sorted(result.errors.items()):
        err_console.print(f"[bold red]error[/] point {index} ({shown(result.points[index].describe())}): "
                          f"{shown(message)}", highlight=False)
    if result.partial:
        why = f"{len(result.errors)} point(s) failed" if result.errors else "interrupted"
        err_console.print(f"[bold yellow]{why}[/]: kept {result.finished} of {len(result.points)} points "
                          f"(the table is marked partial)", highlight=False)
        interrupted = result.finished + len(result.errors) < len(result.points)
        raise typer.Exit(130 if interrupted else 1)
    if "slo.verdict" in result.table.columns:
        _gate(figures.worst(result.table["slo.verdict"]), check, check_lenient)


def plan_report(result: Any) -> list[Any]:
    """Rich renderables that answer the capacity question readably."""
    from queuesim.figures import format_figure

    d = result.to_dict()
    path = result.search
    head = Table(title=f"capacity plan: {shown(result.scenario.name)} at {result.target_load:g}× load "
                       f"({result.target_rate:,.1f} requests/s)", title_justify="left", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    if result.recommended is None:
        head.add_row("recommended", f"[red]none[/]: no {path} up to the search limit meets the SLO")
    else:
        verdict = {"met": "[green]meets the SLO[/]", "borderline": "[yellow]borderline[/] against the SLO",
                   "not met": "[red]does not meet the SLO[/]"}[result.verdict]
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
                           VERDICT_STYLE[c.verdict])
        renderables.append(checks)
    marks = {"met": "✓", "borderline": "~", "not met": "✗"}
    tried = " ".join(f"{e['value']}{marks[e['verdict']]}{'ᶜ' if e['confirmation'] else ''}" for e in d["evaluations"])
    renderables.append(f"[dim]simulated {path}: {tried}  (✓ met, ~ borderline, ✗ not met; ᶜ confirmation run)[/]")
    for note in result.notes:
        renderables.append(f"[yellow]note[/] {note}")
    return renderables


@app.command(short_help="Find the smallest design meeting the SLO at a target load.")
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
    precision: PrecisionOpt = None,
    max_replications: MaxReplicationsOpt = None,
    progress: ProgressOpt = True,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 unless the recommendation meets the SLO on "
                                        "confirmation (borderline fails too, as does no recommendation); exit 2 for "
                                        "bad input.")] = False,
    check_lenient: LenientOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Find the smallest worker count (or queue capacity) meeting the SLO at a target load; write plan.json.

    \b
    Example:
      queuesim plan scenarios/quickstart.yaml --load 2x \\
          --slo latency.end_to_end.p99=100ms --slo rates.rejection=0.1%
    """
    from queuesim.errors import QueuesimError
    from queuesim.experiment import open_executor
    from queuesim.experiment.plan import check_plan
    from queuesim.experiment.plan import plan as make_plan
    from queuesim.scenario import load_scenario

    try:
        _check_out(out)
        sc = load_scenario(scenario, set_ or ())
        # every bad input is reported before an executor starts
        check_plan(sc, load, search, slo, source=str(scenario), precision=precision, max_replications=max_replications)
        with open_executor(executor.value, workers=workers, scheduler=scheduler) as ex:
            result = make_plan(sc, load, search, slo=slo, executor=ex, progress=progress and not quiet,
                               replications=replications, max_value=max_value, precision=precision,
                               max_replications=max_replications)
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
    _gate(result.verdict, check, check_lenient)


@app.command(short_help="Write report.html and report.md for a result folder.")
def report(
    result: Annotated[Path, typer.Argument(help="A result folder: of queuesim run, sweep, compare, plan or stability.",
                                           show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: the result folder).")] = None,
    plan_json: Annotated[Path | None, typer.Option("--plan", help="A plan.json to show with a sweep (default: "
                                                   "plan.json in the sweep folder, if any).")] = None,
    slo: Annotated[list[str] | None, typer.Option("--slo", help="Add an SLO limit: path=limit (repeatable), "
                                                  "e.g. latency.end_to_end.p99=500ms.")] = None,
    simulate: Annotated[bool, typer.Option(help="For a sweep, draw the queue depth over time at its peak point "
                                           "(from the time series the sweep kept).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Write report.html (self-contained, figures embedded) and report.md for a run, sweep, comparison, plan or stability map.

    \b
    Examples:
      queuesim report reports/quickstart --slo latency.end_to_end.p99=100ms
      queuesim report reports/quickstart-sweep \\
          --plan reports/quickstart-plan/plan.json
    """
    from queuesim.errors import QueuesimError
    from queuesim.report import build_report, load_input
    from queuesim.report.document import default_out_dir

    try:
        _check_out(out)
        limits = None
        if slo:
            from queuesim.experiment.slo import parse_slo

            limits = parse_slo(slo).limits
        data = load_input(result, plan_json)
        diagnosis = _rediagnosed(data, limits)
        doc = build_report(data, plan=plan_json, slo=limits, simulate_peak=simulate, diagnosis=diagnosis)
    except ScenarioError as err:
        _fail(err)
        return
    except QueuesimError as err:
        # plain text, as every bad input is: no markup of ours, the message escaped, exit 2
        err_console.print(f"error: {shown(err)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    out_dir = out or default_out_dir(result)
    written = doc.save(out_dir)
    if not quiet:
        tone, headline, _ = doc.verdict
        colour = {"ok": "green", "bad": "red", "warn": "yellow"}.get(tone, "default")
        say(f"[{colour}]{shown(headline.replace('`', ''))}[/]", highlight=False)
        say(f"wrote {shown(written[0])} and {shown(written[1].name)} ({len(doc.figures)} figures)", highlight=False)


def _rediagnosed(data: Any, limits: Mapping[str, float] | None) -> list[Any] | None:
    """A run's diagnosis made again with the report's ``--slo`` (whether a limit sits at the service-time
    floor depends on it); None, to keep the stored one, for anything else."""
    from queuesim.report.document import RunData

    if not limits or not isinstance(data, RunData):
        return None
    from queuesim.metrics.diagnosis import diagnose
    from queuesim.report.slo_table import stored_limits

    own = data.scenario.slo.limits if data.scenario is not None and data.scenario.slo is not None else {}
    own = {**own, **stored_limits(data.summary)}  # and those the run was given with --slo
    found: list[Any] = list(diagnose(data.summary, data.timeseries, data.scenario_data, {**own, **limits}))
    # a saved run keeps no per-replication figures, so a bistable finding can only come from the run itself
    kept = [f for f in data.diagnosis if f.get("cause") == "bistable"]
    floor = sum(1 for f in found if f.get("cause") == "slo_floor")
    return found[:floor] + kept + found[floor:]


def compare_table(comparison: Any, width: int | None = None) -> Table:
    """A table of a comparison, one row per variant, that fits ``width``: the SLO figures, what a
    waiting client sees, then losses, duplicates and latency, the least needed left out first."""
    from queuesim.experiment.compare import COLUMNS

    paths = dict(COLUMNS)  # table column -> summary path
    rows = [{"variant": name, **row} for name, row in comparison.table.to_dict("index").items()]
    summaries = comparison.summaries
    waits = any(figures.value_or_none(s, "latency.response.count") for s in summaries.values())
    # the limits each variant was checked against: its own slo: and any given with --slo
    slo = next((e.slo for e in comparison.executions.values() if e.slo is not None), None)
    limits = dict(slo.limits) if slo is not None else {}

    def cells(column: str, **style: Any) -> list[str]:
        return [_figure(r, column, _terminal(paths[column], **style)) for r in rows]

    columns = [Column("variant", [shown(r["variant"]) for r in rows], text=True),
               Column("brokers", [str(r["brokers"]) for r in rows], text=True, priority=6, style="dim")]
    for path in limits:
        columns.append(Column(figure_heading(path), [_show(summaries[str(r["variant"])], path) for r in rows]))
        # its verdict from the 95% interval (met / borderline / not met), a cell per variant
        columns.append(Column("SLO", [_figure(r, f"slo.{path}.verdict", lambda v: VERDICT_STYLE.get(str(v), str(v)))
                                      for r in rows]))
    limited = set(limits)
    wanted: list[tuple[str, str, int, dict[str, Any]]] = [
        ("response_p99", "response p99", 0, {}), ("response_p50", "response p50", 3, {}),
        ("abandoned_rate", "abandoned", 1, {}), ("gave_up_rate", "gave up", 1, {}),
        ("rejection_rate", "503s", 2, {"decimals": 2}), ("loss_rate", "loss", 1, {}), ("lost", "lost", 4, {}),
        ("duplicates", "dupes", 3, {}), ("redeliveries", "redelivered", 5, {}), ("dead_lettered", "DLQ", 5, {}),
        ("p50", "e2e p50", 4, {}), ("p99", "e2e p99", 1 if not waits else 3, {}),
    ]
    for column, heading, priority, style in wanted:
        if paths[column] in limited or column not in comparison.table.columns:
            continue
        if column.startswith(("response_", "abandoned")) and not waits:
            continue  # no client waits for a response in any variant
        columns.append(Column(heading, cells(column, **style), priority=priority))
    columns.append(Column("offered/base", [_ratio(r, "offered", "base_load") for r in rows],
                          priority=1 if any(_stormed({"rates.offered": r.get("offered"), "rates.base_load": r.get("base_load")})
                                            for r in rows) else 4))
    return fitted_table(columns, title="comparison (same seed, same workload)", width=width)


@app.command(short_help="Run variants side by side on the same workload.")
def compare(
    scenarios: Annotated[list[Path], typer.Argument(help="One scenario with `variants:`, or several scenario files.")],
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<stem>-compare/).")] = None,
    set_: SetOpt = None,
    seed: Annotated[int | None, typer.Option(min=0, max=MAX_SEED, help="Seed for every variant (common random numbers).")] = None,
    replications: Annotated[int | None, typer.Option(min=1, max=MAX_REPLICATIONS, help="Override the number of replications.")] = None,
    plots: Annotated[bool, typer.Option(help="Write compare.png.")] = True,
    slo: SloOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Run variants (brokers) side by side on the same workload and faults; print and plot the differences.

    \b
    Examples:
      queuesim compare scenarios/broker-faceoff.yaml
      queuesim compare scenarios/sync-vs-async.yaml --replications 1
    """
    from queuesim.api import compare as run_compare

    try:
        _check_out(out)
        result = run_compare(scenarios, seed=seed, replications=replications, overrides=set_ or (), progress=not quiet,
                             slo=slo)
    except ScenarioError as err:
        _fail(err)
        return
    if not quiet:
        say(compare_table(result.comparison))
    stem = scenarios[0].stem if len(scenarios) == 1 else "compare"
    out_dir = out or Path("reports") / f"{stem}-compare"
    written = result.save(out_dir, plots=plots)
    if not quiet:
        say(f"wrote {len(written)} files to [bold]{shown(out_dir)}[/]", highlight=False)


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


@app.command(short_help="Fit distributions to a column of a recorded log.")
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
    except ValueError as err:  # options that cannot work together, e.g. too few --replicates for --alpha
        err_console.print(f"[bold red]error[/] {err}", highlight=False, markup=False, soft_wrap=True)
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


# --- stability: where a spike tips the design into a failure it does not recover from -----------


@app.command()
def stability(
    scenario: ScenarioArg,
    producer: Annotated[str | None, typer.Option(help="The producer whose rate is spiked (default: the first with a spike).")] = None,
    base: Annotated[str | None, typer.Option("--base", help="Base rates: 300/s..600/s:7, or a list 400/s,500/s (default: the scenario's).")] = None,
    spike_peak: Annotated[str | None, typer.Option("--spike-peak", help="Spike peaks: 600/s,900/s; relative +200/s; none = no spike (default: the scenario's).")] = None,
    spike_duration: Annotated[str | None, typer.Option("--spike-duration", help="Spike lengths: 5s,15s (default: the scenario's).")] = None,
    spike_at: Annotated[str | None, typer.Option("--spike-at", help="When the spike starts (default: the scenario's spike).")] = None,
    horizon: Annotated[str, typer.Option(help="How long after the spike a run may take to recover.")] = "60s",
    seeds: Annotated[int, typer.Option(min=1, help="At most this many seeds per point (bistable points run them all).")] = 10,
    min_seeds: Annotated[int, typer.Option("--min-seeds", min=1, help="A point whose first N seeds agree stops there.")] = 4,
    tolerance: Annotated[str, typer.Option(help="Offered load within this of the base counts as recovered.")] = "10%",
    settle: Annotated[str, typer.Option(help="Window the recovery conditions are averaged over.")] = "5s",
    out: Annotated[Path | None, typer.Option("--out", help="Output folder (default: reports/<scenario stem>-stability/).")] = None,
    set_: SetOpt = None,
    executor: ExecutorOpt = ExecutorChoice.process,
    scheduler: SchedulerOpt = None,
    workers: WorkersOpt = None,
    progress: ProgressOpt = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Map, over base load and spike, the probability that the system does not recover after the spike; write stability.parquet and stability.png."""
    from queuesim.errors import QueuesimError
    from queuesim.experiment import open_executor
    from queuesim.experiment.stability import stability as run_stability
    from queuesim.outputs import atomic_write
    from queuesim.report.render import png_bytes
    from queuesim.report.stability import stability_map
    from queuesim.scenario import load_scenario, parse_duration

    try:
        sc = load_scenario(scenario, set_ or ())
        fraction = float(tolerance.strip().rstrip("%")) / 100 if tolerance.strip().endswith("%") else float(tolerance)
        times = {"--horizon": horizon, "--settle": settle, **({"--spike-at": spike_at} if spike_at is not None else {})}
        parsed = {}
        for option, text in times.items():
            try:
                parsed[option] = parse_duration(text)
            except ValueError as error:
                raise ScenarioError([Problem(option, None, "", str(error))]) from None
        with open_executor(executor.value, workers=workers, scheduler=scheduler) as ex:
            result = run_stability(sc, producer=producer, bases=base, peaks=spike_peak, durations=spike_duration,
                                   at=parsed.get("--spike-at"), horizon=parsed["--horizon"], seeds=seeds,
                                   min_seeds=min_seeds, tolerance=fraction, settle=parsed["--settle"], executor=ex,
                                   progress=progress and not quiet)
    except ScenarioError as err:
        _fail(err)
        return
    except (QueuesimError, ValueError) as err:
        _fail_other(err)
        return
    result.source = str(scenario)
    out_dir = out or Path("reports") / f"{scenario.stem}-stability"
    written = result.save(out_dir)
    figure = stability_map(result.table, title=f"{sc.name}: P(no recovery {horizon} after a spike of '{result.producer}')")
    atomic_write(out_dir / "stability.png", png_bytes(figure, dpi=120))  # never half-written, as the tables
    if not quiet:
        Console(width=max(out_console.width, 120)).print(stability_table(result))
        out_console.print(f"wrote {len(written) + 1} files to [bold]{out_dir}[/]", highlight=False)
    if result.partial:
        err_console.print("[bold yellow]interrupted[/]: the map holds the seeds that finished", highlight=False)
        raise typer.Exit(130)


def stability_table(result: Any) -> Table:
    """A rich table of a stability map, one row per (base, spike) point."""
    colours = {"stable": "green", "bistable": "yellow", "unstable": "red"}
    out = Table(title=f"stability {result.scenario.name} — producer {result.producer}, "
                      f"{len(result.seeds)} seed run(s) over {len(result.points)} point(s)", title_justify="left")
    for label in ("base", "spike", "seeds", "P(no recovery)", "verdict", "recovery p50", "recovery p90", "peak ÷ base",
                  "end ÷ base"):
        out.add_column(label, justify="left" if label in ("spike", "verdict") else "right")

    def secs(v: Any) -> str:
        return "—" if v is None or v != v else f"{v:.1f} s"

    for row in result.table.to_dict("records"):
        verdict = row["verdict"] or "—"
        out.add_row(figures.format_rate(row["base"], 4), escape(row["spike"]), str(row["seeds"]),
                    "—" if row["p_not_recovered"] != row["p_not_recovered"] else f"{row['p_not_recovered']:.0%}",
                    f"[{colours.get(verdict, 'white')}]{verdict}[/]", secs(row["recovery_median"]),
                    secs(row["recovery_p90"]), f"{row['peak_ratio_max']:.2f}", f"{row['final_ratio_median']:.2f}")
    boundary = ", ".join(f"{spike}: {'none' if b is None else figures.format_rate(b, 4)}"
                         for spike, b in result.boundary().items())
    out.caption = f"lowest base that is not stable, per spike — {boundary}"
    return out


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
