"""The user's scripts' fleet policy (vast_monitor.sh + find_offer.py), written in Python as a baseline for
benchmarks/bench_fleet_economics.py. A specification-faithful model, not a port: the same thresholds, the
same order of steps in a cycle, the same quirks (every destroy through do_destroy is a strike, parallel
launches in a batch race for the same best offer, a stall needs three polls on one batch, the find_offer.py
games/s table), so the comparison measures the policy and not a cleaned-up version of it.

It talks to a Backend: the benchmark's InProcessBackend calls zeb.sim.market.Market directly and records
each logical call as the `vastai` CLI would send it (see InProcessBackend); the tests use a fake."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

# find_offer.py's EXPECTED_GPS (the downscale and upgrade snippets in vast_monitor.sh repeat it).
EXPECTED_GPS: dict[str, float] = {
    "RTX 3060": 1.8, "RTX 3060 Ti": 2.1,
    "RTX 3070": 2.4, "RTX 3070 Ti": 2.6,
    "RTX 3080": 2.6, "RTX 3080 Ti": 2.6, "RTX 3090": 2.6,
    "RTX 4060": 1.8, "RTX 4060 Ti": 2.1,
    "RTX 4070": 2.6, "RTX 4070 Ti": 2.8,
}
DEFAULT_GPS = 1.8
IMAGE = "jasonyandell/zeb-worker:latest"
DEFAULT_GPUS = ("RTX_3060", "RTX_3060_Ti", "RTX_3070", "RTX_3070_Ti", "RTX_3080", "RTX_3080_Ti", "RTX_3090",
                "RTX_4060", "RTX_4060_Ti", "RTX_4070", "RTX_4070_Ti")
LACKS_CREDIT_RC = 2

# vast_monitor.sh's spawn_worker ONSTART, as data: the text the shell builds, with its three '"$VAR"'
# splices marked @@REPO_ID@@, @@EXAMPLES_REPO_ID@@ and @@WEIGHTS_NAME@@ (filled by onstart_text()).
SCRIPTS_ONSTART = r'''#!/bin/bash
set -e
echo "=== Setup started at $(date) ==="
cd /root/code
git pull --ff-only 2>/dev/null || true
echo "code updated"
huggingface-cli login --token $HF_TOKEN --add-to-git-credential 2>/dev/null || true
python -c "import torch; assert torch.cuda.is_available(), \"No CUDA\"; print(f\"GPU OK: {torch.cuda.get_device_name()}\")"
echo "=== Starting worker $WORKER_ID (${ZEB_WORKER_MODE:-selfplay}) at $(date) ==="
if [ "${ZEB_WORKER_MODE:-selfplay}" = "eval_aux" ]; then
    EQ_POLICY_FLAG="--no-eq-policy-targets"
    if [ "${ZEB_EQ_POLICY_TARGETS:-false}" = "true" ]; then
        EQ_POLICY_FLAG="--eq-policy-targets"
    fi
    # Fallback to script-path execution if module mode is unavailable in cloned code.
    python -u -m forge.zeb.worker.run_eval_aux \
        --repo-id @@REPO_ID@@ \
        --examples-repo-id @@EXAMPLES_REPO_ID@@ \
        --worker-id "$WORKER_ID" \
        --device cuda \
        --checkpoint "${ZEB_ORACLE_CHECKPOINT:-forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt}" \
        --n-samples "${ZEB_EQ_N_SAMPLES:-100}" \
        --games-per-batch "${ZEB_EQ_GAMES_PER_BATCH:-128}" \
        --eval-batch-size "${ZEB_EQ_BATCH_SIZE:-0}" \
        --zeb-temperature "${ZEB_EQ_TEMPERATURE:-0.1}" \
        "$EQ_POLICY_FLAG" \
        --weights-name @@WEIGHTS_NAME@@ \
        --weight-sync-interval 2 \
        --upload-interval "${ZEB_UPLOAD_INTERVAL:-240}" \
    || exec python -u forge/zeb/worker/run_eval_aux.py \
        --repo-id @@REPO_ID@@ \
        --examples-repo-id @@EXAMPLES_REPO_ID@@ \
        --worker-id "$WORKER_ID" \
        --device cuda \
        --checkpoint "${ZEB_ORACLE_CHECKPOINT:-forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt}" \
        --n-samples "${ZEB_EQ_N_SAMPLES:-100}" \
        --games-per-batch "${ZEB_EQ_GAMES_PER_BATCH:-128}" \
        --eval-batch-size "${ZEB_EQ_BATCH_SIZE:-0}" \
        --zeb-temperature "${ZEB_EQ_TEMPERATURE:-0.1}" \
        "$EQ_POLICY_FLAG" \
        --weights-name @@WEIGHTS_NAME@@ \
        --weight-sync-interval 2 \
        --upload-interval "${ZEB_UPLOAD_INTERVAL:-240}"
else
    exec python -u -m forge.zeb.worker.run \
        --repo-id @@REPO_ID@@ \
        --examples-repo-id @@EXAMPLES_REPO_ID@@ \
        --worker-id "$WORKER_ID" \
        --device cuda \
        --n-parallel-games 128 \
        --n-simulations 200 \
        --max-mcts-nodes 512 \
        --games-per-batch 256 \
        --weights-name @@WEIGHTS_NAME@@ \
        --weight-sync-interval 2 \
        --upload-interval "${ZEB_UPLOAD_INTERVAL:-240}"
fi'''  # noqa: E501 -- the scripts' own text, line for line


# -- configuration --------------------------------------------------------------------------------------


@dataclass
class ScriptsConfig:
    """vast_monitor.sh's settings (its env vars and constants)."""

    target: int = 2
    fleet: str = "zeb"
    max_dph: float = 0.09                       # ZEB_MAX_DPH
    gpus: tuple[str, ...] = DEFAULT_GPUS        # ZEB_GPUS, underscores as the CLI takes them
    repo_id: str = "jasonyandell/zeb-42"
    examples_repo_id: str = "jasonyandell/zeb-42-examples"
    weights_name: str = "zeb-557k-1m"
    worker_mode: str = "selfplay"
    upload_interval: int | None = None          # None: auto, max(240, ceil(N * 3600 / 100))
    hf_token: str = "hf_sim_token"
    oracle_checkpoint: str = "forge/models/domino-qval-large-3.3M-qgap0.071-qmae0.94.ckpt"
    phase1_interval: float = 60.0
    phase2_interval: float = 600.0
    phase1_duration: float = 1800.0
    credit_wait_interval: float = 300.0
    blacklist_strikes: int = 3
    warmup_cycles: int = 3
    log_tail: int = 50
    launch_batch: int = 4

    def upload_s(self) -> int:
        if self.upload_interval is not None:
            return self.upload_interval
        return max(240, math.ceil(self.target * 3600 / 100))


