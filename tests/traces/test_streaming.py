"""Reading streams: peak memory does not grow with the number of sessions in the DB."""

from __future__ import annotations

import tracemalloc

import attrs
import pytest

from synthkit import TraceStore
from synthkit.traces.store import TraceWriter
from tests.factories import make_session

pytestmark = pytest.mark.slow


def build(path, sessions: int):
    base = make_session()
    with TraceWriter.open(path, create=True) as writer, writer.transaction():
        for i in range(sessions):
            writer.write_session(attrs.evolve(base, session_id=f"s{i:05d}"))
    return path


def peak_reading_all(path) -> int:
    with TraceStore.open(path) as store:
        tracemalloc.start()
        try:
            read = sum(1 for _ in store.sessions())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert read == store.count_sessions()
    return peak


def test_peak_memory_is_flat_in_the_size_of_the_db(tmp_path):
    small = peak_reading_all(build(tmp_path / "small.db", 300))
    large = peak_reading_all(build(tmp_path / "large.db", 3000))
    # Ten times the sessions; a reader that held them all would need about ten times the memory.
    assert large < small * 1.5, (small, large)
