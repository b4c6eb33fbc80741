"""The trace as criterion authors see it: read-only, with the questions rubrics ask answered."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from synthkit.traces.model import (
    Event,
    EventReward,
    LMCall,
    Message,
    OutcomeReward,
    Session,
    ToolCall,
)

__all__ = ["Trace"]


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


class Trace:
    """A read-only view of one session for criteria: `trace.final_answer`, `trace.outcome`, ...

    Built from a `Session`; `trace.session` is the full recorded session when a criterion needs
    more than the view offers.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def __repr__(self) -> str:
        return f"<Trace {self.session_id}: {self.num_turns} turns>"

    @property
    def session_id(self) -> str:
        return self.session.session_id

    @functools.cached_property
    def metadata(self) -> Mapping[str, Any]:
        """Session metadata (task_id, task_split, model, seed, env_name, ...), read-only."""
        return _freeze(self.session.metadata)

    @functools.cached_property
    def messages(self) -> tuple[Message, ...]:
        """The conversation. Sessions recorded without messages fall back to their last LM
        call's input and output, or to the `prompt` / `completion` synth-ai's eval keeps in
        metadata."""
        if self.session.messages:
            return self.session.messages
        if self.lm_calls:
            last = self.lm_calls[-1]
            output = last.output_messages or ((Message("assistant", "", tool_calls=last.tool_calls),)
                                              if last.tool_calls else ())
            return (*last.input_messages, *output)
        prompt, completion = self.session.metadata.get("prompt"), self.session.metadata.get("completion")
        found = [Message("user", str(prompt))] if prompt else []
        if completion:
            found.append(Message("assistant", str(completion)))
        return tuple(found)

    @property
    def lm_calls(self) -> tuple[LMCall, ...]:
        return self.session.lm_calls

    @functools.cached_property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """Every tool call the agent made, in order (from LM calls, else from messages)."""
        if self.lm_calls:
            return tuple(call for lm in self.lm_calls for call in lm.tool_calls)
        return tuple(call for m in self.messages if m.role == "assistant" for call in m.tool_calls)

    @property
    def events(self) -> tuple[Event, ...]:
        return self.session.events

    @functools.cached_property
    def rewards(self) -> tuple[EventReward, ...]:
        """Every event reward (step rewards, achievement unlocks, ...), in order."""
        return tuple(reward for event in self.events for reward in event.rewards)

    @property
    def outcome(self) -> OutcomeReward | None:
        return self.session.outcome

    @functools.cached_property
    def final_answer(self) -> str | None:
        """The text of the agent's last message, or None when the trace does not end with one."""
        messages = self.messages
        if not messages or messages[-1].role != "assistant":
            return None
        return messages[-1].text or None

    @functools.cached_property
    def num_turns(self) -> int:
        """Agent turns: LM calls, or assistant messages when no call was recorded."""
        return len(self.lm_calls) or sum(1 for m in self.messages if m.role == "assistant")
