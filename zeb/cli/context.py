"""The one application object passed to every command as ctx.obj: consoles, environment,
clock, and lazily built config, store, marketplace client and fleet service. Tests build their own App to inject
a clock, an environment and paths; nothing here is a module-global override."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping

from rich.console import Console


def _console(stream, no_color: bool, columns: str | None) -> Console:
    # Piped output (cron logs, CI) would otherwise be squeezed into 80 columns.
    width = None if stream.isatty() else (int(columns) if columns and columns.isdigit() else 160)
    return Console(file=stream, no_color=no_color, highlight=False, soft_wrap=False, width=width)


QUIET, NORMAL, VERBOSE = -1, 0, 1


class App:
    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        stdout: Console | None = None,
        stderr: Console | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.env = dict(os.environ) if env is None else env
        self.clock = clock
        self.sleep = sleep
        self._stdout = stdout
        self._stderr = stderr
        self._interactive = interactive   # stdin and stdout are a TTY; None: detect when first asked
        self._store = None
        self._markets: dict[str, object] = {}
        self._said_no_config = False
        self.verbosity = NORMAL     # QUIET (-q), NORMAL, VERBOSE (-v): set by the flags every command takes

    # Consoles bind to the streams in use when a command first prints (a test runner swaps them).
    @property
    def stdout(self) -> Console:
        if self._stdout is None:
            self._stdout = _console(sys.stdout, bool(self.env.get("NO_COLOR")), self.env.get("COLUMNS"))
        return self._stdout

    @property
    def stderr(self) -> Console:
        if self._stderr is None:
            self._stderr = _console(sys.stderr, bool(self.env.get("NO_COLOR")), self.env.get("COLUMNS"))
        return self._stderr

    @property
    def interactive(self) -> bool:
        if self._interactive is None:
            self._interactive = sys.stdin.isatty() and sys.stdout.isatty()
        return self._interactive

    def config(self, fleet: str | None = None, **flags):
        from zeb.adapters.registry import MARKETS
        from zeb.core.config import resolve

        cfg = resolve(fleet=fleet, flags=flags, env=self.env, markets=MARKETS)
        if cfg.config_file is None and not self._said_no_config:
            # Said once, and without naming a file that does not exist: the user has none, which is fine.
            self._said_no_config = True
            self.note("zeb: no fleets.toml found; using built-in defaults (write one: zeb config init)")
        return cfg

    @property
    def store(self):
        if self._store is None:
            from zeb.storage.store import Store

            self._store = Store.from_env(self.env)
        return self._store

    def fleet(self, cfg):
        """The fleet service for `cfg` on this app's marketplace, store and clock."""
        from zeb.service.fleet import (
            Fleet,  # loads the planners: paid only by commands that act on a fleet
        )

        return Fleet(self.market_for(cfg.market), self.store, cfg, clock=self.clock, env=self.env)

    @property
    def market(self):
        """The GPU marketplace of commands that span fleets (ZEB_MARKET, else Vast)."""
        from zeb.adapters.registry import DEFAULT_MARKET

        return self.market_for((self.env.get("ZEB_MARKET") or "").strip() or DEFAULT_MARKET)

    def market_for(self, name: str):
        """The marketplace `name` (a fleet's `market`: a zeb.core.domain.Marketplace), built once through
        zeb.adapters.registry, the one place that chooses an adapter; its SDK is imported only then."""
        if name not in self._markets:
            from zeb.adapters.registry import build

            self._markets[name] = build(name, self.env, sleep=self.sleep, on_retry=self._say_retry,
                                        on_request=self._say_request if self.verbose else None)
        return self._markets[name]

    # -- the one output helper: what goes to stderr besides errors, by verbosity -------------------------

    @property
    def quiet(self) -> bool:
        return self.verbosity <= QUIET

    @property
    def verbose(self) -> bool:
        return self.verbosity >= VERBOSE

    def note(self, text: str, *, style: str | None = None) -> None:
        """Progress and notes on stderr: what a person watching wants, and -q (cron) does not."""
        if not self.quiet:
            self.stderr.print(text, style=style, markup=False, highlight=False)

    def detail(self, text: str) -> None:
        """What only -v shows: retries in a pipe too, every API call with its timing."""
        if self.verbose:
            self.stderr.print(text, style="dim", markup=False, highlight=False)

    def _say_retry(self, reason: str, seconds: float) -> None:
        # A terminal hears why it is waiting; a pipe (cron's log) gets only the outcome unless -v asks.
        line = f"zeb: {reason}; retrying in {seconds:.1f} s"
        if self.verbose:
            self.detail(line)
        elif self.stderr.is_terminal:
            self.note(line, style="dim")

    def _say_request(self, method: str, path: str, status: int | None, seconds: float) -> None:
        self.detail(f"zeb: {method} {path} -> {status if status is not None else 'no answer'} "
                    f"in {seconds * 1000:.0f} ms")
