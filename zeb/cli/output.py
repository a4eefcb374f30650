"""Commands return a Result; this module is the one place that prints it, as rich text or as
the versioned JSON envelope. Data goes to stdout, chatter and errors to stderr. Tables go through
print_table: on a terminal a FitTable that fits its width, fixed-width text otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from zeb.errors import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL

RESULT_VERSION = 1
_GAP = "  "   # what rich's box=None, pad_edge=False table puts between columns


@dataclass
class Result:
    command: str
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
            "data": self.data,
            "errors": list(self.errors),
        }

    @classmethod
    def failure(cls, command: str, message: str, exit_code: int = EXIT_FAILED) -> Result:
        return cls(command=command, errors=[message], exit_code=exit_code)


def render(result: Result, *, as_json: bool, stdout, stderr, quiet: bool = False) -> None:
    if as_json:
        stdout.file.write(json.dumps(result.envelope(), indent=2, sort_keys=False, default=str) + "\n")
        stdout.file.flush()
        return
    if quiet and result.brief is not None:
        stdout.print(result.brief, markup=False, highlight=False)
    elif result.human is not None:
        result.human(stdout)
    for message in result.errors:
        stderr.print(f"[red]zeb: error:[/] {message}", highlight=False, markup=True, soft_wrap=True)


def print_table(console, columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                title: str | None = None) -> None:
    """`columns` are (header, right-justified); cells are text, never markup. On a terminal the table fits
    the width (see FitTable); piped it is one line per row, never wrapped: columns stay where scripts cut them."""
    rows = [row if _printable(row) else [_clean(c) for c in row] for row in rows]
    if console.is_terminal:
        # Not cropped: a row wider than the terminal even when stacked (--wide) wraps there, whole.
        console.print(FitTable(columns, rows, title=title), crop=False)
        return
    console.out(plain_table(columns, rows, title=title), highlight=False)


class FitTable:
    """A table that fits the width it is drawn at, without truncating or folding a cell: one line per row
    when that fits; otherwise each row's first cell (the label) on a line of its own and the other cells
    below it, indented, as many columns to a line as fit. Cells are text (a label is never markup); the
    header is bold. Drawn from the width at render time, so rich.live re-lays it out when the terminal
    is resized."""

    def __init__(self, columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                 title: str | None = None) -> None:
        self.columns, self.title = list(columns), title
        self.rows = [row if _printable(row) else [_clean(c) for c in row] for row in rows]

    def lines(self, width: int) -> list[tuple[str, bool]]:
        """(text, is_header) per line, laid out for `width` columns."""
        widths = _widths(self.columns, self.rows)
        if _span(widths) <= width or len(self.columns) < 2:
            header, body = _header_and_body(self.columns, self.rows, widths)
            out = [(header.rstrip(), True)] + [(line.rstrip(), False) for line in body]
        else:
            out = self._stacked(widths, width)
        if self.title is not None:
            out.insert(0, (_centre(self.title, min(width, max(_width(t) for t, _ in out))).rstrip(), False))
        return out

    def _stacked(self, widths: list[int], width: int) -> list[tuple[str, bool]]:
        chunks: list[list[int]] = [[]]      # column indexes per detail line, packed greedily
        for k in range(1, len(self.columns)):
            if chunks[-1] and len(_INDENT) + _span([widths[j] for j in chunks[-1] + [k]]) > width:
                chunks.append([])
            chunks[-1].append(k)
        parts = [_header_and_body([self.columns[j] for j in chunk], [[row[j] for j in chunk] for row in self.rows],
                                  [widths[j] for j in chunk]) for chunk in chunks]
        out = [(self.columns[0][0], True)] + [((_INDENT + header).rstrip(), True) for header, _ in parts]
        for i, row in enumerate(self.rows):
            out.append((row[0], False))
            out.extend(((_INDENT + body[i]).rstrip(), False) for _, body in parts)
        return out

    def __rich_console__(self, console, options):
        from rich.segment import Segment
        from rich.style import Style

        bold = Style(bold=True)
        for text, header in self.lines(options.max_width):
            yield Segment(text, bold if header and text.strip() else None)
            yield Segment.line()


_INDENT = "  "


def plain_table(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                title: str | None = None) -> str:
    """The layout of rich's Table(box=None, pad_edge=False) when it fits, in one pass over the cells:
    the header, then one line per row, widths from the widest cell; a title centred above."""
    widths = _widths(columns, rows)
    header, body = _header_and_body(columns, rows, widths)
    lines = [] if title is None else [_centre(title, _span(widths))]
    lines.append(header)
    lines.extend(body)
    return "\n".join(lines)


def _widths(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]]) -> list[int]:
    widths = [_width(h) for h, _ in columns]
    for k, cells in enumerate(zip(*rows)):
        widths[k] = max(widths[k], max(map(_width, cells)))
    return widths


def _span(widths: Sequence[int]) -> int:
    return sum(widths) + len(_GAP) * (len(widths) - 1)


def _header_and_body(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]],
                     widths: Sequence[int]) -> tuple[str, list[str]]:
    headers = [h for h, _ in columns]
    fmt = _GAP.join(f"{{:{'>' if right else '<'}{w}}}" for (_, right), w in zip(columns, widths))
    header = fmt.format(*headers) if all(map(str.isascii, headers)) else _padded(columns, widths, headers)
    # str.format pads by code points; a wide (CJK, emoji) cell needs padding by terminal cells.
    body = [fmt.format(*row) if "".join(row).isascii() else _padded(columns, widths, row) for row in rows]
    return header, body


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
