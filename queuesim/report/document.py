"""The report a team reads: one self-contained HTML page and its Markdown twin, from a run or a sweep directory.

A report is built in two steps. :func:`build_report` reads a result directory (``queuesim run``:
``summary.json``, ``scenario.json``, ``timeseries.csv``…; ``queuesim sweep``: ``sweep.parquet``,
``sweep.json``, optionally ``plan.json``) into a :class:`Report`: an ordered list of sections made of
plain blocks (paragraphs, lists, tables, figures). :meth:`Report.save` renders the same blocks through
two Jinja templates: ``report.html`` (autoescaped, figures embedded as PNG data URIs, a content
security policy that forbids anything but inline styles and data images) and ``report.md`` (figures
written beside it under ``figures/``).

Text in blocks is plain: the templates escape it. Spans between backticks are shown as code.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from markupsafe import Markup, escape
from matplotlib.figure import Figure

from queuesim import __version__
from queuesim.errors import QueuesimError
from queuesim.report import figures_sweep as fs
from queuesim.report.plots import DPI, format_duration, latency_cdf, queue_depth, flow

__all__ = [
    "REPORT_HTML", "REPORT_MD", "FIGURE_DIR", "ReportError", "Block", "Cell", "FigureBlock",
    "Section", "Report", "RunData", "SweepData", "load_input", "build_report", "write_report",
]

REPORT_HTML, REPORT_MD, FIGURE_DIR = "report.html", "report.md", "figures"
PNG_COLORS = 128  # palette size of embedded PNGs: plots have few colours, so this keeps them sharp and small
BUSY = 0.85  # utilization above which a pool is reported as having little headroom
IDLE = 0.30  # utilization below which a pool meeting its SLO is reported as possibly oversized
CI_LOW, CI_HIGH = "ci95_low", "ci95_high"

Tone = Literal["", "ok", "bad", "warn", "muted"]


class ReportError(QueuesimError):
    """A directory that holds no run or sweep result, or a result that cannot be read."""


# ============================================================================ the document model


@dataclass(frozen=True)
class Cell:
    """A table cell: its text and an optional tone (``ok``, ``bad``, ``warn``, ``muted``)."""

    text: str
    tone: Tone = ""


@dataclass(frozen=True)
class FigureBlock:
    """A figure: its PNG bytes, a title, a caption and the file stem it gets beside report.md."""

    stem: str
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        """``data:image/png;base64,…``: the figure inside the HTML file."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def file(self) -> str:
        """Path of the PNG relative to report.md."""
        return f"{FIGURE_DIR}/{self.stem}.png"


@dataclass(frozen=True)
class Block:
    """One block of a section.

    ``kind`` is ``p`` (``text``), ``list`` (``items``), ``table`` (``columns``, ``rows`` of str or
    :class:`Cell`, ``caption``, ``align`` per column: ``l`` or ``r``), ``figure`` (``figure``),
    ``note`` (``text``, shown as an aside) or ``code`` (``text``, preformatted).
    """

    kind: Literal["p", "list", "table", "figure", "note", "code"]
    text: str = ""
    items: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Cell, ...], ...] = ()
    align: str = ""
    caption: str = ""
    figure: FigureBlock | None = None


def p(text: str) -> Block:
    """A paragraph."""
    return Block("p", text=text)


def note(text: str) -> Block:
    """An aside (a section that does not apply, a caveat)."""
    return Block("note", text=text)


def bullets(items: Iterable[str]) -> Block:
    """A bulleted list."""
    return Block("list", items=tuple(items))


def table(columns: Sequence[str], rows: Iterable[Sequence[str | Cell]], caption: str = "",
          align: str | None = None) -> Block:
    """A table; ``align`` is one letter per column (``l``/``r``), default first left, others right."""
    cells = tuple(tuple(c if isinstance(c, Cell) else Cell(str(c)) for c in row) for row in rows)
    return Block("table", columns=tuple(columns), rows=cells, caption=caption,
                 align=align or "l" + "r" * (len(columns) - 1))


@dataclass(frozen=True)
class Section:
    """A titled part of the report; ``id`` is its HTML anchor."""

    id: str
    title: str
    blocks: tuple[Block, ...]


@dataclass
class Report:
    """A report ready to render: header, verdict and sections.

    Attributes
    ----------
    title : str
        The scenario name (shown escaped).
    kind : {'run', 'sweep'}
    meta : list of (label, text)
        One line under the title: source, seed, replications, version, generated.
    verdict : (tone, headline, details)
        The answer first: SLO met or not, or the recommendation.
    sections : list of Section
    """

    title: str
    kind: str
    meta: list[tuple[str, str]]
    verdict: tuple[Tone, str, list[str]]
    sections: list[Section]
    version: str = __version__

    @property
    def figures(self) -> list[FigureBlock]:
        """Every figure in document order."""
        return [b.figure for s in self.sections for b in s.blocks if b.kind == "figure" and b.figure]

    def html(self) -> str:
        """The self-contained HTML page."""
        return _environment(html=True).get_template("report.html.j2").render(report=self)

    def markdown(self) -> str:
        """The Markdown twin (figures referenced under ``figures/``)."""
        return _environment(html=False).get_template("report.md.j2").render(report=self)

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``out_dir``; return the paths."""
        out = Path(out_dir)
        (out / FIGURE_DIR).mkdir(parents=True, exist_ok=True)
        written = [out / REPORT_HTML, out / REPORT_MD]
        written[0].write_text(self.html(), encoding="utf-8")
        written[1].write_text(self.markdown(), encoding="utf-8")
        for fig in self.figures:
            path = out / fig.file
            path.write_bytes(fig.png)
            written.append(path)
        return written


# ============================================================================ rendering


_CODE = re.compile(r"`([^`]+)`")
_MD_SPECIAL = re.compile(r"([\\*_\[\]<>#|~])")


def _inline_html(text: Any) -> Markup:
    """Escape ``text`` for HTML, then show spans between backticks as ``<code>``."""
    escaped = str(escape(str(text)))
    return Markup(_CODE.sub(lambda m: f"<code>{m[1]}</code>", escaped))


def _inline_md(text: Any, cell: bool = False) -> str:
    """Escape ``text`` for Markdown (code spans kept); in a table cell also pipes and newlines."""
    out = []
    for i, part in enumerate(_CODE.split(str(text))):
        if i % 2:  # inside a code span: only pipes matter (GFM tables)
            out.append("`" + (part.replace("|", "\\|") if cell else part) + "`")
        else:
            out.append(_MD_SPECIAL.sub(r"\\\1", part).replace("&", "&amp;"))
    joined = "".join(out)
    return joined.replace("\n", " ") if cell else joined


def _fence(text: str, lang: str = "") -> str:
    """A Markdown code fence longer than any run of backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}{lang}\n{text}\n{bar}"


