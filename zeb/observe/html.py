"""`zeb report`'s HTML: one self-contained file (inline CSS, inline SVG plots drawn by matplotlib, no
scripts, fonts or links to fetch) from zeb.plan.report's ReportData. Not zeb.observe.dashboard, the monitor's
terminal output.

matplotlib is imported here only, and this module only by `zeb report` and the demo's last step."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import datetime, timezone
from html import escape

from zeb.plan.report import ReportData, price_range, target_line, thin_markers, thin_points

SECTIONS = (("workers", "Producing workers vs target"), ("throughput", "Games/s and $/hr"),
            ("value", "$ per game/s by GPU type"), ("market", "Market prices by GPU type"),
            ("events", "Replacements and strikes"), ("code", "Code the workers ran"),
            ("machines", "Machine reputation"), ("totals", "Totals"))

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.2em 0.7em; text-align: right; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
svg { max-width: 100%; height: auto; }
.muted { color: #777; }
"""
_COLOURS = {"replacement": "#d62728", "strike": "#9467bd"}
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    # The XML prolog, DOCTYPE and RDF metadata name w3.org and purl.org URLs; inline SVG needs none of them.
    return _METADATA.sub("", _XML_HEAD.sub("", buf.getvalue(), count=1))


def _figure(rows: int = 1, height: float = 3.0):
    from matplotlib.figure import Figure  # the object API: no pyplot, no global figure state

    fig = Figure(figsize=(11, height * rows))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, axes


def _time_axis(ax, data: ReportData) -> None:
    import matplotlib.dates as mdates

    ax.set_xlim(_dt(data.shown_since), _dt(data.now))
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.grid(alpha=0.3)


def _thin(data: ReportData) -> ReportData:
    """What the charts draw: no more points and marker lines than a chart is pixels wide (the tables and
    counts read the data whole)."""
    start = data.shown_since
    return dataclasses.replace(data, points=thin_points(data.points, start, data.now),
                               markers=thin_markers(data.markers, start, data.now))


def marker_path(xs: list[float]) -> tuple[list[float], list[float]]:
    """Full-height lines at `xs` as one polyline broken by NaNs: (x, y) in the x-axis transform's
    coordinates (x as data, y from 0 to 1 of the axes)."""
    nan = float("nan")
    px: list[float] = []
    py: list[float] = []
    for x in xs:
        px += (x, x, nan)
        py += (0.0, 1.0, nan)
    return px, py


def _mark_events(ax, data: ReportData) -> None:
    # One path per kind, not one artist (nor one collection member) per marker: the same full-height
    # lines, written as one SVG element each, drawn in milliseconds for a long window's thousands.
    import matplotlib.dates as mdates
    from matplotlib.lines import Line2D

    for kind, colour in _COLOURS.items():
        xs = [mdates.date2num(_dt(m.time)) for m in data.markers if m.kind == kind]
        if xs:
            px, py = marker_path(xs)
            ax.add_artist(Line2D(px, py, color=colour, alpha=0.35, linewidth=0.8, transform=ax.get_xaxis_transform(),
                                 label=f"_{kind}s"))


def _outside_legend(ax, **kw) -> None:
    # Beside the axes, never over the lines it names.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kw)


def workers_figure(data: ReportData):
    """The workers chart: producing workers as a step line, the target the monitor logged as another
    (the configured target, dotted, where the log has no target row), replacement and strike lines."""
    data = _thin(data)
    fig, (ax,) = _figure()
    times = [_dt(p.time) for p in data.points]
    ax.step(times, [p.producing for p in data.points], where="post", label="producing")
    steps, fallback = target_line(data.targets, data.target, data.shown_since, data.now)
    if steps:
        ax.step([_dt(t) for t, _ in steps], [n for _, n in steps], where="post", color="#2ca02c",
                linestyle="--", label="target (the monitor's)")
    if fallback:
        ax.plot([_dt(t) for t, _ in fallback], [n for _, n in fallback], color="#2ca02c",
                linestyle=":" if steps else "--", label=f"target (configured, {data.target})")
    _mark_events(ax, data)
    ax.set_ylabel("workers")
    ax.set_ylim(bottom=0)
    _outside_legend(ax)
    _time_axis(ax, data)
    return fig, ax


