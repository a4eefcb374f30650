"""What a simulated instance shows: its Vast status over time and its container log, in the real
worker's formats (runbook section 3). The log is what the instance's onstart script really does (the
onstart model runs it once per boot) and then, only if the worker starts, the worker's own lines. Logs
are computed from (instance, now), tail-first, so a day-old worker's tail costs O(tail), not O(day)."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from zeb.sim import onstart

BATCH_GAMES = 256
BATCH_EXAMPLES = 7168


_stamp = onstart.stamp     # `date`'s default format, as the onstart script prints it


def boot_time(inst) -> float:
    """When the current boot began: the create, or the latest restart after a stop."""
    return inst.booted if inst.booted is not None else inst.created


def timings(machine, rng: random.Random) -> dict[str, float]:
    """Seconds after create at which the container phases start, and how long each kind of onstart step
    takes on this machine (the onstart model charges them), drawn once per instance."""
    t: dict[str, float] = {}
    t["loading"] = rng.uniform(5, 20)
    t["running"] = t["loading"] + rng.uniform(60, 180)
    t["apt"] = rng.uniform(5, 15)
    t["clone"] = rng.uniform(8, 20)
    t["pip"] = rng.uniform(40, 110)
    t["slow"] = rng.uniform(1500, 2400) if machine.fault == "slow_setup" else 0.0
    t["gpu"] = rng.uniform(2, 6)
    t["start"] = rng.uniform(1, 3)
    t["load"] = rng.uniform(8, 25)           # the worker: start -> model loaded
    t["build"] = rng.uniform(5, 12)          # model loaded -> pipeline created
    t["period"] = BATCH_GAMES / max(0.05, machine.gps * rng.uniform(0.97, 1.03))   # a 256-game self-play batch
    t["no_container"] = 1.0 if rng.random() < 0.3 else 0.0
    t["base_step"] = float(rng.randint(100, 900))
    t["upload_fail_seed"] = float(rng.randint(0, 10**6))
    return t


_DURATION_KEYS = ("apt", "clone", "pip", "slow", "gpu", "start")
EVAL_AUX_SPEED = 1 / 3          # eval-aux plays at about a third of self-play's games/s
EXAMPLES_PER_GAME = BATCH_EXAMPLES // BATCH_GAMES
LEARNER_STEP_S = 600.0          # the learner publishes new weights about every ten minutes


@dataclass
class Run:
    """What one boot of an instance does, computed once per boot from its onstart plan: the timed log lines
    before the batches, and the worker's cadence. Times are seconds after the boot."""
    lines: list[tuple[float, str]]
    worker: onstart.Worker | None = None
    pull_error: str | None = None
    worker_id: str = ""
    loaded: float = math.inf
    first_batch: float = math.inf
    period: float = math.inf
    games_per_batch: int = BATCH_GAMES
    every: int = 1                  # batches per upload
    sync: int = 10                  # batches per weight sync
    uploads: bool = False           # to an examples repo (an --output-dir worker writes files instead)
    namespace: str = ""             # the upload path's folder: the weights name's stem, none for "model"
    pull_at: float = math.inf       # the worker's initial weights pull
    code_fault_at: float = math.inf  # a broken commit's crash (its code_fault), after the model loads
    # The fault that ends the worker (apply_world sets it): when, what ("code" or a HUB_FAULTS kind), and for
    # a crash at a weight sync the batch whose sync failed (0: it never got to batches).
    fault_at: float = math.inf
    fault_kind: str = ""
    fault_batch: int = 0


def prepare(inst, machine, world: onstart.World = onstart.WORLD) -> Run:
    """Run the instance's onstart through the model for this boot and lay out what its log will show."""
    t = inst.timings
    boot = boot_time(inst)
    plan = onstart.run_onstart(inst.onstart, env=inst.env, image=inst.image, gpu_name=machine.gpu_name,
                               cuda=machine.fault != "no_cuda", durations={k: t[k] for k in _DURATION_KEYS},
                               started_at=boot + t["running"], world=world, pulled_at=boot + t["loading"])
    inst.plan = plan
    if plan.pull_error is not None:
        return Run([], pull_error=plan.pull_error)
    lines: list[tuple[float, str]] = []
    at = t["running"]
    for step in plan.steps:
        at += step.seconds
        lines.extend((at, ln) for ln in step.lines)
    if machine.fault == "broken_launch":
        # The host's container is broken under any script: the first lines, then bash failing over and over.
        lines = lines[:1]
        for k in range(6):
            lines.append((t["running"] + 10 + 20 * k, "/root/onstart.sh: line 4: python: command not found"))
            lines.append((t["running"] + 11 + 20 * k,
                          "/root/onstart.sh: line 5: cd: /root/code: No such file or directory"))
        return Run(lines)
    worker = plan.worker
    if worker is None or worker.quiet:
        return Run(lines)
    run = _worker_run(inst, machine, worker, lines, at)
    apply_world(inst, run, world)
    return run


