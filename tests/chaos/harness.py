"""The chaos suite's harness: one simulated marketplace (real clock, served over HTTP from the test
process so the test can inspect and fault it) and a fake hub per module, and real `python -m zeb`
processes with their own environment. Every output of every process is kept so the secrets scan
(test_secrets.py) can read it, and figures (trials, failures, seconds) are kept for the summary that
conftest.py prints and writes to chaos-summary.json in pytest's base temp dir.

Default run vs ZEB_CHAOS=full: see FULL below and each module's docstring."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests import simenv
from zeb.sim.clock import RealClock
from zeb.sim.hub import FakeHub
from zeb.sim.market import Market
from zeb.sim.server import SimServer

FULL = os.environ.get("ZEB_CHAOS", "").strip().lower() == "full"
REPO = Path(__file__).resolve().parents[2]
# Distinctive fake secrets: the scan looks for these exact strings everywhere zeb writes.
API_KEY = "vastkey-CHAOS-d41d8cd98f00b204"
HF_TOKEN = "hf_CHAOStoken_e9800998ecf8427e"
FLEET_RE = re.compile(r"^zeb-worker-vast-(0|[1-9][0-9]*)$")

# The integration harness's fleets: the same repos and GPUs as every other sim test.
FLEETS_TOML = simenv.FLEETS_TOML

# Everything any process of the suite printed, and every directory zeb may have written to.
OUTPUTS: list[tuple[str, str]] = []       # (command line, stdout + stderr)
WRITTEN: set[Path] = set()
FIGURES: dict[str, dict] = {}


def record(part: str, **figures) -> None:
    FIGURES.setdefault(part, {}).update(figures)


@dataclass
class Ran:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Chaos:
    market: Market
    server: SimServer
    hub: FakeHub
    url: str
    root: Path
    protected: dict[int, str | None] = field(default_factory=dict)   # instances the suite must never touch

    @classmethod
    def start(cls, root: Path, offers: int = 60) -> Chaos:
        market = Market(RealClock(), seed=7, credit=10_000.0, api_key=API_KEY)
        market.populate(offers, gpus=["RTX 3070", "RTX 3080", "RTX 4070 Ti", "RTX 3060"], faulty_share=0.0)
        server = SimServer(market)
        url = server.start()
        hub = FakeHub({"jasonyandell/zeb-42": {"zeb-557k-1m.pt": b"w", "large.pt": b"w"},
                       "jasonyandell/zeb-42-examples": {}},
                      examples_source=market.examples_uploads)
        hub.start()
        root.mkdir(parents=True, exist_ok=True)
        (root / "fleets.toml").write_text(FLEETS_TOML)
        chaos = cls(market, server, hub, url, root)
        # Another fleet's worker, a near miss of the label pattern, and an unlabelled instance.
        for label in ("zeb-large-worker-vast-0", "zeb-worker-vast-x", None):
            chaos.protected[market.adopt("RTX 3070", label)] = label
        chaos.protected[market.create(next(o.id for o in market.offers.values() if not o.rented),
                                      {"label": "my-own-box", "image": "x", "env": {}, "onstart": ""})] = "my-own-box"
        return chaos

    def stop(self) -> None:
        self.server.stop()
        self.hub.stop()

    def home(self, name: str) -> Path:
        return self.root / name

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        base = self.root
        WRITTEN.update({home, base / "runtime", base / "user-home"})
        return {"PATH": os.environ.get("PATH", ""), "VAST_URL": self.url, "VAST_API_KEY": API_KEY,
                "HF_TOKEN": HF_TOKEN, "HF_ENDPOINT": self.hub.url, "ZEB_HOME": str(home),
                "ZEB_CONFIG": str(base / "fleets.toml"), "HOME": str(base / "user-home"),
                "ZEB_RUNTIME_DIR": str(base / "runtime"), "XDG_STATE_HOME": str(base / "xdg-state"),
                "XDG_CONFIG_HOME": str(base / "xdg-config"), "HF_HOME": str(base / "hf-home"),
                "NO_COLOR": "1", "COLUMNS": "200", "PYTHONDONTWRITEBYTECODE": "1", **extra}

    def spawn(self, home: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "zeb", *args], env=env or self.env(home), cwd=REPO,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, proc: subprocess.Popen, args, started: float, timeout: float = 90.0) -> Ran:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += f"\n[chaos: killed after {timeout:g}s]"
        OUTPUTS.append((" ".join(args), out + err))
        return Ran(tuple(args), proc.returncode, out, err, time.monotonic() - started)

    def run(self, home: Path, *args: str, env: dict | None = None, timeout: float = 90.0) -> Ran:
        started = time.monotonic()
        return self.finish(self.spawn(home, *args, env=env), args, started, timeout)

    # -- what the market says --------------------------------------------------------------------------

    def fleet_live(self) -> list:
        return [i for i in self.market.live_instances() if i.label and FLEET_RE.match(i.label)]

    def fleet_labels(self) -> list[str]:
        return sorted(i.label for i in self.fleet_live())

    def clear_fleet(self) -> None:
        for inst in self.fleet_live():
            self.market.destroy(inst.id)

    def clear_faults(self) -> None:
        with self.market.lock:
            self.market.api_faults.clear()

    def wrong_destroys(self) -> list[str]:
        """Instances outside the fleet that are gone, or were sent a destroy."""
        live = {i.id for i in self.market.live_instances()}
        out = [f"{iid} ({label}) is gone" for iid, label in self.protected.items() if iid not in live]
        for call in self.market.calls_to("DELETE"):
            ids = re.findall(r"\d+", call["path"]) + [str(i) for i in (call.get("body") or {}).get("ids", [])] \
                if isinstance(call.get("body"), dict) else re.findall(r"\d+", call["path"])
            out += [f"DELETE sent for {i}" for i in ids if int(i) in self.protected]
        return out

    def duplicates(self) -> list[str]:
        labels = self.fleet_labels()
        return sorted({label for label in labels if labels.count(label) > 1})

    def creates_since(self, n_calls: int) -> list[dict]:
        return [c for c in self.market.calls[n_calls:]
                if c["method"] == "PUT" and c["path"].startswith("/api/v0/asks/")]


def traceback_free(ran: Ran) -> bool:
    return "Traceback (most recent call last)" not in ran.text