def _workers(data: ReportData) -> str:
    return _svg(workers_figure(data)[0])


def _throughput(data: ReportData) -> str:
    data = _thin(data)
    fig, (gps, dph) = _figure(2, 2.5)
    times = [_dt(p.time) for p in data.points]
    gps.step(times, [p.games_per_s for p in data.points], where="post", color="#1f77b4")
    gps.set_ylabel("games/s")
    dph.step(times, [p.dph for p in data.points], where="post", color="#ff7f0e")
    dph.set_ylabel("$/hr")
    for ax in (gps, dph):
        ax.set_ylim(bottom=0)
        _mark_events(ax, data)
        _time_axis(ax, data)
    return _svg(fig)


def _value(data: ReportData) -> str:
    rows = [r for r in data.gpus if r["dollars_per_gps"] is not None]
    if not rows:
        return '<p class="muted">No producing worker in the window.</p>'
    fig, (ax,) = _figure(height=0.4 * len(rows) + 1.2)
    names = [r["gpu_name"] for r in rows]
    values = [r["dollars_per_gps"] for r in rows]
    ax.barh(names, values, color="#1f77b4")
    ax.invert_yaxis()           # best value on top
    for n, v in enumerate(values):
        ax.annotate(f" {v:.4f}", (v, n), va="center")
    ax.set_xlabel("$/hr per game/s (lower is better)")
    return _svg(fig)


def market_figure(data: ReportData):
    """Median $/hr per GPU type over time; the price axis fitted to the prices, the legend beside it."""
    fig, (ax,) = _figure(height=3.5)
    for gpu, samples in data.market.items():
        ax.plot([_dt(s.time) for s in samples], [s.median_dph for s in samples], label=gpu, linewidth=1)
    ax.set_ylabel("median $/hr")
    fitted = price_range(s.median_dph for samples in data.market.values() for s in samples)
    if fitted:
        ax.set_ylim(*fitted)
    _outside_legend(ax, fontsize="small")
    _time_axis(ax, data)
    return fig, ax


def _market(data: ReportData) -> str:
    if not data.market:
        return '<p class="muted">No market samples in the window (every offer search records them).</p>'
    return _svg(market_figure(data)[0])


def _events(data: ReportData) -> str:
    fig, (ax,) = _figure(height=1.3)
    drawn = _thin(data).markers
    for n, kind in enumerate(("replacement", "strike")):
        times = [_dt(m.time) for m in drawn if m.kind == kind]
        count = sum(1 for m in data.markers if m.kind == kind)
        ax.plot(times, [n] * len(times), "|" if kind == "replacement" else "x", color=_COLOURS[kind],
                markersize=12, label=f"{kind}s ({count})", linestyle="none")
    ax.set_yticks([0, 1], ["replacements", "strikes"])
    ax.set_ylim(-0.6, 1.6)
    _time_axis(ax, data)
    rows = "".join(f"<tr><td>{_dt(m.time):%Y-%m-%d %H:%M}</td><td>{m.kind}</td><td>{escape(m.label)}</td>"
                   f"<td style='text-align:left'>{escape(m.detail)}</td></tr>" for m in data.markers[-200:])
    table = (f"<table><tr><th>UTC</th><th>Event</th><th>Worker</th><th>Why</th></tr>{rows}</table>"
             if rows else '<p class="muted">No replacement or strike in the window.</p>')
    return _svg(fig) + table


