"""`task=taskapp`: a synth-ai style task app played over HTTP, its traces stored as synthkit sessions."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from synthkit.collect.episode import EpisodeRecorder
from synthkit.collect.taskapp import TaskAppError, record_trace, rubric_for
from synthkit.traces.model import EventType, SessionStatus
from synthkit.traces.store import TraceStore
from tests.cli.test_cli import assert_one_line_error
from tests.judge_server import JudgeServer, Reply, answer, requested_criteria
from tests.task_app_server import RUBRIC, TaskAppServer, structured_trace

REQUEST = {"policy": {"config": {"model": "gpt-4o-mini"}}}


def recorded(seed: int = 3, **changes) -> EpisodeRecorder:
    recorder = EpisodeRecorder("s", {"seed": seed})
    answer = {"run_id": "r", "metrics": {"mean_return": seed / 10, "num_steps": 1},
              "trace": structured_trace(seed, REQUEST), **changes}
    record_trace(answer, recorder)
    return recorder


def test_a_structured_trace_is_read_with_the_quirks_of_real_apps():
    session = recorded().session(SessionStatus.COMPLETED)
    assert [e.type for e in session.events] == [EventType.LM_CALL, EventType.ENVIRONMENT]  # no event_type given
    assert all(e.step_id == "decision_0" for e in session.events)
    (call,) = session.lm_calls
    assert call.started_at == datetime(2025, 10, 31, 12, 0, 1, 250000, tzinfo=UTC)  # from a Python repr
    assert call.tool_calls[0].parsed_arguments == {"actions": ["move_up", "do"]} and call.tools
    assert [m.role for m in session.messages] == ["system", "user", "assistant"]
    assert session.messages[1].content == "seed 3: a tree is north"  # the user prompt is kept
    assert session.messages[2].tool_calls[0].name == "interact"
    assert session.messages[2].metadata["original_message_type"] == "policy_tool_call"
    assert session.events[1].reward == 0.3 and session.timesteps[0].completed_at.second == 3
    assert session.outcome.total_reward == 0.3 and session.outcome.achievements == ("collect_wood",)
    assert session.metadata["task_app"]["session_id"] == "app-session-3"


def test_what_only_a_step_holds_is_kept():
    trace = structured_trace(3, REQUEST)
    extra = {"message_type": "observation", "content": {"text": "a cow appears"}, "metadata": {}}
    trace["session_time_steps"][0]["markov_blanket_messages"].append(extra)
    recorder = EpisodeRecorder("s", {})
    record_trace({"metrics": {"mean_return": 1}, "trace": trace}, recorder)
    assert [(m.role, m.text, m.step_id) for m in recorder.messages][-1] == ("user", "a cow appears", "decision_0")
    assert len(recorder.messages) == 4


def test_a_step_named_twice_is_refused():
    trace = structured_trace(3, REQUEST)
    trace["session_time_steps"].append(dict(trace["session_time_steps"][0]))
    with pytest.raises(TaskAppError, match="names step 'decision_0' twice"):
        record_trace({"metrics": {"mean_return": 1}, "trace": trace}, EpisodeRecorder("s", {}))


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"trace": None}, "holds no trace"),
    ({"trace": {"session_trace": {"session_id": "x"}}}, "not a structured session trace"),
    ({"metrics": {"num_steps": 3}}, "the metrics hold no reward"),
    ({"aborted": True}, "aborted the rollout"),
])
def test_an_answer_that_cannot_be_stored_says_why(changes, fragment):
    with pytest.raises(TaskAppError, match=fragment):
        recorded(**changes)


def test_a_malformed_call_record_says_which_field():
    trace = structured_trace(3, REQUEST)
    trace["event_history"][0]["call_records"][0]["input_messages"][1] = "seed 3"
    with pytest.raises(TaskAppError,
                       match="call records cannot be read: call record 0: input_messages\\[1\\] is not a JSON"):
        record_trace({"metrics": {"mean_return": 1}, "trace": trace}, EpisodeRecorder("s", {}))


def test_the_advertised_criteria_become_a_judge_rubric():
    rubric = rubric_for("crafter_classic", {"task": {"description": "Survive."}, "rubric": RUBRIC})
    assert rubric.id == "RubricTaskAppCrafterClassic"
    assert [(c.name, c.kind, c.weight) for c in rubric.criteria()] == [
        ("outcome_achievements", "judge", 2.0), ("events_purposeful_moves", "judge", 1.0)]
    assert rubric.criteria()[0].prompt.startswith("Unlocks many distinct achievements.")
    changed = json.loads(json.dumps(RUBRIC))
    changed["outcome"]["criteria"][0]["description"] = "Unlocks the diamond."
    assert rubric_for("crafter_classic", {"rubric": changed}).version != rubric.version
    assert rubric_for("crafter_classic", {"rubric": RUBRIC}).version == rubric.version
    assert rubric_for("x", {}) is None


def test_eval_plays_through_the_app_and_grades_its_rubric(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ENVIRONMENT_API_KEY", "env-key-123")
    with TaskAppServer(key="env-key-123") as app, JudgeServer() as judge:
        judge.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.7)))
        listing = run_cli("rubrics", "task=taskapp", f"task.url={app.url}")
        result = run_cli("eval", "db.path=t.db", "task=taskapp", f"task.url={app.url}", "task.max_llm_calls=3",
                         "policy=litellm", "policy.model=gpt-4o-mini", "policy.inference_url=http://policy/v1/chat/completions",
                         "policy.temperature=0.2", 'eval.seeds="1-3"', "judge=local", f"judge.api_base={judge.api_base}")
    assert listing.exit_code == 0, listing.err
    lines = listing.out.splitlines()
    assert lines[:2] == [f"{app.url}/task_info",
                         f"  RubricTaskAppCrafterClassic  version {lines[1].split()[2]}  weight 1  0 examples"]
    assert [line.split() for line in lines[2:4]] == [["outcome_achievements", "judge", "weight", "2"],
                                                     ["events_purposeful_moves", "judge", "weight", "1"]]
    assert result.exit_code == 0, result.err
    assert "episodes: 3 played (0 failed)" in result.out and "3 judge calls, 0 errors" in result.out
    request = next(r for r in app.rollouts if r["env"]["seed"] == 2)
    assert request["env"] == {"config": {"split": "train", "index": 2}, "seed": 2, "env_name": "crafter"}
    assert request["policy"] == {"policy_name": "gpt-4o-mini", "config": {
        "model": "gpt-4o-mini", "inference_url": "http://policy/v1/chat/completions", "temperature": 0.2,
        "max_tokens": 512, "max_llm_calls": 3}}
    assert request["ops"] == ["agent", "env"] * 3 and request["mode"] == "eval"
    assert request["record"] == {"return_trace": True, "trace_format": "structured"}
    assert all(h.get("X-API-Key") == "env-key-123" for h in app.headers)
    with TraceStore.open(tmp_path / "t.db") as store:
        sessions = {s.metadata["seed"]: s for s in store.sessions()}
    assert sessions[2].metadata["task_id"] == "crafter_classic" and sessions[2].outcome.total_reward == 0.2
    assert [m.role for m in sessions[2].messages] == ["system", "user", "assistant"]
    conn = sqlite3.connect(tmp_path / "t.db")
    scores = conn.execute("SELECT criterion, score FROM judge_scores WHERE rubric_id = 'RubricTaskAppCrafterClassic'")
    assert sorted(set(scores)) == [("events_purposeful_moves", 0.7), ("outcome_achievements", 0.7)]
    assert "env-key-123" not in (tmp_path / "t.db").read_bytes().decode("utf-8", "replace")
    run_dir = next((tmp_path / "experiments" / "eval").iterdir())
    assert all("env-key-123" not in p.read_text() for p in run_dir.rglob("*") if p.is_file())


def test_an_app_that_answers_garbage_is_one_line_per_seed(run_cli, tmp_path):
    with TaskAppServer(garbage_seeds=frozenset({1, 2})) as app:
        args = ("eval", "db.path=t.db", "task=taskapp", f"task.url={app.url}", "policy=litellm",
                "policy.api_base=http://127.0.0.1:9/v1", 'eval.seeds="0-2"')
        result = run_cli(*args)
        assert result.exit_code == 1
        assert result.out.count("with something that is not JSON: '<html>upstream error</html>'") == 2
        with TraceStore.open(tmp_path / "t.db") as store:
            statuses = {s.metadata["seed"]: s.status.value for s in store.sessions()}
        assert statuses == {0: "completed", 1: "failed", 2: "failed"}
        app.garbage_seeds, app.rollouts = frozenset(), []
        again = run_cli(*args)  # the failed seeds are played again; the one that finished is not
    assert again.exit_code == 0, again.err
    assert sorted(r["env"]["seed"] for r in app.rollouts) == [1, 2]
    with TraceStore.open(tmp_path / "t.db") as store:
        assert sorted((s.metadata["seed"], s.status.value) for s in store.sessions()) == [
            (0, "completed"), (1, "completed"), (1, "failed"), (2, "completed"), (2, "failed")]


LITELLM = ("policy=litellm", "policy.api_base=http://127.0.0.1:9/v1")


@pytest.mark.parametrize(("args", "fragment"), [
    (("task.url=http://127.0.0.1:9", *LITELLM), "task app http://127.0.0.1:9 did not answer GET /health: ConnectError"),
    (("task.url=ftp://x", *LITELLM), "task.url must be an http(s) URL"),
    (("task.url=http://u:p@127.0.0.1:9", *LITELLM), "task.url carries credentials"),
    (('task.url="http://127.0.0.1:9/?token=abc"', *LITELLM), "ENVIRONMENT_API_KEY for a task app"),
    (("policy=scripted",), "task=taskapp plays with the app's own policy: use policy=litellm"),
    (("policy=litellm",), "task=taskapp needs policy.inference_url"),
])
def test_an_app_that_is_down_or_a_wrong_setting_is_one_line(run_cli, tmp_path, args, fragment):
    assert_one_line_error(run_cli("eval", "db.path=t.db", "task=taskapp", *args), fragment)
    assert not (tmp_path / "t.db").exists()


def test_an_app_without_task_info_plays_with_the_rubrics_chosen(run_cli, tmp_path):
    with TaskAppServer(task_info=False) as app:
        args = ("eval", "db.path=t.db", "task=taskapp", f"task.url={app.url}", *LITELLM, "eval.seeds=[4]")
        unchosen = run_cli(*args)
        chosen = run_cli(*args, "rubrics.select=crafter")
    assert unchosen.exit_code == 2 and "no rubric selected by 'taskapp'" in unchosen.err
    assert f"task app {app.url} answered 404 to GET /task_info" in chosen.out
    assert "advertises no rubric in /task_info: choose rubrics with rubrics.select" in chosen.out
    assert chosen.exit_code == 0, chosen.err
    with TraceStore.open(tmp_path / "t.db") as store:
        (session,) = store.sessions()
    assert session.metadata["task_id"] == "taskapp" and session.outcome.total_reward == 0.4


def test_a_refused_key_names_the_variable(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("ENVIRONMENT_API_KEY", raising=False)
    with TaskAppServer(key="secret") as app:
        result = run_cli("eval", "db.path=t.db", "task=taskapp", f"task.url={app.url}", "policy=litellm",
                         "policy.api_base=http://127.0.0.1:9/v1")
    assert_one_line_error(result, "refused GET /health (401): set ENVIRONMENT_API_KEY")
