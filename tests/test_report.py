"""`zeb report`: the pure assembly from a hand-made event log, the HTML (every section, inline SVG, nothing
fetched, parseable), its totals equal to `zeb stats --since`, the demo's report, and a headless browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from zeb.core.lifecycle import WorkerRecord, WorkerState
from zeb.observe.html import SECTIONS, render_html
from zeb.plan.market import Sample
from zeb.plan.report import Point, assemble, fleet_series, markers
from zeb.storage.codec import event_row

T0 = 1_000_000.0
NOW = T0 + 4 * 3600


def _rec(iid: int, state: WorkerState, since: float, gps: float | None, dph: float,
         gpu: str = "RTX 3060") -> WorkerRecord:
    return WorkerRecord(instance_id=iid, label=f"w-{iid}", machine_id=100 + iid, gpu_name=gpu, dph_total=dph,
                        created_at=T0, state=state, state_since=since, first_seen=T0, games_per_s=gps)


def _to(t: float, iid: int, before: str | None, to: str, code: str | None = None, kind: str = "transition") -> dict:
    return event_row(t, kind, code or to, "", instance_id=iid, label=f"w-{iid}", from_state=before, to=to)


# Worker 1 produces from T0+1h and is replaced (stalled) at T0+3h; worker 2 boots at T0+2h and produces
# from T0+2.5h; worker 3 was producing before the window and has no row in it.
EVENTS = [
    _to(T0 + 0.5 * 3600, 1, None, "booting", kind="adopted"),
    _to(T0 + 3600, 1, "booting", "producing"),
    _to(T0 + 2 * 3600, 2, None, "pending"),
    _to(T0 + 2.5 * 3600, 2, "pending", "producing"),
    _to(T0 + 3 * 3600, 1, "producing", "destroying", code="replace"),
    event_row(T0 + 3 * 3600, "action", "replace", "stalled at batch 9", instance_id=1, label="w-1", machine_id=101,
              action="destroy", ok=True, strike=True),
    _to(T0 + 3.1 * 3600, 1, "destroying", "gone"),
    _to(T0 + 3.2 * 3600, 4, None, "destroying", code="downscale"),     # not a replacement
]
LIVE = [_rec(2, WorkerState.PRODUCING, T0 + 2.5 * 3600, 2.0, 0.10, "RTX 4070"),
        _rec(3, WorkerState.PRODUCING, T0 - 3600, 1.5, 0.06)]
RETIRED = [_rec(1, WorkerState.GONE, T0 + 3.1 * 3600, 1.0, 0.05)]


def _at(points: tuple[Point, ...], t: float) -> Point:
    return [p for p in points if p.time <= t][-1]


def test_series_is_rebuilt_from_the_state_rows():
    points = fleet_series(EVENTS, LIVE + RETIRED, T0, NOW)
    assert points[0] == Point(T0, 1, 1.5, 0.06)                     # only worker 3, before any row
    assert _at(points, T0 + 0.75 * 3600) == Point(T0 + 0.5 * 3600, 1, 1.5, 0.11)      # worker 1 booting: billed
    assert _at(points, T0 + 1.5 * 3600).producing == 2 and _at(points, T0 + 1.5 * 3600).games_per_s == 2.5
    assert _at(points, T0 + 2.75 * 3600) == Point(T0 + 2.5 * 3600, 3, 4.5, 0.21)
    after = _at(points, T0 + 3.5 * 3600)
    assert (after.producing, after.games_per_s, after.dph) == (2, 3.5, 0.16)       # worker 1 gone
    assert points[-1].time == NOW


def test_markers_are_replacements_and_strikes_only():
    found = markers(EVENTS, T0, NOW)
    assert [(m.time, m.kind, m.label) for m in found] == [(T0 + 3 * 3600, "replacement", "w-1"),
                                                         (T0 + 3 * 3600, "strike", "w-1")]
    assert markers(EVENTS, T0 + 3.5 * 3600, NOW) == ()


def _data():
    samples = [Sample(T0 + n * 600, gpu, 0.05 + n / 1000, 0.07 + n / 1000, 12, 0.03)
               for n in range(20) for gpu in ("RTX 3060", "RTX 4070")]
    return assemble("zeb", 3, EVENTS, LIVE, RETIRED, samples, {}, 1, 3, now=NOW, since=T0)


class _Doc(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.tags: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name == "id":
                self.ids.append(value or "")
            if name in ("src", "href", "xlink:href", "action") or (name == "rel"):
                self.refs.append(value or "")


def _check_html(html: str) -> _Doc:
    doc = _Doc()
    doc.feed(html)
    doc.close()
    assert html.startswith("<!DOCTYPE html>") and "html" in doc.tags and "svg" in doc.tags
    assert [key for key, _ in SECTIONS if key not in doc.ids] == []
    assert len(SECTIONS) == 8
    assert not [r for r in doc.refs if not r.startswith("#")], "only in-document references"
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert not re.search(r"url\((?!#)", html), "only in-document url(#...)"
    for scheme in ("http://", "https://"):
        assert f'src="{scheme}' not in html and f'href="{scheme}' not in html
    return doc


def test_html_has_every_section_inline_and_fetches_nothing():
    data = _data()
    assert data.totals["replacements"] == 1 and data.gpus[0]["gpu_name"] == "RTX 3060"
    doc = _check_html(render_html(data))
    assert doc.tags.count("svg") >= 5     # workers, throughput, value, market, events


def test_html_of_an_empty_fleet():
    data = assemble("zeb", 2, [], [], [], [], {}, 0, 3, now=NOW, since=T0)
    html = render_html(data)
    _check_html(html)
    assert "No producing worker" in html and "nothing of any machine" in html


def test_report_totals_match_stats_on_the_same_store(sim, tmp_path):
    assert sim.run("monitor", "2", "--max-cycles", "5").exit_code == 0
    sim.clock.advance(600)
    out = tmp_path / "report.html"
    doc = sim.json("report", "--fleet", "zeb", "--since", "24h", "--out", str(out))
    assert doc["status"] == "success" and doc["data"]["bytes"] == out.stat().st_size
    _check_html(out.read_text())
    stats = sim.json("stats", "--fleet", "zeb", "--since", "24h")["data"]["fleet_stats"]

    from zeb.cli.report_cmd import gather
    app = sim.app()
    cfg = app.config("zeb")
    now = sim.clock.now()
    data = gather(app.store, cfg, now=now, since=now - 24 * 3600)
    assert data.totals == stats and stats["spent"] > 0
    html = out.read_text()
    assert f"${stats['spent_productive']:.2f}" in html and f"${stats['spent_overhead']:.2f}" in html


def test_demo_writes_its_report(tmp_path):
    from io import StringIO

    from rich.console import Console

    from zeb.cli.demo_run import HOURS, Script, run_demo
    from zeb.sim.clock import ManualClock

    report = tmp_path / "demo.html"
    quiet = Console(file=StringIO(), width=200)
    _, data = run_demo(quiet, quiet, script=Script(duration_s=0.75 * HOURS), clock=ManualClock(), report=report)
    assert data["report"] == str(report)
    html = report.read_text()
    _check_html(html)
    assert "fleet demo" in html


def test_report_renders_in_a_headless_browser(tmp_path):
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        # A browser is a system package, not a Python one: the issue asks for this check where a browser is
        # available. .ci/run installs Debian's chromium when it can, so CI normally runs it.
        pytest.skip("no chromium: install it (apt-get install chromium) to screenshot the report")
    page = tmp_path / "report.html"
    page.write_text(render_html(_data()))
    shot = tmp_path / "report.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
                   check=False, capture_output=True, timeout=120)
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_charts_draw_no_more_than_a_chart_is_wide_but_keep_every_dip_and_count():
    from zeb.plan.report import Marker, Point, thin_markers, thin_points

    since, now = 0.0, 100_000.0
    # 50,000 points: the fleet at 8, with a one-second dip to 3 at t=50,000.5 and a peak of 9 at t=70,000.5.
    points = [Point(float(t), 8, 16.0, 0.6) for t in range(0, 100_000, 2)]
    points[25_000] = Point(50_000.5, 3, 6.0, 0.6)
    points[35_000] = Point(70_000.5, 9, 18.0, 0.7)
    thin = thin_points(points, since, now, bins=500)
    assert len(thin) <= 3 * 500 and thin[0] == points[0]
    assert any(p.producing == 3 for p in thin) and any(p.producing == 9 for p in thin)
    assert list(thin) == sorted(thin, key=lambda p: p.time)
    few = points[:100]
    assert thin_points(few, since, now, bins=500) == tuple(few)
    marks = [Marker(float(t), "replacement", "w", "") for t in range(0, 100_000, 10)] + \
            [Marker(5.0, "strike", "w", "")]
    drawn = thin_markers(sorted(marks, key=lambda m: m.time), since, now, bins=500)
    assert sum(m.kind == "replacement" for m in drawn) == 500 and sum(m.kind == "strike" for m in drawn) == 1


def test_the_report_names_the_code_each_commit_ran_and_how_it_fared():
    import dataclasses

    from zeb.observe.html import render_html
    from zeb.plan.report import commit_rows

    old, new = "a" * 40, "b" * 40
    ran = [dataclasses.replace(LIVE[0], commit=old, first_batch_at=T0 + 600),
           dataclasses.replace(LIVE[1], commit=old, first_batch_at=T0 + 700),
           dataclasses.replace(RETIRED[0], commit=new, first_seen=T0 + 3600, fatal_kind="traceback"),
           dataclasses.replace(RETIRED[0], instance_id=9, commit=None)]          # said no commit: not counted
    rows = commit_rows(ran, since=T0)
    assert [(r["commit"], r["workers"], r["produced"], r["failed"]) for r in rows] == [(new, 1, 0, 1), (old, 2, 2, 0)]
    data = dataclasses.replace(_data(), commits=rows)
    html = render_html(data)
    assert 'id="code"' in html and f"<code>{new[:12]}</code>" in html and new not in html.replace(new[:12], "")
    empty = render_html(dataclasses.replace(_data(), commits=[]))
    assert "said which commit it runs" in empty


# -- the window fitted to the data, the target the monitor used, the market chart's legend and axis ------

def test_charts_start_where_the_data_does_and_the_header_says_so():
    from zeb.observe.html import window_note, workers_figure
    from zeb.plan.report import chart_start

    assert chart_start(T0 - 86400, NOW, T0 + 1800, []) == T0 + 1800          # the log's first row
    assert chart_start(T0 - 86400, NOW, None, LIVE) == T0                    # the fleet's first record
    assert chart_start(T0 - 86400, NOW, T0 + 1800, LIVE) == T0               # whichever is first
    assert chart_start(T0 + 600, NOW, T0 + 1800, LIVE) == T0 + 600           # data before the window
    assert chart_start(T0, NOW, None, []) == T0                              # nothing: the window asked
    asked = T0 - 6 * 86400
    data = assemble("zeb", 3, EVENTS, LIVE, RETIRED, [], {}, 1, 3, now=NOW, since=asked)
    assert data.since == asked and data.shown_since == T0
    note = window_note(data)
    assert "Window asked: 1970-01-06 13:46 to 1970-01-12 17:46 UTC (6.2 days)" in note
    assert "Shown: from 1970-01-12 13:46 UTC (4.0 h)" in note
    assert window_note(_data()) .endswith("Shown: all of it.")
    assert note.replace("'", "&#x27;") in render_html(data)
    _, ax = workers_figure(data)
    assert ax.get_xlim() == pytest.approx((_num(T0), _num(NOW)))


def test_target_line_holds_each_logged_count_until_the_next():
    from zeb.plan.report import target_line

    assert target_line([], 4, T0, NOW) == ([], [(T0, 4), (NOW, 4)])
    steps, fallback = target_line([(T0 + 600, 3), (T0 + 1200, 3), (T0 + 3600, 5)], 4, T0, NOW)
    assert steps == [(T0 + 600, 3), (T0 + 3600, 5), (NOW, 5)]           # a repeated count is no step
    assert fallback == [(T0, 4), (T0 + 600, 4)]                         # before the first row: configured
    steps, fallback = target_line([(T0, 2), (T0 + 3600, 6)], 4, T0, NOW)
    assert steps == [(T0, 2), (T0 + 3600, 6), (NOW, 6)] and fallback == []
    assert target_line([(NOW + 1, 9)], 4, T0, NOW) == ([], [(T0, 4), (NOW, 4)])


TARGETS = [event_row(T0 + 60, "target", "target", "keeping 2 worker(s)", target=2),
           event_row(T0 + 2 * 3600, "target", "target", "keeping 3 worker(s)", target=3)]


def test_read_window_keeps_the_target_rows_and_the_stats_do_not_change():
    from zeb.plan.stats import fleet_stats, read_window
    from zeb.storage.codec import check_event, decode_event

    for row in TARGETS:
        check_event(row)
    assert decode_event({"time": 5.0, "kind": "target", "reason": "x", "target": 2})["target"] == 2    # v0 too
    rows = sorted(EVENTS + TARGETS, key=lambda r: r["time"])
    window = read_window(rows, T0)
    assert window.targets == [(T0 + 60, 2), (T0 + 2 * 3600, 3)] and window.first == T0 + 60
    assert read_window(EVENTS, T0).targets == [] and read_window(EVENTS, T0).first == T0 + 0.5 * 3600
    assert read_window(rows, T0 + 3 * 3600).targets == []
    with_targets = fleet_stats(LIVE, RETIRED, rows, 1, now=NOW, since=T0)
    assert with_targets == fleet_stats(LIVE, RETIRED, EVENTS, 1, now=NOW, since=T0)


def _line(ax, label: str):
    found = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert found, f"no line {label!r} in {[ln.get_label() for ln in ax.get_lines()]}"
    return found[0]


def test_workers_chart_draws_the_logged_target_as_steps():
    from zeb.observe.html import workers_figure

    data = assemble("zeb", 4, sorted(EVENTS + TARGETS, key=lambda r: r["time"]), LIVE, RETIRED, [], {}, 1, 3,
                    now=NOW, since=T0)
    assert data.targets == ((T0 + 60, 2), (T0 + 2 * 3600, 3))
    _, ax = workers_figure(data)
    logged = _line(ax, "target (the monitor's)")
    assert list(logged.get_ydata()) == [2, 3, 3] and logged.get_drawstyle() == "steps-post"
    assert [_num(t) for t in (T0 + 60, T0 + 2 * 3600, NOW)] == pytest.approx(
        [float(x) for x in ax.convert_xunits(logged.get_xdata())])
    assert list(_line(ax, "target (configured, 4)").get_ydata()) == [4, 4]          # before the first row
    _, ax = workers_figure(_data())                                                     # no target row
    assert list(_line(ax, "target (configured, 3)").get_ydata()) == [3, 3]
    assert "target (the monitor's)" not in [ln.get_label() for ln in ax.get_lines()]


def _num(t: float) -> float:
    import datetime

    import matplotlib.dates as mdates
    return float(mdates.date2num(datetime.datetime.fromtimestamp(t, datetime.timezone.utc)))


def test_price_range_fits_the_prices_with_a_margin():
    from zeb.plan.report import price_range

    lo, hi = price_range([0.05, 0.07, 0.09])
    assert (round(lo, 4), round(hi, 4)) == (0.046, 0.094)
    assert price_range([0.1, 0.1]) == pytest.approx((0.09, 0.11))
    assert price_range([0.001, 0.5])[0] == 0.0 and price_range([]) is None


def test_market_legend_is_off_the_lines_and_the_price_axis_is_fitted():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from zeb.observe.html import market_figure

    fig, ax = market_figure(_data())
    renderer = FigureCanvasAgg(fig).get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    plot = ax.get_window_extent(renderer)
    assert legend.x0 >= plot.x1, "the legend sits beside the axes, not over the lines"
    for line in ax.get_lines():
        xy = ax.transData.transform(list(zip(ax.convert_xunits(line.get_xdata()), line.get_ydata())))
        assert not any(legend.contains(x, y) for x, y in xy)
    bottom, top = ax.get_ylim()
    prices = [s.median_dph for samples in _data().market.values() for s in samples]
    assert 0 < bottom < min(prices) and max(prices) < top < max(prices) * 1.5


def test_a_monitor_run_logs_its_target_once_and_the_report_draws_it(sim):
    from zeb.cli.report_cmd import gather
    from zeb.observe.html import workers_figure

    assert sim.run("monitor", "2", "--max-cycles", "3").exit_code == 0
    sim.clock.advance(600)
    assert sim.run("monitor", "3", "--max-cycles", "2").exit_code == 0
    sim.clock.advance(600)
    for _ in range(3):                                      # cron's --once every minute: the same target
        assert sim.run("monitor", "3", "--once").exit_code in (0, 3)
        sim.clock.advance(60)
    app = sim.app()
    rows = [r for r in app.store.events("zeb").read() if r["kind"] == "target"]
    assert [r["target"] for r in rows] == [2, 3]            # once per change, not per cycle nor per run
    now = sim.clock.now()
    data = gather(app.store, app.config("zeb"), now=now, since=now - 24 * 3600)
    assert [n for _, n in data.targets] == [2, 3] and data.shown_since > data.since   # a first report: fitted
    _, ax = workers_figure(data)
    assert list(_line(ax, "target (the monitor's)").get_ydata()) == [2, 3, 3]


def test_the_marker_lines_are_one_path_per_kind_with_every_marker():
    import math

    from zeb.observe.html import marker_path, workers_figure

    px, py = marker_path([1.0, 2.5])
    assert px[:2] == [1.0, 1.0] and px[3:5] == [2.5, 2.5] and py[:2] == [0.0, 1.0] and py[3:5] == [0.0, 1.0]
    assert math.isnan(px[2]) and math.isnan(py[5]) and len(px) == len(py) == 6
    _, ax = workers_figure(_data())
    drawn = {a.get_label(): a for a in ax.get_children() if a.get_label() in ("_replacements", "_strikes")}
    assert sorted(drawn) == ["_replacements", "_strikes"]
    assert [_num(T0 + 3 * 3600)] * 2 == pytest.approx(list(drawn["_replacements"].get_xdata())[:2])
