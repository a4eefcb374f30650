"""`zeb status` at fleet scale: the plain fixed-width table (whole output, stable columns, every row,
totals), the rich table it stands in for, and the `--json` shape. Plain data, no network, except the
one end-to-end run against the simulated marketplace."""

from __future__ import annotations

import io
import json
import re

from rich.console import Console

from zeb.cli.output import FitTable, Result, plain_table, print_table, render
from zeb.cli.status import render_status, status_data
from zeb.core.domain import Instance
from zeb.core.lifecycle import WorkerRecord, WorkerState
from zeb.plan.fleet import group_by_fleet, label_for

NOW = 1_780_000_000.0
GPUS = ("RTX 3060", "RTX 3070 Ti", "RTX 4090")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
ROW_KEYS = {"label", "id", "gpu_name", "vast_status", "age_s", "dph_total", "machine_id", "ssh", "classified",
            "games_per_s", "commit"}


def _inst(k: int, fleet: str = "zeb", *, label: str | None = None, status: str | None = "running",
          age_s: float | None = None, ssh: bool = True) -> Instance:
    return Instance(id=30_000_000 + 7 * k, label=label or label_for(fleet, k), status=status,
                    intended_status="running", gpu_name=GPUS[k % 3], num_gpus=1, dph_total=0.05 + (k % 10) / 1000,
                    machine_id=40_000 + k, host_id=100_000 + k, start_date=NOW - (600 + 37 * k if age_s is None
                                                                                   else age_s),
                    ssh_host="ssh5.vast.ai" if ssh else None, ssh_port=20_000 + k if ssh else None)


def _console(*, terminal: bool = False, width: int = 160) -> Console:
    return Console(file=io.StringIO(), no_color=True, highlight=False, soft_wrap=False, width=width,
                   force_terminal=terminal)


def _human(data: dict, *, all_fleets: bool = False, fleet: str = "zeb", wide: bool = False, **console) -> str:
    out = _console(**console)
    render_status(out, data, all_fleets, fleet, wide=wide)
    return out.file.getvalue()


def test_small_fleet_whole_output_piped():
    record = WorkerRecord(instance_id=30_000_007, label="zeb-worker-vast-1", machine_id=40_001, gpu_name="RTX 3070 Ti",
                          dph_total=0.051, created_at=NOW - 637, state=WorkerState.PRODUCING,
                          state_since=NOW - 300, first_seen=NOW - 600, games_per_s=3.2)
    rows = [_inst(0), _inst(1), _inst(2, status=None, age_s=900, ssh=False), _inst(10, status="loading", age_s=90_000)]
    data = status_data({"zeb": rows}, {record.instance_id: record}, {}, NOW, 600.0)
    footer = (
        "Total: 4 instances, $0.203/hr ($4.87/day, $34.10/week)\n"
        "warning: instance 30000014 has been loading for over 10 min; destroy it with: zeb down --id 30000014\n"
        "warning: instance 30000070 has been loading for over 10 min; destroy it with: zeb down --id 30000070\n"
    )
    assert _human(data) == (
        "Label               GPU      State             games/s   $/hr    Age        ID\n"
        "zeb-worker-vast-0   3060     running                 -  0.050    10m  30000000\n"
        "zeb-worker-vast-1   3070 Ti  producing 5m ago     3.20  0.051    10m  30000007\n"
        "zeb-worker-vast-2   4090     pending                 -  0.052    15m  30000014\n"
        "zeb-worker-vast-10  3070 Ti  loading                 -  0.050  1d01h  30000070\n"
    ) + footer
    assert _human(data, wide=True) == (
        "Label               GPU      State             games/s   $/hr    Age        ID  Vast     Machine  SSH                           \n"
        "zeb-worker-vast-0   3060     running                 -  0.050    10m  30000000  running    40000  ssh -p 20000 root@ssh5.vast.ai\n"
        "zeb-worker-vast-1   3070 Ti  producing 5m ago     3.20  0.051    10m  30000007  running    40001  ssh -p 20001 root@ssh5.vast.ai\n"
        "zeb-worker-vast-2   4090     pending                 -  0.052    15m  30000014  pending    40002  -                             \n"
        "zeb-worker-vast-10  3070 Ti  loading                 -  0.050  1d01h  30000070  loading    40010  ssh -p 20010 root@ssh5.vast.ai\n"
    ) + footer
    assert [r["games_per_s"] for r in data["fleets"]["zeb"]["instances"]] == [None, 3.2, None, None]


