"""The model of the Vast marketplace: offers on machines (some with hidden faults), instances that
move through Vast's statuses and write worker logs, account credit that drains, and API faults.
Pure state plus an injected clock; the HTTP server is a thin layer over it. Thread-safe via one lock."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zeb.sim import onstart, worker_log
from zeb.sim.onstart import Plan as OnstartPlan  # the `onstart` field shadows the module in Instance's body

# GPU -> (games/s of the real worker, low $/hr, high $/hr, VRAM MB). From the runbook's tables; the market's
# prices span $0.055-0.15 with a good share above the scripts' $0.09 cap.
GPUS: dict[str, tuple[float, float, float, int]] = {
    "RTX 3060": (1.4, 0.055, 0.080, 12288),
    "RTX 3060 Ti": (1.8, 0.060, 0.085, 8192),
    "RTX 3070": (2.2, 0.065, 0.105, 8192),
    "RTX 3070 Ti": (2.7, 0.075, 0.095, 8192),
    "RTX 3080": (3.0, 0.075, 0.110, 10240),
    "RTX 3080 Ti": (2.8, 0.080, 0.115, 12288),
    "RTX 3090": (3.2, 0.090, 0.160, 24576),
    "RTX 4070": (3.3, 0.076, 0.095, 12288),
    "RTX 4070 Ti": (4.2, 0.074, 0.110, 12288),
    "RTX 4080": (5.0, 0.105, 0.140, 16384),
    "RTX 4090": (6.0, 0.125, 0.150, 24576),
}

FAULTS = ("dud", "no_cuda", "oom", "slow_setup", "stall", "crash", "preempt", "flaky_ssh", "broken_launch")
LACKS_CREDIT = "Your account lacks credit; see the billing page to add some."
# API fault kinds: status codes answered instead of the call, a truncated JSON body, a delayed or hung
# answer (log fetches), and an offer snatched by someone else just before a create reaches it.
API_FAULTS = ("429", "500", "502", "503", "504", "malformed", "slow", "hang", "rented")


@dataclass
class Machine:
    id: int
    host_id: int
    gpu_name: str
    gps: float                      # actual games/s on this machine
    fault: str | None = None
    fault_after_s: float = 1800.0   # for stall / crash / preempt: when (after running / after create)
    reliability: float = 0.99
    geolocation: str = "US"
    ssh_host: str = "ssh5.vast.ai"


@dataclass
class SimOffer:
    id: int
    machine_id: int
    dph_total: float
    rented: bool = False
    verified: bool = True


@dataclass
class SimInstance:
    id: int
    offer_id: int
    machine_id: int
    label: str | None
    env: dict[str, str]
    image: str
    onstart: str
    created: float
    dph_total: float
    ssh_port: int
    seed: int
    stopped_at: float | None = None     # a user stop (state change)
    destroyed_at: float | None = None
    booted: float | None = None         # when the current boot began, if a restart followed a stop
    # batch n -> its log lines, and them as text (a cache of worker_log.render's)
    log_blocks: dict[int, tuple[list[str], str]] = field(default_factory=dict, repr=False)
    timings: dict[str, float] = field(default_factory=dict)
    plan: OnstartPlan | None = field(default=None, repr=False)        # what the onstart does this boot
    run: worker_log.Run | None = field(default=None, repr=False)       # ... laid out as the log shows it
    # earlier boots': repo, time, path
    past_uploads: list[tuple[str, float, str]] = field(default_factory=list, repr=False)


@dataclass
class ApiFault:
    kind: str                 # one of API_FAULTS
    count: int = 1            # how many matching calls it affects (-1: forever)
    path: str = ""            # only calls whose path starts with this
    method: str = ""          # only this method ("" any)
    retry_after: float = 1.0
    delay: float = 0.0        # seconds of real time for slow/hang


class Market:
    def __init__(self, clock, *, seed: int = 0, credit: float = 100.0, api_key: str = "sim-key",
                 world: onstart.World = onstart.WORLD) -> None:
        self.clock = clock
        self.world = world      # the images Vast can pull and the repositories scripts can clone
        self.seed = seed
        self.rng = random.Random(seed)
        self.api_key = api_key
        self.lock = threading.RLock()
        self.machines: dict[int, Machine] = {}
        self.offers: dict[int, SimOffer] = {}
        self.instances: dict[int, SimInstance] = {}
        self.gone: list[SimInstance] = []       # destroyed instances: their uploads stay in the examples repo
        self.api_faults: list[ApiFault] = []
        self.calls: list[dict[str, Any]] = []
        self._credit = float(credit)
        self._billed_at = clock.now()
        self._next_instance = 30_000_000
        self._next_offer = 12_000_000
        self._next_machine = 40_000
        self._next_port = 20_000
        self.schedule: list[tuple[float, Callable[[Market], None]]] = []
        # Real seconds each log fetch takes (benchmarks: Vast's log calls are slow); None = instant.
        self.log_latency: Callable[[], float] | None = None
        # Set when the server stops, so a "hang" fault never outlives it.
        self.unhang = threading.Event()

    # -- building the market -------------------------------------------------------------------

    def add_machine(self, gpu_name: str, *, dph: float | None = None, fault: str | None = None,
                    fault_after_s: float | None = None, gps: float | None = None, reliability: float | None = None,
                    machine_id: int | None = None) -> SimOffer:
        with self.lock:
            base_gps, lo, hi, _ = GPUS[gpu_name]
            mid = machine_id or self._new_machine_id()
            self.machines[mid] = Machine(
                id=mid, host_id=100_000 + mid % 5000, gpu_name=gpu_name,
                gps=gps if gps is not None else round(base_gps * self.rng.uniform(0.92, 1.08), 2),
                fault=fault, fault_after_s=fault_after_s if fault_after_s is not None else self.rng.uniform(1200, 5400),
                reliability=reliability if reliability is not None else round(self.rng.uniform(0.95, 0.999), 4),
                geolocation=self.rng.choice(["US", "CA", "DE", "PL", "SE", "JP"]),
                ssh_host=f"ssh{self.rng.randint(1, 9)}.vast.ai",
            )
            price = dph if dph is not None else round(self.rng.uniform(lo, hi), 3)
            return self.add_offer(mid, price)

    def _new_machine_id(self) -> int:
        self._next_machine += self.rng.randint(1, 97)
        return self._next_machine

    def add_offer(self, machine_id: int, dph: float) -> SimOffer:
        with self.lock:
            self._next_offer += self.rng.randint(1, 9999)
            offer = SimOffer(self._next_offer, machine_id, dph)
            self.offers[offer.id] = offer
            return offer

    def populate(self, n: int, *, gpus: list[str] | None = None, faulty_share: float = 0.1,
                 fault_kinds: tuple[str, ...] = FAULTS) -> None:
        names = gpus or list(GPUS)
        for k in range(n):
            fault = self.rng.choice(fault_kinds) if self.rng.random() < faulty_share else None
            self.add_machine(names[k % len(names)], fault=fault)

    def set_fault(self, machine_id: int, fault: str | None, after_s: float | None = None) -> None:
        with self.lock:
            m = self.machines[machine_id]
            m.fault = fault
            if after_s is not None:
                m.fault_after_s = after_s

    # -- faults the whole fleet shares: the world's future, known to the model as times ---------------------

    def _set_world(self, world: onstart.World) -> None:
        self.world = world
        for inst in self.instances.values():
            if inst.run is not None:
                worker_log.apply_world(inst, inst.run, world)

    def push_commit(self, at: float, fault: str | None = None, *, repo: str = onstart.MK5,
                    branch: str = "forge") -> str:
        """A commit pushed to `branch` of `repo` at time `at`, whose worker code works (fault None) or
        breaks (onstart.CODE_FAULTS); returns its sha. Clones and fetches from `at` on get it; workers
        already running keep their code."""
        if fault is not None and fault not in onstart.CODE_FAULTS:
            raise ValueError(f"unknown commit fault {fault!r} (known: {', '.join(onstart.CODE_FAULTS)})")
        if onstart.repo_key(repo) not in self.world.repos or not self.world.commits(repo, branch):
            raise ValueError(f"no branch {branch!r} in repository {repo!r}")
        with self.lock:
            world, commit = self.world.push(repo, branch, float(at), fault)
            self._set_world(world)
            return commit.sha

    def _hub_window(self, window: onstart.HubWindow) -> None:
        if not window.end > window.start:
            raise ValueError(f"a {window.kind} window must end after it starts ({window.start} .. {window.end})")
        with self.lock:
            self._set_world(dataclasses.replace(self.world, hub=(*self.world.hub, window)))

    def hub_outage(self, start: float, end: float | None = None) -> None:
        """Hugging Face is down from `start` to `end` (None: for good): 503 for every request."""
        self._hub_window(onstart.HubWindow("down", float(start), math.inf if end is None else float(end)))

    def revoke_token(self, start: float, end: float | None = None, token: str = "") -> None:
        """From `start` to `end` (None: for good) Hugging Face refuses `token` ("": every token) with 401."""
        self._hub_window(onstart.HubWindow("token", float(start), math.inf if end is None else float(end),
                                           token=token))

    def remove_weights(self, start: float, end: float | None = None, *, repo_id: str = "jasonyandell/zeb-42",
                       path: str = "zeb-557k-1m.pt") -> None:
        """The file `path` of `repo_id` is gone from `start` to `end` (None: for good): 404 EntryNotFound."""
        if not repo_id or not path:
            raise ValueError("remove_weights needs a repo_id and a path")
        self._hub_window(onstart.HubWindow("missing", float(start), math.inf if end is None else float(end),
                                           repo_id=repo_id, path=path))

    def break_image(self, image: str, start: float, end: float | None = None) -> None:
        """Docker cannot pull `image` from `start` to `end` (None: for good); instances created then stay
        "loading" with Docker's error. Instances already pulled are unaffected."""
        window = onstart.ImageWindow(onstart.image_name(image), float(start), math.inf if end is None else float(end))
        if not window.end > window.start:
            raise ValueError(f"an image window must end after it starts ({window.start} .. {window.end})")
        with self.lock:
            self.world = dataclasses.replace(self.world, broken_images=(*self.world.broken_images, window))

    def hub_fault(self, token: str | None = None, repo_id: str = "", path: str = "") -> str | None:
        """What is wrong with Hugging Face now for such a request (onstart.HUB_FAULTS), None when nothing."""
        return self.world.hub_fault(self.clock.now(), token=token, repo_id=repo_id, path=path)

    def at(self, when: float, action: Callable[[Market], None]) -> None:
        """Schedule a change of the market at virtual time `when` (applied on the next request)."""
        with self.lock:
            self.schedule.append((when, action))
            self.schedule.sort(key=lambda x: x[0])

    def tick(self) -> None:
        with self.lock:
            now = self.clock.now()
            while self.schedule and self.schedule[0][0] <= now:
                _, action = self.schedule.pop(0)
                action(self)
            self._bill(now)

    # -- credit -----------------------------------------------------------------------------------

    def _bill(self, now: float) -> None:
        """Charge every instance for the GPU time it held since the last bill; a stopped instance (by the user
        or preempted) holds no GPU. Storage is not modelled. Called before every change of state."""
        since = self._billed_at
        if now <= since:
            return
        spent = 0.0
        for inst in self.instances.values():
            start = max(since, inst.created)
            end = min(now, self._stops_at(inst))
            if end > start:
                spent += inst.dph_total * (end - start) / 3600.0
        self._credit -= spent
        self._billed_at = now

    def _stops_at(self, inst: SimInstance) -> float:
        if inst.stopped_at is not None:
            return inst.stopped_at
        if self.machines[inst.machine_id].fault == "preempt":
            return worker_log.boot_time(inst) + self.machines[inst.machine_id].fault_after_s
        return float("inf")

    @property
    def credit(self) -> float:
        with self.lock:
            self._bill(self.clock.now())
            return self._credit

    def set_credit(self, amount: float) -> None:
        with self.lock:
            self._bill(self.clock.now())
            self._credit = float(amount)

    def top_up(self, amount: float) -> None:
        with self.lock:
            self._bill(self.clock.now())
            self._credit += float(amount)

    # -- instances ----------------------------------------------------------------------------------

    def create(self, offer_id: int, body: dict) -> int:
        """Rent an offer. Raises KeyError (no such ask / already rented) or PermissionError (credit)."""
        with self.lock:
            self.tick()
            offer = self.offers.get(offer_id)
            if offer is None or offer.rented:
                raise KeyError(offer_id)
            if self._credit <= 0:
                raise PermissionError(LACKS_CREDIT)
            offer.rented = True
            self._next_instance += self.rng.randint(1, 999)
            self._next_port += self.rng.randint(1, 50)
            env = body.get("env") or {}
            if isinstance(env, list):
                env = dict(env)
            inst = SimInstance(
                id=self._next_instance, offer_id=offer_id, machine_id=offer.machine_id, label=body.get("label"),
                env={str(k): str(v) for k, v in env.items()}, image=str(body.get("image") or ""),
                onstart=str(body.get("onstart") or ""), created=self.clock.now(), dph_total=offer.dph_total,
                ssh_port=self._next_port, seed=self.rng.randint(0, 2**31),
            )
            machine = self.machines[offer.machine_id]
            inst.timings = worker_log.timings(machine, random.Random(inst.seed))
            inst.run = worker_log.prepare(inst, machine, self.world)
            self.instances[inst.id] = inst
            return inst.id

    def destroy(self, instance_id: int) -> bool:
        with self.lock:
            self.tick()
            inst = self.instances.get(instance_id)
            if inst is None or inst.destroyed_at is not None:
                return False
            inst.destroyed_at = self.clock.now()
            offer = self.offers.get(inst.offer_id)
            if offer is not None:
                offer.rented = False
            del self.instances[instance_id]
            self.gone.append(inst)
            return True

    def set_label(self, instance_id: int, label: str) -> bool:
        with self.lock:
            inst = self.instances.get(instance_id)
            if inst is None:
                return False
            inst.label = label
            return True

    def set_state(self, instance_id: int, state: str) -> bool:
        """"stopped" freezes the container; "running" after a stop (or a preemption) boots it again, onstart
        and all, as a Vast restart does."""
        with self.lock:
            self.tick()
            inst = self.instances.get(instance_id)
            if inst is None:
                return False
            now = self.clock.now()
            if state == "stopped":
                if inst.stopped_at is None:
                    inst.stopped_at = now
            elif state == "running" and self.status_of(inst, now) == "stopped":
                machine = self.machines[inst.machine_id]
                if inst.run is not None and inst.run.worker is not None:
                    repo = str(inst.run.worker.args.get("examples_repo_id"))
                    until = inst.stopped_at if inst.stopped_at is not None else now
                    inst.past_uploads += [(repo, at, path) for at, path in worker_log.uploads(inst, machine, until)]
                inst.stopped_at = None
                inst.booted = now
                inst.log_blocks.clear()
                inst.run = worker_log.prepare(inst, machine, self.world)   # a restart runs the onstart again
            return True

    def take_offer(self, offer_id: int) -> None:
        """Someone else rents the offer: the next create of it fails as Vast's does."""
        with self.lock:
            self.offers[offer_id].rented = True

    def adopt(self, gpu_name: str, label: str | None, *, age_s: float = 3600.0, fault: str | None = None,
              dph: float | None = None, env: dict | None = None) -> int:
        """An instance that already exists when the scenario starts (created `age_s` ago), launched with the
        known-good worker launch; `env` adds to (or overrides) its env."""
        with self.lock:
            offer = self.add_machine(gpu_name, fault=fault, dph=dph)
            worker = "worker-vast-" + (label.rsplit("-", 1)[-1] if label else "0")
            body = onstart.known_good_body(label, {"WORKER_ID": worker, **(env or {})})
            saved, self._credit = self._credit, max(self._credit, 1.0)
            instance_id = self.create(offer.id, body)
            self._credit = saved
            inst = self.instances[instance_id]
            inst.created -= age_s
            inst.run = worker_log.prepare(inst, self.machines[inst.machine_id], self.world)   # its real start
            return instance_id

    def status_of(self, inst: SimInstance, now: float) -> str | None:
        return worker_log.status(inst, self.machines[inst.machine_id], now)

    def row(self, inst: SimInstance, now: float) -> dict[str, Any]:
        m = self.machines[inst.machine_id]
        status = self.status_of(inst, now)
        return {
            "id": inst.id, "label": inst.label, "actual_status": status,
            "intended_status": self.intended_status(inst),
            "cur_state": "stopped" if status == "stopped" else "running",
            "next_state": self.intended_status(inst),
            "gpu_name": m.gpu_name, "num_gpus": 1, "dph_total": inst.dph_total, "machine_id": m.id,
            "host_id": m.host_id, "start_date": inst.created, "ssh_host": m.ssh_host, "ssh_port": inst.ssh_port,
            "ssh_idx": "5", "extra_env": [[k, v] for k, v in inst.env.items()], "image_uuid": inst.image,
            "status_msg": worker_log.status_msg(status, inst.run.pull_error if inst.run else None),
            "geolocation": m.geolocation, "reliability2": m.reliability,
            "gpu_ram": GPUS[m.gpu_name][3], "disk_space": 20.0, "onstart": inst.onstart,
        }

    def offer_row(self, offer: SimOffer) -> dict[str, Any]:
        m = self.machines[offer.machine_id]
        return {
            "id": offer.id, "ask_contract_id": offer.id, "machine_id": m.id, "host_id": m.host_id,
            "gpu_name": m.gpu_name, "num_gpus": 1, "dph_total": offer.dph_total, "dph_base": offer.dph_total,
            "reliability": m.reliability, "reliability2": m.reliability, "verified": offer.verified,
            "external": False, "rentable": not offer.rented, "rented": offer.rented, "geolocation": m.geolocation,
            "gpu_ram": GPUS[m.gpu_name][3], "cpu_ram": 32768, "disk_space": 200.0, "inet_down": 500.0,
            "inet_up": 200.0, "cuda_max_good": 12.4, "score": round(m.reliability * 100 - offer.dph_total * 100, 3),
            "public_ipaddr": "203.0.113.10", "type": "on-demand",
        }

    def logs(self, instance_id: int, tail: int | None) -> str | None:
        with self.lock:
            inst = self.instances.get(instance_id)
            if inst is None:
                return None
            return worker_log.render(inst, self.machines[inst.machine_id], self.clock.now(), tail)

    def examples_uploads(self, repo_id: str) -> list[tuple[float, str]]:
        """(time, path) of every successful upload so far, by every instance (destroyed ones too) whose
        worker uploads to the examples repo `repo_id`, oldest first."""
        with self.lock:
            now = self.clock.now()
            out: list[tuple[float, str]] = []
            for inst in [*self.gone, *self.instances.values()]:
                run = inst.run
                out += [(at, path) for repo, at, path in inst.past_uploads if repo == repo_id]
                if run is None or run.worker is None or run.worker.args.get("examples_repo_id") != repo_id:
                    continue
                until = now
                if inst.destroyed_at is not None:
                    until = min(until, inst.destroyed_at)
                if inst.stopped_at is not None:
                    until = min(until, inst.stopped_at)
                out += worker_log.uploads(inst, self.machines[inst.machine_id], until)
            return sorted(out)

    def log_request_fails(self, instance_id: int) -> bool:
        """flaky_ssh hosts lose about half of the log requests."""
        with self.lock:
            inst = self.instances.get(instance_id)
            if inst is None:
                return False
            m = self.machines[inst.machine_id]
            return m.fault == "flaky_ssh" and self.rng.random() < 0.5

    def intended_status(self, inst: SimInstance) -> str:
        return "stopped" if inst.stopped_at is not None else "running"

    # -- API faults and the call log ------------------------------------------------------------------

    def inject(self, kind: str, count: int = 1, *, path: str = "", method: str = "", retry_after: float = 1.0,
               delay: float = 0.0) -> None:
        """The next `count` matching calls (-1: all) get fault `kind` (see API_FAULTS). A "rented" fault
        applies to creates; "slow"/"hang" on path "/_logs/" delay the log text fetch."""
        if kind not in API_FAULTS:
            raise ValueError(f"unknown API fault {kind!r} (known: {', '.join(API_FAULTS)})")
        if kind == "rented":
            path, method = path or "/api/v0/asks/", method or "PUT"
        with self.lock:
            self.api_faults.append(ApiFault(kind, int(count), path, method, float(retry_after), float(delay)))

    def take_fault(self, method: str, path: str) -> ApiFault | None:
        with self.lock:
            for fault in self.api_faults:
                if (not fault.path or path.startswith(fault.path)) and (not fault.method or fault.method == method):
                    if fault.count > 0:
                        fault.count -= 1
                    if fault.count == 0:
                        self.api_faults.remove(fault)
                    return fault
            return None

    def record_call(self, method: str, path: str, query: dict, body: Any) -> None:
        with self.lock:
            self.calls.append({"time": self.clock.now(), "method": method, "path": path, "query": query,
                               "body": body})

    def calls_to(self, method: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        """Recorded API calls (dicts: time, method, path, query, body -- secrets kept for assertions)."""
        with self.lock:
            return [c for c in self.calls if (method is None or c["method"] == method)
                    and c["path"].startswith(prefix)]

    def count_calls(self, method: str | None = None, prefix: str = "") -> int:
        return len(self.calls_to(method, prefix))

    def reset_calls(self) -> None:
        with self.lock:
            self.calls.clear()

    def live_instances(self) -> list[SimInstance]:
        with self.lock:
            return list(self.instances.values())
