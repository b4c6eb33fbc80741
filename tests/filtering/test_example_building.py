"""Examples from LM calls, from the messages table, and from synth-ai eval's prompt/completion."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from synthkit import LMCall, Message, ToolCall
from synthkit.filtering.examples import build_examples, openai_message
from synthkit.traces import codec
from tests.conftest import SYNTH_AI_DB
from tests.factories import make_session

SYSTEM = Message(role="system", content="Play.")
CALL = ToolCall(name="interact", arguments='{"actions": ["do"]}', call_id="c1")


def call(*inputs, reply="ok", tool_calls=(), error=None, tools=()):
    """A chat turn read back from the call record synthkit writes for such a call."""
    output = () if reply is None and not tool_calls else (Message(role="assistant", content=reply or "",
                                                                  tool_calls=tool_calls),)
    return codec.chat_turn(codec.lm_call_to_record(
        LMCall(input_messages=inputs, output_messages=output, error=error, tools=tools)))


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
    other = build_examples([call(SYSTEM, user1, reply="a"), call(Message(role="system", content="Stop."), user2,
                                                                   reply="b")], [], {}, "session", Counter())
    assert [m["content"] for m in other[0]["messages"]] == ["Play.", "hi", "a", "Stop.", "and?", "b"]


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
    # one session example: the system prompt once, then every step
    assert [m["content"] for m in build_examples([], steps, {}, "session", Counter())[0]["messages"]] == [
        "Play.", "o1", "x", "o2", "y"]
    # a new system message is no repeat: it stays, where the checks will see it
    changed = [*steps[:3], Message(role="system", content="Now in French."), *steps[4:]]
    assert [m["content"] for m in build_examples([], changed, {}, "session", Counter())[0]["messages"]] == [
        "Play.", "o1", "x", "Now in French.", "o2", "y"]


def test_prompt_and_completion_are_the_last_resort():
    left = Counter()
    assert build_examples([], [], {"prompt": "2+2?", "completion": "4"}, "call", left) == [
        {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}]
    assert build_examples([], [], {"prompt": "2+2?"}, "call", left) == []
    assert left == {"sessions with no conversation recorded": 1}


def _turn_from_model(record):
    """What the LM call model makes of a record, in chat form: the reference for `chat_turn`."""
    model = codec.lm_call_from_record(record)
    message = next((m for m in reversed(model.output_messages) if m.role == "assistant"), None)
    content = message.content if message is not None else ""
    tool_calls = message.tool_calls if message is not None and message.tool_calls else model.tool_calls
    reply = None if codec.blank(content) and not tool_calls else openai_message(
        Message(role="assistant", content=content, tool_calls=tool_calls))
    return codec.ChatTurn([openai_message(m) for m in model.input_messages], reply, list(model.tools), model.error)


ODD_RECORDS = [
    {"input_messages": [{"role": "user", "content": "no parts"}], "output_text": "from output_text"},
    {"input_messages": [{"parts": [{"type": "text", "text": "no role"}]}],
     "output_messages": [{"role": "assistant", "parts": []}],
     "output_tool_calls": [{"name": "go", "arguments": {"to": "north"}, "call_id": "c9"}]},
    {"input_messages": [{"role": "tool", "parts": [{"type": "text", "text": "42"}], "tool_call_id": "c1", "name": "calc"},
                        {"role": "assistant", "parts": [{"type": "text", "text": "thinking"}],
                         "metadata": {"tool_calls": [{"call_id": "c2", "name": "calc", "arguments": {"x": 1}}]}}],
     "output_messages": [{"role": "assistant", "parts": [{"type": "text", "text": "first"}]},
                         {"role": "user", "parts": [{"type": "text", "text": "not a reply"}]}]},
    {"input_messages": [], "error": {"code": 500}},
    {"input_messages": [], "error": "timeout", "output_messages": []},
]


def test_chat_turns_read_from_records_match_the_lm_call_model():
    records = [json_record for (text,) in sqlite3.connect(SYNTH_AI_DB).execute(
        "SELECT call_records FROM events WHERE call_records IS NOT NULL") for json_record in json.loads(text)]
    records += [codec.lm_call_to_record(c) for e in make_session().events for c in e.lm_calls]
    assert len(records) > 5 and any(r["output_tool_calls"] for r in records)
    for record in records + ODD_RECORDS:
        assert codec.chat_turn(record) == _turn_from_model(record), record