def _rich_table(columns, rows, title=None) -> str:
    from rich.table import Table
    from rich.text import Text

    out = _console(width=200)
    table = Table(title=title, box=None, pad_edge=False)
    for header, right in columns:
        table.add_column(header, justify="right" if right else "left")
    for row in rows:
        table.add_row(*(Text(c) for c in row))
    out.print(table)
    return out.file.getvalue()


def test_plain_table_is_the_rich_table_it_replaces():
    columns = [("Label", False), ("GPU", False), ("Age", True), ("Wide", False)]
    rows = [[label_for("zeb", k), GPUS[k % 3], f"{k}m", "作業" * (k % 3)] for k in range(13)]
    for title in (None, "fleet zeb", "fleet a-much-longer-fleet-name"):
        # Trailing spaces aside: rich's versions write a centred title's differently (13.8 drops one).
        ours = plain_table(columns, rows, title=title).splitlines()
        assert [line.rstrip() for line in ours] == [line.rstrip() for line in _rich_table(columns, rows, title).splitlines()]


def test_terminal_table_is_the_plain_one_with_a_bold_header_when_it_fits():
    columns = [("Label", False), ("ID", True)]
    rows = [[label_for("zeb", k), str(k)] for k in range(2000)]
    out = _console(terminal=True)
    print_table(out, columns, rows)
    text = out.file.getvalue()
    assert text.startswith("\x1b[1m")     # the bold header
    assert ANSI.sub("", text) == plain_table(columns, rows) + "\n"


def test_fit_table_stacks_rows_that_do_not_fit_and_never_cuts_a_cell():
    columns = [("Label", False), ("GPU", False), ("games/s", True), ("SSH", False)]
    rows = [["zeb-belief-evalaux-worker-vast-10", "RTX 3070 Ti", "3.20", "ssh -p 20010 root@ssh5.vast.ai"],
            ["zeb-belief-evalaux-worker-vast-9", "RTX 4090", "-", "-"]]
    assert [line for line, _ in FitTable(columns, rows).lines(90)] == [
        "Label                              GPU          games/s  SSH",
        "zeb-belief-evalaux-worker-vast-10  RTX 3070 Ti     3.20  ssh -p 20010 root@ssh5.vast.ai",
        "zeb-belief-evalaux-worker-vast-9   RTX 4090           -  -",
    ]
    assert [line for line, _ in FitTable(columns, rows).lines(40)] == [
        "Label",
        "  GPU          games/s",
        "  SSH",
        "zeb-belief-evalaux-worker-vast-10",
        "  RTX 3070 Ti     3.20",
        "  ssh -p 20010 root@ssh5.vast.ai",
        "zeb-belief-evalaux-worker-vast-9",
        "  RTX 4090           -",
        "  -",
    ]


def test_hostile_labels_stay_on_their_own_line_and_column():
    rows = [_inst(0, label="zeb-worker-vast-0\nzeb-worker-vast-9"), _inst(1, label="zeb-worker-vast-1\x1b[2J"),
            _inst(2, label="[bold]zeb-worker-vast-2"), _inst(3, label="作業-worker-vast-3")]
    data = status_data({"zeb": rows}, {}, {}, NOW, 600.0)
    lines = _human(data).splitlines()
    assert len(lines) == 1 + 4 + 1 and "\x1b" not in "".join(lines)
    by_id = {int(line.split()[-1]): line for line in lines[1:5]}
    assert by_id[30_000_000].startswith("zeb-worker-vast-0?zeb-worker-vast-9  ")
    assert by_id[30_000_007].startswith("zeb-worker-vast-1?[2J  ")
    assert by_id[30_000_014].startswith("[bold]zeb-worker-vast-2  ")     # text, not markup
    from rich.cells import cell_len

    gpu_at = lines[0].index("GPU")
    gpu = re.compile(r"  (3060|3070 Ti|4090)  ")
    assert all(cell_len(line[:gpu.search(line).start() + 2]) == gpu_at for line in lines[1:5])


