"""Reading judge scores per session and key: judge choice, latest versions, metadata keys."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import timedelta

import attrs
import pytest

from synthkit.traces.scores import latest_overall, overall, score_index
from synthkit.traces.store import TraceWriter
from tests.factories import T0, make_session

RUNS = [("r1", "2026-05-01T00:00:00+00:00", "judge-a"), ("r2", "2026-05-02T00:00:00+00:00", "judge-b")]


def add_scores(writer: TraceWriter) -> None:
    db = writer.db
    for run_id, started, model in RUNS:
        db["judge_runs"].insert({"run_id": run_id, "started_at": started, "status": "completed",
                                 "judge_model": model})
    rows, rubric_rows = [], []

    def score(session, rubric, version, criterion, kind, model, value, run, at):
        rows.append({"session_id": session, "run_id": run, "rubric_id": rubric, "rubric_version": version,
                     "criterion": criterion, "kind": kind, "judge_model": model, "score": value,
                     "outcome": "passed", "created_at": at})

    def primary(session, rubric, version, model, weight, value, error, at):
        rubric_rows.append({"session_id": session, "rubric_id": rubric, "rubric_version": version,
                            "judge_model": model, "weight": weight, "score": value, "error": error,
                            "created_at": at})

    # version v1 of RubricA, graded first, then v2 by two judges; RubricB is code only
    score("s1", "RubricA", "v1", "plan", "judge", "judge-a", 0.1, "r1", "2026-05-01T01:00:00")
    primary("s1", "RubricA", "v1", "judge-a", 1.0, 0.1, None, "2026-05-01T01:00:00")
    for session, a, b in (("s1", 0.9, 0.3), ("s2", 0.5, 0.7)):
        score(session, "RubricA", "v2", "plan", "judge", "judge-a", a, "r1", "2026-05-01T02:00:00")
        primary(session, "RubricA", "v2", "judge-a", 1.0, a, None, "2026-05-01T02:00:00")
        score(session, "RubricA", "v2", "plan", "judge", "judge-b", b, "r2", "2026-05-02T02:00:00")
        primary(session, "RubricA", "v2", "judge-b", 1.0, b, None, "2026-05-02T02:00:00")
    score("s1", "RubricB", "w1", "facts", "code", "code", 1.0, "r2", "2026-05-02T02:00:00")
    primary("s1", "RubricB", "w1", "code", 3.0, 1.0, None, "2026-05-02T02:00:00")
    score("s2", "RubricB", "w1", "facts", "code", "code", None, "r2", "2026-05-02T02:00:00")
    primary("s2", "RubricB", "w1", "code", 3.0, None, "criteria ended in error: facts", "2026-05-02T02:00:00")
    db["judge_scores"].insert_all(rows)
    db["rubric_scores"].insert_all(rubric_rows)


@pytest.fixture
def conn(tmp_path):
    path = tmp_path / "scores.db"
    with TraceWriter.open(path, create=True) as writer:
        for number, name in enumerate(("s1", "s2", "s3")):
            writer.write_session(make_session(name, created_at=T0 + timedelta(minutes=number)))
        add_scores(writer)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        yield connection


SESSIONS = [("s1", {"judge_scores": {"quality": 0.8}}), ("s2", {"judge_scores": {"quality": "high"}}),
            ("s3", {})]


def test_the_latest_judge_and_versions_count(conn):
    index = score_index(conn)
    assert index.judge_model == "judge-b" and index.judge_models == ("judge-a", "judge-b")
    assert index.versions == {"RubricA": "v2", "RubricB": "w1"}
    assert index.stale == {"RubricA": {"v1": 1}}
    assert index.known_keys() == ["RubricA", "RubricA.plan", "RubricB", "RubricB.facts", "primary", "quality"]
    scores = index.scores(conn, SESSIONS, ["primary", "RubricA", "RubricA.plan", "RubricB.facts", "quality"])
    assert scores["s1"] == {"quality": 0.8, "primary": pytest.approx((0.3 + 3 * 1.0) / 4), "RubricA": 0.3,
                            "RubricA.plan": 0.3, "RubricB.facts": 1.0}
    assert scores["s2"] == {"quality": None, "primary": None, "RubricA": 0.7, "RubricA.plan": 0.7,
                            "RubricB.facts": None}  # a rubric in error leaves no overall
    assert scores["s3"] == dict.fromkeys(["quality", "primary", "RubricA", "RubricA.plan", "RubricB.facts"])


def test_a_session_graded_only_by_an_older_version_has_no_overall(tmp_path):
    with TraceWriter.open(tmp_path / "scores.db", create=True) as writer:
        for number, name in enumerate(("s1", "s2", "s3")):
            writer.write_session(make_session(name, created_at=T0 + timedelta(minutes=number)))
        add_scores(writer)
        writer.db["rubric_scores"].insert_all([   # s3: RubricA only at v1, RubricB at its latest
            {"session_id": "s3", "rubric_id": "RubricA", "rubric_version": "v1", "judge_model": "judge-b",
             "weight": 1.0, "score": 0.2, "error": None, "created_at": "2026-05-02T03:00:00"},
            {"session_id": "s3", "rubric_id": "RubricB", "rubric_version": "w1", "judge_model": "code",
             "weight": 3.0, "score": 1.0, "error": None, "created_at": "2026-05-02T03:00:00"}])
        conn = writer.db.conn
        scores = score_index(conn).scores(conn, [("s1", {}), ("s3", {})], ["primary", "RubricA", "RubricB"])
        assert scores["s3"] == {"primary": None, "RubricA": None, "RubricB": 1.0}
        assert scores["s1"]["primary"] == pytest.approx((0.3 + 3 * 1.0) / 4)   # v1 and v2: v2 counts


def test_the_overall_counts_latest_versions_and_none_from_a_rubric_left_at_an_older_one():
    versions = {"A": "v2", "B": "w1"}
    old_a, new_a, b = ("A", "v1", 1.0, 0.1, None), ("A", "v2", 1.0, 0.5, None), ("B", "w1", 3.0, 1.0, None)
    assert latest_overall([old_a, b], versions) is None   # what the judge runner writes in metadata too
    assert latest_overall([old_a, new_a, b], versions) == pytest.approx((0.5 + 3.0) / 4)
    assert latest_overall([b], versions) == 1.0           # A never graded on this session: B alone


def test_metadata_scores_are_numbers_or_text_holding_one(tmp_path):
    with TraceWriter.open(tmp_path / "plain.db", create=True) as writer:
        writer.write_session(make_session("s1"))
        conn = writer.db.conn
        values = [0.5, "0.9", " 1 ", "high", True, None, float("nan"), "inf", [0.5]]
        sessions = [(f"s{i}", {"judge_scores": {"quality": value}}) for i, value in enumerate(values)]
        scores = score_index(conn).scores(conn, sessions, ["quality"])
        assert [scores[f"s{i}"]["quality"] for i in range(len(values))] == [
            0.5, 0.9, 1.0, None, None, None, None, None, None]


def test_older_versions_are_read_only_through_pinned_keys(conn):
    index = score_index(conn, "judge-a")
    assert index.stale_keys == {"RubricA@v1", "RubricA@v1.plan"}
    assert "RubricA@v1" not in index.known_keys()
    scores = index.scores(conn, SESSIONS[:2], ["RubricA@v1", "RubricA@v1.plan", "RubricA", "primary"])
    assert scores["s1"] == {"RubricA@v1": 0.1, "RubricA@v1.plan": 0.1, "RubricA": 0.9,
                            "primary": pytest.approx((0.9 + 3 * 1.0) / 4)}  # v1 never mixes into the overall
    assert scores["s2"]["RubricA@v1"] is None and scores["s2"]["RubricA"] == 0.5


def test_another_judge_can_be_chosen_and_an_unknown_one_is_named(conn):
    index = score_index(conn, "judge-a")
    assert index.scores(conn, SESSIONS[:1], ["RubricA"]) == {"s1": {"RubricA": 0.9}}
    with pytest.raises(ValueError, match=r"'judge-c' has no judge results in this DB \(judge models: judge-a, judge-b\)"):
        score_index(conn, "judge-c")


def test_a_db_without_judge_tables_reads_the_metadata(tmp_path):
    with TraceWriter.open(tmp_path / "plain.db", create=True) as writer:
        writer.write_session(make_session("s1"))
        writer.db.execute("DROP TABLE judge_scores")
        conn = writer.db.conn
        index = score_index(conn)
        assert index.known_keys() == ["quality"] and index.judge_model is None
        assert index.scores(conn, SESSIONS[:1], ["quality"]) == {"s1": {"quality": 0.8}}


def test_judge_scores_that_are_not_a_map_are_not_keys(tmp_path):
    with TraceWriter.open(tmp_path / "odd.db", create=True) as writer:
        writer.write_session(make_session("s1"))
        odd = make_session("s2")
        writer.write_session(attrs.evolve(odd, metadata={**odd.metadata, "judge_scores": [0.5, "x"]}))
        assert score_index(writer.db.conn).known_keys() == ["quality"]


def test_overall_is_the_weighted_mean_and_missing_on_any_error():
    assert overall([(1.0, 0.5, None), (3.0, 1.0, None), (2.0, None, None)]) == pytest.approx(0.875)
    assert overall([(1.0, 0.5, None), (1.0, None, "boom")]) is None
    assert overall([]) is None and overall([(0.0, 0.5, None)]) is None
