"""synthkit reads what synth-ai 0.2.24's own SessionTracer wrote (tests/data/synth_ai_v3_sample.db)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest

from synthkit import EventType, Selection, TraceStore
from synthkit.traces.importers import import_trace_db
from tests.conftest import SYNTH_AI_DB


@pytest.fixture(scope="module")
def sessions():
    with TraceStore.open(SYNTH_AI_DB) as store:
        return {s.session_id: s for s in store.sessions()}


def raw(sql: str, *params):
    with sqlite3.connect(f"file:{SYNTH_AI_DB}?mode=ro", uri=True) as conn:
        return conn.execute(sql, params).fetchall()


def test_every_row_is_read(sessions):
    assert len(sessions) == 60
    assert sum(len(s.timesteps) for s in sessions.values()) == raw("SELECT count(*) FROM session_timesteps")[0][0]
    assert sum(len(s.events) for s in sessions.values()) == 533
    assert sum(len(s.messages) for s in sessions.values()) == 800
    assert sum(len(e.rewards) for s in sessions.values() for e in s.events) == 667
    assert sum(len(s.outcome_rewards) for s in sessions.values()) == 60
    assert sum(len(s.lm_calls) for s in sessions.values()) == 267


def test_lm_calls_come_from_call_records(sessions):
    call = sessions["session_0202219ec060"].lm_calls[0]
    assert call.model == "gpt-4o-mini" and call.provider == "openai"
    assert (call.input_tokens, call.output_tokens, call.latency_ms) == (127, 30, 1284)
    assert call.cost_usd == pytest.approx(3.7e-05)
    assert [m.role for m in call.input_messages] == ["system", "user"]
    assert call.input_messages[1].text.startswith("=== CRAFTER OBSERVATION (step 0) ===")
    assert call.tool_calls[0].name == "interact"
    assert call.tool_calls[0].parsed_arguments == {"actions": ["move_down"],
                                                   "reasoning": "Low on drink, head to water."}
    assert call.finish_reason == "tool_calls"
    assert call.request_params == {"temperature": 0.2, "max_tokens": 512, "tool_choice": "required"}
    assert call.started_at == datetime(2025, 11, 9, 14, 12, 20, 44212, tzinfo=UTC)


def test_messages_stored_as_json_dicts_are_unpacked(sessions):
    message = sessions["session_b1612dd272d1"].messages[2]
    assert message.role == "assistant"
    assert message.content.startswith('{"tool":"interact"')
    assert message.tool_calls[0].call_id == "call_23d5a4fd12aabfe2"
    assert message.step_id == "decision_0"
    plain = sessions["session_0202219ec060"].messages[2]  # assistant text that merely looks like JSON
    assert plain.content.startswith('{"tool": "interact"') and plain.tool_calls == ()


def test_multimodal_user_message(sessions):
    user = sessions["session_49d7ccc7e90a"].messages[1]
    assert user.role == "user" and isinstance(user.content, list)
    assert [part["type"] for part in user.content] == ["text", "image_url"]
    assert user.text.startswith("=== CRAFTER OBSERVATION")


def test_rewards_and_outcome(sessions):
    session = sessions["session_b1612dd272d1"]
    env = [e for e in session.events if e.type is EventType.ENVIRONMENT][0]
    assert env.reward == 0.0 and env.terminated is False
    assert env.state_after["drink"] == 8
    assert [r.type for r in env.rewards] == ["sparse", "achievement_delta"]
    assert env.rewards[1].annotation == {"achievements": []}
    assert session.outcome.total_reward == 3 and session.outcome.total_steps == 18
    assert session.outcome.achievements == ("collect_wood", "place_table", "collect_sapling")
    assert session.outcome.metadata["env_seed"] == 6328


def test_judge_scores_in_session_metadata(sessions):
    assert sessions["session_b1612dd272d1"].metadata["judge_scores"] == {"quality": 0.61, "progress": 0.425}
    assert sessions["session_683cf863fe92"].metadata["judge_scores"]["quality"] is None
    keys = {s.metadata["task_split"] for s in sessions.values()}
    assert keys == {"train", "val", "test"}


def test_edge_case_sessions(sessions):
    cases = {}
    for s in sessions.values():
        cases.setdefault(s.metadata.get("fixture_case"), []).append(s)
    for s in cases["prompt_completion"]:  # synth-ai's eval: no messages, prompt in metadata
        assert s.messages == () and s.metadata["prompt"].startswith("=== CRAFTER")
        assert json.loads(s.metadata["completion"])["tool"] == "interact"
    for s in cases["no_final_assistant"]:
        assert s.messages[-1].role == "user"
    for s in cases["whole_second"]:
        assert s.created_at.microsecond == 0 and s.created_at.tzinfo is not None
    assert cases["multimodal"]


def test_selection_on_synth_ai_metadata():
    with TraceStore.open(SYNTH_AI_DB) as store:
        expected = raw("SELECT count(*) FROM session_traces WHERE "
                       "json_extract(metadata, '$.task_split') = 'val' "
                       "AND json_extract(metadata, '$.model') = 'gpt-4o-mini'")[0][0]
        assert expected > 0
        assert len(list(store.sessions(Selection(splits=["val"], models=["gpt-4o-mini"])))) == expected


def test_merging_into_a_synthkit_db_loses_nothing(tmp_path, sessions):
    report = import_trace_db(SYNTH_AI_DB, tmp_path / "merged.db")
    assert report.imported == 60 and report.created_db
    with TraceStore.open(tmp_path / "merged.db") as store:
        merged = {s.session_id: s for s in store.sessions()}
    assert merged == sessions