def test_thousands_of_instances_render_one_line_each_with_stable_columns():
    instances = ([_inst(k) for k in range(2500)] + [_inst(k, "zeb-large") for k in range(1500)]
                 + [_inst(9999, label="my-notebook")])
    groups = group_by_fleet(instances)
    assert {name: len(rows) for name, rows in groups.items()} == {"zeb": 2500, "zeb-large": 1500}
    data = status_data(groups, {}, {}, NOW, 600.0)
    text = _human(data, all_fleets=True, wide=True)
    lines = text.splitlines()
    assert len(lines) == 2 * 3 + 2500 + 1500
    assert len(text) < 4000 * 130       # about 125 characters a row, nothing else per row

    at = 0
    for name, count in (("zeb", 2500), ("zeb-large", 1500)):
        title, header, body, total = lines[at], lines[at + 1], lines[at + 2:at + 2 + count], lines[at + 2 + count]
        at += count + 3
        assert title.strip() == f"fleet {name}"
        id_end, ssh_at = header.index("ID") + 2, header.index("SSH")
        assert {len(line) for line in body} == {len(header)}
        ids = [int(line[:id_end].split()[-1]) for line in body]
        members = sorted(groups[name], key=lambda i: int(i.label.rsplit("-", 1)[1]))
        assert ids == [i.id for i in members]                  # every row, in worker order
        assert [line[ssh_at:].rstrip() for line in body] == [i.ssh_command for i in members]
        dph = sum(i.dph_total for i in members)
        assert total == (f"Total: {count} instances, ${round(dph, 4):.3f}/hr (${round(dph * 24, 2):.2f}/day, "
                         f"${round(dph * 24 * 7, 2):.2f}/week)")
    assert "my-notebook" not in text


def test_status_json_is_the_envelope_and_never_draws_the_table():
    instances = [_inst(k) for k in range(3000)]
    data = status_data({"zeb": instances}, {}, {}, NOW, 600.0)

    def no_table(console):
        raise AssertionError("--json drew the human view")

    out, err = _console(), _console()
    render(Result("status", data=data, human=no_table), as_json=True, stdout=out, stderr=err)
    doc = json.loads(out.file.getvalue())
    assert list(doc) == ["zeb_result_version", "command", "status", "exit_code", "data", "errors"]
    assert doc["zeb_result_version"] == 1 and doc["command"] == "status" and doc["errors"] == []
    fleet = doc["data"]["fleets"]["zeb"]
    assert set(fleet) == {"instances", "totals", "launching", "stuck_loading", "hold"}
    assert set(fleet["totals"]) == {"count", "dph", "per_day", "per_week"} and fleet["totals"]["count"] == 3000
    assert len(fleet["instances"]) == 3000 and all(set(r) == ROW_KEYS for r in fleet["instances"])
    assert doc["data"] == json.loads(json.dumps(data))


def test_status_end_to_end_lists_every_member_once(sim_factory):
    sim = sim_factory("sick-fleet")
    res = sim.run("status")
    assert res.exit_code == 0
    members = sorted((i for i in sim.market.instances.values() if (i.label or "").startswith("zeb-worker-vast-")),
                     key=lambda i: int(i.label.rsplit("-", 1)[1]))
    lines = res.stdout.splitlines()
    header, body = lines[0], lines[1:1 + len(members)]
    id_end = header.index("ID") + 2
    assert [int(line[:id_end].split()[-1]) for line in body] == [i.id for i in members]
    assert {len(line) for line in body} == {len(header)}
    assert lines[1 + len(members)].startswith(f"Total: {len(members)} instances, "
                                              f"${sum(i.dph_total for i in members):.3f}/hr")
    doc = sim.json("status")
    rows = doc["data"]["fleets"]["zeb"]["instances"]
    assert [r["id"] for r in rows] == [i.id for i in members] and all(set(r) == ROW_KEYS for r in rows)


def test_stuck_loading_warning_names_the_configured_threshold():
    rows = [_inst(0, status="loading", age_s=400), _inst(1, status="loading", age_s=200)]
    data = status_data({"zeb": rows}, {}, {}, NOW, 300.0)
    assert data["fleets"]["zeb"]["stuck_loading"] == [rows[0].id]
    out = _human(data)
    assert f"instance {rows[0].id} has been loading for over 5 min;" in out
    assert str(rows[1].id) not in out.split("Total")[1]
