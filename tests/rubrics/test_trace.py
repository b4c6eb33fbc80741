"""The trace view criterion authors use, on synth-ai's fixture and on synthkit's own traces."""

from __future__ import annotations

import json

import pytest

from synthkit import Trace, TraceStore
from tests.conftest import SYNTH_AI_DB
from tests.factories import make_session


@pytest.fixture(scope="module")
def fixture_traces():
    with TraceStore.open(SYNTH_AI_DB) as store:
        return {s.session_id: Trace(s) for s in store.sessions()}


def test_every_attribute_on_a_crafter_trace(fixture_traces):
    trace = fixture_traces["session_b1612dd272d1"]
    assert trace.session_id == "session_b1612dd272d1"
    assert trace.metadata["env_name"] == "crafter" and trace.metadata["judge_scores"]["quality"] == 0.61
    assert trace.messages[0].role == "system" and trace.messages[2].role == "assistant"
    assert trace.num_turns == len(trace.lm_calls) == 7
    call = trace.lm_calls[0]
    assert call.model == "llama-3.3-70b-versatile" and call.usage["input_tokens"] > 0
    assert call.tool_calls[0].parsed_arguments["actions"] == ["move_right", "move_right"]
    assert len(trace.tool_calls) == 7 and trace.tool_calls[0].name == "interact"
    assert len(trace.events) == 14
    assert {r.type for r in trace.rewards} == {"sparse", "achievement_delta", "unique_achievement_delta"}
    assert trace.outcome.achievements == ("collect_wood", "place_table", "collect_sapling")
    assert trace.final_answer.startswith('{"tool":"interact"')


def test_edge_cases(fixture_traces):
    cases = {t.metadata.get("fixture_case"): t for t in fixture_traces.values()}
    no_answer = cases["no_final_assistant"]
    assert no_answer.messages[-1].role == "user" and no_answer.final_answer is None
    prompt_only = cases["prompt_completion"]       # synth-ai's eval keeps prompt/completion in metadata
    assert [m.role for m in prompt_only.messages] == ["user", "assistant"]
    assert prompt_only.final_answer == prompt_only.metadata["completion"]


def test_the_view_is_read_only_all_the_way_down():
    session = make_session()
    trace = Trace(session)
    attempts = [
        lambda: trace.metadata.__setitem__("task_id", "other"),
        lambda: trace.metadata["judge_scores"].update(quality=0.0),
        lambda: trace.events[1].state_after["inventory"].__setitem__("wood", 99),
        lambda: trace.outcome.metadata.pop("env_seed"),
        lambda: trace.messages[1].content.append({"type": "text", "text": "injected"}),
        lambda: trace.lm_calls[0].request_params.clear(),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="read-only"):
            attempt()
    with pytest.raises(AttributeError):
        trace.outcome.total_reward = 0
    assert isinstance(trace.events[1].state_after, dict)            # still reads like the model
    assert json.loads(json.dumps(trace.metadata)) == session.metadata
    assert trace.session == session and session.events[1].state_after["inventory"] == {"wood": 1}


def test_a_trace_of_lm_calls_without_messages_shows_the_last_conversation():
    session = make_session()
    trace = Trace(type(session)(session.session_id, session.created_at, events=session.events))
    last = session.lm_calls[-1]
    assert trace.messages == last.input_messages
    assert trace.final_answer is None
    chat = Trace(type(session)("c", session.created_at, events=session.events[:1]))
    assert chat.messages[-1].tool_calls == session.lm_calls[0].tool_calls