def onstart_text(cfg: ScriptsConfig) -> str:
    return (SCRIPTS_ONSTART.replace("@@REPO_ID@@", cfg.repo_id)
            .replace("@@EXAMPLES_REPO_ID@@", cfg.examples_repo_id)
            .replace("@@WEIGHTS_NAME@@", cfg.weights_name))


def create_body(cfg: ScriptsConfig, wid: str) -> dict[str, Any]:
    """What `vastai create instance OFFER --image ... --disk 15 --label ... --env ... --onstart-cmd ...` sends."""
    env = {"HF_TOKEN": cfg.hf_token, "WORKER_ID": wid, "ZEB_WORKER_MODE": cfg.worker_mode,
           "ZEB_UPLOAD_INTERVAL": str(cfg.upload_s()), "ZEB_ORACLE_CHECKPOINT": cfg.oracle_checkpoint,
           "ZEB_EQ_N_SAMPLES": "100", "ZEB_EQ_GAMES_PER_BATCH": "128", "ZEB_EQ_BATCH_SIZE": "0",
           "ZEB_EQ_TEMPERATURE": "0.1", "ZEB_EQ_POLICY_TARGETS": "false"}
    return {"image": IMAGE, "disk": 15, "label": f"{cfg.fleet}-{wid}", "env": env, "onstart": onstart_text(cfg)}