def _code(data: ReportData) -> str:
    if not data.commits:
        return ('<p class="muted">No worker in the window said which commit it runs (the onstart prints '
                '<code>code at &lt;sha&gt;</code>).</p>')
    head = "".join(f"<th>{c}</th>" for c in ("Commit", "First seen (UTC)", "Workers", "Produced", "Failed"))
    body = "".join(f"<tr><td><code>{escape(r['commit'][:12])}</code></td><td>{_dt(r['first_seen']):%Y-%m-%d %H:%M}"
                   f"</td><td>{r['workers']}</td><td>{r['produced']}</td><td>{r['failed']}</td></tr>"
                   for r in data.commits)
    return f"<table><tr>{head}</tr>{body}</table>"


def _machines(data: ReportData) -> str:
    if not data.machines:
        return '<p class="muted">zeb knows nothing of any machine yet.</p>'
    head = "".join(f"<th>{c}</th>" for c in ("Machine", "GPU", "Strikes", "Blocked", "Boots ok", "Boots failed",
                                               "Stalls", "Errors", "games/s", "p", "Last error"))
    body = "".join(
        f"<tr><td>{r['machine_id']}</td><td>{escape(r['gpu_name'] or '-')}</td><td>{r['strikes']}</td>"
        f"<td>{'yes' if r['blocked'] else ''}</td><td>{r['boots_ok']:g}</td><td>{r['boots_failed']:g}</td>"
        f"<td>{r['stalls']:g}</td><td>{r['errors']:g}</td>"
        f"<td>{'-' if r['games_per_s'] is None else format(r['games_per_s'], '.2f')}</td>"
        f"<td>{r['p_produce']:.2f}</td><td>{escape(r['last_error'])}</td></tr>" for r in data.machines)
    return f"<table><tr>{head}</tr>{body}</table>"


def _totals(data: ReportData) -> str:
    t = data.totals
    share = "-" if t["productive_share"] is None else f"{t['productive_share']:.0%}"
    rows = [("Spent", f"${t['spent']:.2f}"), ("Productive", f"${t['spent_productive']:.2f}"),
            ("Overhead", f"${t['spent_overhead']:.2f}"), ("Productive share", share),
            ("Replacements", str(t["replacements"])), ("Strikes", str(t["strikes"])),
            ("Now", f"{t['producing']}/{t['live']} producing, {t['games_per_s']:.1f} games/s, ${t['dph']:.3f}/hr")]
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _span(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"


def window_note(data: ReportData) -> str:
    """The header's line: the window asked, and the stretch the charts show when the data starts later."""
    asked = (f"Window asked: {_dt(data.since):%Y-%m-%d %H:%M} to {_dt(data.now):%Y-%m-%d %H:%M} UTC "
             f"({_span(data.now - data.since)}).")
    if data.shown_since <= data.since:
        return f"{asked} Shown: all of it."
    return (f"{asked} Shown: from {_dt(data.shown_since):%Y-%m-%d %H:%M} UTC ({_span(data.now - data.shown_since)}),"
            " where the fleet's data begins; the totals cover the whole window.")


def render_html(data: ReportData) -> str:
    import os
    import sys

    if "numpy" not in sys.modules:
        # numpy (under matplotlib) starts OpenBLAS with a thread per core at import: tens of ms for
        # nothing, as these charts do no linear algebra. Only this process, only when not set already.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import matplotlib

    matplotlib.use("Agg")       # no display needed, whatever MPLBACKEND says
    parts = {"workers": _workers, "throughput": _throughput, "value": _value, "market": _market,
             "events": _events, "code": _code, "machines": _machines, "totals": _totals}
    body = "".join(f'<section id="{key}"><h2>{n}. {title}</h2>{parts[key](data)}</section>\n'
                   for n, (key, title) in enumerate(SECTIONS, 1))
    window = escape(window_note(data))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>zeb report: {escape(data.fleet)}</title><style>{_CSS}</style></head>\n<body>"
            f"<h1>zeb report: fleet {escape(data.fleet)}</h1><p class=\"muted\">{window}</p>\n{body}</body></html>\n")
