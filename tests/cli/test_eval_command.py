"""`synthkit eval` and `synthkit pipeline` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from synthkit.errors import SynthkitError
from synthkit.traces.model import Event, EventType, Session, Timestep
from tests.cli.test_cli import assert_one_line_error
from tests.judge_server import JudgeServer, Reply, answer, requested_criteria


def sessions(db):
    conn = sqlite3.connect(db)
    try:
        return {sid: json.loads(meta) for sid, meta in conn.execute("SELECT session_id, metadata FROM session_traces")}
    finally:
        conn.close()


def count(db, table, where="1=1"):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
    finally:
        conn.close()


def test_eval_records_each_seed_once(run_cli, tmp_path):
    first = run_cli("eval", "db.path=t.db", 'eval.seeds="0-1,5"', "eval.max_steps=30")
    assert first.exit_code == 0, first.err
    assert "created trace DB t.db" in first.out and "episodes: 3 played (0 failed)" in first.out
    recorded = sessions(tmp_path / "t.db")
    assert sorted(m["seed"] for m in recorded.values()) == [0, 1, 5]
    metadata = next(iter(recorded.values()))
    assert {k: metadata[k] for k in ("task_id", "task_split", "model", "env_name", "policy_name", "status")} == {
        "task_id": "crafter", "task_split": "train", "model": "scripted", "env_name": "crafter",
        "policy_name": "scripted", "status": "completed"}
    assert metadata["eval"]["config"]["policy"] == {"name": "scripted", "epsilon": 0.2, "error_rate": 0.2}
    assert metadata["eval"]["config"]["eval"]["max_steps"] == 30 and metadata["eval"]["config"]["judge"]["model"] is None
    assert count(tmp_path / "t.db", "judge_scores", "judge_model = 'code'") > 0  # graded inline (code criteria)
    again = run_cli("eval", "db.path=t.db", 'eval.seeds="0-2"', "eval.max_steps=30")
    assert again.exit_code == 0 and "skipped 2 seeds already recorded" in again.out
    assert len(sessions(tmp_path / "t.db")) == 4
    other_rubrics = run_cli("eval", "db.path=t.db", "eval.seeds=[0]", "eval.max_steps=30", "task.rubrics=math")
    assert other_rubrics.exit_code == 0 and "skipped 1 seeds already recorded" in other_rubrics.out  # same episode
    rerun = run_cli("eval", "db.path=t.db", "eval.seeds=[0]", "eval.max_steps=30", "eval.rerun=true")
    assert rerun.exit_code == 0 and len(sessions(tmp_path / "t.db")) == 5
    (manifest,) = [json.loads(p.read_text()) for p in sorted((tmp_path / "experiments" / "eval").glob("*/manifest.json"))
                   if json.loads(p.read_text())["result"]["episodes"] == 3]
    assert manifest["result"]["seeds"] == 3 and manifest["db"]["rows"]["sessions"] == 3


def test_a_policy_that_fails_is_one_line_per_seed_and_a_failed_exit(run_cli, tmp_path):
    with JudgeServer() as server:
        server.reply = lambda request: Reply(status=400, body={"error": {"message": "no such model"}})
        result = run_cli("eval", "db.path=t.db", "task=math", "policy=litellm", "policy.model=openai/nothing",
                         f"policy.api_base={server.api_base}", "policy.placeholder_key=true", "eval.seeds=[0,1]")
    assert result.exit_code == 1
    assert result.err.strip().endswith("2 of 2 episodes failed (stored as failed sessions with their errors)")
    assert result.out.count("failed: RuntimeError: the policy's LM call failed: BadRequestError") == 2
    assert {m["status"] for m in sessions(tmp_path / "t.db").values()} == {"failed"}
    assert count(tmp_path / "t.db", "judge_scores") == 0  # failed episodes are not graded


@pytest.mark.parametrize(("part", "fragment"), [
    ({"events": (Event(EventType.ENVIRONMENT, step_id="no-such-step", reward=1.0),)}, "has no timestep 'no-such-step'"),
    ({"timesteps": (Timestep("t0", index=10**30),)}, "OverflowError"),
])
def test_an_episode_the_db_cannot_take_is_stored_as_failed(tmp_path, part, fragment):
    from synthkit.cli.eval import _store
    from synthkit.traces.store import TraceWriter

    broken = Session("s1", datetime.now(UTC), {"seed": 1}, **part)
    with TraceWriter.open(tmp_path / "t.db", create=True) as writer:
        stored = _store(writer, broken)
    assert stored.status.value == "failed" and fragment in stored.metadata["error"]
    assert sessions(tmp_path / "t.db")["s1"]["status"] == "failed" and count(tmp_path / "t.db", "events") == 0


def test_math_with_a_judge_inline(run_cli, tmp_path):
    with JudgeServer() as server:
        server.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.9)))
        result = run_cli("eval", "db.path=t.db", "task=math", "eval.seeds=[0,1,2]", "judge=local",
                         f"judge.api_base={server.api_base}")
    assert result.exit_code == 0, result.err
    assert len(server.requests) == 3 and "3 judge calls, 0 errors" in result.out
    assert count(tmp_path / "t.db", "judge_scores", "kind = 'judge' AND score = 0.9") == 3
    assert count(tmp_path / "t.db", "judge_scores", "rubric_id = 'RubricMathAnswer' AND criterion = 'correct'") == 3


@pytest.mark.parametrize(("args", "fragment"), [
    (('eval.seeds="3-1"',), "eval.seeds: the range '3-1' runs backwards"),
    (("task.name=chess",), "task.name must be one of crafter, math, taskapp"),
    (("policy.epsilon=2",), "policy.epsilon is a share between 0 and 1"),
    (("eval.max_steps=0",), "eval.max_steps must be a whole number > 0"),
    (("eval.split=",), "eval.split is empty"),
    (("task.task_id= ",), "task.task_id is empty"),
    (("eval.bogus=1",), "eval.bogus is not a known key"),
    (("policy=litellm", "policy.model=openai/gpt-4o-mini"), "policy.model openai/gpt-4o-mini needs OPENAI_API_KEY"),
    (("policy=litellm", "policy.api_base="), "policy.api_base must be an http(s) URL, not ''"),
    (("policy=litellm", "policy.inference_url=ftp://x/v1"), "policy.inference_url must be an http(s) URL"),
])
def test_mistakes_are_one_line_and_create_nothing(run_cli, tmp_path, monkeypatch, args, fragment):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert_one_line_error(run_cli("eval", "db.path=t.db", *args), fragment)
    assert not (tmp_path / "t.db").exists() and not (tmp_path / "experiments").exists()


def test_the_pipeline_ends_with_a_valid_sft_file(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = run_cli("pipeline", 'eval.seeds="0-5"', "eval.max_steps=120")
    assert result.exit_code == 0, result.err
    (run_dir,) = (tmp_path / "experiments" / "pipeline").iterdir()
    assert (run_dir / "traces.db").is_file() and (run_dir / "stats.json").is_file()
    assert "judge criteria skipped (no API key: set OPENAI_API_KEY to grade them)" in result.out
    stats = json.loads((run_dir / "stats.json").read_text())
    assert 0 < stats["sessions"]["kept"] < 6
    assert f"SFT JSONL: {run_dir / 'sft.jsonl'} (valid for fine-tuning" in result.out
    assert ": warning: " not in result.out  # a valid file's warnings are counted, not listed
    checked = run_cli("validate", f"path={run_dir / 'sft.jsonl'}")
    assert checked.exit_code == 0 and "0 errors" in checked.out
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["result"]["episodes"] == 6 and manifest["outputs"][str(run_dir / "sft.jsonl")]["sha256"]


def test_the_pipeline_checks_every_step_before_playing(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "sft.jsonl").write_text("{}\n")
    for args, fragment in [((f"filter.output={tmp_path / 'sft.jsonl'}",), "sft.jsonl exists; set filter.overwrite=true"),
                           (("+validate.strictly=true",), "validate.strictly is not a known key"),
                           (("judge.strict=true",), "needs OPENAI_API_KEY, which is not set"),
                           (("validate.strict=true",), "validate.strict=true fails every example that carries its "
                            "metadata (filter.metadata=true): set filter.metadata=separate (or false)"),
                           (("filter.min_judge_scores.RubricCrafterOutcome.speed=0.5",),
                            "filter.min_judge_scores.RubricCrafterOutcome.speed: neither this run's rubrics nor "
                            "the DB give a judge score"),
                           (("task=math",), "filter.min_judge_scores.RubricCrafterOutcome.achievement_progression: "
                            "neither this run's rubrics nor the DB give a judge score"),
                           (("filter.judge_model=gpt-4o",), "filter.judge_model: 'gpt-4o' is neither this run's judge "
                            "(gpt-4o-mini) nor one that graded the DB (known: gpt-4o-mini)")]:
        result = run_cli("pipeline", "eval.seeds=[0]", *args)
        assert_one_line_error(result, fragment)
        assert "1/4 eval" not in result.out, args
    assert not (tmp_path / "experiments").exists()


def test_a_filter_step_that_fails_keeps_the_traces_and_grades(run_cli, tmp_path, monkeypatch):
    import synthkit.cli.pipeline as pipeline

    def refuse(*args):
        raise SynthkitError("filter.judge_model: judge model 'gpt-4o-mini' has no judge results in this DB")

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(pipeline, "filter_into", refuse)  # a judge whose every criterion was skipped, say
    result = run_cli("pipeline", "eval.seeds=[0,1]", "eval.max_steps=50")
    assert result.exit_code == 1
    (run_dir,) = (tmp_path / "experiments" / "pipeline").iterdir()
    assert f"(the traces and judge results are kept in {run_dir / 'traces.db'}: run `synthkit filter` on it)" \
        in result.err
    assert len(sessions(run_dir / "traces.db")) == 2 and count(run_dir / "traces.db", "judge_scores") > 0
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished with errors"


def test_ctrl_c_just_after_an_episode_was_stored_keeps_each_once(run_cli, tmp_path, monkeypatch):
    import synthkit.cli.eval as eval_command

    real, calls = eval_command._store, []

    def store_then_interrupt(writer, session):
        calls.append(session.session_id)
        stored = real(writer, session)
        if len(calls) == 1:
            raise KeyboardInterrupt  # after the commit, before write() is done
        return stored

    monkeypatch.setattr(eval_command, "_store", store_then_interrupt)
    result = run_cli("eval", "db.path=t.db", "task=math", 'eval.seeds="0-5"')
    assert result.exit_code == 130 and "Traceback" not in result.err + result.out
    recorded = sessions(tmp_path / "t.db")
    assert len(recorded) == len(set(calls)) >= 1 and {m["status"] for m in recorded.values()} == {"completed"}
    assert count(tmp_path / "t.db", "judge_scores") == 0  # no grading once interrupted
    assert "recorded episodes are not graded yet: synthkit judge db.path=t.db grades them" in result.out


def test_the_pipeline_validates_with_the_validate_keys(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # one example per episode: the environment answers its tool calls in user messages, a warning
    result = run_cli("pipeline", 'eval.seeds="0-3"', "eval.max_steps=120", "validate.strict=true",
                     "filter.val_fraction=0.5", "validate.show=1", "filter.metadata=separate",
                     "filter.granularity=session")
    assert result.exit_code == 1
    assert "is not ready for fine-tuning: warnings (validate.strict=true)" in result.err
    (run_dir,) = (tmp_path / "experiments" / "pipeline").iterdir()
    assert f"{run_dir / 'val.jsonl'}:1: warning: message " in result.out and "were never answered" in result.out
    assert "extra top-level keys" not in result.out and (run_dir / "val.metadata.jsonl").is_file()
    assert f"SFT JSONL: {run_dir / 'sft.jsonl'} and its validation split {run_dir / 'val.jsonl'} (NOT valid" \
        in result.out
    assert json.loads((run_dir / "manifest.json").read_text())["result"]["val"] == str(run_dir / "val.jsonl")


@pytest.fixture
def ctrl_c_handled():
    """A test run started with Ctrl-C ignored (as a background job is) passes that on to its
    children, and Python then never raises KeyboardInterrupt: give the command the usual handling."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.slow
def test_ctrl_c_keeps_every_finished_episode(tmp_path, ctrl_c_handled):
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    command = [str(Path(sys.executable).parent / "synthkit"), "eval", "db.path=t.db", 'eval.seeds="0-39"',
               "eval.concurrency=2", "eval.max_steps=60"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    db = tmp_path / "t.db"
    deadline = time.monotonic() + 120
    def recorded() -> int:  # the file exists a moment before its tables do
        try:
            return count(db, "session_traces") if db.exists() else 0
        except sqlite3.OperationalError:
            return 0

    while recorded() < 2:
        assert process.poll() is None and time.monotonic() < deadline, "eval ended or stalled before 2 episodes"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    stored = sessions(db)
    assert 2 <= len(stored) < 40 and {m["status"] for m in stored.values()} == {"completed"}
    seeds = ",".join(str(m["seed"]) for m in stored.values())
    again = subprocess.run([*command[:3], f"eval.seeds=[{seeds}]", "eval.max_steps=5"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr  # a different step limit is a different episode: nothing skipped
    assert f"episodes: {len(stored)} played (0 failed), 0 skipped" in again.stdout