def apply_world(inst, run: Run, world: onstart.World) -> None:
    """Set what ends this boot's worker from outside its host: its commit's broken code, or Hugging Face
    failing at its initial pull or at a weight sync (the real worker retries neither). Pure in (inst, run,
    world); the market calls it again whenever the world's future changes (a hub outage scheduled)."""
    run.fault_at, run.fault_kind, run.fault_batch = run.code_fault_at, "code" if run.code_fault_at < math.inf else "", 0
    if run.worker is None:
        return
    boot = boot_time(inst)
    a = run.worker.args
    ask = {"token": inst.env.get("HF_TOKEN"), "repo_id": str(a["repo_id"]), "path": _weights_file(run.worker)}
    if run.pull_at < run.fault_at:
        kind = world.hub_fault(boot + run.pull_at, **ask)
        if kind is not None:
            run.fault_at, run.fault_kind = run.pull_at, kind
            return
    best = 0
    for w in world.hub:
        # The first sync at or after the window opens: batch n = k * sync completes at first_batch + (n-1)*period.
        k = max(1, math.ceil(((w.start - boot - run.first_batch) / run.period + 1) / run.sync))
        n = k * run.sync
        at = run.first_batch + (n - 1) * run.period
        if boot + at < w.end and (best == 0 or n < best) and world.hub_fault(boot + at, **ask) is not None:
            best = n
    if best:
        at = run.first_batch + (best - 1) * run.period
        if at < run.fault_at:
            run.fault_at, run.fault_batch = at, best
            run.fault_kind = str(world.hub_fault(boot + at, **ask))


def _weights_file(worker: onstart.Worker) -> str:
    return str(worker.args.get("weights_name") or "model").removesuffix(".pt") + ".pt"


_RUNPY = ['Traceback (most recent call last):',
          '  File "<frozen runpy>", line 198, in _run_module_as_main',
          '  File "<frozen runpy>", line 88, in _run_code']


def _request_id(inst, at: float) -> str:
    h = hashlib.sha1(f"{inst.seed}/{at}".encode()).hexdigest()
    return f"Root=1-{h[:8]}-{h[8:32]}"


def fault_lines(inst) -> list[str]:
    """The traceback that ends the worker (Run.fault_kind), as the real worker prints it."""
    run = inst.run
    worker = run.worker
    script = worker.script
    head = [*_RUNPY, f'  File "{script}", line 231, in <module>', "    main()"]
    if run.fault_kind == "code":
        return [*head, f'  File "{script}", line 148, in main',
                "    pipeline = SelfPlayPipeline(model, args.n_parallel_games, temperature=args.temperature)",
                '  File "/root/code/forge/zeb/selfplay/pipeline.py", line 64, in __init__',
                "    self.buffers = make_buffers(n_games, self.device, dtype=torch.float16)",
                "TypeError: make_buffers() got an unexpected keyword argument 'dtype'"]
    if run.fault_batch:
        call = [f'  File "{script}", line 187, in main', "    new_step = sync_weights(model, args)"]
    else:
        call = [f'  File "{script}", line 122, in main',
                "    state_dict, cfg = pull_weights(args.repo_id, weights_name=args.weights_name)"]
    site = "/opt/conda/lib/python3.11/site-packages/huggingface_hub"
    frames = [*head, *call,
              '  File "/root/code/forge/zeb/hf.py", line 71, in pull_weights',
              '    path = hf_hub_download(repo_id, weights_file, revision="main")',
              f'  File "{site}/utils/_validators.py", line 114, in _inner_fn',
              "    return fn(*args, **kwargs)",
              f'  File "{site}/file_download.py", line 1010, in hf_hub_download',
              "    return _hf_hub_download_to_cache_dir(",
              f'  File "{site}/file_download.py", line 1658, in _raise_on_head_call_error']
    url = f"https://huggingface.co/{worker.args['repo_id']}/resolve/main/{_weights_file(worker)}"
    rid = _request_id(inst, run.fault_at)
    if run.fault_kind == "token":
        return [*frames, "    raise head_call_error",
                f"huggingface_hub.errors.HfHubHTTPError: 401 Client Error: Unauthorized for url: {url} "
                f"(Request ID: {rid})", "Invalid credentials in Authorization header"]
    if run.fault_kind == "missing":
        return [*frames, "    raise head_call_error",
                f"huggingface_hub.errors.RemoteEntryNotFoundError: 404 Client Error. (Request ID: {rid})", "",
                f"Entry Not Found for url: {url}."]
    return [*frames, "    raise LocalEntryNotFoundError(",
            "huggingface_hub.errors.LocalEntryNotFoundError: An error happened while trying to locate the file on "
            "the Hub and we cannot find the requested files in the local cache. Please check your connection and "
            "try again or make sure your Internet connection is on."]