def _environment(html: bool) -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("queuesim.report", "templates"), autoescape=html,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["inline"] = _inline_html if html else _inline_md
    env.filters["mdcell"] = lambda t: _inline_md(t, cell=True)
    env.filters["fence"] = _fence
    return env


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """A figure as a palette PNG: a fraction of the size of matplotlib's RGBA output, same look."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return _compact_png(buf.getvalue())


def _compact_png(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        small = im.convert("RGB").quantize(colors=PNG_COLORS, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue()


# ============================================================================ formatting


def fmt_duration(v: float | None) -> str:
    """``12.3 ms``; an em dash for a missing value."""
    return "—" if v is None or not math.isfinite(v) else format_duration(float(v))


def fmt_fraction(v: float | None) -> str:
    """A rate as a percentage with three significant digits: ``0.123%``; ``0%`` for zero."""
    if v is None or not math.isfinite(v):
        return "—"
    return "0%" if v == 0 else f"{v * 100:.3g}%"


def fmt_per_second(v: float | None) -> str:
    """``1,234.5/s``."""
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:,.1f}/s" if v >= 10 else f"{v:.3g}/s"


def fmt_count(v: float | None) -> str:
    """``12,345``."""
    return "—" if v is None or not math.isfinite(v) else f"{int(round(v)):,}"


def fmt_number(v: float | None) -> str:
    """Three significant digits."""
    if v is None or not math.isfinite(v):
        return "—"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _ci(summary: Mapping[str, Any], path: str, fmt: Callable[[float | None], str]) -> str:
    ci = (summary.get("ci95") or {}).get(path)
    if not ci or ci[0] is None or ci[1] is None or not all(map(math.isfinite, ci)):
        return ""
    return f"{fmt(ci[0])} – {fmt(ci[1])}"


def _get(summary: Mapping[str, Any], path: str) -> Any:
    node: Any = summary
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def figure_formatter(path: str) -> Callable[[float | None], str]:
    """How to print the summary figure at a dotted path."""
    parts = path.split(".")
    if parts[0] == "latency" or parts[-1] == "mean_wait":
        return fmt_duration
    if path == "rates.throughput" or parts[-1] == "throughput":
        return fmt_per_second
    if parts[0] == "rates" or parts[-1] == "utilization":
        return fmt_fraction
    if parts[0] == "messages" or parts[-1] in ("max_depth", "accepted", "rejected", "dead_lettered",
                                               "redeliveries", "completed", "count"):
        return fmt_count
    return fmt_number


# ============================================================================ inputs


@dataclass
class RunData:
    """What a report needs from one run.

    ``scenario`` is the validated :class:`~queuesim.scenario.Scenario` when it could be rebuilt,
    ``scenario_data`` its dict form (``Scenario.to_dict()``), ``scenario_origin`` where it came from
    (``scenario.json``, the source file, or None). ``figure_pngs`` are the PNGs the run saved.
    """

    summary: dict[str, Any]
    timeseries: pd.DataFrame | None = None
    scenario: Any = None
    scenario_data: dict[str, Any] | None = None
    scenario_origin: str | None = None
    requests: pd.DataFrame | None = None
    messages: pd.DataFrame | None = None
    figure_pngs: dict[str, bytes] = field(default_factory=dict)
    path: Path | None = None


@dataclass
class SweepData:
    """What a report needs from a sweep: the table, its metadata (``sweep.json``) and an optional plan."""

    table: pd.DataFrame
    meta: dict[str, Any]
    axes: list[str]
    plan: dict[str, Any] | None = None
    scenario: Any = None
    scenario_data: dict[str, Any] | None = None
    scenario_origin: str | None = None
    path: Path | None = None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {path}: {error}") from None


def _scenario_from(data: Mapping[str, Any] | None, source: str | None,
                   directory: Path) -> tuple[Any, dict[str, Any] | None, str | None]:
    """(Scenario or None, its dict, where it came from): the stored dict first, else the source file."""
    from queuesim.errors import ScenarioError
    from queuesim.scenario import load_scenario, scenario_from_dict

    if data is not None:
        try:
            sc = scenario_from_dict(dict(data), source="scenario.json")
            return sc, sc.to_dict(), "scenario.json"
        except ScenarioError:
            return None, dict(data), "scenario.json"
    for candidate in _source_candidates(source, directory):
        try:
            sc = load_scenario(candidate)
        except (ScenarioError, OSError):
            continue
        return sc, sc.to_dict(), str(source)
    return None, None, None


def _source_candidates(source: str | None, directory: Path) -> list[Path]:
    if not source:
        return []
    path = Path(source)
    if path.is_absolute():
        return [path] if path.is_file() else []
    found = []
    for base in (Path.cwd(), *directory.resolve().parents):
        if (base / path).is_file():
            found.append(base / path)
            break
    return found


def _requests_from_messages(messages: pd.DataFrame) -> pd.DataFrame:
    """Request rows rebuilt from ``messages.parquet`` (only when the run saved no latency plot).

    A request is created with its first-stage message, is done when the last of its messages
    settles, and is completed when every one of its messages completed.
    """
    keys = ["replication", "request"]
    cols = messages[keys + ["created", "done"]].assign(
        ok=(messages["outcome"] == "completed").to_numpy(),
        first=np.where(messages["stage"].to_numpy() == 0, messages["in_window"].to_numpy(dtype=bool), False))
    out = cols.groupby(keys, sort=False, observed=True).agg(
        created=("created", "min"), done=("done", "max"), ok=("ok", "all"), in_window=("first", "any")).reset_index()
    out["outcome"] = np.where(out.pop("ok").to_numpy(), "completed", "other")
    out["end_to_end"] = out["done"] - out["created"]
    return out


def load_run_dir(path: str | os.PathLike[str]) -> RunData:
    """Read a ``queuesim run`` output directory."""
    d = Path(path)
    summary = _read_json(d / "summary.json")
    stored = _read_json(d / "scenario.json") if (d / "scenario.json").is_file() else None
    scenario, data, origin = _scenario_from(stored, summary.get("source"), d)
    ts = pd.read_csv(d / "timeseries.csv") if (d / "timeseries.csv").is_file() else None
    pngs = {stem: (d / f"{stem}.png").read_bytes() for stem in ("latency_cdf",)
            if (d / f"{stem}.png").is_file()}
    run = RunData(summary=summary, timeseries=ts, scenario=scenario, scenario_data=data,
                  scenario_origin=origin, figure_pngs=pngs, path=d)
    if "latency_cdf" not in pngs and (d / "messages.parquet").is_file():
        run.messages = pd.read_parquet(d / "messages.parquet")
        run.requests = _requests_from_messages(run.messages)
    return run


def run_data(result: Any) -> RunData:
    """A :class:`RunData` from an in-memory :class:`~queuesim.RunResult` (no files involved)."""
    sc = result.scenario
    return RunData(summary=result.summary, timeseries=result.timeseries, scenario=sc,
                   scenario_data=sc.to_dict(), scenario_origin="the run", requests=result.requests,
                   messages=result.messages)


def _varied_columns(table: pd.DataFrame, meta: Mapping[str, Any]) -> list[str]:
    axes = [a["path"] for a in meta.get("axes") or [] if isinstance(a, Mapping) and a.get("path") in table]
    if axes:
        return axes
    # no sweep.json: the columns between `point` and the first summary figure are the varied paths
    cols = list(table.columns)
    start = cols.index("point") + 1 if "point" in cols else 0
    out = []
    for c in cols[start:]:
        if c.split(".")[0] in ("messages", "rates", "latency", "replications", "window", "seed",
                               "duration", "warmup", "offered_load", "slo", "cost"):
            break
        out.append(c)
    return out


def load_sweep_dir(path: str | os.PathLike[str], plan: str | os.PathLike[str] | None = None) -> SweepData:
    """Read a ``queuesim sweep`` output directory (and ``plan.json`` beside it or at ``plan``)."""
    d = Path(path)
    try:
        tbl = pd.read_parquet(d / "sweep.parquet")
    except (OSError, ValueError) as error:
        raise ReportError(f"cannot read {d / 'sweep.parquet'}: {error}") from None
    meta = _read_json(d / "sweep.json") if (d / "sweep.json").is_file() else {}
    plan_path = Path(plan) if plan is not None else d / "plan.json"
    plan_data = _read_json(plan_path) if plan_path.is_file() else None
    if plan is not None and plan_data is None:
        raise ReportError(f"no plan at {plan_path}")
    stored = meta.get("base_scenario") or meta.get("scenario_data")
    if stored is None and (d / "scenario.json").is_file():
        stored = _read_json(d / "scenario.json")
    scenario, data, origin = _scenario_from(stored if isinstance(stored, Mapping) else None,
                                            meta.get("source"), d)
    return SweepData(table=tbl, meta=meta, axes=_varied_columns(tbl, meta), plan=plan_data,
                     scenario=scenario, scenario_data=data, scenario_origin=origin, path=d)


def load_input(path: str | os.PathLike[str], plan: str | os.PathLike[str] | None = None) -> RunData | SweepData:
    """Read a run or sweep directory (a path to its ``summary.json`` or ``sweep.parquet`` also works)."""
    p = Path(path)
    if p.is_file() and p.name in ("summary.json", "sweep.parquet", "sweep.json"):
        p = p.parent
    if not p.is_dir():
        raise ReportError(f"{path}: no such directory")
    if (p / "sweep.parquet").is_file():
        return load_sweep_dir(p, plan)
    if (p / "summary.json").is_file():
        return load_run_dir(p)
    raise ReportError(f"{path}: neither a run (summary.json) nor a sweep (sweep.parquet) directory")


# ============================================================================ SLO


def _slo_limits(scenario: Any, data: Mapping[str, Any] | None,
                extra: Mapping[str, Any] | None = None) -> dict[str, float]:
    """The SLO limits in summary units: the scenario's ``slo:`` (if the model has one), then ``extra``."""
    limits: dict[str, float] = {}
    slo = getattr(scenario, "slo", None)
    if slo is not None:
        limits.update(getattr(slo, "limits", None) or dict(slo))
    elif data and isinstance(data.get("slo"), Mapping):
        limits.update({k: float(v) for k, v in data["slo"].items() if _num(v) is not None})
    if extra:
        limits.update({k: float(v) for k, v in extra.items() if _num(v) is not None})
    return limits


