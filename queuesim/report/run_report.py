"""The report of one run: verdict against the SLO, latency and queue-depth figures, observations and next steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from queuesim.figures import display_duration as format_duration
from queuesim.report import figures_sweep as fs
from queuesim.report.formatting import (
    as_number,
    figure_formatter,
    fmt_count,
    fmt_duration,
    fmt_fraction,
    fmt_number,
    fmt_per_second,
)
from queuesim.report.inputs import RunData
from queuesim.report.plots import flow, latency_cdf, queue_depth
from queuesim.report.render import (
    Block,
    FigureBlock,
    Report,
    Section,
    Tone,
    bullets,
    compact_png,
    note,
    p,
    png_bytes,
    table,
)
from queuesim.report.sections import (
    BUSY,
    IDLE,
    assumption_lines,
    headline_blocks,
    meta_rows,
    rate_text,
    scenario_blocks,
)
from queuesim.report.slo_table import (
    Check,
    check_limits,
    fmt_ci,
    limit_text,
    slo_check_table,
    slo_limits,
    slo_origin,
    stored_limits,
)

__all__ = ["build_run_report"]

def _observations(summary: Mapping[str, Any], data: Mapping[str, Any] | None,
                  checks: Sequence[Check]) -> list[str]:
    """What a reader should do about this run, one sentence each, most important first."""
    out = []
    for c in checks:
        fmt = figure_formatter(c.path)
        if c.verdict == "not met":
            out.append(f"`{c.path}` is {fmt(c.value)}, above its limit of {limit_text(c.path, c.limit)}.")
    for c in checks:
        if c.borderline:
            inside = (f"has the limit inside its 95% interval ({fmt_ci(c)})" if c.ci is not None
                      else "has no 95% interval (too few samples beyond the percentile)")
            out.append(f"`{c.path}` {inside}: borderline; run more replications (`--precision 2%`) "
                       "before relying on the verdict.")
    m, r = summary.get("messages") or {}, summary.get("rates") or {}
    lat = summary.get("latency") or {}
    queues = (data or {}).get("queues") or {}
    for name, w in (summary.get("workers") or {}).items():
        u = as_number(w.get("utilization"))
        if u is None:
            continue
        if u >= BUSY:
            out.append(f"Pool `{name}` is {u:.0%} busy: waits grow steeply as load rises (Erlang C), so "
                       "there is little headroom; size it for the load you expect with `queuesim plan`.")
        elif u < IDLE and checks and all(c.met for c in checks):
            out.append(f"Pool `{name}` is only {u:.0%} busy while the SLO holds: it may be larger than needed.")
    for name, q in (summary.get("queues") or {}).items():
        if as_number(q.get("rejected")):
            cap = (queues.get(name) or {}).get("capacity")
            out.append(f"Queue `{name}`{'' if cap is None else f' (capacity {cap:,})'} answered "
                       f"{fmt_count(q['rejected'])} publishes with 503.")
    if as_number(m.get("gave_up")):
        out.append(f"{fmt_count(m['gave_up'])} requests ({fmt_fraction(r.get('gave_up'))}) gave up after "
                   "their last retry: those users saw an error.")
    if as_number(m.get("duplicates")):
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
    if as_number(m.get("dead_lettered")):
        out.append(f"{fmt_count(m['dead_lettered'])} requests went to the dead-letter queue after their "
                   "last allowed receive.")
    if as_number(m.get("lost")):
        causes = ", ".join(f"{k.replace('_', ' ')} {fmt_count(v)}" for k, v in (summary.get("losses") or {}).items() if as_number(v))
        out.append(f"{fmt_count(m['lost'])} requests ({fmt_fraction(r.get('loss'))}) were lost"
                   + (f" (messages lost by cause: {causes})." if causes else "."))
    offered, base = as_number(r.get("offered")), as_number(r.get("base_load"))
    if offered is not None and base and offered > 1.05 * base:
        out.append(f"Retries raise the offered load to {fmt_per_second(offered)} publish attempts, "
                   f"{offered / base - 1:.0%} above the base load of {fmt_per_second(base)}.")
    if as_number(m.get("abandoned")):
        out.append(f"{fmt_count(m['abandoned'])} requests ({fmt_fraction(r.get('abandoned'))}) were abandoned: the "
                   "user stopped waiting before the result came back.")
    poison = summary.get("poison") or {}
    if as_number(poison.get("seen")):
        out.append(f"{fmt_count(poison['seen'])} poison messages: {fmt_count(as_number(poison.get('dead_lettered')))} dead-lettered, "
                   f"{fmt_count(as_number(poison.get('lost')))} lost, {fmt_count(as_number(poison.get('cycling')))} still cycling.")
    out += [str(w) for w in summary.get("warnings") or []]
    if not out:
        busiest = max(((n, as_number(w.get("utilization")) or 0.0) for n, w in (summary.get("workers") or {}).items()),
                      key=lambda t: t[1], default=None)
        out.append("No rejections, losses, duplicates or dead letters"
                   + (f"; the busiest pool, `{busiest[0]}`, is {busiest[1]:.0%} busy." if busiest else "."))
    return out



def _next_steps(source: str | None, data: Mapping[str, Any] | None) -> list[str]:
    if not source:
        return []
    steps = [f"Size it for more load: `queuesim plan {source} --load 2x`."]
    producers = list(((data or {}).get("producers") or {}).items())
    pools = list(((data or {}).get("workers") or {}).items())
    fixed = bool(pools) and isinstance(pools[0][1].get("count", 1), int)  # an elastic pool has no count to sweep
    if producers and fixed and as_number(producers[0][1].get("rate")) is not None:
        name, pr = producers[0]
        rate = float(pr["rate"])
        pool, w = pools[0]
        count = int(w.get("count", 1))
        steps.append(f"See the whole curve: `queuesim sweep {source} --vary producers.{name}.rate="
                     f"{rate_text(rate * 0.5)}..{rate_text(rate * 2)}:7 --vary workers.{pool}.count="
                     f"{max(1, count - 2)}..{count + 4}`, then `queuesim report` on its output.")
    return steps



def _time_caption(summary: Mapping[str, Any]) -> str:
    peaks = [f"`{n}` reached {fmt_count(as_number(q.get('max_depth')))} waiting (mean {fmt_number(as_number(q.get('mean_depth')))})"
             for n, q in (summary.get("queues") or {}).items() if isinstance(q, Mapping)]
    return ("Messages waiting per queue and busy workers per pool over the whole run, averaged per time bucket "
            "and over replications (so short peaks are smoothed); the warm-up is shaded. Exact peaks in the "
            "window: " + "; ".join(peaks) + ".") if peaks else ""



def _latency_percentile_figure(summary: Mapping[str, Any], limits: Mapping[str, float]) -> FigureBlock:
    fig = fs.latency_percentiles(summary, limits)
    # the caption names the curves the figure drew (a waiting client's response, a limited ack appear only then)
    labels = fig.axes[0].get_legend_handles_labels()[1] if fig.axes else []
    kinds = [lb for lb in labels if not lb.startswith("SLO")]
    limited = len(labels) > len(kinds)
    drawn = ", ".join(kinds) if kinds else "No latency"
    return FigureBlock("latency_percentiles", "Latency percentiles against the SLO",
                       f"{drawn[:1].upper()}{drawn[1:]} at each percentile (requests created after the warm-up)"
                       + ("; SLO limits on latencies are the dashed red lines." if limited else "."),
                       png_bytes(fig))



#: What each cause of the diagnosis is called in a verdict's headline ("limited by …").
CAUSES = {
    "slo_floor": "an SLO at the service-time floor", "bistable": "a bistable load",
    "metastable": "a metastable retry storm", "retry_storm": "a retry storm", "back_pressure": "back pressure",
    "visibility_timeout": "duplicates from a short visibility timeout", "broker_faults": "broker faults",
    "worker_faults": "worker faults", "load_spike": "a load spike above capacity", "saturation": "saturation",
}
#: Verdict lines: the diagnosis' findings shown before the other observations.
DIAGNOSIS_LINES = 3


def cause_title(finding: Mapping[str, Any]) -> str:
    """A finding's cause in a few words, for a headline."""
    cause = str(finding.get("cause"))
    return CAUSES.get(cause, cause.replace("_", " "))


