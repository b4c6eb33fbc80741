"""The trace model: what one recorded agent episode holds, as frozen attrs classes.

The classes mirror synth-ai's tracing v3 tables (a Session is a `session_traces` row with its
children) but keep only what a reader needs; `traces.store` maps them to and from the tables.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

import attrs
import cattrs
from cattrs.preconf.json import make_converter

__all__ = [
    "Event",
    "EventReward",
    "EventType",
    "LMCall",
    "Message",
    "OutcomeReward",
    "Session",
    "SessionStatus",
    "Timestep",
    "ToolCall",
    "converter",
    "from_json",
    "to_json",
]


def _frozen_dict(value: Any) -> dict[str, Any]:
    """A copy as a plain dict; a dict subclass (a read-only one, say) is kept as it is."""
    if isinstance(value, dict) and type(value) is not dict:
        return value
    return dict(value) if value else {}


class EventType(str, enum.Enum):
    """Kinds of event, stored in `events.event_type` under synth-ai's names."""

    LM_CALL = "cais"
    ENVIRONMENT = "environment"
    RUNTIME = "runtime"


class SessionStatus(str, enum.Enum):
    """Kept in `session_traces.metadata.status`; sessions written by synth-ai have none."""

    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    FAILED = "failed"


@attrs.frozen
class ToolCall:
    """A tool call as the model produced it: `arguments` is the JSON text, unparsed."""

    name: str
    arguments: str = "{}"
    call_id: str | None = None

    @property
    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON, or None when the model wrote invalid JSON."""
        try:
            return json.loads(self.arguments)
        except (TypeError, ValueError):
            return None


@attrs.frozen
class Message:
    """A chat message; `content` is text or a list of OpenAI-style content parts."""

    role: str
    content: str | list[dict[str, Any]] = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None
    step_id: str | None = None
    time: float | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)

    @property
    def text(self) -> str:
        """The text of the message; non-text parts of a multimodal message are left out."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(
            str(part.get("text", "")) for part in self.content if part.get("type") == "text"
        )


@attrs.frozen
class LMCall:
    """One language-model call: what went in, what came out, and what it cost."""

    model: str | None = None
    provider: str | None = None
    input_messages: tuple[Message, ...] = ()
    output_messages: tuple[Message, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tools: tuple[dict[str, Any], ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    call_id: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    request_params: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)

    @property
    def output_text(self) -> str:
        return "\n".join(m.text for m in self.output_messages if m.text)

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    @property
    def usage(self) -> dict[str, int | None]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "total_tokens": self.total_tokens}


@attrs.frozen
class EventReward:
    """A reward attached to one event (a sparse step reward, an unlocked achievement, ...)."""

    value: float
    type: str | None = None
    key: str | None = None
    annotation: Any = None
    source: str | None = None
    turn: int | None = None
    created_at: datetime | None = None


@attrs.frozen
class Event:
    """Something that happened in a session: an LM call, an environment step, or a runtime event."""

    type: EventType
    step_id: str | None = None
    system_instance_id: str | None = None
    time: float | None = None
    lm_calls: tuple[LMCall, ...] = ()
    reward: float | None = None
    terminated: bool | None = None
    truncated: bool | None = None
    state_before: Any = None
    state_after: Any = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    rewards: tuple[EventReward, ...] = ()


@attrs.frozen
class Timestep:
    """A step of the episode (one agent decision, usually); events and messages name it by `step_id`."""

    step_id: str
    index: int
    turn: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)


@attrs.frozen
class OutcomeReward:
    """How the episode ended, as the environment scored it."""

    total_reward: float
    achievements_count: int = 0
    total_steps: int = 0
    achievements: tuple[str, ...] = ()
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    created_at: datetime | None = None


@attrs.frozen
class Session:
    """One recorded episode with everything recorded in it, in recording order."""

    session_id: str
    created_at: datetime
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict)
    timesteps: tuple[Timestep, ...] = ()
    events: tuple[Event, ...] = ()
    messages: tuple[Message, ...] = ()
    outcome_rewards: tuple[OutcomeReward, ...] = ()
    experiment_id: str | None = None

    @property
    def outcome(self) -> OutcomeReward | None:
        """The latest outcome reward, or None when the session has none."""
        return self.outcome_rewards[-1] if self.outcome_rewards else None

    @property
    def lm_calls(self) -> tuple[LMCall, ...]:
        return tuple(call for event in self.events for call in event.lm_calls)

    @property
    def status(self) -> SessionStatus:
        """Sessions without a recorded status (synth-ai's) count as completed."""
        return SessionStatus(self.metadata.get("status", SessionStatus.COMPLETED.value))


converter: cattrs.Converter = make_converter()
# `content` and free-form JSON fields hold plain JSON values: pass them through untouched.
converter.register_structure_hook(str | list[dict[str, Any]], lambda value, _: value)
converter.register_structure_hook(Any, lambda value, _: value)


def to_json(obj: Any) -> str:
    """Serialise any model object to JSON text (non-ASCII kept)."""
    return converter.dumps(obj, ensure_ascii=False)


def from_json(text: str, cls: type) -> Any:
    return converter.loads(text, cls)