@dataclass(frozen=True)
class Check:
    """One SLO limit against one summary."""

    path: str
    limit: float
    value: float | None
    ci: tuple[float, float] | None

    @property
    def met(self) -> bool:
        return self.value is not None and self.value <= self.limit

    @property
    def borderline(self) -> bool:
        """The 95% interval has the limit inside it: more replications would settle it."""
        return self.ci is not None and self.ci[0] <= self.limit < self.ci[1]


def check_limits(summary: Mapping[str, Any], limits: Mapping[str, float]) -> list[Check]:
    """Each limit against the summary's figure (a missing figure does not meet its limit)."""
    out = []
    intervals = summary.get("ci95") or {}
    for path, limit in limits.items():
        ci = intervals.get(path)
        ci_t = (float(ci[0]), float(ci[1])) if ci and _num(ci[0]) is not None and _num(ci[1]) is not None else None
        out.append(Check(path, float(limit), _num(_get(summary, path)), ci_t))
    return out


def _limit_text(path: str, limit: float) -> str:
    return figure_formatter(path)(limit) if not path.startswith("rates.") or limit else "0"


def _slo_table(checks: Sequence[Check]) -> Block:
    rows = []
    for c in checks:
        fmt = figure_formatter(c.path)
        status = (Cell("met · borderline", "warn") if c.met and c.borderline else Cell("met", "ok") if c.met
                  else Cell("NOT met · borderline", "warn") if c.borderline else Cell("NOT met", "bad"))
        rows.append((Cell(f"`{c.path}`"), Cell(f"≤ {_limit_text(c.path, c.limit)}"), Cell(fmt(c.value)),
                     Cell(f"{fmt(c.ci[0])} – {fmt(c.ci[1])}" if c.ci else ""), status))
    return table(("limited figure", "limit", "value", "95% CI", "status"), rows, align="lrrrl",
                 caption="A limit is met when the figure is at or below it; borderline: the 95% "
                         "interval contains the limit.")


# ============================================================================ scenario section


