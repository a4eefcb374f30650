"""zeb for Python scripts: `from zeb import Fleet; fleet = Fleet.from_env("zeb-large"); fleet.status();
fleet.up(2)`. The same work as the commands, returning the same typed records their `--json` prints
(zeb.api.payloads); errors are zeb.core.errors exceptions (ZebError), never an exit.

The records and their pure builders live here rather than in zeb.cli so that scripts and the command line
share them without anything importing zeb.cli.

May import: every layer below (core, plan, storage, adapters, service, observe) and itself. Never zeb.cli."""

__all__ = ["Fleet"]


def __getattr__(name: str):
    # Loaded on first use: the commands import zeb.api.payloads at start-up and need none of this.
    if name == "Fleet":
        from zeb.api.fleet import Fleet

        return Fleet
    raise AttributeError(f"module 'zeb.api' has no attribute {name!r}")
