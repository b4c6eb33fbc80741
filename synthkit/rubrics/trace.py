"""The trace as criterion authors see it: read-only, with the questions rubrics ask answered."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

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


def _refuse(self: Any, *args: Any, **kwargs: Any) -> None:
    raise TypeError("the trace is read-only")


class FrozenDict(dict):
    """A dict that cannot change: `isinstance(x, dict)` and `json.dumps` still work."""

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=repr)))


class FrozenList(list):
    """A list that cannot change."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))


def freeze(value: Any) -> Any:
    """A deep copy of `value` that cannot be changed: dicts and lists frozen, model objects
    (already frozen attrs classes) rebuilt around frozen contents."""
    if isinstance(value, FrozenDict | FrozenList):
        return value
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(freeze(v) for v in value)
    if attrs.has(type(value)):
        return attrs.evolve(value, **{f.alias or f.name: freeze(getattr(value, f.name))
                                      for f in attrs.fields(type(value))})
    return value


class Trace:
    """A read-only view of one session for criteria: `trace.final_answer`, `trace.outcome`, ...

    Everything it gives is read-only all the way down (maps, lists and model objects), so one
    criterion cannot change what the next one sees. `trace.session` is the whole recorded
    session when a criterion needs more than the view offers.
    """

    def __init__(self, session: Session) -> None:
        self._session = freeze(session)

    @property
    def session(self) -> Session:
        """The whole recorded session (read-only, like everything the view gives)."""
        return self._session

    def __repr__(self) -> str:
        return f"<Trace {self.session_id}: {self.num_turns} turns>"

    @property
    def session_id(self) -> str:
        return self._session.session_id

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Session metadata (task_id, task_split, model, seed, env_name, ...), read-only."""
        return self._session.metadata

    @property
    def messages(self) -> Sequence[Message]:
        return self._messages

    @functools.cached_property
    def _messages(self) -> tuple[Message, ...]:
        """The conversation. Sessions recorded without messages fall back to their last LM
        call's input and output, or to the `prompt` / `completion` synth-ai's eval keeps in
        metadata."""
        if self._session.messages:
            return self._session.messages
        if self._session.lm_calls:
            last = self._session.lm_calls[-1]
            output = last.output_messages or ((Message("assistant", "", tool_calls=last.tool_calls),)
                                              if last.tool_calls else ())
            return (*last.input_messages, *output)
        prompt, completion = self._session.metadata.get("prompt"), self._session.metadata.get("completion")
        found = [Message("user", str(prompt))] if prompt else []
        if completion:
            found.append(Message("assistant", str(completion)))
        return tuple(found)

    @property
    def lm_calls(self) -> Sequence[LMCall]:
        return self._session.lm_calls

    @property
    def tool_calls(self) -> Sequence[ToolCall]:
        """Every tool call the agent made, in order (from LM calls, else from messages)."""
        calls = self._session.lm_calls
        if calls:
            return tuple(call for lm in calls for call in lm.tool_calls)
        return tuple(call for m in self._messages if m.role == "assistant" for call in m.tool_calls)

    @property
    def events(self) -> Sequence[Event]:
        return self._session.events

    @property
    def rewards(self) -> Sequence[EventReward]:
        """Every event reward (step rewards, achievement unlocks, ...), in order."""
        return tuple(reward for event in self._session.events for reward in event.rewards)

    @property
    def outcome(self) -> OutcomeReward | None:
        return self._session.outcome

    @functools.cached_property
    def final_answer(self) -> str | None:
        """The text of the agent's last message, or None when the trace does not end with one."""
        messages = self._messages
        if not messages or messages[-1].role != "assistant":
            return None
        return messages[-1].text or None

    @functools.cached_property
    def num_turns(self) -> int:
        """Agent turns: LM calls, or assistant messages when no call was recorded."""
        return len(self._session.lm_calls) or sum(1 for m in self._messages if m.role == "assistant")
