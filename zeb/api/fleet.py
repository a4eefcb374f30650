"""zeb.Fleet: one fleet, for scripts. Built from the environment as the commands are (fleets.toml,
ZEB_HOME, VAST_API_KEY or the vastai key file, HF_TOKEN), or from a marketplace and a store a test gives."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from zeb.core.config import FleetConfig, resolve
from zeb.core.errors import UsageError


class Fleet:
    """A fleet of workers. Every method does what its command does, with no prompt and no output, and
    returns the command's `--json` data as a typed record.

        fleet = Fleet.from_env("zeb-large")
        fleet.up(2)                       # UpData: launched and failed workers
        fleet.status().fleets["zeb-large"].totals
    """

    def __init__(self, config: FleetConfig, *, env: Mapping[str, str], market: Any = None, store: Any = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
                 lock_timeout: float = 60.0) -> None:
        self.config, self.env, self.clock, self.sleep = config, env, clock, sleep
        self.lock_timeout = lock_timeout
        self._market, self._store = market, store

    @classmethod
    def from_env(cls, name: str | None = None, env: Mapping[str, str] | None = None, **kw: Any) -> Fleet:
        """The fleet `name` (else ZEB_FLEET, else "zeb") as fleets.toml and the environment configure it."""
        env = dict(os.environ) if env is None else dict(env)
        return cls(resolve(fleet=name, env=env), env=env, **kw)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def market(self):
        if self._market is None:
            from zeb.adapters.registry import build

            self._market = build(self.config.market, self.env, sleep=self.sleep)
        return self._market

    @property
    def store(self):
        if self._store is None:
            from zeb.storage.store import Store

            self._store = Store.from_env(self.env)
        return self._store

    def _service(self):
        from zeb.service.fleet import Fleet as Service

        return Service(self.market, self.store, self.config, clock=self.clock, env=self.env)

    def status(self, *, all_fleets: bool = False, probe: bool = False):
        """The fleet's instances, launches in flight, totals and hold, as `zeb status --json` gives them:
        StatusData (every zeb fleet on the account with `all_fleets`; `probe` reads every worker's log)."""
        from zeb.service.status import read_status

        return read_status(self.market, self.store, self.config, self.clock(), all_fleets=all_fleets, probe=probe)

    def up(self, count: int | None = None, *, dry_run: bool = False):
        """Launch `count` workers (default: the fleet's target_workers) on the best-value offers, as `zeb up`
        does: UpData, or UpDryRunData for a dry run (which rents nothing and checks nothing of the hub).
        Waits up to lock_timeout s for another zeb run holding the fleet's lock (LockHeld after)."""
        from zeb.api.payloads import up_data, up_dry_run_data

        count = self.config.target_workers if count is None else count
        if count < 1:
            raise UsageError(f"up needs a count of at least 1 (fleet {self.name} has target_workers = 0)")
        run = self._service().up(count, lock=self.store.mutation_lock(self.name, timeout=self.lock_timeout),
                                 dry_run=dry_run)
        if run.planned is not None:
            return up_dry_run_data(self.name, run.planned)
        return up_data(self.name, count, run.outcomes)
