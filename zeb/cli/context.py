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
    interactive: bool | None = None  # stdin and stdout are a TTY; None: detect
    _store: object | None = None
    _vast: object | None = None

    def __post_init__(self) -> None:
        no_color = bool(self.env.get("NO_COLOR"))
        if self.stdout is None:
            self.stdout = _console(sys.stdout, no_color, self.env.get("COLUMNS"))
        if self.stderr is None:
            self.stderr = _console(sys.stderr, no_color, self.env.get("COLUMNS"))
        if self.interactive is None:
            self.interactive = sys.stdin.isatty() and sys.stdout.isatty()

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

            self._vast = VastClient.from_env(self.env)
        return self._vast