# -- check_worker: one log tail -> OK:<batch line> | OK:uploading | ERR:... | SETUP | BOOT | WAIT -------------

_FATAL = re.compile(r"(Exception|Traceback|killed|OOM|size mismatch)", re.IGNORECASE)
_LAUNCH_ERR = re.compile(r"(command not found|No such file or directory|Permission denied|cannot execute)")
_PROGRESS = re.compile(r"(batch [0-9]+|Setup started|cloning|installed|GPU OK|games/s)")
_SAMPLE_ERR = re.compile(r"(command not found|No such file)")
_BATCH_LINE = re.compile(r"batch [0-9]+:.*games/s")
_UPLOAD = re.compile(r"(Upload complete|Uploading .* batches|New Data Upload)")
_SETUP = re.compile(r"(cloning|installed|Setup started|Pulling initial|repo cloned|deps installed|GPU OK)")
_BATCH_NUM = re.compile(r"batch ([0-9]+)")
_GPS = re.compile(r"([0-9]+\.[0-9]+) games/s")


def check_worker(raw: str | None) -> str:
    """vast_monitor.sh's check_worker on the text of `vastai logs ID --tail 50`; None is a read that failed or
    timed out (`timeout 5 ... || echo BOOT`)."""
    if raw is None:
        return "BOOT"
    lines = raw.splitlines()
    fatal = [ln for ln in lines if _FATAL.search(ln)]
    if fatal:
        return "ERR:" + fatal[-1][:80]
    errs = [ln for ln in lines if _LAUNCH_ERR.search(ln)]
    if len(errs) >= 10 and not any(_PROGRESS.search(ln) for ln in lines):
        sample = [ln for ln in lines if _SAMPLE_ERR.search(ln)]
        return f"ERR:launch-broken({sample[-1][:60] if sample else ''})"
    batch_lines = [m.group(0) for ln in lines for m in [_BATCH_LINE.search(ln)] if m]
    if batch_lines:
        return "OK:" + batch_lines[-1]
    if _UPLOAD.search(raw):
        return "OK:uploading"
    if _SETUP.search(raw):
        return "SETUP"
    if "No such container" in raw:
        return "BOOT"
    return "WAIT"


def split(result: str) -> tuple[str, str]:
    tag, _, detail = result.partition(":")
    return tag, detail if _ else result   # bash's ${raw#*:} is the whole string when there is no colon


def batch_of(detail: str) -> int | None:
    m = _BATCH_NUM.search(detail)
    return int(m.group(1)) if m else None


def gps_of(detail: str) -> float | None:
    m = _GPS.search(detail)
    return float(m.group(1)) if m else None


# -- projections and classify_all -------------------------------------------------------------------------


@dataclass
class Projections:
    last_tag: dict[int, str] = field(default_factory=dict)
    last_batch: dict[int, int] = field(default_factory=dict)
    gps: dict[int, float] = field(default_factory=dict)          # iid -> last observed games/s (never pruned)
    ever_produced: set[int] = field(default_factory=set)
    consec_same: dict[int, int] = field(default_factory=dict)

    def update(self, iid: int, tag: str, detail: str) -> None:
        """update_projection."""
        self.last_tag[iid] = tag
        if tag != "OK":
            return
        n = batch_of(detail)
        if n is not None:
            self.ever_produced.add(iid)
            if self.last_batch.get(iid) == n:
                self.consec_same[iid] = self.consec_same.get(iid, 0) + 1
            else:
                self.consec_same[iid] = 0
                self.last_batch[iid] = n
        g = gps_of(detail)
        if g is not None:
            self.gps[iid] = g