def _worker_run(inst, machine, worker: onstart.Worker, lines: list[tuple[float, str]], start: float) -> Run:
    t = inst.timings
    a = worker.args
    w = str(a["worker_id"])
    name = str(a.get("weights_name") or "model").removesuffix(".pt")
    repo = a["repo_id"]
    examples = a.get("examples_repo_id")
    output = examples or a.get("output_dir")
    params = "3,301,250" if "large" in name else "557,186"
    base = int(t["base_step"])
    loaded = start + t["load"]
    pipeline = loaded + t["build"]
    gpb = max(1, int(a["games_per_batch"]))
    rate = BATCH_GAMES / t["period"]
    eval_aux = worker.mode == "eval_aux"
    if eval_aux:
        rate *= EVAL_AUX_SPEED
        lines += [
            (start + 0.5, f"Loading oracle checkpoint: {a['checkpoint']}"),
            (start + 3.0, f"Pulling initial Zeb weights from {repo}/{name}.pt..."),
            (loaded, f"  Zeb loaded (step {base}), {params} params, tokenizer=v1"),
            (pipeline, ""),
            (pipeline, f"Eval-aux worker {w} starting (output: {output})"),
            (pipeline, f"  n_samples={a['n_samples']}, games_per_batch={gpb}, eval_batch_size={a['eval_batch_size']}, "
                       f"zeb_temperature={a['zeb_temperature']}, eq_policy_targets={a['eq_policy_targets']}"),
            (pipeline, f"  upload_interval={a['upload_interval']}s (folder upload)"),
        ]
    else:
        lines += [(start + 0.5, f"Pulling initial weights from {repo}/{name}.pt..."),
                  (loaded, f"  Model loaded (step {base}), {params} params")]
        if examples:
            lines.append((loaded, f"  Examples repo: {examples}"))
        lines += [
            (loaded + 0.5, "Creating self-play pipeline..."),
            (pipeline, f"Pipeline created in {pipeline - loaded - 0.5:.1f}s"),
            (pipeline, ""),
            (pipeline, f"Worker {w} starting (output: {output})"),
            (pipeline, f"  games_per_batch={gpb}, weight_sync_interval={a['weight_sync_interval']}"),
            (pipeline, f"  upload_interval={a['upload_interval']}s (folder upload)"),
        ]
    if machine.fault == "oom":
        lines += [(pipeline + 3, "Traceback (most recent call last):"),
                  (pipeline + 3, f'  File "{worker.script}", line 141, in main'),
                  (pipeline + 3, "    batch = pipeline.generate(n_games)"),
                  (pipeline + 3, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
                                 "(GPU 0; 7.79 GiB total capacity; 6.12 GiB already allocated)")]
    period = gpb / max(1e-6, rate)
    upload_s = max(1, int(a["upload_interval"]))
    # A broken commit crashes building its pipeline: after "Creating self-play pipeline..." (eval-aux: after
    # its start lines), before anything later.
    code_fault_at = math.inf
    if worker.code_fault == "type_error":
        code_fault_at = pipeline + 0.1 if eval_aux else loaded + 0.5 + (pipeline - loaded - 0.5) / 2
    return Run(lines, worker=worker, worker_id=w, loaded=loaded, first_batch=pipeline + period, period=period,
               games_per_batch=gpb, every=max(1, round(upload_s / period)),
               sync=max(1, int(a["weight_sync_interval"])), uploads=bool(examples),
               namespace="" if name == "model" else name, pull_at=start + (3.0 if eval_aux else 0.5),
               code_fault_at=code_fault_at)