def _dist(d: Any) -> str:
    if d is None:
        return "—"
    if not isinstance(d, Mapping):
        return str(d)
    kind = d.get("dist", "?")
    args = ", ".join(f"{k}={format_duration(v) if k in ('mean', 'value', 'low', 'high') and _num(v) is not None else v}"
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


def _arrivals(pr: Mapping[str, Any]) -> str:
    """How a producer's requests arrive, in words."""
    rate = pr.get("rate")
    process = "Poisson" if pr.get("arrivals", "poisson") == "poisson" else str(pr.get("arrivals"))
    if _num(rate) is not None:
        return f"{process} {_rate(rate)}"
    if isinstance(rate, Mapping):
        return f"{process}, rate {_show('rate', rate)}"
    if isinstance(rate, list):
        return f"{process}, rate schedule {_show('rate', rate)}"
    for key in ("interarrival", "trace", "batch"):
        if pr.get(key) not in (None, {}, []):
            return f"{key} {_dist(pr[key]) if key == 'interarrival' else _show(key, pr[key])}"
    return "—"


def _rate(v: Any) -> str:
    from queuesim.scenario import format_rate

    return "—" if _num(v) is None else format_rate(float(v), digits=4)


def _scenario_blocks(data: Mapping[str, Any] | None, summary: Mapping[str, Any] | None,
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
        extra = []
        if q.get("broker") == "sqs":
            extra.append(f"visibility {format_duration(q.get('visibility_timeout', 30))}")
            if q.get("max_receives"):
                extra.append(f"DLQ after {q['max_receives']} receives")
        extra += [x for x in [_extras(q, ("broker", "capacity", "latency", "visibility_timeout", "max_receives"))] if x != "—"]
        rows.append((f"`{name}`", mark(f"queues.{name}.broker", str(q.get("broker"))),
                     mark(f"queues.{name}.capacity", "unbounded" if q.get("capacity") is None else f"{q['capacity']:,}"),
                     _dist(q.get("latency")), "; ".join(extra) or "—"))
    blocks.append(table(("queue", "broker", "capacity", "delivery latency", "semantics"), rows,
                        align="lllll", caption="Queues (capacity counts waiting messages)"))
    rows = []
    for name, w in (data.get("workers") or {}).items():
        to = "—" if not w.get("to") else f"`{w['to']}`" + (f" ×{w['fanout']}" if w.get("fanout", 1) != 1 else "")
        rows.append((f"`{name}`", f"`{w.get('from')}`", mark(f"workers.{name}.count", str(w.get("count"))),
                     mark(f"workers.{name}.service", _dist(w.get("service"))), to,
                     # the dedupe cost only matters to an idempotent pool
                     _extras(w, ("from", "count", "service", "to", "fanout")
                             + (() if w.get("idempotent") else ("dedupe",)))))
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


# ============================================================================ headline figures


def _headline_blocks(summary: Mapping[str, Any], focus: str = "") -> list[Block]:
    m, r, lat = summary.get("messages") or {}, summary.get("rates") or {}, summary.get("latency") or {}
    reps = summary.get("replications")
    method = summary.get("ci_method")
    rows: list[tuple[str, str, str]] = [
        ("throughput", fmt_per_second(r.get("throughput")), _ci(summary, "rates.throughput", fmt_per_second)),
        ("requests produced / completed", f"{fmt_count(m.get('produced'))} / {fmt_count(m.get('completed'))}", ""),
        ("503 rejections (of publish attempts)", f"{fmt_fraction(r.get('rejection'))} ({fmt_count(m.get('rejected'))})",
         _ci(summary, "rates.rejection", fmt_fraction)),
        ("gave up after retries", f"{fmt_fraction(r.get('gave_up'))} ({fmt_count(m.get('gave_up'))})",
         _ci(summary, "rates.gave_up", fmt_fraction)),
        ("lost", f"{fmt_fraction(r.get('loss'))} ({fmt_count(m.get('lost'))})", _ci(summary, "rates.loss", fmt_fraction)),
        ("duplicate processings", f"{fmt_fraction(r.get('duplicate'))} ({fmt_count(m.get('duplicates'))})",
         _ci(summary, "rates.duplicate", fmt_fraction)),
        ("dead-lettered", fmt_count(m.get("dead_lettered")), ""),
        ("in flight at the end", fmt_count(m.get("in_flight")), ""),
    ]
    if _num(r.get("offered")) is not None:
        base = _num(r.get("base_load"))
        rows.insert(1, ("offered (publish attempts, retries included)",
                        fmt_per_second(r["offered"]) + ("" if base is None else f" (base {fmt_per_second(base)})"),
                        _ci(summary, "rates.offered", fmt_per_second)))
    if _num(m.get("abandoned")):
        rows.append(("abandoned (the user stopped waiting)", f"{fmt_fraction(r.get('abandoned'))} ({fmt_count(m['abandoned'])})",
                     _ci(summary, "rates.abandoned", fmt_fraction)))
    kinds = [("response", "response time (what the user waits)")] if (lat.get("response") or {}).get("count") else []
    for kind, label in kinds + [("end_to_end", "end-to-end latency"), ("queue_wait", "queue wait")]:
        d = lat.get(kind) or {}
        rows.append((f"{label}, mean", fmt_duration(d.get("mean")), _ci(summary, f"latency.{kind}.mean", fmt_duration)))
        rows.append((f"{label}, p99", fmt_duration(d.get("p99")), ""))
    how = {"replications": f"Student-t intervals over {reps} independent replications",
           "batch_means": "intervals from 10 batch means of the one run"}.get(str(method), "intervals as stored")
    caption = (f"{focus}95% CI: {how}. Percentiles are pooled over replications and have no interval here.")
    blocks = [table(("figure", "value", "95% CI"), rows, caption=caption)]

    lrows = []
    for kind, label in (("response", "response (what the user waits)"), ("end_to_end", "end to end"),
                        ("queue_wait", "queue wait"), ("service", "service"), ("ack", "publish ack (retries included)")):
        d = lat.get(kind) or {}
        if not d or (kind == "response" and not d.get("count")):
            continue
        lrows.append((label, *(fmt_duration(d.get(s)) for s in ("mean", "p50", "p90", "p99", "p999", "max"))))
    if lrows:
        blocks.append(table(("latency", "mean", "p50", "p90", "p99", "p99.9", "max"), lrows,
                            caption="Latency of requests created after the warm-up"))
    qrows = []
    for name, q in (summary.get("queues") or {}).items():
        if not isinstance(q, Mapping):
            continue
        qrows.append((f"`{name}`", fmt_number(_num(q.get("mean_depth"))), fmt_count(_num(q.get("max_depth"))),
                      fmt_duration(_num(q.get("mean_wait"))), fmt_per_second(_num(q.get("throughput"))),
                      fmt_count(_num(q.get("rejected"))), fmt_count(_num(q.get("redeliveries"))),
                      fmt_count(_num(q.get("dead_lettered")))))
    if qrows:
        blocks.append(table(("queue", "mean depth", "max depth", "mean wait", "accepted/s", "503s",
                             "redelivered", "dead-lettered"), qrows, caption="Queues"))
    pools = {n: w for n, w in (summary.get("workers") or {}).items() if isinstance(w, Mapping)}
    faulty = any(_num(w.get(k)) for w in pools.values() for k in ("crashes", "failures"))
    wrows = []
    for name, w in pools.items():
        u = _num(w.get("utilization"))
        tone: Tone = "warn" if u is not None and u >= BUSY else ""
        row = [Cell(f"`{name}`"), Cell(fmt_count(_num(w.get("count")))), Cell(fmt_fraction(u), tone),
               Cell(fmt_count(_num(w.get("completed"))))]
        if faulty:
            row += [Cell(fmt_count(_num(w.get("crashes")))), Cell(fmt_count(_num(w.get("failures"))))]
        wrows.append(row)
    if wrows:
        blocks.append(table(("pool", "workers", "utilization", "processings") + (("crashes", "failures") if faulty else ()),
                            wrows, caption="Worker pools"))
    losses = {k: v for k, v in (summary.get("losses") or {}).items() if _num(v)}
    if losses:
        blocks.append(table(("cause", "lost messages"), [(k.replace("_", " "), fmt_count(v)) for k, v in losses.items()],
                            caption="Lost messages by cause"))
    return blocks


# ============================================================================ observations (run)


def _observations(summary: Mapping[str, Any], data: Mapping[str, Any] | None,
                  checks: Sequence[Check]) -> list[str]:
    """What a reader should do about this run, one sentence each, most important first."""
    out = []
    for c in checks:
        fmt = figure_formatter(c.path)
        if not c.met:
            out.append(f"`{c.path}` is {fmt(c.value)}, above its limit of {_limit_text(c.path, c.limit)}.")
    for c in checks:
        if c.borderline:
            out.append(f"`{c.path}` has the limit inside its 95% interval ({fmt_ci(c)}): run more "
                       "replications (`--replications`) before relying on the verdict.")
    m, r = summary.get("messages") or {}, summary.get("rates") or {}
    lat = summary.get("latency") or {}
    queues = (data or {}).get("queues") or {}
    for name, w in (summary.get("workers") or {}).items():
        u = _num(w.get("utilization"))
        if u is None:
            continue
        if u >= BUSY:
            out.append(f"Pool `{name}` is {u:.0%} busy: waits grow steeply as load rises (Erlang C), so "
                       "there is little headroom; size it for the load you expect with `queuesim plan`.")
        elif u < IDLE and checks and all(c.met for c in checks):
            out.append(f"Pool `{name}` is only {u:.0%} busy while the SLO holds: it may be larger than needed.")
    for name, q in (summary.get("queues") or {}).items():
        if _num(q.get("rejected")):
            cap = (queues.get(name) or {}).get("capacity")
            out.append(f"Queue `{name}`{'' if cap is None else f' (capacity {cap:,})'} answered "
                       f"{fmt_count(q['rejected'])} publishes with 503.")
    if _num(m.get("gave_up")):
        out.append(f"{fmt_count(m['gave_up'])} requests ({fmt_fraction(r.get('gave_up'))}) gave up after "
                   "their last retry: those users saw an error.")
    if _num(m.get("duplicates")):
        service = lat.get("service") or {}
        sqs = [(n, q) for n, q in queues.items() if q.get("broker") == "sqs"]
        hint = ""
        if sqs:
            n, q = sqs[0]
            hint = (f" The visibility timeout of `{n}` ({format_duration(q.get('visibility_timeout', 30))}) is "
                    f"shorter than the slowest jobs (service p99 {fmt_duration(service.get('p99'))}, max "
                    f"{fmt_duration(service.get('max'))}): raise it above the longest processing time, or make "
                    "processing idempotent.")
        out.append(f"{fmt_count(m['duplicates'])} duplicate processings ({fmt_fraction(r.get('duplicate'))} of "
                   f"completed requests).{hint}")
    if _num(m.get("dead_lettered")):
        out.append(f"{fmt_count(m['dead_lettered'])} requests went to the dead-letter queue after their "
                   "last allowed receive.")
    if _num(m.get("lost")):
        causes = ", ".join(f"{k.replace('_', ' ')} {fmt_count(v)}" for k, v in (summary.get("losses") or {}).items() if _num(v))
        out.append(f"{fmt_count(m['lost'])} requests ({fmt_fraction(r.get('loss'))}) were lost"
                   + (f" (messages lost by cause: {causes})." if causes else "."))
    offered, base = _num(r.get("offered")), _num(r.get("base_load"))
    if offered is not None and base and offered > 1.05 * base:
        out.append(f"Retries raise the offered load to {fmt_per_second(offered)} publish attempts, "
                   f"{offered / base - 1:.0%} above the base load of {fmt_per_second(base)}.")
    if _num(m.get("abandoned")):
        out.append(f"{fmt_count(m['abandoned'])} requests ({fmt_fraction(r.get('abandoned'))}) were abandoned: the "
                   "user stopped waiting before the result came back.")
    poison = summary.get("poison") or {}
    if _num(poison.get("seen")):
        out.append(f"{fmt_count(poison['seen'])} poison messages: {fmt_count(_num(poison.get('dead_lettered')))} dead-lettered, "
                   f"{fmt_count(_num(poison.get('lost')))} lost, {fmt_count(_num(poison.get('cycling')))} still cycling.")
    out += [str(w) for w in summary.get("warnings") or []]
    if not out:
        busiest = max(((n, _num(w.get("utilization")) or 0.0) for n, w in (summary.get("workers") or {}).items()),
                      key=lambda t: t[1], default=None)
        out.append("No rejections, losses, duplicates or dead letters"
                   + (f"; the busiest pool, `{busiest[0]}`, is {busiest[1]:.0%} busy." if busiest else "."))
    return out


def fmt_ci(c: Check) -> str:
    """The interval of a check in its figure's unit."""
    fmt = figure_formatter(c.path)
    return f"{fmt(c.ci[0])} – {fmt(c.ci[1])}" if c.ci else "—"


def _next_steps(source: str | None, data: Mapping[str, Any] | None) -> list[str]:
    if not source:
        return []
    steps = [f"Size it for more load: `queuesim plan {source} --load 2x`."]
    producers = list(((data or {}).get("producers") or {}).items())
    pools = list(((data or {}).get("workers") or {}).items())
    if producers and pools and _num(producers[0][1].get("rate")) is not None:
        name, pr = producers[0]
        rate = float(pr["rate"])
        pool, w = pools[0]
        count = int(w.get("count", 1))
        steps.append(f"See the whole curve: `queuesim sweep {source} --vary producers.{name}.rate="
                     f"{_rate(rate * 0.5)}..{_rate(rate * 2)}:7 --vary workers.{pool}.count="
                     f"{max(1, count - 2)}..{count + 4}`, then `queuesim report` on its output.")
    return steps


# ============================================================================ assumptions


def _overrides(data: Mapping[str, Any] | None, source: str | None, directory: Path | None) -> list[str]:
    """Settings of the result that differ from its source file (``--set`` overrides), as ``path: a → b``."""
    from queuesim.errors import ScenarioError
    from queuesim.scenario import load_scenario

    if not data or not source:
        return []
    for candidate in _source_candidates(source, directory or Path.cwd()):
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
    if _num(v) is not None and (leaf in _DURATION_KEYS or leaf.endswith(("_after", "_every", "_idle", "_timeout"))):
        return format_duration(float(v))
    if _num(v) is not None and leaf in ("rate", "base", "peak", "tps"):
        return _rate(v)
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


def _slo_origin(limits: Mapping[str, float], scenario_limits: Mapping[str, float], where: str) -> str:
    """Where the SLO limits came from, for the assumptions."""
    if not limits:
        return "No SLO: the scenario has no `slo:` section and none was given with `--slo`."
    own = [k for k in limits if k in scenario_limits and scenario_limits[k] == limits[k]]
    given = [f"`{k}`" for k in limits if k not in own]
    text = "SLO limits come from the scenario's `slo:` section" if own else "The scenario has no `slo:` section"
    if given:
        text += f"; {', '.join(given)} {'was' if len(given) == 1 else 'were'} given {where}"
    return text + "."


def _assumptions(summary: Mapping[str, Any] | None, data: Mapping[str, Any] | None, origin: str | None,
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
            out.append("One replication: 95% intervals come from 10 batch means of the run, which understate the "
                       "uncertainty when successive batches are correlated (a busy system). Run with "
                       "`--replications 5` or more for firmer intervals.")
        else:
            out.append(f"{reps} independent replications (seed {s.get('seed')}); 95% intervals are Student-t "
                       "intervals over their means.")
    if slo_note:
        out.append(slo_note)
    out.append("Percentiles are pooled over replications and shown without intervals; an SLO limit is met when "
               "the figure is at or below it, and called borderline when its 95% interval contains the limit.")
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


# ============================================================================ run report


def _time_caption(summary: Mapping[str, Any]) -> str:
    peaks = [f"`{n}` reached {fmt_count(_num(q.get('max_depth')))} waiting (mean {fmt_number(_num(q.get('mean_depth')))})"
             for n, q in (summary.get("queues") or {}).items() if isinstance(q, Mapping)]
    return ("Messages waiting per queue and busy workers per pool over the whole run, averaged per time bucket "
            "and over replications (so short peaks are smoothed); the warm-up is shaded. Exact peaks in the "
            "window: " + "; ".join(peaks) + ".") if peaks else ""


def _latency_percentile_figure(summary: Mapping[str, Any], limits: Mapping[str, float]) -> FigureBlock:
    fig = fs.latency_percentiles(summary, limits)
    return FigureBlock("latency_percentiles", "Latency percentiles against the SLO",
                       "End-to-end latency, queue wait and service time at each percentile (requests "
                       "created after the warm-up); SLO limits on latencies are the dashed red lines.",
                       png_bytes(fig))


def build_run_report(run: RunData, extra_slo: Mapping[str, Any] | None = None) -> Report:
    """The report of one run."""
    s = run.summary
    limits = _slo_limits(run.scenario, run.scenario_data, extra_slo)
    checks = check_limits(s, limits)
    source = s.get("source")

    # verdict
    obs = _observations(s, run.scenario_data, checks)
    if checks:
        failed = [c for c in checks if not c.met]
        tone: Tone = "bad" if failed else ("warn" if any(c.borderline for c in checks) else "ok")
        head = (f"SLO not met: {len(failed)} of {len(checks)} limits exceeded" if failed
                else f"SLO met: all {len(checks)} limits hold")
    else:
        tone = "muted"
        e2e = (s.get("latency") or {}).get("end_to_end") or {}
        head = (f"No SLO in the scenario. Throughput {fmt_per_second((s.get('rates') or {}).get('throughput'))}, "
                f"end-to-end p99 {fmt_duration(e2e.get('p99'))}, 503 rate {fmt_fraction((s.get('rates') or {}).get('rejection'))}")
    verdict = (tone, head, obs[:4])

    sections = [Section("scenario", "Scenario", tuple(_scenario_blocks(run.scenario_data, s, run.scenario_origin)))]
    headline = _headline_blocks(s)
    if checks:
        headline.insert(0, _slo_table(checks))
    sections.append(Section("figures", "Headline figures", tuple(headline)))

    lat_blocks: list[Block] = [Block("figure", figure=_latency_percentile_figure(s, limits))]
    cdf = _run_cdf(run)
    if cdf is not None:
        lat_blocks.append(Block("figure", figure=cdf))
    lat_blocks.append(note("Latency against load and the SLO heat map need several loads: run a sweep "
                           "(`queuesim sweep`) and report on its directory."))
    sections.append(Section("latency", "Latency", tuple(lat_blocks)))

    if run.timeseries is not None and len(run.timeseries):
        fig_q = queue_depth(run.timeseries, s)
        fig_f = flow(run.timeseries)
        sections.append(Section("queue-depth", "Queue depth and flow over time", (
            Block("figure", figure=FigureBlock("queue_depth", "Queue depth over time", _time_caption(s), png_bytes(fig_q))),
            Block("figure", figure=FigureBlock("flow", "Throughput and failures over time",
                                               "Completed requests per second against the offered load (top) and "
                                               "503s, give-ups, losses and dead letters per second (bottom).",
                                               png_bytes(fig_f))),
            *_fault_blocks(s),
        )))
    else:
        sections.append(Section("queue-depth", "Queue depth over time", (note("No timeseries.csv in the result."),)))

    rec = [bullets(obs)]
    steps = _next_steps(source, run.scenario_data)
    if steps:
        rec += [p("Next steps:"), bullets(steps)]
    sections.append(Section("recommendation", "Recommendation", tuple(rec)))
    own = _slo_limits(run.scenario, run.scenario_data)
    sections.append(Section("assumptions", "Assumptions", (bullets(
        _assumptions(s, run.scenario_data, run.scenario_origin, source, run.path,
                     slo_note=_slo_origin(limits, own, "when the report was made (`--slo`)"))),)))
    return Report(title=str(s.get("scenario") or (run.scenario_data or {}).get("name") or "scenario"),
                  kind="run", meta=_meta(s.get("source"), s.get("seed"), s.get("replications"),
                                         s.get("queuesim_version"), run.path),
                  verdict=verdict, sections=sections)


def _fault_blocks(summary: Mapping[str, Any]) -> list[Block]:
    """Recovery from each scheduled fault: the backlog it built and how long the queue took to drain."""
    faults = [f for f in summary.get("faults") or [] if isinstance(f, Mapping)]
    if not faults:
        return []
    rows = []
    for f in faults:
        drain = _num(f.get("drain_time"))
        rows.append((fmt_duration(_num(f.get("at"))), f"`{f.get('queue')}`", str(f.get("kind")),
                     fmt_duration(_num(f.get("end"))), fmt_number(_num(f.get("depth_before"))),
                     fmt_count(_num(f.get("backlog_peak"))), "not drained" if drain is None else fmt_duration(drain)))
    return [table(("at", "queue", "fault", "ended", "depth before", "backlog peak", "drained after"), rows,
                  align="rllrrrr", caption="Scheduled faults: the backlog each built and the time after it ended "
                                          "until the queue was back to its depth before it.")]


def _run_cdf(run: RunData) -> FigureBlock | None:
    caption = ("Share of requests completed within a given time (end to end) and of messages received "
               "within a given wait; p50 and p99 marked.")
    if "latency_cdf" in run.figure_pngs:
        return FigureBlock("latency_cdf", "Latency distribution", caption, _compact_png(run.figure_pngs["latency_cdf"]))
    if run.requests is not None and run.messages is not None:
        return FigureBlock("latency_cdf", "Latency distribution", caption,
                           png_bytes(latency_cdf(run.requests, run.messages, run.summary)))
    return None


def _generated() -> datetime:
    """Now, or ``SOURCE_DATE_EPOCH`` when set (reproducible output: regenerated samples do not churn)."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    return datetime.now(timezone.utc)


def _meta(source: Any, seed: Any, reps: Any, version: Any, path: Path | None) -> list[tuple[str, str]]:
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


# ============================================================================ sweep report


def _unflatten(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A summary.json-like dict from one sweep table row (dotted columns; intervals into ``ci95``)."""
    out: dict[str, Any] = {"ci95": {}}
    for key, value in row.items():
        if key == "point" or key.startswith(("slo.", "cost.")):
            continue
        v = value.item() if isinstance(value, np.generic) else value
        if isinstance(v, float) and math.isnan(v):
            v = None
        if key.endswith("." + CI_LOW) or key.endswith("." + CI_HIGH):
            base, which = key.rsplit(".", 1)
            pair = out["ci95"].setdefault(base, [None, None])
            pair[0 if which == CI_LOW else 1] = v
            continue
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node.setdefault(parts[-1], v)
    out["ci95"] = {k: v for k, v in out["ci95"].items() if v[0] is not None and v[1] is not None}
    return out


def _ci_columns(tbl: pd.DataFrame) -> dict[str, tuple[str, str]]:
    return {c[: -len(CI_LOW) - 1]: (c, c[: -len(CI_LOW) - 1] + "." + CI_HIGH)
            for c in tbl.columns if c.endswith("." + CI_LOW) and c[: -len(CI_LOW) - 1] + "." + CI_HIGH in tbl}


def _met_column(tbl: pd.DataFrame, limits: Mapping[str, float]) -> pd.Series | None:
    """Per point: every limit holds (a missing figure does not). Computed from ``limits`` so that
    limits added with ``--slo`` count; the table's ``slo.met`` only when no limit is known."""
    if not limits:
        return tbl["slo.met"].astype("boolean") if "slo.met" in tbl else None
    met = pd.Series(True, index=tbl.index)
    for path, limit in limits.items():
        if path not in tbl:
            met &= False
            continue
        v = pd.to_numeric(tbl[path], errors="coerce")
        met &= v.le(limit).fillna(False)
    return met


def _pick_axes(axes: Sequence[str]) -> tuple[str, str | None, list[str]]:
    """(x, series, others): x is the first producer rate swept (else the first path)."""
    rates = [a for a in axes if a.startswith("producers.") and a.endswith(".rate")]
    x = rates[0] if rates else axes[0]
    rest = [a for a in axes if a != x]
    return x, (rest[0] if rest else None), rest[1:]


def _close(a: Any, b: Any) -> bool:
    fa, fb = _num(a), _num(b)
    if fa is not None and fb is not None:
        return math.isclose(fa, fb, rel_tol=1e-6, abs_tol=1e-9)
    return a == b


def _plan_point(plan: Mapping[str, Any] | None, x: str, axes: Sequence[str]) -> dict[str, Any]:
    """The plan's recommendation as varied-path values (its load on the x axis when x is a producer rate)."""
    if not plan:
        return {}
    point = {k: v for k, v in (plan.get("recommended") or {}).items() if k in axes and v is not None}
    if point and x.startswith("producers.") and x.endswith(".rate") and _num(plan.get("target_rate")) is not None:
        point.setdefault(x, plan["target_rate"])
    return point


def _rows_matching(tbl: pd.DataFrame, values: Mapping[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=tbl.index)
    for k, v in values.items():
        mask &= tbl[k].map(lambda t, v=v: _close(t, v))
    return mask


def _smallest_meeting(tbl: pd.DataFrame, x: str, series: str | None, met: pd.Series | None) -> list[tuple[Any, Any]]:
    """Per x value: the smallest series value whose point meets the SLO (None if none does)."""
    out: list[tuple[Any, Any]] = []
    if met is None or series is None or not fs._is_numeric(tbl[series]):
        return out
    _, levels, _ = fs._x_positions(tbl, x)
    for lv in levels:
        rows = tbl[(tbl[x] == lv) & met.fillna(False).to_numpy()]
        out.append((lv, rows[series].min() if len(rows) else None))
    return out


def _focus_row(tbl: pd.DataFrame, x: str, series: str | None, met: pd.Series | None,
               plan_pt: Mapping[str, Any]) -> tuple[int, str]:
    """(row position, why): the recommended point, else the cheapest point meeting the SLO at the
    highest load, else the highest-load point with the most capacity. ``tbl`` has a RangeIndex,
    so row labels are positions."""
    if plan_pt:
        mask = _rows_matching(tbl, plan_pt)
        if mask.any():
            return int(np.flatnonzero(mask.to_numpy())[0]), "the point the plan recommends"
    _, levels, numeric = fs._x_positions(tbl, x)
    top = levels[-1]
    at_top = tbl[x] == top
    if met is not None and series is not None and fs._is_numeric(tbl[series]):
        good = at_top & met.fillna(False)
        if good.any():
            idx = tbl[good][series].idxmin()
            return int(idx), "the smallest setting meeting the SLO at the highest load swept"
    rows = tbl[at_top]
    if series is not None and fs._is_numeric(tbl[series]):
        idx = rows[series].idxmax()
    else:
        idx = rows.index[0]
    return int(idx), "the highest load swept"


def _describe_point(row: Any, axes: Sequence[str]) -> str:
    return ", ".join(f"`{a}` = {fs.value_formatter(a)(row[a])}" for a in axes)


_RUN_SETTINGS = ("duration", "warmup", "seed")


def _resolved_sweep_scenario(sweep: SweepData) -> tuple[dict[str, Any] | None, bool]:
    """The base scenario as the sweep ran it: the stored one, or the source file's with the duration,
    warm-up and seed the table records (``--set`` overrides of those show in every row).

    Returns the scenario dict and whether it was changed from the source file here (then the
    changes are reported in the assumptions as settings the table gave).
    """
    data = sweep.scenario_data
    if data is None:
        return None, False
    data = json.loads(json.dumps(data))
    changed = False
    for key in _RUN_SETTINGS:
        if key in sweep.axes or key not in sweep.table:
            continue
        values = sweep.table[key].dropna().unique()
        if len(values) == 1 and _num(values[0]) is not None and not _close(values[0], data.get(key)):
            v = values[0].item() if isinstance(values[0], np.generic) else values[0]
            data[key] = int(v) if key == "seed" else float(v)
            changed = True
    reps = sweep.meta.get("replications")
    if isinstance(reps, int) and reps != data.get("replications"):
        data["replications"] = reps
        changed = True
    return data, changed


def _peak_timeseries(base: Mapping[str, Any] | None, axes: Sequence[str],
                     row: Mapping[Any, Any]) -> tuple[pd.DataFrame | None, dict[str, Any] | None, str]:
    """Time series of one point: re-simulated here (replication 0) since sweeps keep only summaries."""
    if base is None:
        return None, None, "the scenario is not available, so the point cannot be re-simulated"
    from queuesim.metrics import summarize, timeseries
    from queuesim.scenario import scenario_from_dict
    from queuesim.scenario.study import set_path
    from queuesim.sim import simulate

    data: dict[str, Any] = json.loads(json.dumps(base))
    data["sweep"] = None
    for a in axes:
        v = row[a]
        set_path(data, a, v.item() if isinstance(v, np.generic) else v)
    try:
        sc = scenario_from_dict(data, source="sweep point")
        record = simulate(sc, 0)
    except Exception as error:  # noqa: BLE001 - the figure is optional; say why it is missing
        return None, None, f"re-simulating the point failed: {error}"
    return timeseries([record]), summarize([record]), f"replication 0, seed {sc.seed}"


def _sweep_points_table(tbl: pd.DataFrame, axes: Sequence[str], met: pd.Series | None,
                        limits: Mapping[str, float]) -> Block:
    figs = ["rates.throughput", "latency.end_to_end.p50", "latency.end_to_end.p99", "rates.rejection",
            "rates.loss", "rates.duplicate"]
    figs += [p_ for p_ in limits if p_ not in figs]
    figs = [f for f in figs if f in tbl]
    names = {"rates.throughput": "throughput", "latency.end_to_end.p50": "e2e p50", "latency.end_to_end.p99": "e2e p99",
             "rates.rejection": "503 rate", "rates.loss": "loss", "rates.duplicate": "duplicates"}
    columns = [*axes, *(names.get(f, f) for f in figs)] + (["SLO"] if met is not None else [])
    rows = []
    for i in range(len(tbl)):
        r = tbl.iloc[i]
        cells = [Cell(fs.value_formatter(a)(r[a])) for a in axes]
        for f in figs:
            v = _num(r[f])
            tone: Tone = "bad" if f in limits and (v is None or v > limits[f]) else ""
            cells.append(Cell(figure_formatter(f)(v), tone))
        if met is not None:
            ok = met.iloc[i]
            cells.append(Cell("met", "ok") if ok is True or ok == True else Cell("not met", "bad"))  # noqa: E712
        rows.append(cells)
    return table(columns, rows, caption="Every point of the sweep; figures above their SLO limit are marked.")


def build_sweep_report(sweep: SweepData, extra_slo: Mapping[str, Any] | None = None,
                       simulate_peak: bool = True) -> Report:
    """The report of a sweep (with its capacity plan when there is one)."""
    tbl = sweep.table.reset_index(drop=True)
    meta = sweep.meta
    limits = _slo_limits(sweep.scenario, sweep.scenario_data)
    own = dict(limits)
    if isinstance(meta.get("slo"), Mapping):
        limits.update({k: float(v) for k, v in meta["slo"].items() if _num(v) is not None})
    if extra_slo:
        limits.update(extra_slo)
    if not sweep.axes:
        raise ReportError(f"{sweep.path}: the sweep table names no varied path")
    x, series, others = _pick_axes(sweep.axes)
    plan = sweep.plan
    plan_pt = _plan_point(plan, x, sweep.axes)
    met_all = _met_column(tbl, limits)
    data, resolved = _resolved_sweep_scenario(sweep)

    # with more than two varied paths the figures show one slice: the others at the focus point
    focus_i, why = _focus_row(tbl, x, series, met_all, plan_pt)
    focus = tbl.iloc[focus_i]
    sliced = tbl
    slice_note = ""
    if others:
        fixed = {o: focus[o] for o in others}
        sliced = tbl[_rows_matching(tbl, fixed)].reset_index(drop=True)
        slice_note = " Figures show the points with " + ", ".join(
            f"`{o}` = {fs.value_formatter(o)(v)}" for o, v in fixed.items()) + "."
    met = _met_column(sliced, limits)
    ci = _ci_columns(tbl)
    focus_summary = _unflatten(focus.to_dict())
    reps = _num(focus_summary.get("replications")) or _num(meta.get("replications"))
    focus_summary.setdefault("ci_method", "replications" if reps and reps >= 2 else "batch_means")

    # verdict and recommendation
    smallest = _smallest_meeting(sliced, x, series, met)
    rec_blocks: list[Block] = []
    details: list[str] = []
    xf = fs.value_formatter(x)
    if series is not None and smallest:
        sf = fs.value_formatter(series)
        rows = [(xf(lv), "none swept" if v is None else sf(v)) for lv, v in smallest]
        across = table((x, f"smallest {series} meeting the SLO"), rows,
                       caption="Read across the sweep: the least capacity that meets every limit at each load.")
    if plan:
        tone, head, plan_blocks, details = _plan_blocks(plan)
        rec_blocks += plan_blocks
        if series is not None and smallest:
            rec_blocks += [p("The sweep, read across every load it ran:"), across]
    elif met is not None:
        _, levels, _ = fs._x_positions(sliced, x)
        top = levels[-1]
        if series is not None and smallest:
            best = smallest[-1][1]
            if best is None:
                tone, head = "bad", f"The SLO is not met at the highest load swept ({xf(top)}) by any `{series}` swept"
            else:
                tone, head = "ok", f"At the highest load swept ({xf(top)}), `{series}` = {sf(best)} is the smallest value meeting the SLO"
            rec_blocks.append(across)
        else:
            good = sliced[met.fillna(False).to_numpy()]
            if len(good):
                tone, head = "ok", f"The SLO is met up to `{x}` = {xf(good[x].max())} of the values swept"
            else:
                tone, head = "bad", "The SLO is met at none of the points swept"
        n_met = int(met.fillna(False).sum())
        details.append(f"{n_met} of {len(sliced)} points meet every limit.")
        rec_blocks.append(p("No capacity plan is stored with this sweep: run `queuesim plan SCENARIO --load 2x` "
                            "for the smallest worker count meeting the SLO at a target load, beside its Erlang-C estimate."))
    else:
        tone, head = "muted", "No SLO in the scenario: add an `slo:` section to get a verdict per point"
        rec_blocks.append(p("With no SLO there is nothing to recommend against; the figures show how latency "
                            "and failures grow with load."))
    details.append(f"Headline figures below are at {_describe_point(focus, sweep.axes)} ({why}).")
    verdict = (tone, head, details)

    sections = [Section("scenario", "Scenario", tuple(
        [p("Swept: " + "; ".join(_axis_text(a, tbl) for a in sweep.axes) + f" — {len(tbl)} points.")]
        + _scenario_blocks(data, None, sweep.scenario_origin, sweep.axes)))]
    headline = _headline_blocks(focus_summary, focus=f"At {_describe_point(focus, sweep.axes)}. ")
    checks = check_limits(focus_summary, limits)
    if checks:
        headline.insert(0, _slo_table(checks))
    sections.append(Section("figures", "Headline figures", tuple(headline)))

    fig_lat = fs.latency_vs_load(sliced, x, series, limits, ci)
    sections.append(Section("latency", "Latency against load", (Block("figure", figure=FigureBlock(
        "latency_vs_load", "Latency percentiles against load",
        "End-to-end latency percentiles at each load" + ("" if series is None else f", one line per `{series}`")
        + "; the dashed red line is the SLO limit. A y axis switches to a log scale when latencies span more "
        "than 30×, as they do near saturation." + slice_note, png_bytes(fig_lat))),)))
    fig_rates = fs.rates_vs_load(sliced, x, series, limits, ci)
    sections.append(Section("rates", "503, loss and duplicate rates against load", (Block("figure", figure=FigureBlock(
        "rates_vs_load", "Failure rates against load",
        "Share of publish attempts answered 503, of requests lost, and duplicate processings per completed "
        "request; shaded bands are 95% intervals, dashed red lines SLO limits." + slice_note, png_bytes(fig_rates))),)))

    if met is not None:
        annotate = None
        lat_limits = [k for k in limits if k.startswith("latency.") and k in sliced]
        if lat_limits:
            annotate = sliced[lat_limits[0]].map(lambda v: fmt_duration(_num(v)))
        fig_map = fs.slo_heatmap(sliced, x, series, met, annotate, plan_pt or None)
        cap = ("Green where every SLO limit holds, red where at least one fails"
               + (f"; each cell shows `{lat_limits[0]}`" if lat_limits else "")
               + ("; the outlined cell is the plan's recommendation" if plan_pt else "") + "." + slice_note)
        map_blocks: tuple[Block, ...] = (Block("figure", figure=FigureBlock("slo_heatmap", "Where the SLO is met", cap, png_bytes(fig_map))),)
        if series is None:
            map_blocks += (note("Only one path was swept, so the map is a single row."),)
    else:
        map_blocks = (note("No SLO in the scenario or the sweep, so there is no map of where it is met."),)
    sections.append(Section("slo-map", "Where the SLO is met", map_blocks))

    top_x = fs._x_positions(tbl, x)[1][-1]
    peak_i, peak_why = (focus_i, why) if _close(focus[x], top_x) else _focus_row(tbl, x, series, met_all, {})
    peak = tbl.iloc[peak_i]
    if simulate_peak:
        ts, ts_summary, how = _peak_timeseries(data, sweep.axes, peak.to_dict())
    else:
        ts, ts_summary, how = None, None, "re-simulation turned off (`--no-simulate`)"
    if ts is not None:
        fig_q = queue_depth(ts, ts_summary)
        qblocks: tuple[Block, ...] = (Block("figure", figure=FigureBlock(
            "queue_depth_peak", "Queue depth over time at the peak",
            f"Messages waiting and busy workers over time at {_describe_point(peak, sweep.axes)} ({peak_why}), "
            f"re-simulated for this report ({how}); the warm-up is shaded.", png_bytes(fig_q))),)
    else:
        qblocks = (note(f"No time series for the peak point: {how}."),)
    sections.append(Section("queue-depth", "Queue depth over time at the peak", qblocks))

    sections.append(Section("recommendation", "Recommendation", tuple(rec_blocks)))
    sections.append(Section("points", "All points", (_sweep_points_table(tbl, sweep.axes, met_all, limits),)))
    source = meta.get("source") or (plan or {}).get("source")
    assumptions = _assumptions(None, data, sweep.scenario_origin, source, sweep.path,
                               meta or {"replications": "?", "seeds": "?"}, skip_diff=resolved,
                               slo_note=_slo_origin(limits, own, "to the sweep or the report (`--slo`)"))
    if plan:
        est = plan.get("analytic_estimate") or {}
        if est.get("assumptions"):
            assumptions.append(f"Analytic estimate ({est.get('model')}): {est['assumptions']}.")
    sections.append(Section("assumptions", "Assumptions", (bullets(assumptions),)))
    title = str(meta.get("scenario") or (sweep.scenario_data or {}).get("name") or "sweep")
    return Report(title=title, kind="sweep",
                  meta=_meta(source, (data or {}).get("seed"), meta.get("replications"),
                             meta.get("queuesim_version"), sweep.path),
                  verdict=verdict, sections=sections)


def _axis_text(path: str, tbl: pd.DataFrame) -> str:
    fmt = fs.value_formatter(path)
    vals = list(dict.fromkeys(tbl[path].tolist()))
    if fs._is_numeric(tbl[path]):
        vals = sorted(vals)
    shown = ", ".join(fmt(v) for v in vals) if len(vals) <= 8 else f"{fmt(vals[0])} … {fmt(vals[-1])} ({len(vals)} values)"
    return f"`{path}` = {shown}"


def _plan_blocks(plan: Mapping[str, Any]) -> tuple[Tone, str, list[Block], list[str]]:
    """The capacity plan: verdict, blocks and verdict details."""
    search = str(plan.get("search") or next(iter(plan.get("recommended") or {"setting": None})))
    rec = (plan.get("recommended") or {}).get(search)
    cur = (plan.get("current") or {}).get(search)
    load = _num(plan.get("target_load"))
    rate = _num(plan.get("target_rate"))
    at = f"{load:g}× today's load" if load is not None else "the target load"
    if rate is not None:
        at += f" ({fmt_per_second(rate)})"
    meets = bool(plan.get("meets_slo"))
    if rec is None:
        tone: Tone = "bad"
        head = f"No `{search}` searched meets the SLO at {at}"
    else:
        tone = "ok" if meets else "warn"
        head = (f"Recommended: `{search}` = {rec} for {at}"
                + ("" if meets else " (its confirmation run did not meet every limit)"))
    details = []
    if cur is not None:
        cm = plan.get("current_meets_slo")
        details.append(f"Today `{search}` = {cur}" + ("" if cm is None else
                       f", which {'meets' if cm else 'does not meet'} the SLO at {at}") + ".")
    est = plan.get("analytic_estimate") or {}
    if est.get("value") is not None:
        details.append(f"Analytic estimate ({est.get('model')}): {est['value']}.")
    rows = [("target load", at), ("recommended", f"`{search}` = {rec if rec is not None else 'none found'}"),
            ("meets the SLO (confirmation run)", "yes" if meets else "no"),
            ("confirmed with more replications", "yes" if plan.get("confirmed") else "no")]
    if cur is not None:
        rows.append(("current setting", f"`{search}` = {cur}"))
    sat, sat_a = _num(plan.get("saturation_throughput")), _num(plan.get("saturation_throughput_analytic"))
    if sat is not None or sat_a is not None:
        rows.append(("saturation throughput of the current design",
                     f"{fmt_per_second(sat)} simulated" + ("" if sat_a is None else f", {fmt_per_second(sat_a)} analytic")))
    head_room = _num(plan.get("headroom"))
    if head_room is not None:
        rows.append(("headroom over today's load", fmt_fraction(head_room)))
    if est:
        rows.append(("analytic estimate", f"{est.get('value') if est.get('value') is not None else 'not available'} ({est.get('model')})"))
    cost = plan.get("cost")
    if isinstance(cost, Mapping):
        cur_sym = cost.get("currency", "")
        for k, v in cost.items():
            if _num(v) is not None:
                rows.append((f"cost: {k.replace('_', ' ')}", f"{_num(v):,.2f} {cur_sym}".strip()))
    blocks = [table(("plan", "value"), rows, align="ll")]
    per = est.get("per_limit") or {}
    skipped = est.get("not_modelled") or {}
    if per or skipped:
        erows = [(f"`{k}`", str(v) if v is not None else "—", "") for k, v in per.items()]
        erows += [(f"`{k}`", "—", str(why)) for k, why in skipped.items()]
        blocks.append(table(("limit", f"smallest {search} (analytic)", "not modelled because"), erows, align="lrl",
                            caption="The Erlang-C estimate per SLO limit, beside the simulated answer above."))
    evals = plan.get("evaluations") or []
    if evals:
        erows2 = []
        for e in evals:
            erows2.append((str(e.get("value")), str(e.get("replications")), fmt_per_second(_num(e.get("throughput"))),
                           Cell("met", "ok") if e.get("meets_slo") else Cell("not met", "bad"),
                           "confirmation" if e.get("confirmation") else "search"))
        blocks.append(table((search, "replications", "throughput", "SLO", "run"), erows2, align="rrrll",
                            caption="Every candidate the plan simulated, in the order it ran."))
    for n in plan.get("notes") or []:
        blocks.append(note(str(n)))
    return tone, head, blocks, details


# ============================================================================ entry points


def build_report(source: Any, *, plan: str | os.PathLike[str] | None = None,
                 slo: Mapping[str, Any] | None = None, simulate_peak: bool = True) -> Report:
    """Build the report of a run or sweep.

    Parameters
    ----------
    source : path, RunResult, RunData or SweepData
        A ``queuesim run`` or ``queuesim sweep`` output directory, or a result in memory.
    plan : path, optional
        A ``plan.json`` to show with a sweep (default: ``plan.json`` in the sweep directory, if any).
    slo : mapping, optional
        Extra limits (summary path -> limit in summary units) added to the scenario's ``slo:``.
    simulate_peak : bool, default True
        For a sweep, re-simulate the peak point (one replication) to draw its queue depth over time;
        sweeps keep only each point's summary.

    Raises
    ------
    ReportError
        If ``source`` is neither a run nor a sweep result.
    """
    if isinstance(source, (str, os.PathLike)):
        source = load_input(source, plan)
    elif hasattr(source, "records") and hasattr(source, "summary"):
        source = run_data(source)
    if isinstance(source, RunData):
        return build_run_report(source, slo)
    if isinstance(source, SweepData):
        return build_sweep_report(source, slo, simulate_peak=simulate_peak)
    raise ReportError(f"cannot report on {type(source).__name__}")


def default_out_dir(source: str | os.PathLike[str]) -> Path:
    """``reports/<name of the result directory>/``."""
    p = Path(source)
    if p.is_file():
        p = p.parent
    return Path("reports") / p.resolve().name


def write_report(source: Any, out_dir: str | os.PathLike[str] | None = None, **kw: Any) -> list[Path]:
    """Build the report of ``source`` and write it (default ``reports/<result directory name>/``)."""
    if out_dir is None:
        if not isinstance(source, (str, os.PathLike)):
            raise ReportError("give out_dir for a result in memory")
        out_dir = default_out_dir(source)
    return build_report(source, **kw).save(out_dir)
