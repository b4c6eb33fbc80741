"""The math task's reward, and the litellm policy against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import threading

import pytest

from synthkit import SynthkitError
from synthkit.collect.arithmetic import MathTask, problem
from synthkit.collect.crafter import CrafterTask
from synthkit.collect.policies import LitellmPolicy, ScriptedPolicy
from synthkit.collect.rollout import Episode, play
from synthkit.traces.model import EventType, SessionStatus
from tests.judge_server import JudgeServer, Reply


def run(task, policy, seed=0, steps=50):
    return play(task, policy, Episode(seed, f"s{seed}", {"seed": seed}), steps, threading.Event())


def test_problems_are_made_from_the_seed():
    assert problem(4) == problem(4) and problem(4) != problem(5)
    assert all(isinstance(problem(s).answer, int) and problem(s).answer > 0 for s in range(40))


def test_the_math_reward_is_one_for_exactly_the_right_number():
    sessions = [run(MathTask(), ScriptedPolicy(error_rate=0.3), seed) for seed in range(40)]
    right = [s for s in sessions if s.outcome.total_reward == 1.0]
    assert 0 < len(right) < 40  # right most of the time, wrong at the configured rate
    for session in sessions:
        expected = problem(session.metadata["seed"]).answer
        given = json.loads(session.lm_calls[0].tool_calls[0].arguments)["value"]
        assert session.outcome.total_reward == float(given == expected)
        assert session.outcome.metadata == {"expected": expected, "given": float(given)}
    assert all(run(MathTask(), ScriptedPolicy(error_rate=0.0), s).outcome.total_reward == 1 for s in range(5))


@pytest.fixture
def server():
    with JudgeServer() as running:
        yield running


def policy(server, **settings):
    return LitellmPolicy(model="openai/test-policy", api_base=server.api_base, placeholder_key=True,
                         backoff_s=0.01, timeout_s=5, **settings)


def tool_call(name, arguments, number=0):
    return {"id": f"call_{number}", "type": "function", "function": {"name": name, "arguments": arguments}}


def test_an_llm_policy_plays_crafter_through_tool_calls(server):
    replies = iter([
        Reply(content="Let me look left.", tool_calls=[tool_call("interact", '{"actions": ["move_left", "fly"]}')]),
        Reply(tool_calls=[tool_call("interact", '{"actions": ["do"')]),  # broken JSON
        Reply(content="I think I will wait."),                             # no tool call at all
    ])
    server.reply = lambda request: next(replies, Reply(tool_calls=[tool_call("interact", '{"actions": ["noop"]}', 9)]))
    session = run(CrafterTask(), policy(server), seed=2, steps=5)
    assert session.status is SessionStatus.COMPLETED
    request = server.requests[0]
    assert request["tools"][0]["function"]["name"] == "interact"
    assert [m["role"] for m in request["messages"]] == ["system", "user"] and request["temperature"] == 0.7
    observations = [m["content"] for r in server.requests for m in r["messages"] if m["role"] == "user"]
    assert "'fly' is not an action (ignored)" in observations[1] and "move_left: " in observations[1]
    assert "the arguments of interact are not a JSON object" in observations[2]
    assert "no tool call was made" in observations[3]
    first = session.lm_calls[0]
    assert first.model == "openai/test-policy" and first.input_tokens == 100 and first.output_tokens == 20
    assert first.output_text == "Let me look left." and first.tool_calls[0].call_id == "call_0"
    assert first.tools and first.latency_ms is not None
    steps = [e for e in session.events if e.type is EventType.ENVIRONMENT]
    assert [e.metadata["action"] for e in steps][:1] == ["move_left"] and len(server.requests) == 5


def test_rate_limits_are_retried_and_a_dead_policy_fails_the_episode(server):
    state = {"n": 0}

    def reply(request):
        state["n"] += 1
        if state["n"] == 1:
            return Reply(status=429, headers={"Retry-After": "0"})
        return Reply(tool_calls=[tool_call("answer", '{"value": %d}' % problem(0).answer)])

    server.reply = reply
    session = run(MathTask(), policy(server))
    assert session.outcome.total_reward == 1.0 and state["n"] == 2
    server.reply = lambda request: Reply(status=500)
    failed = run(MathTask(), policy(server, max_retries=1))
    assert failed.status is SessionStatus.FAILED and "the policy's LM call failed" in failed.metadata["error"]
    assert failed.lm_calls[0].error and failed.outcome is None  # what was recorded is kept


def test_a_math_answer_in_text_counts_when_no_tool_was_called(server):
    server.reply = lambda request: Reply(content=f"So the answer is {problem(0).answer}.")
    assert run(MathTask(), policy(server)).outcome.total_reward == 1.0


def test_a_missing_key_is_an_error_before_any_episode(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SynthkitError, match=r"policy.model openai/gpt-4o-mini needs OPENAI_API_KEY .*config\)$"):
        LitellmPolicy(model="openai/gpt-4o-mini").check()
    with pytest.raises(SynthkitError, match="; a local server that takes no key: policy.placeholder_key=true$"):
        LitellmPolicy(model="openai/x", api_base="http://127.0.0.1:9/v1").check()


def test_an_episode_that_raises_is_a_failed_session_with_what_it_recorded():
    class Broken(CrafterTask):
        def environment(self, seed, max_steps):
            environment = super().environment(seed, max_steps)
            environment.act = lambda call, recorder: (_ for _ in ()).throw(ValueError("the world fell apart"))
            return environment

    session = run(Broken(), ScriptedPolicy(), steps=10)
    assert session.status is SessionStatus.FAILED and session.metadata["error"] == "ValueError: the world fell apart"
    assert len(session.lm_calls) == 1 and session.outcome is None