def _fault_time(inst, machine) -> float:
    return inst.run.first_batch + machine.fault_after_s


def _outside_fault_at(inst, machine) -> float:
    """When a fault from outside the host (apply_world) ends the worker; inf when none does, or when the
    host's own stall, crash or preemption ends it first."""
    run = inst.run
    if run is None or run.worker is None or run.fault_at == math.inf:
        return math.inf
    if machine.fault in ("stall", "crash") and _fault_time(inst, machine) <= run.fault_at:
        return math.inf
    if machine.fault == "preempt" and machine.fault_after_s <= run.fault_at:
        return math.inf
    if machine.fault in ("oom", "no_cuda", "broken_launch", "dud"):
        return math.inf
    return run.fault_at


def status(inst, machine, now: float) -> str | None:
    age = now - boot_time(inst)
    t = inst.timings
    if inst.stopped_at is not None:
        return "stopped"
    if machine.fault == "preempt" and age >= machine.fault_after_s:
        return "stopped"
    if age < t["loading"]:
        return None
    if machine.fault == "dud" or age < t["running"] or inst.run.pull_error is not None:
        return "loading"
    if machine.fault == "crash" and inst.run.worker is not None and age >= _fault_time(inst, machine) + 10:
        return "exited"
    if age >= _outside_fault_at(inst, machine) + 10:
        return "exited"
    return "running"


def status_msg(status: str | None, pull_error: str | None = None) -> str | None:
    if status == "loading" and pull_error:
        return pull_error
    return {None: None, "loading": "Pulling image layers", "running": "success, running",
            "exited": "container exited with code 1", "stopped": "instance stopped"}.get(status)


def _end_age(inst, machine, age: float) -> float:
    """How far the worker got by `age`: a stall or crash stops it, and so does a preemption."""
    end = age
    if machine.fault in ("stall", "crash"):
        end = min(end, _fault_time(inst, machine))
    if machine.fault == "preempt":
        end = min(end, machine.fault_after_s)
    return end


