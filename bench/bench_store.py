"""Trace store throughput: sessions written and read per second, against plain sqlite3.

The baseline in the same run is the floor any reader pays: fetching the same rows with plain
sqlite3 and no model objects. Run: python bench/bench_store.py [sessions]
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from synthkit import TraceStore  # noqa: E402
from synthkit.traces.store import TraceWriter  # noqa: E402
from tests.factories import make_session  # noqa: E402

TABLES = ("session_traces", "session_timesteps", "events", "event_rewards", "messages", "outcome_rewards")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(sessions: int) -> None:
    path = Path(tempfile.mkdtemp()) / "bench.db"
    base = make_session()

    def write() -> None:
        with TraceWriter.open(path, create=True) as writer, writer.transaction():
            for i in range(sessions):
                writer.write_session(attrs.evolve(base, session_id=f"s{i:07d}"))

    def read() -> None:
        with TraceStore.open(path) as store:
            assert sum(1 for _ in store.sessions()) == sessions

    def baseline() -> None:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            for table in TABLES:
                for _ in conn.execute(f"SELECT * FROM {table} ORDER BY session_id"):
                    pass

    w, r, b = timed(write), timed(read), timed(baseline)
    size = path.stat().st_size / 1e6
    print(f"{sessions} sessions, {size:.1f} MB")
    print(f"write  TraceWriter.write_session     {sessions / w:10,.0f} sessions/s")
    print(f"read   TraceStore.sessions           {sessions / r:10,.0f} sessions/s")
    print(f"read   plain sqlite3 rows (baseline) {sessions / b:10,.0f} sessions/s  "
          f"(TraceStore costs {r / b:.1f}x the baseline)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
