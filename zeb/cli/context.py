"""The one application object passed to every command as ctx.obj: consoles, environment,
clock, and lazily built config, store and Vast client. Tests build their own App to inject
a clock, an environment and paths; nothing here is a module-global override."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from rich.console import Console


def _console(stream, no_color: bool, columns: str | None) -> Console:
    # Piped output (cron logs, CI) would otherwise be squeezed into 80 columns.
    width = None if stream.isatty() else (int(columns) if (columns or "").isdigit() else 160)
    return Console(file=stream, no_color=no_color, highlight=False, soft_wrap=False, width=width)


@dataclass
class App:
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    stdout: Console | None = None
    stderr: Console | None = None
    interactive: bool | None = None  # stdin and stdout are a TTY; None: detect when first asked
    _store: object | None = None
    _vast: object | None = None

    def __getattribute__(self, name: str):
        # Consoles bind to the streams in use when a command first prints (a test runner swaps them).
        value = object.__getattribute__(self, name)
        if value is None and name in ("stdout", "stderr", "interactive"):
            env = object.__getattribute__(self, "env")
            if name == "interactive":
                value = sys.stdin.isatty() and sys.stdout.isatty()
            else:
                stream = sys.stdout if name == "stdout" else sys.stderr
                value = _console(stream, bool(env.get("NO_COLOR")), env.get("COLUMNS"))
            object.__setattr__(self, name, value)
        return value

    def config(self, fleet: str | None = None, **flags):
        from zeb.config import resolve

        return resolve(fleet=fleet, flags=flags, env=self.env)

    @property
    def store(self):
        if self._store is None:
            from zeb.store import Store

            self._store = Store.from_env(self.env)
        return self._store

    @property
    def vast(self):
        if self._vast is None:
            from zeb.vast import VastClient

            self._vast = VastClient.from_env(self.env, sleep=self.sleep)
        return self._vast
