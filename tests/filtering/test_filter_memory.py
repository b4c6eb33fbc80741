"""The filter streams: its peak memory hardly grows with the number of sessions it exports."""

from __future__ import annotations

import tracemalloc

import attrs
import pytest

from synthkit.filtering.export import run_filter
from synthkit.filtering.spec import FilterSpec
from synthkit.traces.store import TraceWriter
from tests.factories import make_session

pytestmark = pytest.mark.slow


def build(path, sessions: int):
    base = make_session()
    with TraceWriter.open(path, create=True) as writer, writer.transaction():
        for i in range(sessions):
            # distinct conversations, so every session's example is written (no dedup)
            call = attrs.evolve(base.events[0].lm_calls[0], input_messages=(
                *base.events[0].lm_calls[0].input_messages[:-1], attrs.evolve(
                    base.events[0].lm_calls[0].input_messages[-1], content=f"observation {i} " * 20)))
            writer.write_session(attrs.evolve(base, session_id=f"s{i:05d}", events=(
                attrs.evolve(base.events[0], lm_calls=(call,)), *base.events[1:])))
    return path


def peak_filtering(path, out) -> int:
    run_filter(path, FilterSpec(), out)  # once first: the tokenizer and imports load outside the measure
    out.unlink()
    tracemalloc.start()
    try:
        result = run_filter(path, FilterSpec(val_fraction=0.1), out)  # as the command runs it
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.examples == result.stats["sessions"]["seen"]
    return peak


def test_peak_memory_is_flat_in_the_number_of_sessions(tmp_path):
    small = peak_filtering(build(tmp_path / "small.db", 400), tmp_path / "small.jsonl")
    large = peak_filtering(build(tmp_path / "large.db", 4000), tmp_path / "large.jsonl")
    # Ten times the sessions; holding their examples would take about ten times the memory.
    # What grows is one small record per kept session (its id, reward and part) and the
    # 16-byte digest of each example written, for dedup.
    assert large < small * 1.5, (small, large)
    assert (large - small) / 3600 < 400, (small, large)
