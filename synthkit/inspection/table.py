"""Rows with named columns, and the four ways `synthkit query` writes them.

A `Table` from the Python API holds a list of plain dicts; the command streams its rows from
the DB instead, so writing a million-row CSV holds one row at a time. `table` fits a terminal
(long cells cut with an ellipsis); `csv`, `jsonl` and `markdown` keep every value whole.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import shutil
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from synthkit.errors import SynthkitError

__all__ = ["FORMATS", "Table", "write_atomically", "write_tables"]

FORMATS = ("table", "csv", "jsonl", "markdown")
WIDTH_SAMPLE = 200  # rows read to size the columns of a terminal table
MIN_WIDTH = 8
MAX_HEADER = 24
ELLIPSIS = "…"


@attrs.define
class Table:
    """One view's rows: `columns` in order, `rows` as dicts keyed by them."""

    name: str
    columns: tuple[str, ...]
    rows: Iterable[dict[str, Any]]
    brief: tuple[str, ...] = ()  # the columns a terminal table shows (empty: all)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)  # type: ignore[arg-type]  # a list once materialised

    def materialised(self) -> Table:
        return attrs.evolve(self, rows=list(self.rows))

    def to_pandas(self) -> Any:
        """A pandas DataFrame of the rows (pandas is not a dependency of synthkit)."""
        try:
            import pandas
        except ImportError:
            raise SynthkitError("to_pandas() needs pandas: pip install pandas") from None
        return pandas.DataFrame(list(self.rows), columns=list(self.columns))


def _cell(value: Any) -> str:
    """A value for people: numbers to 4 significant digits, lists and maps as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, width: int) -> str:
    """Prose loses its end; a name or id (no spaces) its middle, where ids differ least."""
    if len(text) <= width:
        return text
    if " " in text or width < 5:
        return text[:max(width - 1, 0)] + ELLIPSIS
    head = (width - 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (width - 1 - head):]


def _fit(columns: Sequence[str], sample: list[dict[str, Any]], room: int) -> tuple[list[str], list[int]]:
    """The columns shown and their widths within `room` characters: the widest columns give way
    first, down to their header's width (at most MAX_HEADER; the first column, which names the
    row, keeps its width); columns that still do not fit are left out, from the right."""
    shown = list(columns)
    widths = [max([len(c), *(len(_one_line(_cell(row.get(c)))) for row in sample)]) for c in shown]
    floors = [widths[0], *(min(w, max(MIN_WIDTH, min(len(c), MAX_HEADER))) for c, w in zip(shown[1:], widths[1:]))]
    while len(shown) > 1 and sum(floors) + 2 * (len(shown) - 1) > room:
        shown.pop(), widths.pop(), floors.pop()
    excess = sum(widths) + 2 * (len(shown) - 1) - room
    while excess > 0:
        widest = max(range(len(widths)), key=lambda i: widths[i] - floors[i] and widths[i])
        if widths[widest] <= floors[widest]:
            break
        widths[widest] -= 1
        excess -= 1
    return shown, widths


def _write_text_table(table: Table, out: TextIO, room: int) -> int:
    rows = iter(table.rows)
    sample = list(itertools.islice(rows, WIDTH_SAMPLE))
    columns, widths = _fit([c for c in table.brief if c in table.columns] or table.columns, sample, room)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(_cut(_one_line(c), w).ljust(w) for c, w in zip(cells, widths)).rstrip()

    out.write(line(columns) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    count = 0
    for row in itertools.chain(sample, rows):
        out.write(line([_cell(row.get(c)) for c in columns]) + "\n")
        count += 1
    hidden = [c for c in table.columns if c not in columns]
    if hidden:
        note = (f"({count} row{'' if count == 1 else 's'}; not shown here: {', '.join(hidden)}: "
                "use query.format=csv, jsonl or markdown)")
        out.write(textwrap.fill(note, room) + "\n")
    return count


def _markdown_cell(value: Any) -> str:
    return _one_line(_cell(value)).replace("|", "\\|")


def _write_markdown(table: Table, out: TextIO) -> int:
    out.write("| " + " | ".join(table.columns) + " |\n")
    out.write("|" + "|".join("---" for _ in table.columns) + "|\n")
    count = 0
    for row in table.rows:
        out.write("| " + " | ".join(_markdown_cell(row.get(c)) for c in table.columns) + " |\n")
        count += 1
    return count


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def write_tables(tables: Sequence[Table], out: TextIO, fmt: str, *, room: int | None = None) -> int:
    """Write `tables` in `fmt`; returns the rows written. Several tables (the agreement view)
    are sections in `table` and `markdown`, and one stream with a `table` column in `csv` and
    `jsonl`, so a file stays one table a program can read."""
    if fmt not in FORMATS:
        raise SynthkitError(f"query.format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    several = len(tables) > 1
    if fmt in ("table", "markdown"):
        room = room or shutil.get_terminal_size((120, 24)).columns
        count = 0
        for number, table in enumerate(tables):
            if several:
                out.write(("\n" if number else "") + (f"## {table.name}\n\n" if fmt == "markdown"
                                                      else f"{table.name}\n"))
            count += _write_markdown(table, out) if fmt == "markdown" else _write_text_table(table, out, room)
        return count
    columns = list(dict.fromkeys(["table"] * several + [c for t in tables for c in t.columns]))
    rows = ((({"table": t.name} if several else {}) | row) for t in tables for row in t.rows)
    count = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False, default=str) + "\n")
            count += 1
        return count
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row.get(c)) for c in columns])
        count += 1
    return count


def write_atomically(path: Path, overwrite: bool, write: Any) -> int:
    """Call `write(handle)` on a temporary file beside `path`, then rename it into place: a
    failed or interrupted write leaves no partial file, and an existing file stays unless
    `overwrite`."""
    if path.is_dir():
        raise SynthkitError(f"query.output: {path} is a directory")
    if path.exists() and not overwrite:
        raise SynthkitError(f"{path} exists; set query.overwrite=true to replace it")
    if not path.parent.is_dir():
        raise SynthkitError(f"query.output: the folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            count = write(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def render(tables: Sequence[Table], fmt: str, room: int = 120) -> str:
    """The text `write_tables` would write (for tests and notebooks)."""
    out = io.StringIO()
    write_tables(tables, out, fmt, room=room)
    return out.getvalue()
