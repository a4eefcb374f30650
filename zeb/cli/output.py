"""Commands return a Result; this module is the one place that prints it, as rich text or as
the versioned JSON envelope. Data goes to stdout, chatter and errors to stderr."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from zeb.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

RESULT_VERSION = 1


@dataclass
class Result:
    command: str
    data: Any = None
    errors: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK
    # Draws the human view on the given (stdout) console; None prints nothing.
    human: Callable[[Any], None] | None = None

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
            "data": self.data,
            "errors": list(self.errors),
        }

    @classmethod
    def failure(cls, command: str, message: str, exit_code: int = EXIT_FAILED) -> "Result":
        return cls(command=command, errors=[message], exit_code=exit_code)


def render(result: Result, *, as_json: bool, stdout, stderr) -> None:
    if as_json:
        stdout.file.write(json.dumps(result.envelope(), indent=2, sort_keys=False, default=str) + "\n")
        stdout.file.flush()
        return
    if result.human is not None:
        result.human(stdout)
    for message in result.errors:
        stderr.print(f"[red]zeb: error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
