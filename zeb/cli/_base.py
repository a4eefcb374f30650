"""What every command shares: getting the App, turning ZebError into a Result, rendering once."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import typer

from zeb.cli.output import Result, render
from zeb.core.errors import UsageError, ZebError

if TYPE_CHECKING:
    from zeb.cli.context import App

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document (zeb_result_version 1) on stdout.")
FLEET_OPTION = typer.Option(None, "--fleet", "-f", help="Fleet name from fleets.toml (env ZEB_FLEET; default 'zeb').")


QUIET_HELP = "Print only errors, warnings and the summary (for cron)."
VERBOSE_HELP = "Also print every retry and every API call with its timing."


def set_verbosity(app: App, quiet: bool, verbose: bool) -> None:
    """-q and -v, given before the command (`zeb -q replenish 4`) or after it (`zeb replenish 4 -q`)."""
    from zeb.cli.context import QUIET, VERBOSE

    if quiet and verbose:
        raise UsageError("-q and -v ask for opposite things: give one of them")
    if quiet or verbose:
        app.verbosity = QUIET if quiet else VERBOSE


QUIET_OPTION = typer.Option(False, "--quiet", "-q", help=QUIET_HELP)
VERBOSE_OPTION = typer.Option(False, "--verbose", "-v", help=VERBOSE_HELP)


def group_verbosity(ctx: typer.Context, quiet: bool, verbose: bool) -> None:
    """-q/-v given to a group (`zeb -q ...`, `zeb market -q scan`): kept for the command it runs."""
    if quiet or verbose:
        try:
            set_verbosity(app_of(ctx), quiet, verbose)
        except UsageError as exc:
            typer.echo(f"zeb: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None


def _with_verbosity_flags(fn: Callable, wrapper: Callable) -> None:
    """Give `wrapper` (the command typer sees) the -q/-v options after fn's own: one declaration for
    every command. typer reads the signature and the annotations, so both get the two extra names."""
    signature = inspect.signature(fn)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=option)
             for name, option in (("quiet", QUIET_OPTION), ("verbose", VERBOSE_OPTION))
             if name not in signature.parameters]
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra])
    wrapper.__annotations__ = {**fn.__annotations__, "quiet": bool, "verbose": bool}


def check_count(count: int | None, low: int) -> None:
    """A worker count from the command line: at least `low`, at most what one fleet may hold."""
    from zeb.core.config import (
        MAX_WORKERS,  # zeb.core.config (~30 ms) is not loaded for a command's --help
    )

    if count is None:
        return
    if count < low:
        raise UsageError(f"COUNT must be {'at least 1' if low == 1 else '0 or more'}")
    if count > MAX_WORKERS:
        raise UsageError(f"COUNT {count} is more than one fleet may hold ({MAX_WORKERS}); split the work over "
                         "several fleets")


class _Quiet:
    def update(self, text: str) -> None:
        pass


class _Spinner:
    def __init__(self, live, spin) -> None:
        self._live, self._spin = live, spin

    def update(self, text: str) -> None:
        self._spin.update(text=text)
        self._live.refresh()        # shown now, not at the next tick: a short wait is seen too


@contextlib.contextmanager
def spinner(app: App, text: str) -> Iterator:
    """A transient spinner line on stderr while slow work runs, when stderr is a terminal; nothing at
    all otherwise (a pipe or cron's log gets only the outcome). Yields something with `update(text)`."""
    if not app.stderr.is_terminal or app.quiet:
        yield _Quiet()
        return
    from rich.live import Live
    from rich.spinner import Spinner

    spin = Spinner("dots", text)
    with Live(spin, console=app.stderr, transient=True, refresh_per_second=12.5) as live:
        yield _Spinner(live, spin)


@contextlib.contextmanager
def fleet_lock(app: App, fleet: str, timeout: float) -> Iterator[None]:
    """The fleet's mutation lock. Free: taken at once, silently. Held by another zeb run: waited for up
    to `timeout` s under a spinner that says so (on a terminal), then LockHeld."""
    from zeb.core.errors import LockHeld

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(app.store.mutation_lock(fleet, timeout=0))
        except LockHeld:
            if timeout <= 0:
                raise
            with spinner(app, f"waiting up to {timeout:g} s for fleet {fleet}'s lock, held by another zeb run…"):
                stack.enter_context(app.store.mutation_lock(fleet, timeout=timeout))
        yield


def app_of(ctx: typer.Context) -> App:
    root = ctx.find_root()
    if root.obj is None:
        from zeb.cli.context import (
            App,  # deferred: rich.console costs start-up, and --help needs no App
        )

        root.obj = App()
    return root.obj


def zeb_command(name: str) -> Callable:
    """Wrap a command body `fn(ctx, ...) -> Result`: errors become one line, output is rendered once,
    and a non-zero exit code leaves through typer.Exit. The body takes `json_out` if it has --json."""

    def decorate(fn: Callable[..., Result]) -> Callable[..., None]:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs) -> None:
            ctx = kwargs.get("ctx") or next(a for a in args if isinstance(a, typer.Context))
            app = app_of(ctx)
            as_json = bool(kwargs.get("json_out", False))
            quiet, verbose = bool(kwargs.pop("quiet", False)), bool(kwargs.pop("verbose", False))
            try:
                set_verbosity(app, quiet, verbose)
                result = fn(*args, **kwargs)
            except ZebError as exc:
                result = Result.failure(name, str(exc), exc.exit_code)
            except KeyboardInterrupt:
                app.stderr.print("zeb: interrupted")
                raise typer.Exit(130) from None
            render(result, as_json=as_json, stdout=app.stdout, stderr=app.stderr, quiet=app.quiet)
            store = app._store
            for warning in getattr(store, "warnings", ()):
                app.stderr.print(f"zeb: warning: {warning}", markup=False, highlight=False)
            if result.exit_code:
                raise typer.Exit(result.exit_code)

        _with_verbosity_flags(fn, wrapper)
        return wrapper

    return decorate

