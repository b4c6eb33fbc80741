"""One episode recorded in memory as it happens, then handed to the writer as a `Session`.

Episodes run on worker threads and never touch the DB: each builds its Session here, and the
driver writes it in one transaction. What an episode that fails had recorded is kept, so a
failed session shows how far it got.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import attrs

from synthkit.traces.model import (
    Event,
    EventReward,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    Session,
    SessionStatus,
    Timestep,
)

__all__ = ["EpisodeRecorder"]


class EpisodeRecorder:
    def __init__(self, session_id: str, metadata: dict[str, Any]) -> None:
        self.session_id = session_id
        self.metadata = dict(metadata)
        self.created_at = datetime.now(UTC)
        self.timesteps: list[Timestep] = []
        self.events: list[Event] = []
        self.messages: list[Message] = []
        self.outcome: OutcomeReward | None = None
        self.step_id: str | None = None

    def start_step(self, metadata: dict[str, Any] | None = None) -> str:
        """A new timestep (one decision of the agent); what follows is recorded under it."""
        self._close_step()
        index = len(self.timesteps)
        self.step_id = f"decision_{index}"
        self.timesteps.append(Timestep(step_id=self.step_id, index=index, turn=index,
                                       started_at=datetime.now(UTC), metadata=metadata or {}))
        return self.step_id

    def _close_step(self) -> None:
        if self.timesteps and self.timesteps[-1].completed_at is None:
            self.timesteps[-1] = attrs.evolve(self.timesteps[-1], completed_at=datetime.now(UTC))

    def message(self, message: Message) -> None:
        self.messages.append(attrs.evolve(message, step_id=self.step_id, time=time.time()))

    def lm_call(self, call: LMCall, system: str = "policy") -> None:
        self.events.append(Event(type=EventType.LM_CALL, step_id=self.step_id, system_instance_id=system,
                                 time=time.time(), lm_calls=(call,)))

    def environment(self, *, reward: float | None, terminated: bool, truncated: bool = False,
                    state_before: Any = None, state_after: Any = None, metadata: dict[str, Any] | None = None,
                    rewards: tuple[EventReward, ...] = (), system: str = "environment") -> None:
        self.events.append(Event(type=EventType.ENVIRONMENT, step_id=self.step_id, system_instance_id=system,
                                 time=time.time(), reward=reward, terminated=terminated, truncated=truncated,
                                 state_before=state_before, state_after=state_after, metadata=metadata or {},
                                 rewards=rewards))

    def session(self, status: SessionStatus, error: str | None = None) -> Session:
        self._close_step()
        metadata = {**self.metadata, "status": status.value}
        if error is not None:
            metadata["error"] = error
        return Session(session_id=self.session_id, created_at=self.created_at, metadata=metadata,
                       timesteps=tuple(self.timesteps), events=tuple(self.events), messages=tuple(self.messages),
                       outcome_rewards=() if self.outcome is None else (self.outcome,))
