"""Crafter episodes with the scripted policy: what is recorded is what the environment did."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import crafter
import pytest

from synthkit.collect.crafter import ACTIONS, CrafterTask
from synthkit.collect.episode import EpisodeRecorder
from synthkit.collect.policies import ScriptedPolicy
from synthkit.collect.rollout import Episode, play
from synthkit.traces.model import EventType, LMCall, SessionStatus, ToolCall


def episode(seed=3, steps=80, epsilon=0.2, task=CrafterTask()):
    return play(task, ScriptedPolicy(epsilon=epsilon), Episode(seed, f"s{seed}", {"seed": seed}), steps,
                threading.Event())


@pytest.fixture(scope="module")
def session():
    return episode()


def recorded_actions(session):
    return [e.metadata["action"] for e in session.events if e.type is EventType.ENVIRONMENT]


def test_rewards_and_achievements_are_what_crafter_reports(session):
    assert session.status is SessionStatus.COMPLETED
    env = crafter.Env(seed=3, length=80)
    env.reset()
    rewards, unlocked = [], []
    for action in recorded_actions(session):  # the same seed and actions give the same episode
        _, reward, done, info = env.step(ACTIONS.index(action))
        rewards.append(reward)
        unlocked += [a for a, n in sorted(info["achievements"].items()) if n and a not in unlocked]
    steps = [e for e in session.events if e.type is EventType.ENVIRONMENT]
    assert [e.reward for e in steps] == pytest.approx(rewards)
    outcome = session.outcome
    assert outcome.total_reward == pytest.approx(sum(rewards)) and outcome.total_steps == len(rewards) == 80
    assert list(outcome.achievements) == unlocked and outcome.achievements_count == len(unlocked) >= 3
    assert [r.key for e in steps for r in e.rewards] == unlocked  # an event reward per unlock
    assert steps[-1].truncated and not steps[-1].terminated  # the step limit, not death
    assert steps[-1].state_after["achievements_unlocked"] == unlocked


def test_the_trace_has_the_shape_of_an_llm_policy(session):
    calls = session.lm_calls
    assert len(calls) == len(session.timesteps) and all(c.model == "scripted" for c in calls)
    first = calls[0]
    assert [m.role for m in first.input_messages] == ["system", "user"]
    assert first.tools[0]["function"]["name"] == "interact"
    assert first.tool_calls[0].name == "interact" and json.loads(first.tool_calls[0].arguments)["actions"]
    assert "You see (nearest of each):" in first.input_messages[1].content
    roles = [m.role for m in session.messages[:5]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert session.messages[3].tool_call_id == first.tool_calls[0].call_id
    assert session.messages[4].content.splitlines()[-1].startswith("Last turn: ")


def test_quality_depends_on_the_seed_and_epsilon():
    careful = [episode(seed, 120, 0.0).outcome.total_reward for seed in (0, 1)]
    reckless = [episode(seed, 120, 1.0).outcome.total_reward for seed in (0, 1)]
    assert min(careful) > max(reckless)


def call(arguments, name="interact"):
    tool = ToolCall(name=name, arguments=arguments, call_id="c1")
    return LMCall(tool_calls=(tool,))


@pytest.mark.parametrize(("decision", "steps", "told"), [
    (call('{"actions": ["move_left", "jump", "do"]}'), 2, "'jump' is not an action (ignored)"),
    (call('{"actions": ["move_left"'), 0, "the arguments of interact are not a JSON object"),
    (call('{"actions": []}'), 0, "interact takes a non-empty list of action names"),
    (call('{"actions": ["noop"]}', name="walk"), 0, "there is no tool 'walk': call interact"),
    (LMCall(), 0, "no tool call was made: call interact to act"),
    (call(json.dumps({"actions": ["noop"] * 7})), 5, "only the first 5 actions are taken"),
])
def test_bad_calls_are_told_back_not_crashes(decision, steps, told):
    environment = CrafterTask().environment(seed=1, max_steps=50)
    environment.reset()
    recorder = EpisodeRecorder("s", {})
    recorder.start_step()
    observation = environment.act(decision, recorder)
    assert environment.steps == steps and not observation.done
    assert told in observation.text and told in recorder.messages[-1].content


def test_a_seed_plays_the_same_episode_in_every_process():
    script = ("from tests.collect.test_crafter import episode, recorded_actions\n"
              "s = episode(seed=0, steps=200)\n"
              "print(s.outcome.total_reward, s.outcome.achievements, recorded_actions(s))")
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parents[2]).stdout for _ in range(3)}
    assert len(runs) == 1 and "collect_wood" in runs.pop()
