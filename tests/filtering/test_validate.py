"""The fine-tuning format checks, on single examples and on files."""

from __future__ import annotations

import json

import pytest

from synthkit.errors import SynthkitError
from synthkit.filtering.validate import check_example, validate_file

CALL = {"id": "c1", "type": "function", "function": {"name": "interact", "arguments": '{"a": 1}'}}
TOOLS = [{"type": "function", "function": {"name": "interact", "parameters": {}}}]


def chat(*messages, **extra):
    return {"messages": list(messages), **extra}


def user(text="hi"):
    return {"role": "user", "content": text}


def assistant(text="hello", **extra):
    return {"role": "assistant", "content": text, **extra}


GOOD = [
    chat({"role": "system", "content": "Be kind."}, user(), assistant()),
    chat(user(), assistant(None, tool_calls=[CALL]), {"role": "tool", "tool_call_id": "c1", "content": "ok"},
         assistant("done"), tools=TOOLS),
    chat(user([{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:x"}}]),
         assistant("a cat", weight=1)),
    {"prompt": [{"role": "system", "content": "Play."}, user()], "completion": [assistant(None, tool_calls=[CALL])],
     "tools": TOOLS},   # TRL's conversational prompt-completion
]


@pytest.mark.parametrize("example", GOOD)
def test_good_examples_pass(example):
    found = check_example(example)
    assert (found.errors, found.warnings) == ([], [])


@pytest.mark.parametrize(("example", "error"), [
    ([1, 2], "not a JSON object but list"),
    ({"messages": []}, "no messages list"),
    (chat(user(), {"role": "bot", "content": "x"}), "message 1: role 'bot' is not one of"),
    (chat(user(), assistant(), user()), "the last message is not an assistant message"),
    (chat(user(), assistant(""), ), "message 1: empty content"),
    (chat(user(), {"role": "system", "content": "late"}, assistant()), "message 1: a system message after"),
    (chat(assistant(), user(), assistant()), "message 0: an assistant message before any user message"),
    (chat(user(), assistant(None, tool_calls=[{**CALL, "function": {"name": "f", "arguments": {"a": 1}}}])),
     "message 1 tool_calls[0]: arguments must be a JSON string, not dict"),
    (chat(user(), assistant(None, tool_calls=[{**CALL, "function": {"name": "f", "arguments": "{oops"}}])),
     "message 1 tool_calls[0]: arguments are not valid JSON"),
    (chat(user(), assistant(None, tool_calls=[{"function": {"name": "f", "arguments": "{}"}, "type": "function"}])),
     "message 1 tool_calls[0]: has no id"),
    (chat(user(), {"role": "tool", "tool_call_id": "zz", "content": "ok"}, assistant()),
     "message 1: tool message answers no open call id ('zz')"),
    (chat(user(), assistant(extra_key=1)), "message 1: unknown keys extra_key"),
    (chat(user(), assistant(weight=2)), "message 1: weight must be 0 or 1"),
    (chat(user(), assistant(weight=True)), "message 1: weight must be 0 or 1"),
    ({"messages": 5}, "no messages list"),
    (chat(user(), assistant(None, tool_calls=5)), "message 1: tool_calls must be a non-empty list"),
    (chat(user(), assistant(name={"a": 1})), "message 1: name must be text"),
    (chat(user(), assistant(), tools=[{"type": "code", "function": {"name": "f"}}]), "tools must be a list of"),
    (chat(user(), assistant(), tools=[{"type": "function", "function": {}}]), "tools must be a list of"),
    ({"prompt": [user()], "completion": []}, "a prompt-completion example needs a prompt list and a completion"),
    ({"prompt": [user()], "completion": [user()]}, "a prompt-completion example needs"),
    ({"prompt": "hi", "completion": [assistant()]}, "a prompt-completion example needs"),
    ({"prompt": [user()]}, "a prompt-completion example needs"),
    ({"prompt": [assistant("first")], "completion": [assistant()]}, "message 0: an assistant message before"),
    (chat(user([{"type": "text", "text": 5}]), assistant()), "message 0 content[0]: a text part needs text as text"),
    (chat(user([{"type": "text", "text": "a"}, {"type": [1]}]), assistant()),
     "message 0 content[1]: a part must be an object whose type is one of text, image_url, refusal"),
    (chat(user([{"type": "audio", "data": "x"}]), assistant()), "message 0 content[0]: a part must be an object"),
    (chat(user(["look"]), assistant()), "message 0 content[0]: a part must be an object"),
    (chat(user([{"type": "image_url", "image_url": 5}]), assistant()), 'message 0 content[0]: image_url must be'),
    (chat(user(), assistant([{"type": "image_url", "image_url": {"url": "data:x"}}])),
     "message 1 content[0]: images belong in user messages, not assistant messages"),
    (chat(user(), assistant([{"type": "refusal", "refusal": None}])), "message 1 content[0]: a refusal part needs"),
    (chat(user(), {"role": "tool", "tool_call_id": "c1", "content": "ok", "tool_calls": [CALL]}, assistant()),
     "message 1: only assistant messages carry tool_calls"),
    (chat({"role": "user", "content": "hi", "tool_calls": [CALL]}, assistant()),
     "message 0: only assistant messages carry tool_calls"),
    (chat(user(), assistant(None, tool_calls=[5])),
     'message 1 tool_calls[0]: must be {"id", "type": "function", "function": {"name", "arguments"}}'),
    (chat(user(), assistant(None, tool_calls=[CALL, {**CALL, "id": "c2", "function": "interact"}])),
     'message 1 tool_calls[1]: must be {"id", "type": "function", "function": {"name", "arguments"}}'),
    (chat(user(), assistant(None, tool_calls=[{**CALL, "type": "tool"}])),
     "message 1 tool_calls[0]: type must be \"function\", not 'tool'"),
    (chat(user(), assistant(None, tool_calls=[{k: v for k, v in CALL.items() if k != "type"}])),
     'message 1 tool_calls[0]: type must be "function", not None'),
    (chat(user(), assistant(None, tool_calls=[{**CALL, "function": {"arguments": "{}"}}])),
     "message 1 tool_calls[0]: function has no name"),
    (chat(user(), assistant(None, tool_calls=[{**CALL, "function": {"name": "", "arguments": "{}"}}])),
     "message 1 tool_calls[0]: function has no name"),
    (chat(user(), assistant(5)), "message 1: content must be text or a list of parts"),
    (chat(user({"type": "text", "text": "hi"}), assistant()), "message 0: content must be text or a list of parts"),
    (chat(user(), assistant({"a": 1}, tool_calls=[CALL])), "message 1: content must be text, a list of parts or null"),
    (chat(user([5]), assistant()),
     "message 0 content[0]: a part must be an object whose type is one of text, image_url, refusal"),
    (chat(user(), assistant([{"type": "text", "text": "a"}, None])),
     "message 1 content[1]: a part must be an object whose type is one of text, image_url, refusal"),
    (chat(user(), "hello", assistant()), "message 1: not an object"),
    (chat(user(), assistant(), ["assistant", "hi"]), "message 2: not an object"),
])
def test_each_broken_example_names_its_problem(example, error):
    assert any(e.startswith(error) for e in check_example(example).errors), check_example(example).errors


@pytest.mark.parametrize(("example", "warning"), [
    (chat(user(), assistant(None, tool_calls=[CALL]), user("and?"), assistant(), tools=TOOLS),
     "message 2: tool calls c1 were never answered"),
    (chat(user(), assistant(None, tool_calls=[CALL, {**CALL, "id": "c2"}]),
          {"role": "tool", "tool_call_id": "c1", "content": "ok"}, assistant("done"), tools=TOOLS),
     "message 3: tool calls c2 were never answered"),
    (chat(user(), assistant(None, tool_calls=[CALL]), assistant(None, tool_calls=[{**CALL, "id": "c2"}]),
          tools=TOOLS), "message 2: tool calls c1 were never answered"),
])
def test_a_tool_call_no_tool_message_answers_is_a_warning(example, warning):
    found = check_example(example)
    assert (found.errors, found.warnings) == ([], [warning])


def test_a_tool_answer_as_a_list_of_parts_is_a_warning():
    answer = {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}]}
    found = check_example(chat(user(), assistant(None, tool_calls=[CALL]), answer, assistant("done"), tools=TOOLS))
    assert found.errors == []
    assert found.warnings == ["message 2: tool content is a list of parts, where OpenAI fine-tuning has been "
                              "seen to require text"]


def test_warnings_are_what_strict_uploaders_reject():
    found = check_example(chat(user(), assistant(None, tool_calls=[CALL]), metadata={"session_id": "s"}))
    assert found.errors == []
    assert found.warnings == ["extra top-level keys: metadata", "tool calls without a tools list"]


def test_a_file_is_checked_line_by_line(tmp_path):
    path = tmp_path / "sft.jsonl"
    rows = [json.dumps(GOOD[0]), "{not json", "", json.dumps(chat(user(), user())),
            json.dumps({**GOOD[0], "metadata": {}}), json.dumps(chat(user("x" * 4000), assistant()))]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = validate_file(path, max_tokens=500)
    assert report.examples == 4
    assert [(line, text.split(":")[0]) for line, text in report.errors[:3]] == [
        (2, "not valid JSON"), (3, "empty line"), (4, "the last message is not an assistant message")]
    longest = report.longest[1]
    assert longest > 500 and report.errors[3:] == [(6, f"about {longest} tokens, above max_tokens=500")]
    assert report.warnings == [(5, "extra top-level keys: metadata")]
    assert report.longest[0] == 6 and report.failed(strict=False)


def test_a_missing_binary_or_folder_path_is_one_clear_error(tmp_path):
    with pytest.raises(SynthkitError, match="no such file"):
        validate_file(tmp_path / "nope.jsonl")
    (tmp_path / "sft.jsonl").mkdir()
    with pytest.raises(SynthkitError) as folder:
        validate_file(tmp_path / "sft.jsonl")
    assert str(folder.value) == f"{tmp_path / 'sft.jsonl'} is not a file"
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SynthkitError, match="is not UTF-8 text"):
        validate_file(tmp_path / "bin.jsonl")


def test_malformed_lines_are_errors_not_crashes_and_an_empty_file_fails(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"messages": 5}\n' + json.dumps(chat(user(), assistant(None, tool_calls=5))) + "\n")
    report = validate_file(path)
    assert [line for line, _ in report.errors] == [1, 2] and report.tokens == 0
    (tmp_path / "empty.jsonl").write_text("")
    empty = validate_file(tmp_path / "empty.jsonl")
    assert empty.errors == [(0, "the file holds no example")] and empty.failed(strict=False)
