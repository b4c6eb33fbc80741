"""`synthkit judge` as a user runs it: exit codes, run directory, one-line mistakes."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3

import pytest

from tests.cli.test_cli import assert_one_line_error
from tests.conftest import SYNTH_AI_DB, tree
from tests.judge_server import JudgeServer, Reply, answer, requested_criteria
from tests.judging.conftest import RUBRICS


@pytest.fixture
def project(tmp_path, write):
    shutil.copy(SYNTH_AI_DB, tmp_path / "traces.db")
    write("rubrics/rubric_test.py", RUBRICS)
    return tmp_path


@pytest.fixture
def server():
    with JudgeServer() as running:
        yield running


def local(server, *more):
    return ("judge", "db.path=traces.db", "judge=local", f"judge.api_base={server.api_base}",
            "judge.model=openai/test-judge", "rubrics.include_defaults=false", *more)


def manifest(project):
    (run_dir,) = (project / "experiments" / "judge").iterdir()
    return json.loads((run_dir / "manifest.json").read_text())


def test_a_clean_run_exits_zero_and_records_its_totals(run_cli, project, server, monkeypatch):
    monkeypatch.setenv("SYNTHKIT_JUDGE_API_KEY", "sk-secret-test-key")
    result = run_cli(*local(server))
    assert result.exit_code == 0, result.err
    assert "graded 60 sessions: 240 criterion results written" in result.out
    assert "judge calls: 120 sent, 0 from the cache, 0 errors" in result.out
    found = manifest(project)
    assert found["status"] == "completed"
    assert (found["result"]["calls"], found["result"]["tokens_in"], found["result"]["errors"]) == (120, 12000, 0)
    assert {r["headers_key"] for r in server.requests} == {"Bearer sk-secret-test-key"}  # it was sent
    for path in project.rglob("*"):
        if path.is_file():
            assert b"sk-secret-test-key" not in path.read_bytes(), path


def test_errors_are_kept_with_the_run_directory_and_exit_one(run_cli, project, server):
    server.reply = lambda request: Reply("no json here") if "safe" in requested_criteria(request) \
        else Reply(answer(dict.fromkeys(requested_criteria(request), 0.5)))
    result = run_cli(*local(server, "judge.limit=5"))
    assert result.exit_code == 1
    assert result.err.strip() == ("synthkit judge: error: 5 criterion results ended in error (recorded; "
                                  "running the same command again retries them)")
    assert manifest(project)["status"] == "finished with errors"


def test_a_dead_judge_stops_early_with_exit_three(run_cli, project, server):
    server.reply = lambda request: Reply(status=404, body={"error": {"message": "no such model"}})
    result = run_cli(*local(server, "judge.batch_size=8", "judge.workers=1"))
    assert result.exit_code == 3
    assert result.err.startswith("synthkit judge: error: stopped early: most of the first judge calls failed "
                                 "(16 of 16: NotFoundError")
    assert len(server.requests) < 30


def test_a_cost_limit_one_batch_alone_passes_says_what_to_change(run_cli, project, server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    result = run_cli("judge", "db.path=traces.db", "judge=gpt-4o-mini", f"judge.api_base={server.api_base}",
                     "rubrics.include_defaults=false", "judge.max_cost_usd=0.0000001")
    assert result.exit_code == 3 and server.requests == []
    assert result.err.strip().endswith(
        "that batch alone passes it: raise judge.max_cost_usd or lower judge.batch_size "
        "(what was graded is kept, and the same command again does not grade it twice)")
    assert manifest(project)["result"]["calls"] == 0


def test_no_judge_needs_no_key_and_no_server(run_cli, project, server):
    result = run_cli("judge", "db.path=traces.db", "judge=none", "rubrics.include_defaults=false")
    assert result.exit_code == 0, result.err
    assert "judging with no judge (code criteria only)" in result.out and server.requests == []


def test_a_dry_run_writes_only_its_run_directory(run_cli, project, server):
    db_before = (project / "traces.db").read_bytes()
    result = run_cli(*local(server, "judge.dry_run=true"))
    assert result.exit_code == 0, result.err
    assert "judge calls needed: 120" in result.out and server.requests == []
    assert (project / "traces.db").read_bytes() == db_before


@pytest.mark.parametrize(("args", "fragment"), [
    (("db.path=missing.db",), "trace DB not found: missing.db"),
    (("judge.concurrency=0",), "judge.concurrency must be a whole number > 0, not 0"),
    (("judge.backend=ray",), "judge.backend must be one of threading, loky, dask, not 'ray'"),
    (("judge.refresh=yes",), "judge.refresh must be true or false, not 'yes'"),
    (("judge.splits=train",), "judge.splits must be a list"),
    (("judge.splits=[train,tset]",), "judge.splits: no session has task_split 'tset' (known: test, train, val)"),
    (("judge.policy_models=[gpt-5]",), "judge.policy_models: no session has model 'gpt-5' (known: "),
    (("rubrics.select=nothing_matches",), "no rubric selected by 'nothing_matches'"),
    (("+judge.api_key=sk-leak",), "judge.api_key: a secret on the command line would be saved with the run; "
     "keys come only from environment variables"),
    (("judge.model=",), "judge.model is empty"),
    (("judge.api_base=http://user:pw@127.0.0.1:9/v1",), "judge.api_base carries credentials"),
    (("judge.api_base=",), "judge.api_base must be an http(s) URL, not ''"),
    (("judge.api_base=localhost:8000/v1",), "judge.api_base must be an http(s) URL, not 'localhost:8000/v1'"),
    (("judge.api_base='http://127.0.0.1:9/v1?api_key=sk-leak'",), "judge.api_base carries credentials"),
    (("judge.backend=dask", "judge.dask.address=garbage"), "cannot reach the Dask scheduler at garbage"),
    (("judge.dask=null",), "judge.dask must be a map of keys to values, not None"),
])
def test_mistakes_are_one_line_and_leave_nothing(run_cli, project, server, args, fragment):
    before = tree(project)
    assert_one_line_error(run_cli(*local(server), *args), "synthkit judge: error:", fragment)
    assert tree(project) == before and server.requests == []


def test_a_malformed_trace_is_one_line_and_the_run_it_cut_short_is_kept(run_cli, project, server):
    with contextlib.closing(sqlite3.connect(project / "traces.db")) as conn, conn:
        conn.execute("UPDATE events SET call_records = '[{\"output_tool_calls\": [1]}]' WHERE id = "
                     "(SELECT min(id) FROM events WHERE call_records IS NOT NULL)")
    result = run_cli(*local(server))
    assert_one_line_error(result, "synthkit judge: error:", "cannot be read: call record 0 of event 1: "
                          "output_tool_calls[0] is not a JSON object", "is recorded as failed", code=1)
    assert manifest(project)["status"].startswith("failed: ")  # the DB changed: the run directory says how
    with contextlib.closing(sqlite3.connect(project / "traces.db")) as conn:
        assert conn.execute("SELECT status FROM judge_runs").fetchall() == [("failed",)]


def test_strict_and_a_missing_key(run_cli, project, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    before = tree(project)
    assert_one_line_error(run_cli("judge", "db.path=traces.db", "judge.strict=true",
                                  "rubrics.include_defaults=false"),
                          "judge gpt-4o-mini needs OPENAI_API_KEY, which is not set (judge.strict=true)")
    assert tree(project) == before
    result = run_cli("judge", "db.path=traces.db", "rubrics.include_defaults=false")
    assert result.exit_code == 0
    assert "judge criteria skipped: no API key: set OPENAI_API_KEY" in result.out
