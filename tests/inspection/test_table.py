"""Writing tables: terminal tables fit, the file formats keep every value whole."""

from __future__ import annotations

import csv
import io
import json

from synthkit.inspection.table import Table, _cut, render

TRICKY = 'a, "quoted" — 日本語\nsecond | line'


def table(rows=None, brief=()):
    rows = rows if rows is not None else [
        {"session_id": "session_0123456789abcdef", "score": 0.123456, "ok": True, "reasoning": TRICKY * 5,
         "tags": ["x", "y"], "missing": None}]
    return Table("t", ("session_id", "score", "ok", "reasoning", "tags", "missing"), rows, brief)


def test_a_terminal_table_fits_its_width_and_marks_what_it_cut():
    text = render([table()], "table", room=60)
    lines = text.splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert lines[0].startswith("session_id") and "session_0123456789abcdef" in lines[2]  # the row's name stays whole
    assert "…" in lines[2] and "\n" not in lines[2] and "0.1235" in lines[2]


def test_columns_that_cannot_fit_are_named_below_the_table():
    text = render([table(brief=("session_id", "score", "reasoning"))], "table", room=45)
    assert " ".join(text.splitlines()[3:]) == ("(1 row; not shown here: ok, tags, missing: use query.format=csv, "
                                               "jsonl or markdown)")
    narrow = render([table()], "table", room=30)
    assert "not shown here" in narrow and all(len(line) <= 30 for line in narrow.splitlines())


def test_ids_lose_their_middle_and_prose_its_end():
    assert _cut("RubricCrafterReaches-make_wood_pickaxe", 15) == "RubricC…pickaxe"
    assert _cut("the agent plans well", 10) == "the agent…"
    assert _cut("short", 10) == "short"


def test_csv_round_trip_keeps_quoting_newlines_and_non_ascii():
    text = render([table()], "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["session_id", "score", "ok", "reasoning", "tags", "missing"]
    assert rows[0]["reasoning"] == TRICKY * 5 and rows[0]["score"] == "0.123456"
    assert rows[0]["tags"] == '["x", "y"]' and rows[0]["missing"] == "" and rows[0]["ok"] == "true"


def test_jsonl_and_markdown():
    line = json.loads(render([table()], "jsonl"))
    assert line["reasoning"] == TRICKY * 5 and line["missing"] is None and line["tags"] == ["x", "y"]
    markdown = render([table()], "markdown").splitlines()
    assert markdown[0] == "| session_id | score | ok | reasoning | tags | missing |" and len(markdown) == 3
    assert "second \\| line" in markdown[2] and TRICKY.split("\n")[0] in markdown[2]


def test_several_tables_are_sections_or_one_stream_with_a_table_column():
    first = Table("first", ("a",), [{"a": 1}])
    second = Table("second", ("b",), [{"b": 2}])
    assert render([first, second], "table").splitlines()[0] == "first"
    assert "## second" in render([first, second], "markdown")
    assert list(csv.reader(io.StringIO(render([first, second], "csv")))) == [
        ["table", "a", "b"], ["first", "1", ""], ["second", "", "2"]]
