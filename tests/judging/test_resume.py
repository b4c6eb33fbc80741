"""Killing `synthkit judge` (SIGKILL) and running it again: no judgment lost or made twice."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.judge_server import Reply, answer, requested_criteria

pytestmark = pytest.mark.slow
SESSIONS, BATCH = 60, 10


def command(db, rubric_dir, server):
    return [sys.executable, "-c", "from synthkit.cli import console; console()", "judge", f"db.path={db}",
            "judge=local", f"judge.api_base={server.api_base}", "judge.model=openai/test-judge",
            f"rubrics.paths=[{rubric_dir}]", "rubrics.include_defaults=false", "judge.workers=1",
            f"judge.batch_size={BATCH}", "judge.concurrency=4"]


def query(db, sql: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def judged(db) -> int:
    if not query(db, "SELECT 1 FROM sqlite_master WHERE name = 'judge_scores'"):
        return 0
    return query(db, "SELECT count(*) FROM judge_scores WHERE kind = 'judge'")[0][0]


def cached(db) -> int:
    if not query(db, "SELECT 1 FROM sqlite_master WHERE name = 'judge_cache'"):
        return 0
    return query(db, "SELECT count(*) FROM judge_cache")[0][0]


def answer_then_hang(server, answers: int) -> None:
    """The server answers the first `answers` requests; the rest never get an answer."""
    server.promised = 0

    def reply(request):
        with server.lock:
            if server.promised >= answers:
                return Reply(hang=True)
            server.promised += 1
        return Reply(answer(dict.fromkeys(requested_criteria(request), 0.7)))

    server.reply = reply


def kill_when(run: list[str], cwd, ready, what: str, seconds: float = 60) -> None:
    """Start `run` and SIGKILL it, workers and all, as soon as `ready()`."""
    process = subprocess.Popen(run, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{what}: {process.communicate()}")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.parametrize("answered_before_the_kill", [BATCH * 2, BATCH * 3],
                         ids=["between batches", "in the middle of a batch"])
def test_a_killed_run_resumes_and_each_criterion_is_judged_once(db, rubric_dir, server, tmp_path,
                                                                answered_before_the_kill):
    first_batch = answered_before_the_kill
    answer_then_hang(server, first_batch)
    kill_when(command(db, rubric_dir, server), tmp_path, lambda: judged(db) >= BATCH * 3 and len(
        server.requests) > first_batch and cached(db) == first_batch, "the first batch was not committed")
    assert server.answered == first_batch and judged(db) == BATCH * 3   # one batch committed

    server.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.7)))
    done = subprocess.run(command(db, rubric_dir, server), cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert server.answered == SESSIONS * 2, done.stdout      # each (session, rubric) answered once
    duplicates = query(db, "SELECT count(*) FROM (SELECT 1 FROM judge_scores GROUP BY session_id, "
                           "rubric_id, rubric_version, criterion, judge_model HAVING count(*) > 1)")
    assert duplicates == [(0,)]
    assert query(db, "SELECT count(*) FROM judge_scores") == [(SESSIONS * 4,)], done.stdout
    statuses = [r[0] for r in query(db, "SELECT status FROM judge_runs ORDER BY started_at")]
    assert statuses == ["running", "completed"]              # the killed run never finished


def test_a_killed_loky_run_keeps_what_its_worker_processes_were_answered(db, rubric_dir, server, tmp_path):
    answered_before_the_kill = 15
    answer_then_hang(server, answered_before_the_kill)
    loky = [*command(db, rubric_dir, server), "judge.backend=loky", f"judge.batch_size={SESSIONS}"]
    kill_when(loky, tmp_path, lambda: cached(db) == answered_before_the_kill and len(
        server.requests) > answered_before_the_kill, "the worker's answers never reached the cache", seconds=90)
    assert judged(db) == 0   # the one batch never came back: its answers are only in the cache

    server.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.7)))
    done = subprocess.run(loky, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert server.answered == SESSIONS * 2, done.stdout   # none of the answers in the cache asked again
    assert query(db, "SELECT count(*) FROM judge_scores") == [(SESSIONS * 4,)], done.stdout
