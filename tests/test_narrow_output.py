"""Whole outputs at 80 and 120 columns: `zeb status` and the monitor's dashboard keep every label whole
and never run past the width (a row that does not fit goes on two lines, by design); the dashboard's
countdown ticks from the clock; every logged monitor line starts with the wall-clock time."""

from __future__ import annotations

import dataclasses
import io
import re
import time

import pytest
from rich.console import Console

from zeb.cli.status import render_status, status_data
from zeb.core.domain import Instance
from zeb.core.lifecycle import WorkerRecord, WorkerState
from zeb.observe.dashboard import check_line, dashboard
from zeb.plan.fleet import label_for
from zeb.service.monitor import Counters, CycleReport

NOW = 1_780_000_000.0            # 2026-05-28 20:26:40 UTC
FLEET = "zeb-belief-evalaux"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ")


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _screen(renderable_or_fn, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), force_terminal=True, no_color=True, highlight=False,
                      soft_wrap=False)
    if callable(renderable_or_fn):
        renderable_or_fn(console)
    else:
        console.print(renderable_or_fn)
    return ANSI.sub("", console.file.getvalue())


def _fits(text: str, width: int, labels: list[str]) -> None:
    lines = text.splitlines()
    assert max(map(len, lines)) <= width
    for label in labels:       # whole: alone on its line, or a row's first cell
        assert any(line == label or line.startswith(label + "  ") for line in lines), label


def _inst(k: int, *, status: str | None = "running", age_s: float | None = None, ssh: bool = True) -> Instance:
    return Instance(id=30_000_000 + 7 * k, label=label_for(FLEET, k), status=status, intended_status="running",
                    gpu_name=("RTX 3060", "RTX 3070 Ti", "RTX 4090")[k % 3], num_gpus=1,
                    dph_total=0.05 + (k % 10) / 1000, machine_id=40_000 + k, host_id=100_000 + k,
                    start_date=NOW - (600 + 37 * k if age_s is None else age_s),
                    ssh_host="ssh5.vast.ai" if ssh else None, ssh_port=20_000 + k if ssh else None)


def _status_data() -> dict:
    record = WorkerRecord(instance_id=30_000_007, label=label_for(FLEET, 1), machine_id=40_001,
                          gpu_name="RTX 3070 Ti", dph_total=0.051, created_at=NOW - 637,
                          state=WorkerState.PRODUCING, state_since=NOW - 300, first_seen=NOW - 600, games_per_s=3.2)
    rows = [_inst(0), _inst(1), _inst(2, status=None, age_s=900, ssh=False),
            _inst(10, status="loading", age_s=90_000)]
    return status_data({FLEET: rows}, {record.instance_id: record}, {}, NOW, 600.0)


STATUS_LABELS = [label_for(FLEET, k) for k in (0, 1, 2, 10)]


STATUS_80 = """\
Label
  GPU      State             games/s   $/hr    Age        ID
zeb-belief-evalaux-worker-vast-0
  3060     running                 -  0.050    10m  30000000
zeb-belief-evalaux-worker-vast-1
  3070 Ti  producing 5m ago     3.20  0.051    10m  30000007
zeb-belief-evalaux-worker-vast-2
  4090     pending                 -  0.052    15m  30000014
zeb-belief-evalaux-worker-vast-10
  3070 Ti  loading                 -  0.050  1d01h  30000070
Total: 4 instances, $0.203/hr ($4.87/day, $34.10/week)
warning: instance 30000014 has been loading for over 10 min;
  destroy it with: zeb down --fleet zeb-belief-evalaux --id 30000014
warning: instance 30000070 has been loading for over 10 min;
  destroy it with: zeb down --fleet zeb-belief-evalaux --id 30000070
"""

