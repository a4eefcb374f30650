"""`zeb status` pinned whole: a fleet with workers in several states, one launch in flight and a fleet hold,
at 80 and 120 columns, piped and with NO_COLOR (no escape codes) and on a colour terminal (state cells
coloured). Plus the pure rules under it: launches in flight from the ledger, blank columns, one layout for
every fleet on the screen, counts in the right number."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from rich.console import Console

from zeb.cli.output import blank_columns, plural, state_style
from zeb.cli.status import render_status, status_data, status_layout
from zeb.core.domain import Instance
from zeb.core.lifecycle import WorkerRecord, WorkerState
from zeb.plan.fleet import label_for, launching
from zeb.plan.types import InFlight

NOW = 1_780_000_000.0
ESCAPE = re.compile(r"\x1b\[")
COLOUR = re.compile(r"\x1b\[[0-9;]*3[0-7]m")


def _inst(k: int, status: str | None, age_s: float, fleet: str = "zeb", gpu: str = "RTX 3070 Ti") -> Instance:
    return Instance(id=30_000_000 + 7 * k, label=label_for(fleet, k), status=status, intended_status="running",
                    gpu_name=gpu, num_gpus=1, dph_total=0.05 + k / 1000, machine_id=40_000 + k, host_id=100_000 + k,
                    start_date=NOW - age_s, ssh_host="ssh5.vast.ai", ssh_port=20_000 + k)


def _record(inst: Instance, state: WorkerState, since_s: float, gps: float | None) -> WorkerRecord:
    return WorkerRecord(instance_id=inst.id, label=inst.label or "", machine_id=inst.machine_id,
                        gpu_name=inst.gpu_name, dph_total=inst.dph_total, created_at=inst.start_date, state=state,
                        state_since=NOW - since_s, first_seen=inst.start_date, games_per_s=gps)


INSTANCES = [_inst(0, "running", 3 * 3600), _inst(1, "running", 5400, gpu="RTX 4070 Ti"),
             _inst(2, "running", 1800, gpu="RTX 3060"), _inst(3, "loading", 240)]
RECORDS = {r.instance_id: r for r in (_record(INSTANCES[0], WorkerState.PRODUCING, 60, 3.2),
                                      _record(INSTANCES[1], WorkerState.STALLED, 120, 4.1),
                                      _record(INSTANCES[2], WorkerState.ERROR, 300, None))}
LEDGER = (
    InFlight(label=label_for("zeb", 4), offer_id=777, machine_id=40_004, time=NOW - 45),
    # Resolved to an instance Vast lists already: that row shows it, the launch does not show twice.
    InFlight(label=label_for("zeb", 3), offer_id=776, machine_id=40_003, time=NOW - 250, instance_id=INSTANCES[3].id),
)
HOLD = {"cause": "hub_unreachable", "since": NOW - 600, "for_s": 600.0,
        "line": "hub_unreachable: HEAD https://huggingface.co timed out (3 workers)",
        "why": "Hugging Face does not answer; launches held; the hub is probed every cycle",
        "probe": None, "commit": None}


def _data() -> dict:
    return status_data({"zeb": INSTANCES}, RECORDS, {}, NOW, 600.0, {"zeb": HOLD}, ledgers={"zeb": LEDGER},
                       expiry_s=600.0)


def _render(console: Console, data: dict | None = None, **kw) -> str:
    render_status(console, data or _data(), kw.pop("all_fleets", False), "zeb", **kw)
    return console.file.getvalue()


def _terminal(width: int, **kw) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=True, highlight=False, soft_wrap=False, **kw)


ROWS = """\
Label              GPU      State             games/s   $/hr    Age        ID
zeb-worker-vast-0  3070 Ti  producing 1m ago     3.20  0.050  3h00m  30000000
zeb-worker-vast-1  4070 Ti  stalled 2m ago       4.10  0.051  1h30m  30000007
zeb-worker-vast-2  3060     error 5m ago            -  0.052    30m  30000014
zeb-worker-vast-3  3070 Ti  loading                 -  0.053     4m  30000021
zeb-worker-vast-4  -        launching               -      -     0m         -
Total: 4 instances, 1 launching, $0.206/hr ($4.94/day, $34.61/week)
"""

# At 80 columns every worker is one line (the old layout's rows were 81 and more: each wrapped in two);
# the hold's sentence wraps at a word, as rich wraps any long line on a terminal.
STATUS_80 = ROWS + (
    "HOLD (hub_unreachable, 10m): Hugging Face does not answer; launches held; the \n"
    "hub is probed every cycle\n"
    "  hub_unreachable: HEAD https://huggingface.co timed out (3 workers)\n"
)

STATUS_120 = ROWS + """\
HOLD (hub_unreachable, 10m): Hugging Face does not answer; launches held; the hub is probed every cycle
  hub_unreachable: HEAD https://huggingface.co timed out (3 workers)