def diagnosis_lines(diagnosis: Sequence[Mapping[str, Any]]) -> list[str]:
    """The findings as verdict sentences: the first is what limits the design, the others what else holds it back."""
    out = []
    for i, f in enumerate(diagnosis[:DIAGNOSIS_LINES]):
        message = str(f.get("message", ""))
        lead = "Limited by " if i == 0 else "Also: "
        out.append(f"{lead}{message}" + ("" if message.endswith(".") else "."))
    return out


#: Observations the diagnosis already states, by the cause that states them (kept out of the verdict).
_COVERED = {"saturation": "% busy:", "metastable": "Retries raise the offered load", "retry_storm": "Retries raise the offered load",
            "visibility_timeout": "duplicate processings"}


def build_run_report(run: RunData, extra_slo: Mapping[str, Any] | None = None,
                     diagnosis: Sequence[Mapping[str, Any]] | None = None) -> Report:
    """The report of one run.

    ``diagnosis`` replaces the one the run stored (``summary.json``), when the caller re-diagnosed
    it with the SLO given here (an SLO at the service-time floor depends on the limits).
    """
    s = run.summary
    ran = stored_limits(s)  # the limits the run was checked against (its --slo too)
    limits = slo_limits(run.scenario, run.scenario_data, {**ran, **(extra_slo or {})})
    checks = check_limits(s, limits)
    source = s.get("source")
    found = list(run.diagnosis if diagnosis is None else diagnosis)

    # verdict: the SLO's state, then what limits the design and its figures, then the rest
    obs = _observations(s, run.scenario_data, checks)
    limited = f"limited by {cause_title(found[0])}" if found else ""
    if checks:
        failed = [c for c in checks if c.verdict == "not met"]
        unsure = [c for c in checks if c.borderline]
        tone: Tone = "bad" if failed else ("warn" if unsure else "ok")
        head = (f"SLO not met: {len(failed)} of {len(checks)} limits exceeded" if failed
                else f"SLO borderline: {len(unsure)} of {len(checks)} limits inside the 95% interval" if unsure
                else f"SLO met: all {len(checks)} limits hold")
        head += f" — {limited}" if limited else ""
    else:
        tone = "muted" if not found else "warn"
        e2e = (s.get("latency") or {}).get("end_to_end") or {}
        head = (f"No SLO in the scenario; {limited}" if limited else
                f"No SLO in the scenario. Throughput {fmt_per_second((s.get('rates') or {}).get('throughput'))}, "
                f"end-to-end p99 {fmt_duration(e2e.get('p99'))}, 503 rate {fmt_fraction((s.get('rates') or {}).get('rejection'))}")
    covered = [_COVERED[str(f.get("cause"))] for f in found if str(f.get("cause")) in _COVERED]
    rest = [o for o in obs if not any(key in o for key in covered)]
    verdict = (tone, head, (diagnosis_lines(found) + rest)[:max(4, min(len(found), DIAGNOSIS_LINES) + 2)])

    sections = [Section("scenario", "Scenario", tuple(scenario_blocks(run.scenario_data, s, run.scenario_origin)))]
    headline = headline_blocks(s)
    if checks:
        headline.insert(0, slo_check_table(checks))
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
        fig_f = flow(run.timeseries, s)
        sections.append(Section("queue-depth", "Queue depth and flow over time", (
            Block("figure", figure=FigureBlock("queue_depth", "Queue depth over time", _time_caption(s), png_bytes(fig_q))),
            Block("figure", figure=FigureBlock("flow", "Throughput, offered load and failures over time",
                                               _flow_caption(run.timeseries), png_bytes(fig_f))),
            *_fault_blocks(s),
        )))
    else:
        sections.append(Section("queue-depth", "Queue depth over time", (note("No timeseries.csv in the result."),)))

    rec = [bullets(diagnosis_lines(found) + rest)]
    steps = _next_steps(source, run.scenario_data)
    if steps:
        rec += [p("Next steps:"), bullets(steps)]
    sections.append(Section("recommendation", "Recommendation", tuple(rec)))
    own = slo_limits(run.scenario, run.scenario_data)
    sections.append(Section("assumptions", "Assumptions", (bullets(
        assumption_lines(s, run.scenario_data, run.scenario_origin, source, run.path,
                     slo_note=slo_origin(limits, own, "when the report was made (`--slo`)", ran))),)))
    return Report(title=str(s.get("scenario") or (run.scenario_data or {}).get("name") or "scenario"),
                  kind="run", meta=meta_rows(s.get("source"), s.get("seed"), s.get("replications"),
                                         s.get("queuesim_version"), run.path),
                  verdict=verdict, sections=sections)