STATUS_120 = """\
Label                              GPU      State             games/s   $/hr    Age        ID
zeb-belief-evalaux-worker-vast-0   3060     running                 -  0.050    10m  30000000
zeb-belief-evalaux-worker-vast-1   3070 Ti  producing 5m ago     3.20  0.051    10m  30000007
zeb-belief-evalaux-worker-vast-2   4090     pending                 -  0.052    15m  30000014
zeb-belief-evalaux-worker-vast-10  3070 Ti  loading                 -  0.050  1d01h  30000070
Total: 4 instances, $0.203/hr ($4.87/day, $34.10/week)
warning: instance 30000014 has been loading for over 10 min;
  destroy it with: zeb down --fleet zeb-belief-evalaux --id 30000014
warning: instance 30000070 has been loading for over 10 min;
  destroy it with: zeb down --fleet zeb-belief-evalaux --id 30000070
"""

STATUS_WIDE_80_ROW = """\
zeb-belief-evalaux-worker-vast-1
  3070 Ti  producing 5m ago     3.20  0.051    10m  30000007  running    40001
  ssh -p 20001 root@ssh5.vast.ai
"""


@pytest.mark.parametrize("width, expected", [(80, STATUS_80), (120, STATUS_120)])
def test_status_whole_output_at_the_terminal_width(width, expected):
    text = _screen(lambda console: render_status(console, _status_data(), False, FLEET), width)
    assert text == expected
    _fits(text, width, STATUS_LABELS)
    assert "ssh " not in text          # behind --wide


def test_status_wide_moves_machine_and_ssh_to_a_line_of_their_own_at_80():
    text = _screen(lambda console: render_status(console, _status_data(), False, FLEET, wide=True), 80)
    assert STATUS_WIDE_80_ROW in text and text.splitlines()[:3] == ["Label", "  GPU      State             games/s"
                                                                    "   $/hr    Age        ID  Vast     Machine",
                                                                    "  SSH"]
    _fits(text, 80, STATUS_LABELS)


def _worker(k: int, state: str, gps: float | None, batch: int | None, in_state_s: float) -> dict:
    dph = 0.05 + k / 1000
    return {"label": label_for(FLEET, k), "instance_id": 30_000_000 + k,
            "gpu_name": ("RTX 3060", "RTX 3070 Ti", "RTX 4090")[k % 3], "state": state, "in_state_s": in_state_s,
            "games_per_s": gps, "batch": batch, "dph_total": dph, "dollars_per_gps": dph / gps if gps else None,
            "machine_id": 40_000 + k, "evidence": "", "examples_stale_s": None}


def _report() -> CycleReport:
    return CycleReport(3, NOW, producing=2, live=3, games_per_s=6.4, dph=0.161, interval=90.0,
                       actions=["launched zeb-belief-evalaux-worker-vast-10 on machine 40010 (RTX 3070 Ti)"],
                       rows=[_worker(0, "producing", 3.2, 120, 3605), _worker(1, "stalled", 3.1, 118, 400),
                             _worker(10, "loading_model", None, None, 95)])


def _dashboard(clock):
    return dashboard(_report(), None, 3, NOW - 300, Counters(replacements=1, strikes=1), {40_001: 1},
                     next_check_at=NOW + 95, clock=clock)


DASHBOARD_80 = """\
[2026-05-28 20:26:40] CHECK #3 [0:05:00]; next check in 1m30s
2/3 producing, 3 up, 6.4 games/s, $0.161/hr | replaced 1, strikes 1
Label
  GPU      State            For  games/s  Batch   $/hr  $/game/s  Strikes
zeb-belief-evalaux-worker-vast-0
  3060     producing      1h00m     3.20    120  0.050    0.0156        -
zeb-belief-evalaux-worker-vast-1
  3070 Ti  stalled           6m     3.10    118  0.051    0.0165        1
zeb-belief-evalaux-worker-vast-10
  3070 Ti  loading_model     1m        -      -  0.060         -        -
launched zeb-belief-evalaux-worker-vast-10 on machine 40010 (RTX 3070 Ti)
"""

