"""What a simulated instance shows: its Vast status over time and its container log, in the real
worker's formats (runbook section 3). Logs are computed from (instance, now), tail-first, so a day-old
worker's tail costs O(tail), not O(day)."""

from __future__ import annotations

import math
import random
import time as _time

BATCH_GAMES = 256
BATCH_EXAMPLES = 7168


def _stamp(t: float) -> str:
    """`date`'s default format, as the onstart script prints it: "Thu Feb  6 12:00:00 UTC 2026"."""
    g = _time.gmtime(t)
    return f"{_time.strftime('%a %b', g)} {g.tm_mday:2d} {_time.strftime('%H:%M:%S', g)} UTC {g.tm_year}"


def boot_time(inst) -> float:
    """When the current boot began: the create, or the latest restart after a stop."""
    return inst.booted if inst.booted is not None else inst.created


def timings(machine, rng: random.Random) -> dict[str, float]:
    """Seconds after create at which each phase starts, drawn once per instance."""
    t: dict[str, float] = {}
    t["loading"] = rng.uniform(5, 20)
    t["running"] = t["loading"] + rng.uniform(60, 180)
    t["git"] = t["running"] + rng.uniform(5, 15)
    t["cloned"] = t["git"] + rng.uniform(8, 20)
    t["deps"] = t["cloned"] + (rng.uniform(1500, 2400) if machine.fault == "slow_setup" else rng.uniform(40, 110))
    t["gpu"] = t["deps"] + rng.uniform(2, 6)
    t["worker"] = t["gpu"] + rng.uniform(1, 3)
    t["loaded"] = t["worker"] + rng.uniform(8, 25)
    t["pipeline"] = t["loaded"] + rng.uniform(5, 12)
    t["period"] = BATCH_GAMES / max(0.05, machine.gps * rng.uniform(0.97, 1.03))
    t["first_batch"] = t["pipeline"] + t["period"]
    t["no_container"] = 1.0 if rng.random() < 0.3 else 0.0
    t["base_step"] = float(rng.randint(100, 900))
    t["upload_fail_seed"] = float(rng.randint(0, 10**6))
    return t


def _fault_time(inst, machine) -> float:
    return inst.timings["first_batch"] + machine.fault_after_s


def status(inst, machine, now: float) -> str | None:
    age = now - boot_time(inst)
    t = inst.timings
    if inst.stopped_at is not None:
        return "stopped"
    if machine.fault == "preempt" and age >= machine.fault_after_s:
        return "stopped"
    if age < t["loading"]:
        return None
    if machine.fault == "dud" or age < t["running"]:
        return "loading"
    if machine.fault == "crash" and age >= _fault_time(inst, machine) + 10:
        return "exited"
    return "running"


def status_msg(status: str | None) -> str | None:
    return {None: None, "loading": "Pulling image layers", "running": "success, running",
            "exited": "container exited with code 1", "stopped": "instance stopped"}.get(status)


def _worker(inst) -> str:
    return inst.env.get("WORKER_ID") or "worker-vast-" + (inst.label or "0").rsplit("-", 1)[-1]


def _header(inst, machine, until_age: float) -> list[str]:
    t = inst.timings
    w = _worker(inst)
    repo = inst.env.get("ZEB_REPO_ID", "jasonyandell/zeb-42")
    examples = inst.env.get("ZEB_EXAMPLES_REPO_ID", "jasonyandell/zeb-42-examples")
    c = boot_time(inst)
    lines: list[tuple[float, str]] = [(t["running"], f"=== Setup started at {_stamp(c + t['running'])} ===")]
    if machine.fault == "broken_launch":
        for k in range(6):
            lines.append((t["git"] + 20 * k, "/root/onstart.sh: line 4: python: command not found"))
            lines.append((t["git"] + 20 * k + 1, "/root/onstart.sh: line 5: cd: /root/code: No such file or directory"))
        return [ln for when, ln in lines if when <= until_age]
    lines += [(t["git"], "git installed"), (t["cloned"], "repo cloned"), (t["deps"], "deps installed")]
    gpu = f"NVIDIA GeForce {machine.gpu_name}"
    if machine.fault == "no_cuda":
        lines += [(t["gpu"], "Traceback (most recent call last):"),
                  (t["gpu"], '  File "<string>", line 1, in <module>'),
                  (t["gpu"], "AssertionError: No CUDA")]
        return [ln for when, ln in lines if when <= until_age]
    params = "557,186" if "large" not in inst.env.get("ZEB_WEIGHTS_NAME", "") else "3,301,250"
    lines += [
        (t["gpu"], f"GPU OK: {gpu}"),
        (t["worker"], f"=== Starting worker {w} at {_stamp(c + t['worker'])} ==="),
        (t["worker"] + 0.5, f"Pulling initial weights from {repo}..."),
        (t["loaded"], f"  Model loaded (step {int(t['base_step'])}), {params} params"),
        (t["loaded"], f"  Examples repo: {examples}"),
        (t["loaded"] + 0.5, "Creating self-play pipeline..."),
        (t["pipeline"], f"Pipeline created in {t['pipeline'] - t['loaded'] - 0.5:.1f}s"),
        (t["pipeline"], ""),
        (t["pipeline"], f"Worker {w} starting (output: {examples})"),
    ]
    if machine.fault == "oom":
        lines += [(t["pipeline"] + 3, "Traceback (most recent call last):"),
                  (t["pipeline"] + 3, '  File "/root/code/forge/zeb/worker/run.py", line 141, in main'),
                  (t["pipeline"] + 3, "    batch = pipeline.generate(n_games)"),
                  (t["pipeline"] + 3, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
                                      "(GPU 0; 7.79 GiB total capacity; 6.12 GiB already allocated)")]
    return [ln for when, ln in lines if when <= until_age]