def classify(iid: int, raw: str, age: float, proj: Projections) -> str:
    """classify_all for one worker: stall detection (older than 300 s, a batch number seen on two polls before
    this one -- consec >= 1 -- and again now) and two-poll resilience."""
    tag, detail = split(raw)
    if tag == "OK":
        n = batch_of(detail)
        if n is not None and age > 300:
            consec = proj.consec_same.get(iid, 0)
            if consec >= 1 and proj.last_batch.get(iid) == n:
                return f"STALL:batch {n} stuck ({consec + 2} consecutive)"
        return raw
    if tag in ("BOOT", "ERR", "WAIT"):
        if proj.last_tag.get(iid) == "OK":
            return "POLL_TIMEOUT:" + raw
        if tag != "ERR" and iid in proj.ever_produced:
            return "POLL_TIMEOUT:" + raw
    return raw


# -- offers (find_offer.py), worst value, downscale order --------------------------------------------------


def pick_offer(offers_by_gpu: list[list[dict]], max_dph: float, blacklist: set[str],
               preferred: dict[str, float]) -> tuple[dict, bool] | None:
    """find_offer.py: for each GPU's 10 cheapest offers (in --gpus order), skip blacklisted machines, stop at the
    first over the cap, value = dph / games/s (observed * 1.1 for a preferred machine, else the table); the
    lowest value wins (first seen on a tie). Returns (offer, preferred?) or None."""
    best, best_value = None, math.inf
    for offers in offers_by_gpu:
        for o in offers:
            mid = str(o.get("machine_id", ""))
            if mid in blacklist:
                continue
            dph = o["dph_total"]
            if dph > max_dph:
                break
            gps = preferred[mid] * 1.1 if mid in preferred else EXPECTED_GPS.get(o["gpu_name"], DEFAULT_GPS)
            value = dph / gps
            if value < best_value:
                best, best_value = o, value
    if best is None:
        return None
    return best, str(best.get("machine_id", "")) in preferred


def worst_value(rows: list[dict], exclude: int | None = None,
                observed: dict[int, float] | None = None) -> tuple[float, dict] | None:
    """find_offer.py --worst-value: the highest dph / games/s (observed by instance, else the table)."""
    observed = observed or {}
    worst_val, worst = -1.0, None
    for r in rows:
        if r["id"] == exclude:
            continue
        gps = observed.get(r["id"], EXPECTED_GPS.get(r["gpu_name"], DEFAULT_GPS))
        value = r["dph_total"] / gps
        if value > worst_val:
            worst_val, worst = value, r
    return None if worst is None else (worst_val, worst)


def downscale_order(rows: list[dict], observed: dict[int, float], now: float) -> list[dict]:
    """The DOWNSCALE snippet's kill order: not running first, then younger than 2 min, then worst value."""
    keyed = []
    for r in rows:
        gps = observed.get(r["id"], EXPECTED_GPS.get(r["gpu_name"], DEFAULT_GPS))
        value = r["dph_total"] / gps
        age = int(now - r["start_date"]) if r.get("start_date") else 0
        tier = 0 if r.get("actual_status") != "running" else (1 if age < 120 else 2)
        keyed.append(((tier, -value, str(r["id"])), r))
    keyed.sort(key=lambda kr: kr[0])
    return [r for _, r in keyed]


# -- the API the policy talks to -----------------------------------------------------------------------------


class Backend(Protocol):
    def now(self) -> float: ...

    def list_instances(self) -> list[dict]: ...            # `vastai show instances --raw`

    def logs(self, instance_id: int, tail: int) -> str | None: ...   # None: failed / timed out

    def search(self, gpu: str, limit: int) -> list[dict]: ...        # cheapest first

    def create(self, offer_id: int, body: dict) -> str: ...          # the CLI's first line of output

    def destroy(self, instance_id: int) -> None: ...


# -- the monitor ------------------------------------------------------------------------------------------------


@dataclass
class Action:
    time: float
    kind: str          # launch | launch_failed | destroy | strike
    label: str
    instance_id: int | None = None
    machine_id: int | None = None
    reason: str = ""