DASHBOARD_120 = """\
[2026-05-28 20:26:40] CHECK #3 [0:05:00]; next check in 1m30s
2/3 producing, 3 up, 6.4 games/s, $0.161/hr | replaced 1, strikes 1
Label                              GPU      State            For  games/s  Batch   $/hr  $/game/s  Strikes
zeb-belief-evalaux-worker-vast-0   3060     producing      1h00m     3.20    120  0.050    0.0156        -
zeb-belief-evalaux-worker-vast-1   3070 Ti  stalled           6m     3.10    118  0.051    0.0165        1
zeb-belief-evalaux-worker-vast-10  3070 Ti  loading_model     1m        -      -  0.060         -        -
launched zeb-belief-evalaux-worker-vast-10 on machine 40010 (RTX 3070 Ti)
"""


@pytest.mark.parametrize("width, expected", [(80, DASHBOARD_80), (120, DASHBOARD_120)])
def test_dashboard_whole_output_at_the_terminal_width(width, expected):
    text = _screen(_dashboard(lambda: NOW + 5), width)
    assert text == expected
    _fits(text, width, [label_for(FLEET, k) for k in (0, 1, 10)])


def test_dashboard_countdown_ticks_with_the_clock_between_cycles():
    now = [NOW + 5]
    board = _dashboard(lambda: now[0])       # one renderable, drawn again by rich.live every second
    seen = []
    for t in (5, 6, 34, 94.5, 200):
        now[0] = NOW + t
        seen.append(_screen(board, 80).splitlines()[0].split("; ", 1)[1])
    assert seen == ["next check in 1m30s", "next check in 1m29s", "next check in 1m01s", "next check now",
                    "next check now"]
    no_clock = dashboard(_report(), None, 3, NOW - 300, Counters(), {})     # the demo's: no countdown
    assert _screen(no_clock, 80).splitlines()[0] == "[2026-05-28 20:26:40] CHECK #3 [0:05:00]"


def test_check_lines_start_with_the_reports_wall_clock_time():
    assert check_line(_report(), NOW - 300, 3) == (
        "[2026-05-28 20:26:40] CHECK #3 [0:05:00] 2/3 producing, 3 up, 6.4 games/s, $0.161/hr")
    # Creates sent that Vast does not list yet are said: "2/8" alone hid six launches on their way.
    pending = dataclasses.replace(_report(), launching=6)
    assert "2/3 producing, 3 up, 6 launching, 6.4 games/s" in check_line(pending, NOW - 300, 3)
    failed = CycleReport(4, NOW + 61, error="Vast API unreachable")
    assert check_line(failed, NOW - 300, 3) == "[2026-05-28 20:27:41] CHECK #4 [0:06:01] API error: Vast API unreachable"


def test_every_once_line_and_every_piped_check_line_is_stamped(sim):
    from zeb.core.timefmt import DATE_SECOND, when

    start = sim.clock.now()
    res = sim.run("monitor", "2", "--once")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines and all(STAMP.match(line) for line in lines), res.stdout
    assert lines[0].startswith(f"[{when(start, DATE_SECOND)}] CHECK #1 ")
    res = sim.run("monitor", "2", "--max-cycles", "3")
    checks = [line for line in res.stdout.splitlines() if "CHECK #" in line]
    assert len(checks) == 3 and all(STAMP.match(line) for line in checks)
    stamps = [line[1:20] for line in checks]
    assert stamps == sorted(stamps) and stamps[0] != stamps[-1]        # the virtual clock's time, not the host's


def test_probe_spinner_only_on_a_terminal(sim_factory, monkeypatch):
    sim = sim_factory("sick-fleet")
    res = sim.run("status", "--probe")
    assert res.exit_code == 0 and "reading" not in res.stderr     # piped: nothing

    from typer.testing import CliRunner

    from zeb.cli import app as cli_app

    err = Console(file=io.StringIO(), force_terminal=True, width=80)
    app = sim.app(stderr=err)
    said = []
    real_status = err.status
    monkeypatch.setattr(err, "status", lambda text, **kw: said.append(text) or real_status(text, **kw))
    res = CliRunner().invoke(cli_app, ["status", "--probe"], obj=app, catch_exceptions=False)
    assert res.exit_code == 0
    assert said == ["reading 8 worker logs…"]