def _batches_done(inst, machine, age: float) -> int:
    t = inst.timings
    if machine.fault in ("oom", "no_cuda", "broken_launch", "dud") or age < t["first_batch"]:
        return 0
    end = age
    if machine.fault in ("stall", "crash"):
        end = min(end, _fault_time(inst, machine))
    if machine.fault == "preempt":
        end = min(end, machine.fault_after_s)
    if end < t["first_batch"]:
        return 0
    return int((end - t["first_batch"]) // t["period"]) + 1


def _batch_block(inst, n: int) -> list[str]:
    t = inst.timings
    w = _worker(inst)
    step = int(t["base_step"]) + (n - 1) // 10
    gps = BATCH_GAMES / t["period"]
    jitter = ((n * 7919 + int(t["upload_fail_seed"])) % 21 - 10) / 100.0
    out = [f"[{w}] batch {n}: {BATCH_EXAMPLES} examples, {max(0.1, gps + jitter):.1f} games/s, step={step}, "
           f"total_games={n * BATCH_GAMES}"]
    interval = float(inst.env.get("ZEB_UPLOAD_INTERVAL") or 240)
    every = max(1, round(interval / t["period"]))
    if n % every == 0:
        out.append(f"Uploading {every} batches to HF...")
        # About one upload in 20 hits HF's commit race; 7919 is coprime with 20, so every worker sees some.
        if ((n // every) * 7919 + int(t["upload_fail_seed"])) % 20 == 0:
            out.append("Upload failed (412 Precondition Failed), will retry next cycle")
        else:
            out.append(f"Upload complete ({every} batches)")
    if n % 10 == 0:
        out.append(f"Weights updated to step {int(t['base_step']) + n // 10}")
    return out


def render(inst, machine, now: float, tail: int | None) -> str:
    t0 = boot_time(inst)
    frozen = now if inst.stopped_at is None else min(now, inst.stopped_at)
    if machine.fault == "preempt":
        frozen = min(frozen, t0 + machine.fault_after_s)
    age = frozen - t0     # a stopped container's log ends where it stopped
    t = inst.timings
    status_now = status(inst, machine, now)
    if status_now is None:
        return ""
    if status_now == "loading":
        if t["no_container"] and age < t["running"]:
            return f"Error response from daemon: No such container: {inst.id:x}c0ffee\n"
        return ""
    done = _batches_done(inst, machine, age)
    want = tail if tail and tail > 0 else 10**9
    lines: list[str] = []
    first = max(1, done - want + 1)
    if first == 1 or done == 0:
        lines = _header(inst, machine, age)
    blocks = inst.log_blocks     # a log only grows: consecutive polls re-render only the new batches
    for n in range(first, done + 1):
        block = blocks.get(n)
        if block is None:
            block = blocks[n] = _batch_block(inst, n)
        lines.extend(block)
    window = max(512, 2 * (done - first + 1))
    if len(blocks) > window:
        for n in [k for k in blocks if k <= done - window]:
            del blocks[n]
    if machine.fault == "crash" and age >= _fault_time(inst, machine):
        lines += ["Traceback (most recent call last):",
                  '  File "/root/code/forge/zeb/worker/run.py", line 162, in main',
                  "RuntimeError: CUDA error: an illegal memory access was encountered"]
    if tail and tail > 0:
        lines = lines[-tail:]
    return "\n".join(lines) + ("\n" if lines else "")


def expected_gps(machine) -> float:
    return machine.gps


def batches_per_day(machine) -> float:
    return 86400 * machine.gps / BATCH_GAMES if machine.gps else math.inf