class ScriptsMonitor:
    """vast_monitor.sh's main loop, one CHECK per cycle(); cycle() returns how long the script sleeps next."""

    def __init__(self, cfg: ScriptsConfig, api: Backend) -> None:
        self.cfg = cfg
        self.api = api
        self.proj = Projections()
        self.strikes: Counter[str] = Counter()        # bad-hosts.txt: one line per strike
        self.preferred: dict[str, float] = {}          # preferred-hosts.txt: machine -> observed games/s
        self.total_checks = 0
        self.replacements = 0
        self.no_credit = False
        self.upgrade_iid: int | None = None
        self.upgrade_started = 0.0
        self.upgrade_cooldown = 0.0
        self.n_ok = 0
        self.n_up = 0
        self.classified: dict[int, str] = {}
        self.actions: list[Action] = []
        self.log: list[str] = []
        self.start_time: float | None = None
        self._probe_due = False

    # -- helpers ---------------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.log.append(f"{self.api.now():.0f} {text}")

    def get_fleet(self) -> list[dict]:
        prefix = f"{self.cfg.fleet}-"
        return [r for r in self.api.list_instances() if (r.get("label") or "").startswith(prefix)]

    def age(self, row: dict) -> int:
        start = row.get("start_date") or 0
        return int(self.api.now() - start) if start else 0

    def blocked(self) -> set[str]:
        return {mid for mid, n in self.strikes.items() if n >= self.cfg.blacklist_strikes}

    def blacklist_host(self, mid: Any, reason: str) -> None:
        if mid is None or str(mid) == "?":
            return
        self.strikes[str(mid)] += 1
        self.actions.append(Action(self.api.now(), "strike", "", None, int(mid), reason))
        n = self.strikes[str(mid)]
        self._say(f"{'BLACKLIST' if n >= self.cfg.blacklist_strikes else 'STRIKE'}: machine {mid} {n}/"
                  f"{self.cfg.blacklist_strikes} ({reason})")

    def destroy(self, row: dict, reason: str) -> None:
        """A plain `vastai destroy instance` (dedup, trim, upgrade swap/abort): no strike."""
        self.api.destroy(row["id"])
        self.actions.append(Action(self.api.now(), "destroy", row.get("label") or "", row["id"],
                                   row.get("machine_id"), reason))

    def do_destroy(self, row: dict, reason: str) -> None:
        self.blacklist_host(row.get("machine_id"), reason)
        self.destroy(row, reason)

    def search_all(self) -> list[list[dict]]:
        return [self.api.search(g, 10) for g in self.cfg.gpus]

    def find_offer(self) -> tuple[dict, bool] | None:
        return pick_offer(self.search_all(), self.cfg.max_dph, self.blocked(), self.preferred)

    def _create(self, wid: str, found: tuple[dict, bool] | None) -> int:
        """spawn_worker after its find_cheapest_offer: 1 no offer, 2 lacks credit, else 0 (whatever the CLI said)."""
        if found is None:
            self._say(f"WARN: no offers under ${self.cfg.max_dph}/hr")
            return 1
        offer, _pref = found
        body = create_body(self.cfg, wid)
        result = self.api.create(offer["id"], body)
        ok = "new_contract" in result
        self.actions.append(Action(self.api.now(), "launch" if ok else "launch_failed", body["label"],
                                   _contract(result), offer.get("machine_id"), result[:80]))
        self._say(f"LAUNCH: {offer['gpu_name']} @ ${offer['dph_total']:.3f}/hr -> {wid}: {result[:60]}")
        if "lacks credit" in result.lower():
            return LACKS_CREDIT_RC
        return 0

    def spawn_worker(self, wid: str) -> int:
        return self._create(wid, self.find_offer())

    def do_replace(self, row: dict, reason: str) -> int:
        self.do_destroy(row, reason)
        self.replacements += 1
        if self.no_credit:
            return 1
        label = row.get("label") or ""
        m = re.search(r"worker-vast-[0-9]+", label)
        wid = m.group(0) if m else "worker-vast-99"
        rc = self.spawn_worker(wid)
        if rc == LACKS_CREDIT_RC:
            self.no_credit = True
            self._say("NO CREDIT -- pausing fleet operations")
        return rc

    def poll(self, fleet: list[dict]) -> dict[int, str]:
        return {r["id"]: check_worker(self.api.logs(r["id"], self.cfg.log_tail)) for r in fleet}

    # -- the loop ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """The projection seed before the main loop: one poll of whatever fleet exists."""
        fleet = self.get_fleet()
        if fleet:
            for iid, raw in self.poll(fleet).items():
                self.proj.update(iid, *split(raw))
        self.start_time = self.api.now()

    def cycle(self) -> float:
        if self.start_time is None:
            self.start()
        if self._probe_due:
            self._probe_due = False
            self._credit_probe()      # then `continue`: straight into the next CHECK
        self.total_checks += 1
        now = self.api.now()
        elapsed = now - self.start_time
        fleet = self.get_fleet()
        if fleet:
            fleet = self._dedup(fleet)
            polled = self.poll(fleet)
            self.classified = {r["id"]: classify(r["id"], polled.get(r["id"], "BOOT"), self.age(r), self.proj)
                               for r in fleet}
            for r in fleet:
                self.proj.update(r["id"], *split(self.classified[r["id"]]))
            self._health(fleet)
        else:
            self._say(f"CHECK #{self.total_checks}: NO INSTANCES -- spawning fleet")
        if not self.no_credit:
            self._downscale()
        if not self.no_credit:
            self._replenish()
        if not self.no_credit:
            self._upgrade(fleet)
        if self.no_credit:
            self._probe_due = True
            return self.cfg.credit_wait_interval
        return self.cfg.phase1_interval if elapsed < self.cfg.phase1_duration else self.cfg.phase2_interval

    def _dedup(self, fleet: list[dict]) -> list[dict]:
        by_label: dict[str, list[tuple[int, dict]]] = {}
        for r in fleet:
            by_label.setdefault(r.get("label") or "", []).append((self.age(r), r))
        dupes = []
        for rows in by_label.values():
            if len(rows) > 1:
                rows.sort(key=lambda ar: (ar[0], ar[1]["id"]), reverse=True)   # the oldest stays
                dupes += [r for _, r in rows[1:]]
        if not dupes:
            return fleet
        for r in dupes:
            self._say(f"DEDUP: killing extra {r.get('label')} ({r['id']})")
            self.destroy(r, "dedup")
        return self.get_fleet()

    def _health(self, fleet: list[dict]) -> None:
        cfg = self.cfg
        self.n_ok = 0
        self.n_up = len(fleet)
        warmup = self.total_checks <= cfg.warmup_cycles
        for r in fleet:
            iid, label, mid, dph, age = r["id"], r.get("label") or "", r.get("machine_id"), r["dph_total"], self.age(r)
            if iid == self.upgrade_iid:
                continue
            if dph > cfg.max_dph:
                self._say(f"COST: {label} @ ${dph} > ${cfg.max_dph} -- removing")
                self.do_destroy(r, "over-cost")
                self.replacements += 1
                self.n_up -= 1
                continue
            tag, detail = split(self.classified.get(iid, "UNKNOWN"))
            if tag == "OK":
                self.n_ok += 1
                g = gps_of(detail)
                if g is not None and mid is not None:
                    self.preferred[str(mid)] = g
            elif tag == "ERR":
                self._say(f"ERROR: {label} ({iid}): {detail}")
                if age > 300 and not warmup:
                    self.do_replace(r, label)
                    self.n_up -= 1
            elif tag in ("SETUP", "BOOT"):
                if age > 600 and not warmup:
                    self._say(f"STALE: {label} {tag} after {age}s -- removing")
                    self.do_replace(r, label)
                    self.n_up -= 1
            elif tag == "STALL":
                self._say(f"STALL: {label} -- {detail} -- removing")
                self.do_replace(r, label)
                self.n_up -= 1
            elif tag == "WAIT":
                if age > 900 and not warmup:
                    self._say(f"STALE: {label} waiting {age}s with no progress -- removing")
                    self.do_replace(r, label)
                    self.n_up -= 1
            elif tag == "POLL_TIMEOUT":
                self.n_ok += 1

    def _downscale(self) -> None:
        live = self.get_fleet()
        effective = self.cfg.target
        if self.upgrade_iid is not None and any(r["id"] == self.upgrade_iid for r in live):
            effective += 1
        if len(live) > effective:
            excess = len(live) - effective
            self._say(f"DOWNSCALE: {len(live)} alive > {self.cfg.target} target -- trimming {excess}")
            for r in downscale_order(live, self.proj.gps, self.api.now())[:excess]:
                self.destroy(r, "trim")

    def _replenish(self) -> None:
        live = self.get_fleet()
        count = len(live)
        if count >= self.cfg.target:
            return
        labels = [r.get("label") or "" for r in live]
        missing = [f"worker-vast-{k}" for k in range(self.cfg.target)
                   if not any(f"worker-vast-{k}" in lb for lb in labels)]
        for i in range(0, len(missing), self.cfg.launch_batch):
            batch = missing[i:i + self.cfg.launch_batch]
            # The batch's spawns run in parallel: each one's find_offer.py searches before any of them creates,
            # so they all see the same market (and usually pick the same offer).
            found = [self.find_offer() for _ in batch]
            for wid, f in zip(batch, found):
                self._say(f"REPLENISH: {wid} missing ({count}/{self.cfg.target} alive)")
                count += 1
                if self._create(wid, f) == LACKS_CREDIT_RC:
                    self.no_credit = True
            if self.no_credit:
                self._say("NO CREDIT -- pausing fleet operations")
                return

    def _upgrade(self, fleet: list[dict]) -> None:
        now = self.api.now()
        if self.upgrade_iid is not None:
            tag, _ = split(self.classified.get(self.upgrade_iid, "UNKNOWN"))
            if tag == "OK":
                live = self.get_fleet()
                worst = worst_value(live, self.upgrade_iid, self.proj.gps)
                if worst is not None:
                    self._say(f"UPGRADE: trial {self.upgrade_iid} producing -- swapping out {worst[1].get('label')}")
                    self.destroy(worst[1], "upgrade-swap")
                self.upgrade_iid, self.upgrade_started = None, 0.0
            elif now - self.upgrade_started > 900:
                self._say(f"UPGRADE: trial {self.upgrade_iid} failed to produce -- aborting (30min cooldown)")
                row = next((r for r in fleet if r["id"] == self.upgrade_iid), None)
                self.api.destroy(self.upgrade_iid)
                self.actions.append(Action(now, "destroy", "", self.upgrade_iid,
                                           row.get("machine_id") if row else None, "upgrade-abort"))
                if row is not None:
                    self.blacklist_host(row.get("machine_id"), "upgrade-trial")
                self.upgrade_iid, self.upgrade_started = None, 0.0
                self.upgrade_cooldown = now + 1800
            return
        if self.n_ok == self.n_up and self.n_up >= self.cfg.target and now > self.upgrade_cooldown:
            live = self.get_fleet()
            worst = worst_value(live, None, self.proj.gps)
            if worst is None:
                return
            found = self.find_offer()
            if found is None:
                return
            offer = found[0]
            offer_val = offer["dph_total"] / EXPECTED_GPS.get(offer["gpu_name"], DEFAULT_GPS)
            if offer_val < worst[0] * 0.85:
                self._say(f"UPGRADE: found {offer['gpu_name']} @ ${offer['dph_total']:.3f}/hr -- launching trial")
                if self.spawn_worker("worker-vast-upgrade") == 0:
                    live = self.get_fleet()
                    trial = next((r for r in live if "worker-vast-upgrade" in (r.get("label") or "")), None)
                    if trial is not None:
                        self.upgrade_iid, self.upgrade_started = trial["id"], self.api.now()

    def _credit_probe(self) -> None:
        live = self.get_fleet()
        labels = [r.get("label") or "" for r in live]
        probe = next((f"worker-vast-{k}" for k in range(self.cfg.target)
                      if not any(f"worker-vast-{k}" in lb for lb in labels)), None)
        if probe is None:
            self.no_credit = False
            self._say("Fleet is full -- resuming normal monitoring")
            return
        self._say(f"CREDIT PROBE: trying {probe}")
        if self.spawn_worker(probe) != LACKS_CREDIT_RC:
            self.no_credit = False
            self._say("CREDIT RESTORED -- resuming fleet operations")


