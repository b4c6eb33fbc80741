"""Sessions that use every part of the trace model, for round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from synthkit import (
    Event,
    EventReward,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    Session,
    Timestep,
    ToolCall,
)

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
TOOLS = ({"type": "function", "function": {"name": "interact", "parameters": {
    "type": "object", "properties": {"actions": {"type": "array", "items": {"type": "string"}}}}}},)


def make_session(session_id: str = "s-1", *, created_at: datetime = T0, split: str = "train",
                 task_id: str = "crafter_classic", model: str = "gpt-4o-mini") -> Session:
    call = ToolCall(name="interact", arguments='{"actions": ["move_left", "do"]}', call_id="call_1")
    system = Message(role="system", content="You play Crafter. Répondez avec un outil 🛠️")
    user = Message(role="user", content=[{"type": "text", "text": "obs: tree ahead 木"}, IMAGE])
    cached = Message(role="user", content=[{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}])
    assistant = Message(role="assistant", content="", tool_calls=(call,))
    lm_call = LMCall(
        model=model, provider="openai", input_messages=(system, cached, user), output_messages=(assistant,),
        tool_calls=(call,), tools=TOOLS, input_tokens=120, output_tokens=18, cost_usd=0.000123,
        latency_ms=850, finish_reason="tool_calls", call_id="call_1",
        started_at=created_at, completed_at=created_at + timedelta(milliseconds=850),
        request_params={"temperature": 0.2, "max_tokens": 256, "tool_choice": "required",
                        "parallel_tool_calls": False})
    failed_call = LMCall(model=model, provider="openai", input_messages=(system,),
                         error="rate limited", latency_ms=30)
    step0, step1 = "decision_0", "decision_1"
    return Session(
        session_id=session_id,
        created_at=created_at,
        metadata={"task_split": split, "task_id": task_id, "model": model, "seed": 7,
                  "env_name": "crafter", "policy_name": "react", "status": "completed",
                  "judge_scores": {"quality": 0.8}},
        timesteps=(
            Timestep(step_id=step0, index=0, turn=0, started_at=created_at,
                     completed_at=created_at + timedelta(seconds=1), metadata={"turn": 0}),
            Timestep(step_id=step1, index=1, turn=1, started_at=created_at + timedelta(seconds=1)),
        ),
        events=(
            Event(type=EventType.LM_CALL, step_id=step0, system_instance_id="policy", time=1.5,
                  lm_calls=(lm_call,), metadata={"turn": 0}),
            Event(type=EventType.ENVIRONMENT, step_id=step0, system_instance_id="env", time=2.0,
                  reward=1.0, terminated=False, truncated=False, state_before={"health": 9},
                  state_after={"health": 9, "inventory": {"wood": 1}},
                  metadata={"actions": ["move_left", "do"]},
                  rewards=(EventReward(value=1.0, type="achievement", key="collect_wood",
                                       annotation={"achievements": ["collect_wood"]},
                                       source="environment", turn=0, created_at=created_at),)),
            Event(type=EventType.LM_CALL, step_id=step1, lm_calls=(failed_call,)),
            Event(type=EventType.RUNTIME, step_id=None, time=3.0,
                  metadata={"note": "episode ended", "event_metadata": {"k": 1}}),
        ),
        messages=(
            Message(role="system", content=system.content, step_id=step0, time=1.0),
            Message(role="user", content=user.content, step_id=step0, time=1.1),
            Message(role="assistant", content='{"tool": "interact"}', step_id=step0, time=1.5),
            Message(role="assistant", content="", tool_calls=(call,), step_id=step0, time=1.5),
            Message(role="tool", content="ok", tool_call_id="call_1", step_id=step0, time=1.6),
            Message(role="developer", content="be brief", step_id=step1, metadata={"source": "x"}),
            Message(role="user", content="no step"),
        ),
        outcome_rewards=(OutcomeReward(total_reward=1.0, achievements_count=1, total_steps=2,
                                       achievements=("collect_wood",), metadata={"env_seed": 7},
                                       created_at=created_at + timedelta(seconds=5)),),
    )
