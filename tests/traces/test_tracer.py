from __future__ import annotations

import pytest

from synthkit import EventReward, EventType, LMCall, Message, OutcomeReward, SessionStatus, SessionTracer, ToolCall, TraceStore


def test_a_recorded_session_reads_back(tmp_path):
    path = tmp_path / "traces" / "t.db"
    with SessionTracer(path) as tracer:
        assert tracer.created_db
        with tracer.session("ep-1", metadata={"task_id": "math-7", "task_split": "train", "model": "m"}):
            with tracer.timestep() as step:
                tracer.record_message("user", "What is 6 x 7?")
                call = ToolCall(name="answer", arguments='{"value": 42}', call_id="c1")
                tracer.record_lm_call(LMCall(model="m", input_messages=(Message("user", "What is 6 x 7?"),),
                                             tool_calls=(call,), input_tokens=12, output_tokens=3, cost_usd=0.5))
                tracer.record_message("assistant", "", tool_calls=[call])
                event = tracer.record_environment_step(reward=1.0, terminated=True,
                                                       rewards=[EventReward(value=1.0, type="correct")])
                tracer.record_event_reward(event, EventReward(value=0.5, type="bonus"))
            tracer.record_message("user", "thanks")
            tracer.record_outcome(OutcomeReward(total_reward=1.0, total_steps=1))

    with TraceStore.open(path) as store:
        session = store.session("ep-1")
    assert session.status is SessionStatus.COMPLETED
    assert session.metadata["task_id"] == "math-7"
    assert [t.step_id for t in session.timesteps] == [step]
    assert session.timesteps[0].completed_at is not None
    assert [e.type for e in session.events] == [EventType.LM_CALL, EventType.ENVIRONMENT]
    assert all(e.step_id == step for e in session.events)
    assert session.lm_calls[0].tool_calls[0].parsed_arguments == {"value": 42}
    assert session.lm_calls[0].cost_usd == 0.5
    assert [r.type for r in session.events[1].rewards] == ["correct", "bonus"]
    assert [(m.role, m.step_id) for m in session.messages] == [("user", step), ("assistant", step), ("user", None)]
    assert session.messages[1].tool_calls == (call,)
    assert session.outcome.total_reward == 1.0


def test_an_agent_crash_keeps_what_was_recorded(tmp_path):
    path = tmp_path / "t.db"
    with SessionTracer(path) as tracer:
        with pytest.raises(ZeroDivisionError), tracer.session("ep-crash"):
            with tracer.timestep():
                tracer.record_message("user", "go")
                tracer.record_environment_step(reward=0.0)
                1 / 0
        # the tracer is free for the next episode
        with tracer.session("ep-next"):
            tracer.record_message("user", "again")
    with TraceStore.open(path) as store:
        crashed, following = store.session("ep-crash"), store.session("ep-next")
    assert crashed.status is SessionStatus.INCOMPLETE
    assert crashed.metadata["error"] == "ZeroDivisionError: division by zero"
    assert len(crashed.messages) == 1 and len(crashed.events) == 1
    assert following.status is SessionStatus.COMPLETED


def test_a_session_never_ended_reads_as_incomplete(tmp_path):
    path = tmp_path / "t.db"
    tracer = SessionTracer(path)
    tracer.start_session("ep-killed")
    tracer.record_message("user", "hello")
    tracer.close()  # as if the process died here
    with TraceStore.open(path) as store:
        assert store.session("ep-killed").status is SessionStatus.INCOMPLETE


def test_misuse_is_refused(tmp_path):
    with SessionTracer(tmp_path / "t.db") as tracer:
        with pytest.raises(RuntimeError, match="no session is open"):
            tracer.record_message("user", "x")
        tracer.start_session("a")
        with pytest.raises(RuntimeError, match="still open"):
            tracer.start_session("b")
        with pytest.raises(RuntimeError, match="no timestep is open"):
            tracer.end_timestep()
        with pytest.raises(ValueError, match="unknown message role"):
            tracer.record_message("narrator", "x")
        tracer.end_session(SessionStatus.FAILED, error="env crashed")
    with TraceStore.open(tmp_path / "t.db") as store:
        assert store.session("a").status is SessionStatus.FAILED


def test_an_existing_db_is_required_when_asked(tmp_path):
    from synthkit import TraceDBError

    with pytest.raises(TraceDBError, match="not found"):
        SessionTracer(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
