"""How the monitor speaks: the banner, one CHECK line per cycle (like vast_monitor.sh), one line per
action, the live dashboard on a terminal, and the summary."""

from __future__ import annotations

from zeb.config import FleetConfig
from zeb.plan.launch import upload_banner
from zeb.timefmt import hms


def banner(cfg: FleetConfig, target: int, blacklist_size: int) -> list[str]:
    mode = cfg.worker_mode if cfg.worker_mode == "selfplay" else (
        f"{cfg.worker_mode} (oracle {cfg.oracle_checkpoint}, n_samples {cfg.eq_n_samples}, games/batch "
        f"{cfg.eq_games_per_batch}, eval batch {cfg.eq_batch_size}, temperature {cfg.eq_temperature:g}, "
        f"policy targets {'on' if cfg.eq_policy_targets else 'off'})")
    return [
        f"zeb monitor: fleet {cfg.name}, target {target} worker(s)",
        f"  worker    {mode}; image {cfg.image}",
        f"  code      {cfg.git_repo} ({cfg.git_branch})",
        f"  weights   {cfg.repo_id}/{cfg.weights_name}.pt",
        f"  examples  {cfg.examples_repo_id}",
        f"  max $/hr  {cfg.max_dph:.3f} per worker",
        f"  GPUs      {', '.join(cfg.gpus)}",
        f"  {upload_banner(cfg, target)}",
        f"  blacklist {blacklist_size} blocked machine(s)",
    ]


def check_line(report, started: float, target: int) -> str:
    elapsed = hms(report.now - started)
    if report.error:
        return f"CHECK #{report.number} [{elapsed}] API error: {report.error}"
    credit = " | CREDIT WAIT" if report.credit_wait else ""
    return (f"CHECK #{report.number} [{elapsed}] {report.producing}/{target} producing, {report.live} up, "
            f"{report.games_per_s:.1f} games/s, ${report.dph:.3f}/hr{credit}")


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


def dashboard(report, cfg: FleetConfig, target: int, started: float, counters, strikes: dict[int, int]):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = Text(check_line(report, started, target) + f" | replaced {counters.replacements}, "
                f"strikes {counters.strikes}")
    table = Table(box=None, pad_edge=False, expand=False)
    for col in ("Label", "GPU", "State", "For", "games/s", "Batch", "$/hr", "$/game/s", "Strikes"):
        table.add_column(col)
    for r in report.rows:
        table.add_row(r["label"], r["gpu_name"], r["state"], hms(r["in_state_s"]),
                      f"{r['games_per_s']:.2f}" if r["games_per_s"] else "-", str(r["batch"] or "-"),
                      f"{r['dph_total']:.3f}", f"{r['dollars_per_gps']:.4f}" if r["dollars_per_gps"] else "-",
                      str(strikes.get(r["machine_id"], 0)))
    lines = [Text(a) for a in report.actions[-8:]]
    return Group(head, table, *lines)