def _batches_done(inst, machine, age: float) -> int:
    run = inst.run
    if run.worker is None or machine.fault in ("oom", "no_cuda", "broken_launch", "dud"):
        return 0
    end = min(_end_age(inst, machine, age), _outside_fault_at(inst, machine))
    if end < run.first_batch:
        return 0
    done = int((end - run.first_batch) // run.period) + 1
    return min(done, run.fault_batch - 1) if run.fault_batch and end >= run.fault_at else done


def _learner_step(run: Run, base: int, at: float) -> int:
    return base + int(max(0.0, at - run.loaded) // LEARNER_STEP_S)


def _worker_step(run: Run, base: int, n: int) -> int:
    """The weights the worker plays batch n with: those of its latest sync before it."""
    synced = ((n - 1) // run.sync) * run.sync
    return base if synced == 0 else _learner_step(run, base, run.first_batch + (synced - 1) * run.period)


def _upload_failed(seed: int, j: int) -> bool:
    # About one upload in 20 hits HF's commit race; 7919 is coprime with 20, so every worker sees some.
    return (j * 7919 + seed) % 20 == 0


def _batch_block(inst, n: int) -> list[str]:
    run = inst.run
    t = inst.timings
    w = run.worker_id
    base = int(t["base_step"])
    seed = int(t["upload_fail_seed"])
    step = _worker_step(run, base, n)
    gps = run.games_per_batch / run.period
    examples = run.games_per_batch * EXAMPLES_PER_GAME
    total = n * run.games_per_batch
    if run.worker is not None and run.worker.mode == "eval_aux":
        jitter = ((n * 7919 + seed) % 21 - 10) / 300.0
        eq_win = 45.0 + ((n * 104729 + seed) % 130) / 10.0
        out = [f"[{w}] batch {n}: {examples} examples, {max(0.01, gps + jitter):.2f} games/s, step={step}, "
               f"total_games={total}, eq_win={eq_win:.1f}%"]
    else:
        jitter = ((n * 7919 + seed) % 21 - 10) / 100.0
        out = [f"[{w}] batch {n}: {examples} examples, {max(0.1, gps + jitter):.1f} games/s, step={step}, "
               f"total_games={total}"]
    if n % run.sync == 0:
        new = _learner_step(run, base, run.first_batch + (n - 1) * run.period)
        out.append(f"[{w}] Weights updated: step {step} -> {new}" if new > step else
                   f"[{w}] No new weights (still step {step})")
    if run.uploads and n % run.every == 0:
        j = n // run.every
        pending = 1
        while j - pending >= 1 and _upload_failed(seed, j - pending) and pending < 50:
            pending += 1
        k = pending * run.every
        out.append(f"[{w}] Uploading {k} batches to HF...")
        if _upload_failed(seed, j):
            out.append(f"[{w}] Upload failed (412 Precondition Failed), will retry next cycle")
        else:
            out.append(f"[{w}] Upload complete ({k} batches)")
    return out


def uploads(inst, machine, until: float) -> list[tuple[float, str]]:
    """(time, path in the examples repo) of each successful upload of this boot up to `until`, named as the
    worker names them: {namespace}/{worker_id}_{unix_ts}_{6 hex}.pt."""
    run = inst.run
    if not run.uploads:
        return []
    boot = boot_time(inst)
    done = _batches_done(inst, machine, until - boot)
    seed = int(inst.timings["upload_fail_seed"])
    folder = f"{run.namespace}/" if run.namespace else ""
    out = []
    for j in range(1, done // run.every + 1):
        if _upload_failed(seed, j):
            continue
        at = boot + run.first_batch + (j * run.every - 1) * run.period
        tag = (inst.seed * 2654435761 + j * 40503) & 0xFFFFFF
        out.append((at, f"{folder}{run.worker_id}_{int(at)}_{tag:06x}.pt"))
    return out


def render(inst, machine, now: float, tail: int | None) -> str:
    t0 = boot_time(inst)
    frozen = now if inst.stopped_at is None else min(now, inst.stopped_at)
    if machine.fault == "preempt":
        frozen = min(frozen, t0 + machine.fault_after_s)
    age = frozen - t0     # a stopped container's log ends where it stopped
    t = inst.timings
    run = inst.run
    status_now = status(inst, machine, now)
    if status_now is None:
        return ""
    if status_now == "loading":
        if t["no_container"] and age < t["running"] and run.pull_error is None:
            return f"Error response from daemon: No such container: {inst.id:x}c0ffee\n"
        return ""
    done = _batches_done(inst, machine, age)
    crash: list[str] = []
    outside = _outside_fault_at(inst, machine)
    if machine.fault == "crash" and run.worker is not None and age >= _fault_time(inst, machine):
        crash = ["Traceback (most recent call last):",
                 f'  File "{run.worker.script}", line 162, in main',
                 "RuntimeError: CUDA error: an illegal memory access was encountered"]
    elif age >= outside:
        # The failed sync's batch line comes before its traceback.
        crash = ([_batch_block(inst, run.fault_batch)[0]] if run.fault_batch else []) + fault_lines(inst)
    want = tail if tail and tail > 0 else None
    if want is not None and want <= len(crash):
        return _text(crash[len(crash) - want:])
    # Lines wanted from before the crash: batches, newest first, then the setup.
    need = want - len(crash) if want is not None else math.inf
    parts: list[str] = []
    have = 0
    blocks = inst.log_blocks     # a log only grows: consecutive polls re-render only the new batches
    n = done
    while n >= 1 and have < need:
        block = blocks.get(n)
        if block is None:
            lines = _batch_block(inst, n)
            block = blocks[n] = (lines, _text(lines))
        if have + len(block[0]) > need:   # only the newest lines of the oldest block wanted
            parts.append(_text(block[0][len(block[0]) - int(need - have):]))
            break       # the tail is complete
        parts.append(block[1])
        have += len(block[0])
        n -= 1
    if n == 0 and have < need:
        setup = [ln for when, ln in run.lines if when <= min(age, outside)]
        if want is not None:
            setup = setup[max(0, len(setup) - int(need - have)):]
        parts.append(_text(setup))
    parts.reverse()
    parts.append(_text(crash))
    # Keep the batches the next polls' tails will need; forget older ones in bulk, not on every poll.
    window = max(512, 2 * (done if want is None else min(done, want)))
    if len(blocks) > 2 * window:
        for k in [k for k in blocks if k <= done - window]:
            del blocks[k]
    return "".join(parts)


def _text(lines: list[str]) -> str:
    """Log lines as the container prints them: each ends in a newline."""
    return "".join([ln + "\n" for ln in lines])


def expected_gps(machine) -> float:
    return machine.gps

