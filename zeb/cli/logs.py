"""`zeb logs ID|LABEL`: a worker's log tail, ending with its classified state and the line that shows it."""

from __future__ import annotations

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import NotFound, UsageError


@zeb_command("logs")
def logs(
    ctx: typer.Context,
    worker: str = typer.Argument(..., help="Instance id or label (zeb-worker-vast-2)."),
    tail: int = typer.Option(50, "--tail", "-n", min=1, max=10000, help="How many lines."),
    follow: bool = typer.Option(False, "--follow", "-F", help="Keep printing new lines until Ctrl-C."),
    interval: float = typer.Option(15.0, "--interval", min=1.0, help="Seconds between polls with --follow."),
    fleet: str | None = FLEET_OPTION,
    json_out: bool = JSON_OPTION,
) -> Result:
    """Print a worker's log tail and its classified state.

    Example: zeb logs zeb-worker-vast-2 --tail 50
    """
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.api.payloads import logs_data
    from zeb.core.lifecycle import classify

    app = app_of(ctx)
    if follow and json_out:
        raise UsageError("--follow and --json do not go together")
    instance = _resolve(app, worker)
    text = app.market.logs(instance.id, tail=tail)
    if follow:
        text = _follow(app, instance, text, tail, interval)
    obs = classify(instance.status, text, intended_status=instance.intended_status, status_msg=instance.status_msg)
    blame = whose_fault(obs)
    commit = obs.commit or _known_commit(app, instance)
    data = logs_data(instance, text, obs, blame, commit)
    lines = data.lines

    def human(console) -> None:
        if not follow:
            for line in lines:
                console.print(line, markup=False, highlight=False)
            if not lines:
                console.print("(no log output yet: normal while the instance boots)")
        console.rule(style="dim")
        console.print(f"{instance.label or instance.id}: {obs.state}"
                      + (f"  <- {obs.evidence}" if obs.evidence else ""),
                      markup=False)
        if commit:
            console.print(f"code at {commit}", markup=False)
        if blame:
            console.print(blame, markup=False)

    return Result("logs", data=data, human=human)


def _known_commit(app, instance) -> str | None:
    """The commit the monitor learnt for this worker (a producing worker's tail no longer shows it)."""
    from zeb.plan.fleet import fleet_of
    from zeb.storage import state

    fleet = fleet_of(instance.label or "")
    if fleet is None:
        return None
    record = state.load_records(app.store, fleet).get(instance.id)
    return record.commit if record is not None else None


def whose_fault(obs) -> str | None:
    """One line on what the evidence means for the machine, for faults and stops."""
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.core.lifecycle import CONFIG_FAULTS, HUB_FAULTS, WorkerState
    from zeb.plan.monitor import config_hint, stop_cause

    kind = obs.fatal_kind
    if kind in HUB_FAULTS:
        return f"Hugging Face fault ({kind}): not the host's; the monitor checks the hub before replacing it"
    if kind == "image_pull":
        return "the image cannot be pulled: not the host's; check the image name and the registry"
    if kind in CONFIG_FAULTS:
        return f"launch configuration fault ({kind}): not the host's; fix {config_hint(kind)}"
    if kind == "broken_launch":
        return "broken launch: the host's if other workers of the fleet start fine, else the script's or image's"
    if obs.state is WorkerState.STOPPED:
        cause = stop_cause(kind, produced=obs.batch is not None)
        if cause == "hardware":
            return f"host fault ({kind}) in the last log: the machine is blocked at once"
        if cause == "crash":
            return f"crashed on its host ({kind}): replaced, the machine gets a strike"
        return "no host fault in the last log" + (f" ({kind})" if kind else " (preempted)") + ": replaced, no strike"
    return None


def _resolve(app, worker: str):
    if worker.isdigit():
        found = app.market.get_instance(int(worker))
        if found is None:
            raise NotFound(f"no instance {worker} on this account")
        return found
    matches = [i for i in app.market.list_instances() if i.label == worker]
    if not matches:
        raise NotFound(f"no instance labelled {worker!r}; see `zeb status --all`")
    # Duplicates happen (a double launch by an old script): show the newest, say so.
    matches.sort(key=lambda i: i.start_date, reverse=True)
    if len(matches) > 1:
        app.note(f"note: {len(matches)} instances carry {worker}; showing the newest ({matches[0].id})")
    return matches[0]


def _follow(app, instance, text: str, tail: int, interval: float) -> str:
    """Print new lines until Ctrl-C; returns the last tail seen."""
    seen = text.splitlines()
    for line in seen:
        app.stdout.print(line, markup=False, highlight=False)
    try:
        while True:
            app.sleep(interval)
            fresh = app.market.logs(instance.id, tail=tail).splitlines()
            new = new_lines(seen, fresh)
            for line in new:
                app.stdout.print(line, markup=False, highlight=False)
            seen = fresh
    except KeyboardInterrupt:
        app.stderr.print("stopped following")
    return "\n".join(seen)


def new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of `current` after the longest overlap between the end of `previous` and its start."""
    for k in range(min(len(previous), len(current)), 0, -1):
        if previous[-k:] == current[:k]:
            return current[k:]
    return current


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
