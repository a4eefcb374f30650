"""`zeb up N`: launch N workers on the best-value offers."""

from __future__ import annotations

from typing import Any

import typer

from zeb.cli._base import FLEET_OPTION, JSON_OPTION, app_of, check_count, fleet_lock, zeb_command
from zeb.cli.output import Result
from zeb.core.errors import EXIT_FAILED, EXIT_PARTIAL, UsageError


@zeb_command("up")
def up(
    ctx: typer.Context,
    count: int | None = typer.Argument(None, help="How many workers to launch (default: the fleet's "
                                          "target_workers)."),
    fleet: str | None = FLEET_OPTION,
    gpu: list[str] | None = typer.Option(None, "--gpu", help="GPU type to consider (repeatable), e.g. RTX_3090."),
    max_dph: float | None = typer.Option(None, "--max-dph", help="Highest $/hr per worker (env ZEB_MAX_DPH)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan; rent nothing."),
    json_out: bool = JSON_OPTION,
) -> Result:
    """Launch COUNT workers on the best-value offers ($ per expected game/s).

    Example: zeb up 4 --fleet zeb-large --gpu RTX_4070_Ti --gpu RTX_3080
    """
    check_count(count, 1)
    app = app_of(ctx)
    cfg = app.config(fleet, gpus=tuple(gpu) if gpu else None, max_dph=max_dph)
    count = cfg.target_workers if count is None else count
    if count < 1:
        raise UsageError(f"fleet {cfg.name} has target_workers = 0; give COUNT, e.g. zeb up 4")
    progress = _Progress(app, count)
    try:
        run = app.fleet(cfg).up(count, lock=fleet_lock(app, cfg.name, 60.0), dry_run=dry_run, on_outcome=progress.step)
    finally:
        progress.done()
    if run.planned is not None:
        return _dry_run_result(cfg.name, run.planned, count)
    return _launch_result(cfg, count, run.outcomes, run.fleet_size)


def _launch_result(cfg, count: int, outcomes: list, fleet_size: int) -> Result:
    # deferred: zeb's planners and store cost ~100 ms that `--help` does not need (benchmarks/bench_help.py)
    from zeb.api.payloads import up_data  # deferred: its records cost start-up
    from zeb.plan.launch import upload_banner
    from zeb.service.fleet import worker_line
    data = up_data(cfg.name, count, outcomes)
    launched = len(data.launched)
    errors = []
    exit_code = 0
    if launched < count:
        exit_code = EXIT_PARTIAL if launched else EXIT_FAILED
        reasons = sorted({o.error for o in outcomes if not o.ok and o.error})
        errors.append(f"launched {launched} of {count} workers: {'; '.join(reasons)}")
    upload = upload_banner(cfg, fleet_size)

    def human(console) -> None:
        console.print(f"Launching {count} worker(s) for fleet {cfg.name} ({cfg.worker_mode}; {upload})...",
                      markup=False)
        for o in outcomes:
            console.print("  " + worker_line(o))
        if launched:
            console.print("Fleet launched. Workers take 3-5 min to start generating. Check with: zeb status"
                          + ("" if cfg.name == "zeb" else f" --fleet {cfg.name}"))

    brief = f"zeb up: launched {launched} of {count} worker(s) for fleet {cfg.name}"
    return Result("up", data=data, errors=errors, exit_code=exit_code, human=human, brief=brief)


def _dry_run_result(fleet: str, picked, count: int) -> Result:
    from zeb.api.payloads import up_dry_run_data  # deferred: its records cost start-up
    data = up_dry_run_data(fleet, picked)
    plan = data.plan

    def human(console) -> None:
        console.print(f"Dry run: would launch {len(plan)} of {count} worker(s) for fleet {fleet}:")
        for row in plan:
            console.print(f"  {row.label}: {row.gpu_name} @ ${row.dph_total:.3f}/hr (offer {row.offer_id}, "
                          f"machine {row.machine_id}, ${row.dollars_per_gps:.4f} per game/s)")
        if len(plan) < count:
            console.print(f"  only {len(plan)} matching offer(s) on distinct machines")
        console.print(f"  {_HUB_UNCHECKED}")

    exit_code = 0 if len(plan) == count else (EXIT_PARTIAL if plan else EXIT_FAILED)
    errors = [] if exit_code == 0 else [f"only {len(plan)} of {count} workers have an offer"]
    return Result("up", data=data, errors=errors, exit_code=exit_code, human=human)


_HUB_UNCHECKED = "(the HF token and the weights file were not checked; `zeb up` without --dry-run checks them first)"


class _Progress:
    """A transient progress bar on stderr when it is a terminal, from the first launch's outcome on;
    nothing otherwise."""

    def __init__(self, app, total: int) -> None:
        self._app, self._total = app, total
        self._bar: Any = None

    def step(self, outcome) -> None:
        if self._bar is None and self._app.stderr.is_terminal and self._total:
            from rich.progress import Progress

            self._bar = Progress(console=self._app.stderr, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("Launching workers", total=self._total)
        if self._bar is not None:
            self._bar.advance(self._task)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def register(app: typer.Typer) -> None:
    app.command("up")(up)
