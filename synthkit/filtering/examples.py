"""SFT examples from what a session recorded, in OpenAI's chat fine-tuning format.

Where the conversation comes from, in order: the LM call records (the full input each call
saw, its completion and the tools offered), else the messages table, else synth-ai eval's
`metadata.prompt` / `metadata.completion`. Calls that errored or produced nothing are left out
and counted; nothing is invented to fill a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from synthkit.traces import codec
from synthkit.traces.codec import ChatTurn
from synthkit.traces.model import Message

__all__ = ["as_chat", "build_examples", "in_format", "openai_message"]

Example = dict[str, Any]


def openai_message(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        result["tool_calls"] = codec.tool_calls_to_openai(message.tool_calls)
        if codec.blank(message.content):
            result["content"] = None
    if message.tool_call_id is not None:
        result["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        result["name"] = message.name
    return result


def _from_calls(calls: Sequence[ChatTurn], granularity: str, left_out: Counter[str]) -> list[Example]:
    turns = []
    for call in calls:
        if call.error:
            left_out["errored LM call"] += 1
        elif call.reply is None:
            left_out["LM call without completion"] += 1
        else:
            turns.append(call)
    if granularity == "call":
        return [_example([*call.inputs, call.reply], call.tools) for call in turns]
    if not turns:
        return []
    # One conversation: a call whose input extends it adds the new messages; one that starts
    # afresh (the same system prompt and a new observation) adds what it has that is new.
    conversation: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    for call in turns:
        if call.inputs[:len(conversation)] == conversation:
            conversation.extend(call.inputs[len(conversation):])
        else:
            conversation.extend(_without_repeated_prompts(conversation, call.inputs))
        conversation.append(call.reply)
        tools = call.tools or tools
    return [_example(conversation, tools)]


def _without_repeated_prompts(conversation: list[dict[str, Any]], new: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """`new` without the system messages `conversation` already holds: an agent may send its
    system prompt again at every step. A different system message stays (and an example with
    it after the conversation started is left out as not valid, never silently changed)."""
    prompts = [m for m in conversation if m["role"] == "system"]
    kept = []
    for message in new:
        if message["role"] == "system":
            if message in prompts:
                continue
            prompts.append(message)
        kept.append(message)
    return kept


def _from_messages(messages: Sequence[Message], granularity: str, left_out: Counter[str]) -> list[Example]:
    chat = [openai_message(m) for m in messages]
    if granularity == "session":
        # each system prompt once, as from LM calls, and up to the last reply: what follows it
        # has nothing to learn from
        chat = _without_repeated_prompts([], chat)
        last = max((i for i, m in enumerate(chat) if m["role"] == "assistant"), default=None)
        return [] if last is None else [_example(chat[:last + 1], ())]
    # Turn by turn: each assistant reply with what came before it since the latest system
    # prompt (all of a chat; one step of an agent that re-sends its system prompt each step).
    examples = []
    start = 0
    for index, message in enumerate(chat):
        if message["role"] == "system" and (index == 0 or chat[index - 1]["role"] != "system"):
            start = index
        if message["role"] == "assistant" and index > start:
            examples.append(_example(chat[start:index + 1], ()))
    if not examples:
        left_out["messages without an assistant reply"] += 1
    return examples


def _example(messages: list[dict[str, Any]], tools: Sequence[dict[str, Any]]) -> Example:
    example: Example = {"messages": list(messages)}
    if tools:
        example["tools"] = list(tools)
    return example


def build_examples(calls: Sequence[ChatTurn], messages: Sequence[Message], metadata: Mapping[str, Any],
                   granularity: str, left_out: Counter[str]) -> list[Example]:
    """The examples of one session (one per LM call, or one in all with granularity
    `session`); what cannot become an example is counted in `left_out` by reason."""
    if calls:
        return _from_calls(calls, granularity, left_out)
    if messages:
        return _from_messages(messages, granularity, left_out)
    prompt, completion = metadata.get("prompt"), metadata.get("completion")
    if prompt and completion:
        return [_example([{"role": "user", "content": str(prompt)},
                          {"role": "assistant", "content": str(completion)}], ())]
    left_out["sessions with no conversation recorded"] += 1
    return []


def in_format(example: Example, format: str) -> Example:
    """An example as `filter.format` writes it: `openai` as built; `prompt_completion` (TRL's
    conversational prompt-completion) splits off the reply, so trainers learn from it alone."""
    if format == "openai":
        return example
    messages = example["messages"]
    return {"prompt": messages[:-1], "completion": messages[-1:],
            **{key: value for key, value in example.items() if key != "messages"}}


def as_chat(example: Any) -> Any:
    """A prompt-completion example as the one chat it holds (what the checks and token counts
    read); anything else as it is."""
    if isinstance(example, Mapping) and "messages" not in example and "prompt" in example \
            and "completion" in example and isinstance(example["prompt"], list) \
            and isinstance(example["completion"], list):
        return {"messages": [*example["prompt"], *example["completion"]],
                **{key: value for key, value in example.items() if key not in ("prompt", "completion")}}
    return example
