"""Commands return a Result; this module is the one place that prints it, as rich text or as
the versioned JSON envelope. Data goes to stdout, chatter and errors to stderr. Tables go through
print_table: on a terminal a FitTable that fits its width, fixed-width text otherwise."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zeb.core.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

RESULT_VERSION = 1


@dataclass
class Result:
    command: str
    # A typed record (zeb.api.payloads), shown in JSON as dataclasses.asdict; commands not yet typed pass a dict.
    data: Any = None
    errors: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK
    # Draws the human view on the given (stdout) console; None prints nothing.
    human: Callable[[Any], None] | None = None
    # The one line -q prints instead of the human view (cron's log); None: -q prints the human view.
    brief: str | None = None

    @property
    def status(self) -> str:
        if self.exit_code == EXIT_OK:
            return "success"
        if self.exit_code == EXIT_PARTIAL:
            return "partial"
        return "error"

    def envelope(self) -> dict[str, Any]:
        return {
            "zeb_result_version": RESULT_VERSION,
            "command": self.command,
            "status": self.status,
            "exit_code": self.exit_code,
            "data": _plain(self.data),
            "errors": list(self.errors),
        }

    @classmethod
    def failure(cls, command: str, message: str, exit_code: int = EXIT_FAILED) -> Result:
        return cls(command=command, errors=[message], exit_code=exit_code)


def _plain(data: Any) -> Any:
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return dataclasses.asdict(data)
    return data


def render(result: Result, *, as_json: bool, stdout, stderr, quiet: bool = False) -> None:
    if as_json:
        stdout.file.write(json.dumps(result.envelope(), indent=2, sort_keys=False, default=str) + "\n")
        stdout.file.flush()
        return
    if quiet and result.brief is not None:
        stdout.print(result.brief, markup=False, highlight=False)
    elif result.human is not None:
        result.human(stdout)
    from rich.markup import escape  # a message naming "[fleets.zeb]" is text, not markup

    for message in result.errors:
        stderr.print(f"[red]zeb: error:[/] {escape(str(message))}", highlight=False, markup=True, soft_wrap=True)


# The tables every command prints live with the dashboard's, in zeb.observe.tables.
from zeb.observe.tables import (  # noqa: E402, F401
    FitTable,
    blank_columns,
    plain_table,
    plural,
    print_table,
    state_style,
    table_widths,
    without,
)
