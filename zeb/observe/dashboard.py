"""How the monitor speaks: the banner, one CHECK line per cycle (like vast_monitor.sh), one line per
action, the live dashboard on a terminal, and the summary. Every line a log keeps starts with the
wall-clock time of the report it tells (`stamp`), never the clock at printing."""

from __future__ import annotations

from collections.abc import Callable

from zeb.core.config import FleetConfig
from zeb.core.timefmt import DATE_SECOND, age, countdown, hms, when
from zeb.plan.launch import upload_banner


def banner(cfg: FleetConfig, target: int, blacklist_size: int) -> list[str]:
    mode = cfg.worker_mode if cfg.worker_mode == "selfplay" else (
        f"{cfg.worker_mode} (oracle {cfg.oracle_checkpoint}, n_samples {cfg.eq_n_samples}, games/batch "
        f"{cfg.eq_games_per_batch}, eval batch {cfg.eq_batch_size}, temperature {cfg.eq_temperature:g}, "
        f"policy targets {'on' if cfg.eq_policy_targets else 'off'})")
    return [
        f"zeb monitor: fleet {cfg.name}, target {target} worker(s)",
        f"  worker    {mode}; image {cfg.image}",
        f"  code      {cfg.git_repo} ({_code_pin(cfg)})",
        f"  weights   {cfg.repo_id}/{cfg.weights_name}.pt",
        f"  examples  {cfg.examples_repo_id}",
        f"  max $/hr  {cfg.max_dph:.3f} per worker",
        f"  GPUs      {', '.join(cfg.gpus)}",
        f"  {upload_banner(cfg, target)}",
        f"  blacklist {blacklist_size} blocked machine(s)",
    ]


def _code_pin(cfg: FleetConfig) -> str:
    if cfg.git_commit:
        return f"{cfg.git_branch} pinned at {cfg.git_commit[:12]}"
    if cfg.pin == "last-good":
        return f"{cfg.git_branch}; on a bad commit, the last one that produced"
    return cfg.git_branch


def stamp(now: float) -> str:
    """The prefix of a logged line: `[2026-11-23 14:05:09] `, local time."""
    return f"[{when(now, DATE_SECOND)}] "


def check_line(report, started: float, target: int) -> str:
    head, body = _check_parts(report, started, target)
    return f"{stamp(report.now)}{head} {body}"


def _check_parts(report, started: float, target: int) -> tuple[str, str]:
    head = f"CHECK #{report.number} [{hms(report.now - started)}]"
    if report.error:
        return head, f"API error: {report.error}"
    credit = " | CREDIT WAIT" if report.credit_wait else ""
    hold = f" | HOLD ({report.hold})" if getattr(report, "hold", None) else ""
    launching = getattr(report, "launching", 0)
    pending = f", {launching} launching" if launching else ""
    return head, (f"{report.producing}/{target} producing, {report.live} up{pending}, "
                  f"{report.games_per_s:.1f} games/s, ${report.dph:.3f}/hr{credit}{hold}")


def summary(monitor, now: float) -> list[str]:
    c = monitor.counters
    productive = sum(r.cost_productive for r in monitor.records.values())
    overhead = sum(r.cost_overhead for r in monitor.records.values())
    share = productive / (productive + overhead) if productive + overhead > 0 else 0.0
    return [
        f"summary after {hms(now - monitor.started)}: {c.cycles} cycles, {c.launches} launched, "
        f"{c.replacements} replaced, {c.destroys} destroyed, {c.strikes} strikes, {c.api_errors} API errors, "
        f"{c.poll_failures} failed log polls; productive share of $ (live workers) {share:.0%}",
    ]


_DASHBOARD_COLUMNS = (("Label", False), ("GPU", False), ("State", False), ("For", True), ("games/s", True),
                      ("Batch", True), ("$/hr", True), ("$/game/s", True), ("Strikes", True))


def dashboard(report, cfg: FleetConfig, target: int, started: float, counters, strikes: dict[int, int], *,
              next_check_at: float | None = None, clock: Callable[[], float] | None = None) -> Dashboard:
    return Dashboard(report, target, started, counters, strikes, next_check_at=next_check_at, clock=clock)


class Dashboard:
    """The live view of the last cycle. rich.live renders it again on every refresh, and each render reads
    `clock`, so the countdown to the next check ticks between cycles. The table fits the terminal's width
    (zeb.observe.tables.FitTable): labels whole, a row on two lines when one does not fit."""

    def __init__(self, report, target: int, started: float, counters, strikes: dict[int, int], *,
                 next_check_at: float | None = None, clock: Callable[[], float] | None = None) -> None:
        self.report, self.target, self.started = report, target, started
        self.counters, self.strikes = counters, strikes
        self.next_check_at, self.clock = next_check_at, clock

    def countdown(self) -> str:
        if self.next_check_at is None or self.clock is None:
            return ""
        left = self.next_check_at - self.clock()
        return "next check now" if left < 1 else f"next check in {countdown(left)}"

    def __rich__(self):
        from rich.console import Group
        from rich.text import Text

        from zeb.observe.tables import FitTable, state_style

        r = self.report
        head, body = _check_parts(r, self.started, self.target)
        first = f"{stamp(r.now)}{head}" + (f"; {self.countdown()}" if self.countdown() else "")
        second = f"{body} | replaced {self.counters.replacements}, strikes {self.counters.strikes}"
        lines = [Text(a) for a in r.actions[-8:]]
        hold = [Text(f"HOLD ({r.hold}): {r.hold_why}", overflow="fold")] if getattr(r, "hold", None) else []
        columns, rows = dashboard_table(r.rows, getattr(r, "launching_rows", ()), self.strikes)
        return Group(Text(first), Text(second), *hold, FitTable(columns, rows, styles={"State": state_style}), *lines)


def dashboard_table(workers, launching, strikes: dict[int, int]) -> tuple[list[tuple[str, bool]], list[list[str]]]:
    """The dashboard's columns and rows: every worker and every launch in flight (zeb.plan.fleet.launching),
    in label order; a column that is `-` in every row (no strike on any machine, say) is left out."""
    from zeb.observe.tables import blank_columns, without

    keyed = [(_label_key(w["label"]), [w["label"], w["gpu_name"].removeprefix("RTX "), w["state"],
                                       age(w["in_state_s"]), f"{w['games_per_s']:.2f}" if w["games_per_s"] else "-",
                                       str(w["batch"] or "-"), f"{w['dph_total']:.3f}",
                                       f"{w['dollars_per_gps']:.4f}" if w["dollars_per_gps"] else "-",
                                       _strikes(strikes, w["machine_id"])]) for w in workers]
    keyed += [(_label_key(e["label"]), [e["label"], "-", "launching", age(e["for_s"]), "-", "-", "-", "-",
                                        _strikes(strikes, e["machine_id"])]) for e in launching]
    rows = [cells for _, cells in sorted(keyed, key=lambda kv: kv[0])]
    drop = blank_columns(_DASHBOARD_COLUMNS, rows)
    return without(_DASHBOARD_COLUMNS, drop), [without(row, drop) for row in rows]


def _strikes(strikes: dict[int, int], machine_id: int) -> str:
    # None is `-`, as every cell with nothing recorded: with no strike anywhere the column is left out.
    n = strikes.get(machine_id, 0)
    return str(n) if n else "-"


def _label_key(label: str) -> tuple:
    head, _, tail = label.rpartition("-")
    return (head, int(tail) if tail.isdigit() else 0, label)


