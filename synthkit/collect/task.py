"""What a task gives the rollout: an environment per seed that a policy acts in through tools.

A tool task (Crafter, math) hands the policy a system prompt, the tools it may call and an
observation per turn; the policy's LM call (real or scripted) comes back, and the environment
applies its tool calls, records what happened, and observes again until the episode is done.
Task apps run the whole rollout themselves and are a task of another kind (see `taskapp`).
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from synthkit.collect.episode import EpisodeRecorder
from synthkit.traces.model import LMCall, OutcomeReward, ToolCall

__all__ = ["Environment", "Observation", "first_tool_call"]


@attrs.frozen
class Observation:
    text: str  # what the policy reads
    state: Any = None  # the same, structured, for scripted policies
    done: bool = False


class Environment(Protocol):
    system_prompt: str
    tools: tuple[dict[str, Any], ...]

    def reset(self) -> Observation: ...

    def act(self, call: LMCall, recorder: EpisodeRecorder) -> Observation:
        """Apply the call's decision, record the environment's events and the tool result."""

    def outcome(self) -> OutcomeReward: ...


def first_tool_call(call: LMCall, name: str) -> tuple[ToolCall | None, dict[str, Any] | None, str | None]:
    """The call's first tool call, its arguments as a dict, and what is wrong with it (for the
    policy to read on its next turn); a wrong call is reported, never a crash."""
    if not call.tool_calls:
        return None, None, f"no tool call was made: call {name} to act"
    tool = call.tool_calls[0]
    if tool.name != name:
        return tool, None, f"there is no tool {tool.name!r}: call {name}"
    arguments = tool.parsed_arguments
    if not isinstance(arguments, dict):
        return tool, None, f"the arguments of {name} are not a JSON object: {tool.arguments[:120]!r}"
    return tool, arguments, None