def _flow_caption(ts: Any) -> str:
    """What the flow figure draws, from the columns the time series has (an older run lacks some)."""
    top = ["completed requests per second"]
    if "offered" in ts:
        top.append("every publish attempt per second (offered load: first attempts and retries)")
    if "produced" in ts:
        top.append("new requests per second")
    bottom = [label for col, label in (("rejected", "503 rejections"), ("gave_up", "give-ups"), ("lost", "losses"),
                                       ("dead_lettered", "dead letters"), ("duplicates", "duplicate processings"),
                                       ("abandoned", "abandoned requests")) if col in ts]
    return (f"Top: {', '.join(top[:-1])} and {top[-1]}" if len(top) > 1 else f"Top: {top[0]}") + \
           (f". Bottom: {', '.join(bottom)} per second; a series at zero throughout is marked (none)." if bottom else ".") + \
           " Per time bucket, averaged over replications; the warm-up is shaded."


def _fault_blocks(summary: Mapping[str, Any]) -> list[Block]:
    """Recovery from each scheduled fault: the backlog it built and how long the queue took to drain."""
    faults = [f for f in summary.get("faults") or [] if isinstance(f, Mapping)]
    if not faults:
        return []
    rows = []
    for f in faults:
        drain = as_number(f.get("drain_time"))
        rows.append((fmt_duration(as_number(f.get("at"))), f"`{f.get('queue')}`", str(f.get("kind")),
                     fmt_duration(as_number(f.get("end"))), fmt_number(as_number(f.get("depth_before"))),
                     fmt_count(as_number(f.get("backlog_peak"))), "not drained" if drain is None else fmt_duration(drain)))
    return [table(("at", "queue", "fault", "ended", "depth before", "backlog peak", "drained after"), rows,
                  align="rllrrrr", caption="Scheduled faults: the backlog each built and the time after it ended "
                                          "until the queue was back to its depth before it.")]



def _run_cdf(run: RunData) -> FigureBlock | None:
    caption = ("Share of requests completed within a given time (end to end) and of messages received "
               "within a given wait; p50 and p99 marked.")
    if "latency_cdf" in run.figure_pngs:
        return FigureBlock("latency_cdf", "Latency distribution", caption, compact_png(run.figure_pngs["latency_cdf"]))
    if run.requests is not None and run.messages is not None:
        return FigureBlock("latency_cdf", "Latency distribution", caption,
                           png_bytes(latency_cdf(run.requests, run.messages, run.summary)))
    return None
