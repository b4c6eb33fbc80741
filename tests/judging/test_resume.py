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


@pytest.mark.parametrize("answered_before_the_kill", [BATCH * 2, BATCH * 3],
                         ids=["between batches", "in the middle of a batch"])
def test_a_killed_run_resumes_and_each_criterion_is_judged_once(db, rubric_dir, server, tmp_path,
                                                                answered_before_the_kill):
    first_batch = answered_before_the_kill

    def reply(request):
        with server.lock:
            if server.promised >= first_batch:
                return Reply(hang=True)   # the rest never get their answers
            server.promised += 1
        return Reply(answer(dict.fromkeys(requested_criteria(request), 0.7)))

    server.promised = 0

    server.reply = reply
    process = subprocess.Popen(command(db, rubric_dir, server), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if judged(db) >= BATCH * 3 and len(server.requests) > first_batch and cached(db) == first_batch:
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"the first batch was not committed: {process.communicate()}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
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

    def reply(request):
        with server.lock:
            if server.promised >= answered_before_the_kill:
                return Reply(hang=True)
            server.promised += 1
        return Reply(answer(dict.fromkeys(requested_criteria(request), 0.7)))

    server.promised = 0
    server.reply = reply
    loky = [*command(db, rubric_dir, server), "judge.backend=loky", f"judge.batch_size={SESSIONS}"]
    process = subprocess.Popen(loky, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if cached(db) == answered_before_the_kill and len(server.requests) > answered_before_the_kill:
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail(f"the worker's answers never reached the cache: {process.communicate()}")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert judged(db) == 0   # the one batch never came back: its answers are only in the cache

    server.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.7)))
    done = subprocess.run(loky, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert server.answered == SESSIONS * 2, done.stdout   # none of the answers in the cache asked again
    assert query(db, "SELECT count(*) FROM judge_scores") == [(SESSIONS * 4,)], done.stdout
