"""Examples from LM calls, from the messages table, and from synth-ai eval's prompt/completion."""

from __future__ import annotations

from collections import Counter

from synthkit import LMCall, Message, ToolCall
from synthkit.filtering.examples import build_examples

SYSTEM = Message(role="system", content="Play.")
CALL = ToolCall(name="interact", arguments='{"actions": ["do"]}', call_id="c1")


def call(*inputs, reply="ok", tool_calls=(), error=None, tools=()):
    output = () if reply is None and not tool_calls else (Message(role="assistant", content=reply or "",
                                                                  tool_calls=tool_calls),)
    return LMCall(input_messages=inputs, output_messages=output, error=error, tools=tools)


def test_one_example_per_call_with_its_full_input_and_tools():
    left = Counter()
    tools = ({"type": "function", "function": {"name": "interact"}},)
    examples = build_examples([
        call(SYSTEM, Message(role="user", content="obs 1"), reply=None, tool_calls=(CALL,), tools=tools),
        call(SYSTEM, Message(role="user", content="obs 2"), error="rate limited"),
        call(SYSTEM, Message(role="user", content="obs 3"), reply=None),
    ], [], {}, "call", left)
    assert examples == [{"messages": [
        {"role": "system", "content": "Play."}, {"role": "user", "content": "obs 1"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "interact", "arguments": '{"actions": ["do"]}'}}]}],
        "tools": list(tools)}]
    assert left == {"errored LM call": 1, "LM call without completion": 1}


def test_a_session_example_joins_growing_and_fresh_inputs():
    user1, user2 = Message(role="user", content="hi"), Message(role="user", content="and?")
    answer1 = Message(role="assistant", content="hello")
    growing = build_examples([call(SYSTEM, user1, reply="hello"), call(SYSTEM, user1, answer1, user2, reply="done")],
                             [], {}, "session", Counter())
    assert [m["content"] for m in growing[0]["messages"]] == ["Play.", "hi", "hello", "and?", "done"]
    fresh = build_examples([call(SYSTEM, user1, reply="a"), call(SYSTEM, user2, reply="b")], [], {}, "session",
                           Counter())
    assert [m["content"] for m in fresh[0]["messages"]] == ["Play.", "hi", "a", "and?", "b"]


def test_messages_turn_by_turn_keep_the_system_prompt_and_the_history():
    chat = [SYSTEM, Message(role="user", content="q1"), Message(role="assistant", content="a1"),
            Message(role="user", content="q2"), Message(role="assistant", content="a2")]
    examples = build_examples([], chat, {}, "call", Counter())
    assert [[m["content"] for m in e["messages"]] for e in examples] == [
        ["Play.", "q1", "a1"], ["Play.", "q1", "a1", "q2", "a2"]]
    # an agent that records its system prompt at every step: one step per example
    steps = [SYSTEM, Message(role="user", content="o1"), Message(role="assistant", content="x"),
             SYSTEM, Message(role="user", content="o2"), Message(role="assistant", content="y")]
    assert [[m["content"] for m in e["messages"]] for e in build_examples([], steps, {}, "call", Counter())] == [
        ["Play.", "o1", "x"], ["Play.", "o2", "y"]]
    assert len(build_examples([], steps, {}, "session", Counter())[0]["messages"]) == 6


def test_prompt_and_completion_are_the_last_resort():
    left = Counter()
    assert build_examples([], [], {"prompt": "2+2?", "completion": "4"}, "call", left) == [
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}]
    assert build_examples([], [], {"prompt": "2+2?"}, "call", left) == []
    assert left == {"sessions with no conversation recorded": 1}