"""

# Piped, a column is padded to its width on every row (scripts cut at fixed positions): blanks pinned too.
STATUS_WIDE_PIPED = (
    "Label              GPU      State             games/s   $/hr    Age        ID  Vast     Machine  SSH                           \n"
    "zeb-worker-vast-0  3070 Ti  producing 1m ago     3.20  0.050  3h00m  30000000  running    40000  ssh -p 20000 root@ssh5.vast.ai\n"
    "zeb-worker-vast-1  4070 Ti  stalled 2m ago       4.10  0.051  1h30m  30000007  running    40001  ssh -p 20001 root@ssh5.vast.ai\n"
    "zeb-worker-vast-2  3060     error 5m ago            -  0.052    30m  30000014  running    40002  ssh -p 20002 root@ssh5.vast.ai\n"
    "zeb-worker-vast-3  3070 Ti  loading                 -  0.053     4m  30000021  loading    40003  ssh -p 20003 root@ssh5.vast.ai\n"
    "zeb-worker-vast-4  -        launching               -      -     0m         -  -          40004  -                             \n"
) + STATUS_120.split("\n", 6)[6]

BOLD = re.compile(r"\x1b\[(1|0)m")


@pytest.mark.parametrize("width, expected", [(80, STATUS_80), (120, STATUS_120)])
def test_status_whole_output_on_a_terminal_with_no_color(width, expected):
    text = _render(_terminal(width, no_color=True))
    assert BOLD.sub("", text) == expected      # NO_COLOR: the header is bold, nothing is coloured
    assert not COLOUR.search(text)
    assert max(len(line) for line in expected.splitlines()) <= width


def test_status_piped_is_plain_text_with_no_escape_code():
    piped = Console(file=io.StringIO(), width=160, highlight=False, soft_wrap=False)   # the app's piped width
    assert not piped.is_terminal
    text = _render(piped, wide=True)
    assert text == STATUS_WIDE_PIPED and not ESCAPE.search(text)


def test_status_on_a_colour_terminal_colours_the_state_cells(monkeypatch):
    monkeypatch.delenv("NO_COLOR")          # the suite's isolation sets it; rich's Console reads it
    text = _render(_terminal(80, color_system="standard"))
    assert text == (
        "\x1b[1mLabel\x1b[0m              \x1b[1mGPU\x1b[0m      \x1b[1mState\x1b[0m             "
        "\x1b[1mgames/s\x1b[0m   \x1b[1m$/hr\x1b[0m    \x1b[1mAge\x1b[0m        \x1b[1mID\x1b[0m\n"
        "zeb-worker-vast-0  3070 Ti  \x1b[32mproducing 1m ago\x1b[0m     3.20  0.050  3h00m  30000000\n"
        "zeb-worker-vast-1  4070 Ti  \x1b[33mstalled 2m ago\x1b[0m       4.10  0.051  1h30m  30000007\n"
        "zeb-worker-vast-2  3060     \x1b[31merror 5m ago\x1b[0m            -  0.052    30m  30000014\n"
        "zeb-worker-vast-3  3070 Ti  loading                 -  0.053     4m  30000021\n"
        "zeb-worker-vast-4  -        launching               -      -     0m         -\n"
    ) + STATUS_80.split("\n", 6)[6]


def test_status_json_lists_the_launch_once_with_its_offer_machine_and_since():
    fleet = _data()["fleets"]["zeb"]
    assert fleet["launching"] == [{"label": "zeb-worker-vast-4", "offer_id": 777, "machine_id": 40_004,
                                   "instance_id": None, "since": NOW - 45, "for_s": 45.0, "refused": False}]
    assert [r["label"] for r in fleet["instances"]] == [label_for("zeb", k) for k in range(4)]


def test_launching_is_the_pruned_ledger_of_this_fleet_in_label_order():
    listed = [_inst(0, "running", 600)]
    ledger = [
        InFlight(label="zeb-worker-vast-10", offer_id=1, machine_id=1, time=NOW - 10),
        InFlight(label="zeb-worker-vast-2", offer_id=2, machine_id=2, time=NOW - 20, instance_id=31_000_000),
        InFlight(label="zeb-worker-vast-0", offer_id=3, machine_id=40_000, time=NOW - 30, instance_id=listed[0].id),
        InFlight(label="zeb-large-worker-vast-1", offer_id=4, machine_id=4, time=NOW - 5),
        InFlight(label="zeb-worker-vast-5", offer_id=5, machine_id=5, time=NOW - 700),      # expired
    ]
    rows = launching(ledger, listed, "zeb", NOW, 600.0)
    assert [(r["label"], r["instance_id"], r["for_s"]) for r in rows] == [
        ("zeb-worker-vast-2", 31_000_000, 20.0), ("zeb-worker-vast-10", None, 10.0)]
    # The monitor's records show an instance before a listing does: such a launch is not shown again.
    assert [r["label"] for r in launching(ledger, listed, "zeb", NOW, 600.0, shown_ids={31_000_000})] == [
        "zeb-worker-vast-10"]
    assert launching([], listed, "zeb", NOW, 600.0) == []


def test_every_fleet_on_the_screen_shares_one_layout_and_blank_columns_go():
    probed = [_inst(0, "running", 600), _inst(1, "running", 600)]
    other = [dataclasses.replace(_inst(0, "loading", 60, fleet="zeb-large", gpu="RTX 3060"), id=30_000_100)]
    records = {probed[0].id: _record(probed[0], WorkerState.PRODUCING, 60, 3.2)}
    data = status_data({"zeb": probed, "zeb-large": other}, records, {}, NOW, 600.0)
    columns, _, _ = status_layout(data, wide=False)
    assert [h for h, _ in columns] == ["Label", "GPU", "State", "games/s", "$/hr", "Age", "ID"]
    text = _render(Console(file=io.StringIO(), width=80), data, all_fleets=True)
    assert text == (
        "                                    fleet zeb\n"
        "Label                    GPU      State             games/s   $/hr  Age        ID\n"
        "zeb-worker-vast-0        3070 Ti  producing 1m ago     3.20  0.050  10m  30000000\n"
        "zeb-worker-vast-1        3070 Ti  running                 -  0.051  10m  30000007\n"
        "Total: 2 instances, $0.101/hr ($2.42/day, $16.97/week)\n"
        "                                 fleet zeb-large\n"
        "Label                    GPU      State             games/s   $/hr  Age        ID\n"
        "zeb-large-worker-vast-0  3060     loading                 -  0.050   1m  30000100\n"
        "Total: 1 instance, $0.050/hr ($1.20/day, $8.40/week)\n"
    )
    unprobed = status_data({"zeb": probed}, {}, {}, NOW, 600.0)
    assert [h for h, _ in status_layout(unprobed, wide=True)[0]] == ["Label", "GPU", "State", "$/hr", "Age", "ID",
                                                                       "Vast", "Machine", "SSH"]


def test_blank_columns_plural_and_state_colours():
    columns = [("Label", False), ("A", False), ("B", True)]
    assert blank_columns(columns, [["-", "-", "1"]], [["x", "-", "-"]]) == {1}
    assert blank_columns(columns) == set()
    assert [plural(n, "instance") for n in (0, 1, 2)] == ["0 instances", "1 instance", "2 instances"]
    assert [state_style(c) for c in ("error 5m ago", "stalled", "producing", "producing (no examples)", "loading",
                                     "launching")] == ["red", "yellow", "green", "yellow", None, None]


def test_dashboard_shows_launches_in_flight_and_hides_blank_columns():
    from zeb.observe.dashboard import dashboard
    from zeb.service.monitor import Counters, CycleReport

    worker = {"label": "zeb-worker-vast-0", "instance_id": 30_000_000, "gpu_name": "RTX 3070 Ti",
              "state": "producing", "in_state_s": 3605, "games_per_s": 3.2, "batch": 120, "dph_total": 0.05,
              "dollars_per_gps": 0.05 / 3.2, "machine_id": 40_000, "evidence": "", "examples_stale_s": None}
    rows = launching([InFlight(label=label_for("zeb", k), offer_id=k, machine_id=40_000 + k, time=NOW - 30 * k)
                      for k in (2, 1)], [], "zeb", NOW, 600.0)
    report = CycleReport(3, NOW, producing=1, live=1, games_per_s=3.2, dph=0.05, rows=[worker], launching=2,
                         launching_rows=rows)
    console = _terminal(80, no_color=True)
    console.print(dashboard(report, None, 3, NOW - 300, Counters(), {}))
    assert BOLD.sub("", console.file.getvalue()) == (      # no strike anywhere: one line a worker at 80
        "[2026-05-28 20:26:40] CHECK #3 [0:05:00]\n"
        "1/3 producing, 1 up, 2 launching, 3.2 games/s, $0.050/hr | replaced 0, strikes 0\n"
        "Label              GPU      State        For  games/s  Batch   $/hr  $/game/s\n"
        "zeb-worker-vast-0  3070 Ti  producing  1h00m     3.20    120  0.050    0.0156\n"
        "zeb-worker-vast-1  -        launching     0m        -      -      -         -\n"
        "zeb-worker-vast-2  -        launching     1m        -      -      -         -\n"
    )
    quiet = CycleReport(3, NOW, launching=2, launching_rows=rows)      # nothing produces yet: no empty columns
    console = _terminal(80, no_color=True)
    console.print(dashboard(quiet, None, 3, NOW - 300, Counters(), {40_001: 1}))
    assert BOLD.sub("", console.file.getvalue()).split("\n", 2)[2] == (
        "Label              State      For  Strikes\n"
        "zeb-worker-vast-1  launching   0m        1\n"
        "zeb-worker-vast-2  launching   1m        -\n"
    )


def test_status_end_to_end_shows_a_launch_in_flight_once(sim):
    from zeb.storage import state

    assert sim.run("up", "1").exit_code == 0
    listed = next(i for i in sim.market.instances.values() if i.label == "zeb-worker-vast-0")
    ledger = state.StoreLedger(sim.app().store, "zeb")
    now = sim.clock.now()
    ledger.add(InFlight(label="zeb-worker-vast-0", offer_id=1, machine_id=listed.machine_id, time=now,
                        instance_id=listed.id))                        # resolved and listed: not again
    ledger.add(InFlight(label="zeb-worker-vast-1", offer_id=2, machine_id=4242, time=now - 61))
    doc = sim.json("status")["data"]["fleets"]["zeb"]
    assert [(e["label"], e["offer_id"], e["machine_id"], e["for_s"]) for e in doc["launching"]] == [
        ("zeb-worker-vast-1", 2, 4242, 61.0)]
    lines = sim.run("status").stdout.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["zeb-worker-vast-0", "zeb-worker-vast-1"]
    assert lines[2].split() == ["zeb-worker-vast-1", "-", "launching", "-", "1m", "-"]     # no games/s: none probed
    assert lines[3].startswith("Total: 1 instance, 1 launching, $")
