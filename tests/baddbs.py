"""Files at a trace DB's path that are not a DB synthkit can read, each broken in its own way."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from synthkit.traces import schema
from synthkit.traces.store import TraceWriter
from tests.factories import make_session


def _execute(path: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for statement in statements:
            conn.execute(statement)


def valid(path: Path) -> None:
    with TraceWriter.open(path, create=True) as writer:
        writer.write_session(make_session())


def corrupt(path: Path) -> None:
    valid(path)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))


def not_a_trace_db(path: Path) -> None:
    _execute(path, "CREATE TABLE notes (x)")


def future_version(path: Path) -> None:
    valid(path)
    _execute(path, "UPDATE synthkit_meta SET value = '99'")


def missing_column(path: Path) -> None:
    _execute(path, *(ddl.replace("call_records TEXT,", "") if table == "events" else ddl
                     for table, ddl in schema.V3_TABLES.items()))


def dropped_judge_table(path: Path) -> None:
    valid(path)
    _execute(path, "DROP TABLE judge_runs")
