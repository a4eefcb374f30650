"""The command table, and the root click group that imports a command's module only when that command
is run or asked for its own help. `zeb --help` lists every command from the table alone (issue #2)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from zeb.cli.coerce import lighten

# name -> (module under zeb.cli, the first paragraph of the command's help, which `zeb --help` shortens),
# in the order `zeb --help` lists them. tests/test_cli_help.py checks every entry against the loaded
# command's help, so the two cannot drift.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("up", "Launch COUNT workers on the best-value offers ($ per expected game/s)."),
    "status": ("status", ("Show the fleet's instances and launches in flight: label, GPU, state (the worker's, "
                          "else Vast's), games/s, $/hr, age, id (--wide: Vast status, machine, ssh).")),
    "logs": ("logs", "Print a worker's log tail and its classified state."),
    "down": ("down", "Destroy every instance of the fleet (asks first unless --force). Idempotent."),
    "replenish": ("replenish", "Bring the fleet back to COUNT workers; safe to run from cron and to overlap."),
    "monitor": ("monitor", ("Keep COUNT healthy workers producing; replace what fails. Ctrl-C leaves the fleet "
                            "running.")),
    "rank-offers": ("rank_offers", ("Rank current offers by $ per expected game/s for the fleet's GPU list: $/hr "
                                    "over games/s times p, the machine's chance of booting and producing (from its "
                                    "reputation; 0.85 untried). Machines in the scripts' preferred-hosts.txt "
                                    "(ZEB_PREFERRED) are starred and get its 10% bonus.")),
    "timeline": ("timeline", "Every state change of one worker, with durations and its cost split."),
    "stats": ("stats", "Games/s and $/game/s by GPU type, and the fleet's $ productive vs overhead."),
    "market": ("market", "Offer prices per GPU type over time, from every offer search zeb makes (and `market "
                         "scan`)."),
    "report": ("report_cmd", "Write one self-contained HTML report: workers, games/s, $, market prices, events, "
                             "machines."),
    "demo": ("demo", "Run the self-healing monitor against the built-in simulated marketplace (about a minute)."),
    "blacklist": ("blacklist", "Host strikes and blocks (3 strikes block a machine from offer search)."),
    "config": ("config_cmd", "Show, create and validate fleets.toml."),
    "sim": ("sim_cmd", "The simulated Vast marketplace."),
}


def _help_flag_off_by_default(option: Any) -> Any:
    # typer 0.29 gives the help flag no default, so a group's absent --help (None, not a bool) is coerced
    # through pydantic whenever one of its subcommands runs: ~100 ms of imports for `zeb X --help`.
    if option is not None and option.default is None:
        option.default = False
    return option


def _help_flags_off_by_default(command: Any, ctx: Any) -> None:
    # A command's and a subgroup's own --help is absent too (`zeb status`, `zeb config show`). A subcommand's
    # help option takes its names from the context, which every level inherits from the root's: the
    # root's context makes the same option the subcommand's would (typer caches it on the command).
    _help_flag_off_by_default(command.get_help_option(ctx))
    for sub in (getattr(command, "commands", None) or {}).values():
        _help_flags_off_by_default(sub, ctx)


def _completion_option(option: Any) -> None:
    """typer finds the shell to complete for by walking up the process tree (shellingham), which finds
    none under cron, an IDE or CI; then the login shell in $SHELL is the one meant, not an error."""
    _help_flag_off_by_default(option)
    callback = option.callback
    if callback is None or getattr(callback, "zeb_shell_fallback", False):
        return

    def with_fallback(ctx: Any, param: Any, value: Any) -> Any:
        if value is True:
            value = _shell_name() or value
        return callback(ctx, param, value)

    with_fallback.zeb_shell_fallback = True  # type: ignore[attr-defined]
    option.callback = with_fallback


def _shell_name() -> str | None:
    import os

    import shellingham  # typer's own dependency for completion

    try:
        return shellingham.detect_shell()[0]
    except shellingham.ShellDetectionFailure:
        return os.path.basename(os.environ.get("SHELL", "")) or None


class _LazyCommands(MutableMapping):
    """The group's `commands`: every table name is a key from the start; its command is built on first
    lookup. Iterating names (typer's "Did you mean", the docs test) imports nothing."""

    def __init__(self, eager: Mapping[str, Any], load: Callable[[str], Any]) -> None:
        self._built = dict(eager)
        self._load = load

    def built(self, name: str) -> Any | None:
        return self._built.get(name)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            self._built[name] = self._load(name)
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._built if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(1 for name in self._built if name not in COMMANDS)


class LazyGroup(TyperGroup):
    """The root group (`typer.Typer(cls=LazyGroup)`): `zeb X ...` imports zeb.cli.X and nothing else."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands: _LazyCommands = _LazyCommands(self.commands, self._build)

    def _build(self, name: str) -> Any:
        module = importlib.import_module(f"zeb.cli.{COMMANDS[name][0]}")
        # The module registers its command on a Typer of its own; typer turns that into the click command
        # with the root's help settings, exactly as if it had been registered on the root app.
        holder = typer.Typer(rich_markup_mode=self.rich_markup_mode, add_completion=False)
        module.register(holder)
        return lighten(typer.main.get_group(holder).commands[name])

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _help_flags_off_by_default(command, ctx)
        return command

    def get_params(self, ctx: Any) -> list:
        # typer appends --install-completion and --show-completion after building the group, and they have
        # no default either: the same fix, or every `zeb X --help` would pay for pydantic.
        params = super().get_params(ctx)
        for param in params:
            if param.name in ("install_completion", "show_completion"):
                _completion_option(param)
        return params

    def get_help_option(self, ctx: Any) -> Any:
        return _help_flag_off_by_default(super().get_help_option(ctx))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # Commands not built yet are listed through stand-ins carrying the table's help, so typer lays the
        # list out (widths, shortening) exactly as it would for the real commands.
        listed = [self.commands.built(name) or TyperCommand(name, help=COMMANDS[name][1])
                  for name in self.list_commands(ctx)]
        TyperGroup(name=self.name, commands=listed).format_commands(ctx, formatter)
