"""A bad value for a flag, a fleets.toml key or a ZEB_* variable: one error line on stderr (click's usage
errors add their two-line "Usage: ... / Try ..." header above it; an empty ZEB_* value means unset, as in the
scripts' `${VAR:-default}`, so it is not bad input), a non-zero exit, no traceback, and nothing
rented. The processes run side by side (each its own ZEB_HOME; none of them may create anything, which the
market's call log proves for all of them at once)."""

from __future__ import annotations

import time

from tests.chaos import harness

FLAGS = [
    ("up", "abc"), ("up", "-3"), ("up", "1", "--max-dph", "abc"), ("up", "1", "--max-dph", "-1"),
    ("up", "1", "--max-dph", "nan"), ("up", "1", "--gpu", ""), ("up", "1", "--fleet", "../etc"),
    ("up", "1", "--fleet", "no-such-fleet-in-the-file!"), ("replenish", "abc"), ("replenish", "2", "--wait", "-5"),
    ("replenish", "2", "--wait", "x"), ("down", "--force", "--wait", "-1"), ("down", "--force", "--id", "abc"),
    ("monitor", "1", "--interval", "0"), ("monitor", "1", "--max-cycles", "0"),
    ("monitor", "1", "--once", "--log-file", "/nonexistent-dir/x.jsonl"), ("logs", "zeb-worker-vast-0", "--tail", "-1"),
    ("stats", "--since", "0m"), ("stats", "--since", "forever"), ("status", "--fleet", ""), ("up", "1", "--bogus"),
]
# (fleets.toml line for [fleets.zeb], what it breaks)
TOML = ["max_dph = \"cheap\"", "max_dph = -1", "gpus = 5", "gpus = []", "target_workers = -1",
        "target_workers = \"four\"", "upload_interval = 0", "worker_mode = \"bogus\"", "eq_n_samples = 0",
        "eq_temperature = \"hot\"", "eq_policy_targets = \"maybe\"", "weights_name = 5", "repo_id = \"\"",
        "no_such_key = 1", "thresholds = 3", "expected_gps = \"fast\""]
ENV = [("ZEB_MAX_DPH", "abc"), ("ZEB_MAX_DPH", "-0.5"), ("ZEB_GPUS", ",,,"), ("ZEB_UPLOAD_INTERVAL", "abc"),
       ("ZEB_FLEET", "../x"), ("ZEB_WORKER_MODE", "bogus"), ("ZEB_EQ_N_SAMPLES", "abc"),
       ("ZEB_EQ_GAMES_PER_BATCH", "-1"), ("ZEB_EQ_BATCH_SIZE", "x"), ("ZEB_EQ_TEMPERATURE", "hot"),
       ("ZEB_EQ_POLICY_TARGETS", "maybe"), ("ZEB_WEIGHTS_NAME", "no-such-weights"), ("ZEB_REPO_ID", "no/such-repo")]


def _error_lines(err: str) -> list[str]:
    # The error itself; `monitor` prints its banner to stderr before it opens --log-file (reported).
    return [line for line in err.strip().splitlines() if line.startswith(("zeb: error:", "Error: "))]


def test_bad_flags_config_keys_and_env_are_refused_before_anything_is_rented(chaos):
    started = time.monotonic()
    chaos.clear_fleet()
    before = len(chaos.market.calls)
    cases: list[tuple[str, tuple, dict]] = [(f"flag {' '.join(a)}", a, {}) for a in FLAGS]
    for n, line in enumerate(TOML):
        config = chaos.root / f"bad-{n}.toml"
        config.write_text(harness.FLEETS_TOML.replace('weights_name = "zeb-557k-1m"',
                                                      f'weights_name = "zeb-557k-1m"\n{line}'))
        cases.append((f"fleets.toml {line}", ("up", "1"), {"ZEB_CONFIG": str(config)}))
    cases += [(f"env {k}={v!r}", ("up", "1"), {k: v}) for k, v in ENV]
    failures: list[str] = []
    for batch in range(0, len(cases), 8):
        procs = []
        for i, (what, args, extra) in enumerate(cases[batch:batch + 8]):
            home = chaos.home(f"bad-{batch + i}")
            procs.append((what, args, chaos.spawn(home, *args, env=chaos.env(home, **extra)), time.monotonic()))
        for what, args, proc, t0 in procs:
            ran = chaos.finish(proc, args, t0, timeout=60)
            errors = _error_lines(ran.err)
            if ran.code == 0 or not harness.traceback_free(ran) or len(errors) != 1:
                failures.append(f"{what}: exit {ran.code}, stderr {ran.err.strip()[-400:]!r}")
    creates = chaos.creates_since(before)
    if creates:
        failures.append(f"rented during bad input: {[c['path'] for c in creates]}")
    harness.record("bad_input", cases=len(cases), failures=len(failures),
                   seconds=round(time.monotonic() - started, 1))
    assert not failures, "\n".join(failures)
