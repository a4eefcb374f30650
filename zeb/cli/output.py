"""Commands return a Result; this module is the one place that prints it, as rich text or as
the versioned JSON envelope. Data goes to stdout, chatter and errors to stderr. Tables go through
print_table: a rich Table for a terminal and a small one, fixed-width text otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zeb.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

RESULT_VERSION = 1
# Rows up to which a terminal gets a rich Table. rich lays out every cell through its renderer (about
# 1 ms a row), so a bigger table, and any table that is not going to a terminal, is plain text.
RICH_TABLE_ROWS = 200
_GAP = "  "   # what rich's box=None, pad_edge=False table puts between columns


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
    def failure(cls, command: str, message: str, exit_code: int = EXIT_FAILED) -> Result:
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


def print_table(console, columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                title: str | None = None, rich_rows: int = RICH_TABLE_ROWS) -> None:
    """`columns` are (header, right-justified); cells are text, never markup. Piped or past `rich_rows`
    rows it is one line per row, never wrapped: columns stay where scripts cut them."""
    rows = [row if _printable(row) else [_clean(c) for c in row] for row in rows]
    if console.is_terminal and len(rows) <= rich_rows:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, box=None, pad_edge=False)
        for header, right in columns:
            table.add_column(header, justify="right" if right else "left")
        for row in rows:
            table.add_row(*(Text(c) for c in row))
        console.print(table)
        return
    console.out(plain_table(columns, rows, title=title), highlight=False)


def plain_table(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                title: str | None = None) -> str:
    """The layout of rich's Table(box=None, pad_edge=False) when it fits, in one pass over the cells:
    the header, then one line per row, widths from the widest cell; a title centred above."""
    headers = [h for h, _ in columns]
    widths = [_width(h) for h in headers]
    for k, cells in enumerate(zip(*rows)):
        widths[k] = max(widths[k], max(map(_width, cells)))
    fmt = _GAP.join(f"{{:{'>' if right else '<'}{w}}}" for (_, right), w in zip(columns, widths))
    lines = [] if title is None else [_centre(title, sum(widths) + len(_GAP) * (len(widths) - 1))]
    lines.append(fmt.format(*headers) if all(map(str.isascii, headers)) else _padded(columns, widths, headers))
    for row in rows:
        # str.format pads by code points; a wide (CJK, emoji) cell needs padding by terminal cells.
        lines.append(fmt.format(*row) if "".join(row).isascii() else _padded(columns, widths, row))
    return "\n".join(lines)


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _padded(columns: Sequence[tuple[str, bool]], widths: Sequence[int], row: Sequence[str]) -> str:
    out = []
    for (_, right), w, cell in zip(columns, widths, row):
        fill = " " * (w - _width(cell))
        out.append(fill + cell if right else cell + fill)
    return _GAP.join(out)


def _centre(text: str, width: int) -> str:
    excess = width - _width(text)
    return text if excess <= 0 else " " * (excess // 2) + text + " " * (excess - excess // 2)


def _printable(row: Sequence[str]) -> bool:
    return "".join(row).isprintable()


def _clean(cell: str) -> str:
    # A label is whatever the account set: a newline would split a row, an escape would drive the terminal.
    return cell if cell.isprintable() else "".join(ch if ch.isprintable() else "?" for ch in cell)
