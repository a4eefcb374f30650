"""Tables as zeb prints them: on a terminal a FitTable that fits its width (labels whole, a row that does
not fit wrapped under its label), fixed-width text otherwise; shared widths so several tables keep one
layout; blank columns left out; the state colours."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

_GAP = "  "   # what rich's box=None, pad_edge=False table puts between columns


def print_table(console, columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                title: str | None = None, widths: Sequence[int] | None = None,
                styles: Styles | None = None) -> None:
    """`columns` are (header, right-justified); cells are text, never markup. On a terminal the table fits
    the width (see FitTable); piped it is one line per row, never wrapped: columns stay where scripts cut them.
    `widths` are each column's least width (one layout for several tables: table_widths); `styles` colours
    cells by column header (a rich style name per cell text), on a terminal that has colour only: the
    console decides (NO_COLOR, piped, TERM=dumb)."""
    rows = [row if _printable(row) else [_clean(c) for c in row] for row in rows]
    if console.is_terminal:
        # Not cropped: a row wider than the terminal even when stacked (--wide) wraps there, whole.
        console.print(FitTable(columns, rows, title=title, widths=widths, styles=styles), crop=False)
        return
    console.out(plain_table(columns, rows, title=title, widths=widths), highlight=False)


# Per column header, the rich style of a cell given its text (None: plain).
Styles = Mapping[str, Callable[[str], "str | None"]]
_Piece = tuple[str, "str | None"]


class FitTable:
    """A table that fits the width it is drawn at, without truncating or folding a cell: one line per row
    when that fits; otherwise each row's first cell (the label) on a line of its own and the other cells
    below it, indented, as many columns to a line as fit. Cells are text (a label is never markup); the
    header is bold, cells are coloured per `styles`. Drawn from the width at render time, so rich.live
    re-lays it out when the terminal is resized."""

    def __init__(self, columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                 title: str | None = None, widths: Sequence[int] | None = None,
                 styles: Styles | None = None) -> None:
        self.columns, self.title = list(columns), title
        self.rows = [row if _printable(row) else [_clean(c) for c in row] for row in rows]
        self.widths = _widths(self.columns, self.rows, widths)
        self.styles = styles or {}

    def lines(self, width: int) -> list[tuple[str, bool]]:
        """(text, is_header) per line, laid out for `width` columns."""
        return [("".join(text for text, _ in pieces), header) for pieces, header in self.layout(width)]

    def layout(self, width: int) -> list[tuple[list[_Piece], bool]]:
        """Per line, its pieces of text with their styles (trailing blanks dropped), and whether it is a header."""
        widths = self.widths
        if _span(widths) <= width or len(self.columns) < 2:
            out = self._block(list(range(len(self.columns))), "")
        else:
            out = self._stacked(width)
        if self.title is not None:
            top = min(width, max(_width("".join(t for t, _ in pieces)) for pieces, _ in out))
            out.insert(0, ([(_centre(self.title, top).rstrip(), None)], False))
        return out

    def _block(self, cols: list[int], indent: str) -> list[tuple[list[_Piece], bool]]:
        header = _pieces([self.columns[j] for j in cols], [self.widths[j] for j in cols],
                         [self.columns[j][0] for j in cols], [None] * len(cols), indent)
        return [(header, True)] + [(self._row_pieces(row, cols, indent), False) for row in self.rows]

    def _row_pieces(self, row: Sequence[str], cols: list[int], indent: str) -> list[_Piece]:
        styles = [self._style(j, row[j]) for j in cols]
        return _pieces([self.columns[j] for j in cols], [self.widths[j] for j in cols], [row[j] for j in cols],
                       styles, indent)

    def _style(self, col: int, cell: str) -> str | None:
        fn = self.styles.get(self.columns[col][0])
        return None if fn is None else fn(cell)

    def _stacked(self, width: int) -> list[tuple[list[_Piece], bool]]:
        widths = self.widths
        chunks: list[list[int]] = [[]]      # column indexes per detail line, packed greedily
        for k in range(1, len(self.columns)):
            if chunks[-1] and len(_INDENT) + _span([widths[j] for j in chunks[-1] + [k]]) > width:
                chunks.append([])
            chunks[-1].append(k)
        out: list[tuple[list[_Piece], bool]] = [([(self.columns[0][0], None)], True)]
        out += [(_pieces([self.columns[j] for j in chunk], [widths[j] for j in chunk],
                         [self.columns[j][0] for j in chunk], [None] * len(chunk), _INDENT), True)
                for chunk in chunks]
        for row in self.rows:
            out.append(([(row[0], self._style(0, row[0]))], False))
            out.extend((self._row_pieces(row, chunk, _INDENT), False) for chunk in chunks)
        return out

    def __rich_console__(self, console, options):
        from rich.segment import Segment
        from rich.style import Style

        bold = Style(bold=True)
        for pieces, header in self.layout(options.max_width):
            for text, style in pieces:
                if header:
                    yield Segment(text, bold if text.strip() else None)
                else:
                    yield Segment(text, console.get_style(style) if style else None)
            yield Segment.line()


_INDENT = "  "


def plain_table(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]], *,
                title: str | None = None, widths: Sequence[int] | None = None) -> str:
    """The layout of rich's Table(box=None, pad_edge=False) when it fits, in one pass over the cells:
    the header, then one line per row, widths from the widest cell (or `widths`, if wider); a title centred
    above (no trailing spaces: how rich writes a line's trailing spaces differs between its versions)."""
    widths = _widths(columns, rows, widths)
    header, body = _header_and_body(columns, rows, widths)
    lines = [] if title is None else [_centre(title, _span(widths)).rstrip()]
    lines.append(header)
    lines.extend(body)
    return "\n".join(lines)


def table_widths(columns: Sequence[tuple[str, bool]], *tables: Sequence[Sequence[str]]) -> list[int]:
    """Each column's width over several tables' rows: passed as `widths`, they share one layout."""
    return _widths(columns, [row for rows in tables for row in rows])


def blank_columns(columns: Sequence[tuple[str, bool]], *tables: Sequence[Sequence[str]],
                  blank: str = "-") -> set[int]:
    """Indexes of the columns whose every cell, in every table, is `blank` (nothing probed or recorded):
    a table may leave them out. The first column (the label) is never blank; nor is any with no rows."""
    rows = [row for t in tables for row in t]
    if not rows:
        return set()
    return {k for k in range(1, len(columns)) if all(row[k] == blank for row in rows)}


def without(items: Sequence, drop: set[int]) -> list:
    """`items` (columns, or one row's cells) but those at the indexes in `drop`."""
    return [x for k, x in enumerate(items) if k not in drop]


_STATE_COLOURS = {"error": "red", "stalled": "yellow", "producing": "green"}


def state_style(cell: str) -> str | None:
    """The colour of a state cell (status and the dashboard): error red, stalled yellow, producing green;
    a producing worker whose examples stopped reaching the hub is yellow."""
    if "(no examples)" in cell:
        return "yellow"
    return _STATE_COLOURS.get(cell.split(" ", 1)[0])


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 instance`, `2 instances`: a count and its noun, in the right number."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _widths(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]],
            least: Sequence[int] | None = None) -> list[int]:
    widths = [_width(h) for h, _ in columns]
    for k, cells in enumerate(zip(*rows)):
        widths[k] = max(widths[k], max(map(_width, cells)))
    if least is not None:
        widths = [max(w, m) for w, m in zip(widths, least)]
    return widths


def _span(widths: Sequence[int]) -> int:
    return sum(widths) + len(_GAP) * (len(widths) - 1)


def _pad(cell: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(cell))
    return fill + cell if right else cell + fill


def _pieces(columns: Sequence[tuple[str, bool]], widths: Sequence[int], cells: Sequence[str],
            styles: Sequence[str | None], indent: str) -> list[_Piece]:
    # Padding is never styled (a coloured cell does not colour its blanks); the line ends at its last text.
    out: list[_Piece] = [(indent, None)] if indent else []
    for k, ((_, right), w, cell, style) in enumerate(zip(columns, widths, cells, styles)):
        fill = " " * (w - _width(cell))
        lead = (_GAP if k else "") + (fill if right else "")
        if lead:
            out.append((lead, None))
        out.append((cell, style))
        if not right:
            out.append((fill, None))
    while out and not out[-1][0].strip():
        out.pop()
    if out:
        text, style = out[-1]
        out[-1] = (text.rstrip(), style)
    return out


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