def _contract(result: str) -> int | None:
    m = re.search(r"'new_contract': ([0-9]+)", result)
    return int(m.group(1)) if m else None


# -- the in-process backend over the simulated market -------------------------------------------------------------

PAGE = 25      # the SDK's show_instances pages /api/v1/instances/ 25 rows at a time


class InProcessBackend:
    """Calls zeb.sim.market.Market directly (no HTTP, no SDK) and records in Market.calls one entry per HTTP
    request the `vastai` CLI (SDK 1.9) makes for each command, on the same paths the sim server records for zeb:
    show instances = ceil(rows / 25) GETs of /api/v1/instances/ (at least 1); logs = 1 PUT request_logs (the
    result_url fetch is not a Vast API call, and the server does not record it for zeb either); search = 1 PUT
    /api/v0/search/asks/; create = 1 PUT /api/v0/asks/ID/; destroy = 1 DELETE /api/v0/instances/ID/. The CLI's
    `--raw` listing is the market's own row; the search is the sim server's own search function."""

    def __init__(self, market) -> None:
        self.market = market

    def now(self) -> float:
        return self.market.clock.now()

    def _record(self, method: str, path: str, query: dict | None = None, body: Any = None) -> None:
        self.market.record_call(method, path, query or {}, body)

    def list_instances(self) -> list[dict]:
        m = self.market
        with m.lock:
            m.tick()
            now = m.clock.now()
            rows = [m.row(i, now) for i in sorted(m.instances.values(), key=lambda i: i.id)]
        for _ in range(max(1, math.ceil(len(rows) / PAGE))):
            self._record("GET", "/api/v1/instances/", {"limit": PAGE})
        return rows

    def logs(self, instance_id: int, tail: int) -> str | None:
        self._record("PUT", f"/api/v0/instances/request_logs/{instance_id}/", body={"tail": str(tail)})
        m = self.market
        if instance_id not in m.instances or m.log_request_fails(instance_id):
            return None
        return m.logs(instance_id, tail) or ""

    def search(self, gpu: str, limit: int) -> list[dict]:
        from zeb.sim.server import search

        q = {"gpu_name": {"eq": gpu.replace("_", " ")}, "num_gpus": {"eq": 1}, "verified": {"eq": True},
             "rentable": {"eq": True}, "rented": {"eq": False}, "external": {"eq": False},
             "order": [["dph_total", "asc"]], "limit": limit}
        self._record("PUT", "/api/v0/search/asks/", body={"q": q})
        return search(self.market, q)

    def create(self, offer_id: int, body: dict) -> str:
        from zeb.sim.market import LACKS_CREDIT

        self._record("PUT", f"/api/v0/asks/{offer_id}/", body={k: v for k, v in body.items() if k != "env"})
        try:
            new = self.market.create(offer_id, body)
        except KeyError:
            return f"failed with error 404: no_such_ask  Instance type by id {offer_id} is not available."
        except PermissionError:
            return f"failed with error 402: {LACKS_CREDIT}"
        return f"Started. {{'success': True, 'new_contract': {new}}}"

    def destroy(self, instance_id: int) -> None:
        self._record("DELETE", f"/api/v0/instances/{instance_id}/")
        self.market.destroy(instance_id)
