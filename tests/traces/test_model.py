from __future__ import annotations

import attrs
import pytest

from synthkit import (
    Event,
    EventReward,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    Session,
    SessionStatus,
    Timestep,
    ToolCall,
)
from synthkit.traces.model import from_json, to_json
from tests.factories import make_session


def _all_objects(session: Session):
    yield session
    yield from session.timesteps
    for event in session.events:
        yield event
        yield from event.rewards
        for call in event.lm_calls:
            yield call
            yield from call.tool_calls
            yield from call.input_messages
            yield from call.output_messages
    yield from session.messages
    yield from session.outcome_rewards


@pytest.mark.parametrize("cls", [Session, Timestep, Event, EventReward, LMCall, Message, ToolCall,
                                 OutcomeReward])
def test_every_model_class_round_trips_through_json(cls):
    objects = [o for o in _all_objects(make_session()) if type(o) is cls]
    assert objects, f"the factory session has no {cls.__name__}"
    for obj in objects:
        text = to_json(obj)
        assert from_json(text, cls) == obj


def test_json_keeps_non_ascii_and_timezones():
    session = make_session()
    text = to_json(session)
    assert "木" in text and "🛠️" in text
    assert from_json(text, Session).created_at.tzinfo is not None


def test_models_are_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        make_session().session_id = "other"


def test_derived_views():
    session = make_session()
    assert session.outcome.total_reward == 1.0
    assert [c.model for c in session.lm_calls] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert session.status is SessionStatus.COMPLETED
    call = session.lm_calls[0]
    assert call.total_tokens == 138
    assert call.tool_calls[0].parsed_arguments == {"actions": ["move_left", "do"]}
    assert ToolCall(name="x", arguments="{not json").parsed_arguments is None
    assert session.messages[1].text == "obs: tree ahead 木"
    assert Session("x", session.created_at).outcome is None
    assert Event(type=EventType.RUNTIME).lm_calls == ()
