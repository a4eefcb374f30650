"""`zeb timeline ID|LABEL`: every state of one worker with its start, duration and cost."""

from __future__ import annotations

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import NotFound
from zeb.core.timefmt import hms, when


@zeb_command("timeline")
def timeline(
    ctx: typer.Context,
    worker: str = typer.Argument(..., help="Instance id or label (the newest instance that carried it)."),
    fleet: str | None = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Every state change of one worker, with durations and its cost split.

    Example: zeb timeline zeb-worker-vast-2
    """
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.api.payloads import timeline_data
    from zeb.plan.timeline import instance_for
    from zeb.plan.timeline import timeline as build
    from zeb.storage import state
    app = app_of(ctx)
    cfg = app.config(fleet)
    events = state.read_events(app.store, cfg.name)
    instance_id = instance_for(events, worker)
    mine = [e for e in events if instance_id is not None and e.get("instance_id") == instance_id]
    if not mine or instance_id is None:
        raise NotFound(f"no recorded events for {worker} in fleet {cfg.name} (the monitor records them)")
    records = state.load_records(app.store, cfg.name)
    retired = {r.instance_id: r for r in state.retired_records(mine)}
    rec = records.get(instance_id) or retired.get(instance_id)
    dph = rec.dph_total if rec else 0.0
    tl = build(mine, app.clock(), dph)
    label = rec.label if rec else next((e.get("label") for e in mine if e.get("label")), worker)
    commit = rec.commit if rec else None
    data = timeline_data(instance_id, label or worker, dph, commit, tl)

    def human(console) -> None:
        from rich.table import Table
        from rich.text import Text

        code = f", code at {commit[:12]}" if commit else ""
        console.print(f"{label} (instance {instance_id}, ${dph:.3f}/hr{code})", markup=False)
        table = Table(box=None, pad_edge=False)
        for col in ("Started", "State", "For", "Billing", "$", "Why"):
            table.add_column(col, overflow="fold")
        for s in tl.spans:
            started = when(s.start, "%m-%d %H:%M:%S")
            table.add_row(started, s.state, hms(s.duration), s.billing, f"{s.cost:.4f}",
                          Text((s.reason + (f" <- {s.evidence}" if s.evidence else ""))[:120]))
        console.print(table)
        total = tl.productive + tl.overhead
        share = f" ({tl.productive / total:.0%} productive)" if total else ""
        console.print(f"cost ${total:.4f}: ${tl.productive:.4f} producing, ${tl.overhead:.4f} overhead{share}",
                      markup=False)

    return Result("timeline", data=data, human=human)


def register(app: typer.Typer) -> None:
    app.command("timeline")(timeline)
