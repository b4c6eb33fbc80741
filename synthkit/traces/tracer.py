"""SessionTracer: record traces from your own agent loop into a trace DB.

Everything is written as it is recorded, so a crash keeps what came before it; a session is
`incomplete` from its start until `end_session()` marks it `completed`. The `session()` and
`timestep()` context managers end what they open, and an exception inside `session()` leaves
the session `incomplete` with the error in its metadata.

    with SessionTracer("traces/v3/synth_ai.db") as tracer:
        with tracer.session(metadata={"task_id": "math-7", "model": "gpt-4o-mini"}):
            with tracer.timestep():
                tracer.record_message("user", "What is 6 x 7?")
                tracer.record_lm_call(LMCall(model="gpt-4o-mini", ...))
                tracer.record_environment_step(reward=1.0, terminated=True)
            tracer.record_outcome(OutcomeReward(total_reward=1.0))
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from synthkit.traces.model import (
    Event,
    EventReward,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    SessionStatus,
    Timestep,
    ToolCall,
)
from synthkit.traces.store import TraceWriter

__all__ = ["SessionTracer"]


class SessionTracer:
    """Records one session at a time into the trace DB at `db_path` (created when missing)."""

    def __init__(self, db_path: str | Path, *, create: bool = True) -> None:
        self._writer = TraceWriter.open(db_path, create=create)
        self.session_id: str | None = None
        self._step: Timestep | None = None
        self._steps = 0

    @property
    def created_db(self) -> bool:
        return self._writer.created

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> SessionTracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require_session(self) -> str:
        if self.session_id is None:
            raise RuntimeError("no session is open: call start_session() first")
        return self.session_id

    # -- sessions and timesteps ----------------------------------------------------------------

    def start_session(self, session_id: str | None = None, metadata: dict[str, Any] | None = None,
                      created_at: datetime | None = None) -> str:
        if self.session_id is not None:
            raise RuntimeError(f"session {self.session_id} is still open: end it first")
        session_id = session_id or f"session_{uuid.uuid4().hex}"
        metadata = {**(metadata or {}), "status": SessionStatus.INCOMPLETE.value}
        self._writer.add_session(session_id, created_at or datetime.now(UTC), metadata)
        self.session_id, self._step, self._steps = session_id, None, 0
        return session_id

    def end_session(self, status: SessionStatus | str = SessionStatus.COMPLETED,
                    error: str | None = None) -> None:
        session_id = self._require_session()
        if self._step is not None:
            self.end_timestep()
        updates: dict[str, Any] = {"status": SessionStatus(status).value}
        if error is not None:
            updates["error"] = error
        self._writer.update_metadata(session_id, updates)
        self.session_id = None

    @contextlib.contextmanager
    def session(self, session_id: str | None = None, metadata: dict[str, Any] | None = None,
                created_at: datetime | None = None) -> Iterator[str]:
        """A session that ends `completed`, or `incomplete` with the error if the block raises."""
        session_id = self.start_session(session_id, metadata, created_at)
        try:
            yield session_id
        except BaseException as exc:
            if self.session_id == session_id:
                self.end_session(SessionStatus.INCOMPLETE, error=f"{type(exc).__name__}: {exc}")
            raise
        if self.session_id == session_id:
            self.end_session()

    def start_timestep(self, step_id: str | None = None, turn: int | None = None,
                       metadata: dict[str, Any] | None = None) -> str:
        session_id = self._require_session()
        if self._step is not None:
            self.end_timestep()
        step = Timestep(step_id=step_id or f"step_{self._steps}", index=self._steps,
                        turn=self._steps if turn is None else turn,
                        started_at=datetime.now(UTC), metadata=metadata or {})
        self._writer.add_timestep(session_id, step)
        self._step, self._steps = step, self._steps + 1
        return step.step_id

    def end_timestep(self) -> None:
        if self._step is None:
            raise RuntimeError("no timestep is open")
        self._writer.complete_timestep(self._require_session(), self._step.step_id, datetime.now(UTC))
        self._step = None

    @contextlib.contextmanager
    def timestep(self, step_id: str | None = None, turn: int | None = None,
                 metadata: dict[str, Any] | None = None) -> Iterator[str]:
        step_id = self.start_timestep(step_id, turn, metadata)
        yield step_id
        if self._step is not None and self._step.step_id == step_id:
            self.end_timestep()

    # -- what happens inside -------------------------------------------------------------------

    @property
    def _step_id(self) -> str | None:
        return None if self._step is None else self._step.step_id

    def record_message(self, role: str, content: str | list[dict[str, Any]], *,
                       tool_calls: Sequence[ToolCall] = (), tool_call_id: str | None = None,
                       name: str | None = None, metadata: dict[str, Any] | None = None) -> int:
        message = Message(role=role, content=content, tool_calls=tuple(tool_calls),
                          tool_call_id=tool_call_id, name=name, step_id=self._step_id,
                          time=time.time(), metadata=metadata or {})
        return self._writer.add_message(self._require_session(), message)

    def record_event(self, event: Event) -> int:
        """Record any event; it joins the open timestep unless it names one itself."""
        if event.step_id is None and self._step is not None:
            event = attrs.evolve(event, step_id=self._step.step_id)
        if event.time is None:
            event = attrs.evolve(event, time=time.time())
        return self._writer.add_event(self._require_session(), event)

    def record_lm_call(self, call: LMCall, *, system_instance_id: str | None = None,
                       metadata: dict[str, Any] | None = None) -> int:
        return self.record_event(Event(type=EventType.LM_CALL, lm_calls=(call,),
                                       system_instance_id=system_instance_id,
                                       metadata=metadata or {}))

    def record_environment_step(self, *, reward: float | None = None,
                                terminated: bool | None = None, truncated: bool | None = None,
                                state_before: Any = None, state_after: Any = None,
                                rewards: Sequence[EventReward] = (),
                                system_instance_id: str | None = None,
                                metadata: dict[str, Any] | None = None) -> int:
        return self.record_event(Event(
            type=EventType.ENVIRONMENT, reward=reward, terminated=terminated, truncated=truncated,
            state_before=state_before, state_after=state_after, rewards=tuple(rewards),
            system_instance_id=system_instance_id, metadata=metadata or {}))

    def record_event_reward(self, event_id: int, reward: EventReward) -> int:
        return self._writer.add_event_reward(self._require_session(), event_id, reward)

    def record_outcome(self, outcome: OutcomeReward) -> int:
        return self._writer.add_outcome(self._require_session(), outcome)
