"""Checking SFT JSONL against OpenAI's chat fine-tuning format, line by line (a prompt-completion
example, TRL's conversational form, is checked as the chat it holds).

The filter runs `check_example` on every example before writing it, so what it writes always
passes; `synthkit validate` runs `validate_file` on any file. Errors make a file unusable;
warnings (no `tools` beside tool calls, tool calls never answered, tool content as a list of
parts, extra top-level keys such as `metadata`) are things strict uploaders reject, and `strict`
turns them into errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from synthkit.errors import SynthkitError
from synthkit.filtering.examples import as_chat
from synthkit.filtering.tokens import count_tokens

__all__ = ["Findings", "ValidationReport", "check_example", "validate_file"]

ROLES = ("system", "user", "assistant", "tool", "function")
MESSAGE_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id", "weight", "function_call",
                "refusal"}
TOP_KEYS = {"messages", "tools", "parallel_tool_calls"}
PART_FIELDS = ("text", "image_url", "refusal")  # part type -> the field holding it


@attrs.define
class Findings:
    errors: list[str] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)


def _empty(content: Any) -> bool:
    if content is None:
        return True
    if isinstance(content, str):
        return not content.strip()
    if isinstance(content, list):
        return not content or all(isinstance(p, Mapping) and p.get("type") == "text"
                                  and not str(p.get("text", "")).strip() for p in content)
    return False


def _check_parts(index: int, role: str, content: Any, found: Findings) -> None:
    """Content parts as fine-tuning takes them: text, images by URL (in user messages only: an
    image is never the model's output), refusals."""
    if not isinstance(content, list):
        return
    for number, part in enumerate(content):
        where = f"message {index} content[{number}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if not isinstance(kind, str) or kind not in PART_FIELDS:
            found.errors.append(f"{where}: a part must be an object whose type is one of {', '.join(PART_FIELDS)}")
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, Mapping) or not isinstance(image.get("url"), str) or not image["url"]:
                found.errors.append(f"{where}: image_url must be {{\"url\": text}}")
            elif role != "user":
                found.errors.append(f"{where}: images belong in user messages, not {role} messages")
        elif not isinstance(part.get(kind), str):
            found.errors.append(f"{where}: a {kind} part needs {kind} as text")


def _check_tool_calls(index: int, calls: Any, found: Findings) -> list[str]:
    if not isinstance(calls, list) or not calls:
        found.errors.append(f"message {index}: tool_calls must be a non-empty list")
        return []
    ids = []
    for number, call in enumerate(calls):
        where = f"message {index} tool_calls[{number}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(function, Mapping):
            found.errors.append(f"{where}: must be {{\"id\", \"type\": \"function\", \"function\": "
                                "{\"name\", \"arguments\"}}")
            continue
        if not isinstance(call.get("id"), str) or not call["id"]:
            found.errors.append(f"{where}: has no id")
        else:
            ids.append(call["id"])
        if call.get("type") != "function":
            found.errors.append(f"{where}: type must be \"function\", not {call.get('type')!r}")
        if not isinstance(function.get("name"), str) or not function["name"]:
            found.errors.append(f"{where}: function has no name")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            found.errors.append(f"{where}: arguments must be a JSON string, not {type(arguments).__name__}")
        else:
            try:
                json.loads(arguments)
            except ValueError:
                found.errors.append(f"{where}: arguments are not valid JSON: {arguments[:60]!r}")
    return ids


def check_example(example: Any) -> Findings:
    """Every problem of one example, as messages naming the message they are in."""
    found = Findings()
    if not isinstance(example, Mapping):
        found.errors.append(f"not a JSON object but {type(example).__name__}")
        return found
    if "messages" not in example and ("prompt" in example or "completion" in example):
        prompt, completion = example.get("prompt"), example.get("completion")
        if not isinstance(prompt, list) or not isinstance(completion, list) or not completion or not all(
                isinstance(m, Mapping) and m.get("role") == "assistant" for m in completion):
            found.errors.append("a prompt-completion example needs a prompt list and a completion list "
                                "of assistant messages")
            return found
        example = as_chat(example)
    extra = sorted(set(example) - TOP_KEYS)
    if extra:
        found.warnings.append(f"extra top-level keys: {', '.join(extra)}")
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        found.errors.append("no messages list")
        return found
    open_calls: list[str] = []  # ids of the last assistant tool calls not yet answered
    seen_user = seen_other = has_calls = False
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            found.errors.append(f"message {index}: not an object")
            continue
        role = message.get("role")
        if role not in ROLES:
            found.errors.append(f"message {index}: role {role!r} is not one of {', '.join(ROLES)}")
            continue
        unknown = sorted(set(message) - MESSAGE_KEYS)
        if unknown:
            found.errors.append(f"message {index}: unknown keys {', '.join(unknown)}")
        calls = message.get("tool_calls")
        if role == "system" and seen_other:
            found.errors.append(f"message {index}: a system message after the conversation started")
        if role != "system":
            seen_other = True
        if role == "user":
            seen_user = True
        if role == "assistant" and not seen_user:
            found.errors.append(f"message {index}: an assistant message before any user message")
        if calls is not None and role != "assistant":
            found.errors.append(f"message {index}: only assistant messages carry tool_calls")
        if "name" in message and not isinstance(message["name"], str):
            found.errors.append(f"message {index}: name must be text")
        if "weight" in message and (isinstance(message["weight"], bool) or message["weight"] not in (0, 1)):
            found.errors.append(f"message {index}: weight must be 0 or 1")
        if role == "tool":
            if message.get("tool_call_id") not in open_calls:
                found.errors.append(f"message {index}: tool message answers no open call id "
                                    f"({message.get('tool_call_id')!r})")
            else:
                open_calls.remove(message["tool_call_id"])
            if isinstance(message.get("content"), list):  # the Chat API takes it; fine-tuning has refused it
                found.warnings.append(f"message {index}: tool content is a list of parts, where OpenAI "
                                      "fine-tuning has been seen to require text")
        elif open_calls and role != "tool":
            found.warnings.append(f"message {index}: tool calls {', '.join(open_calls)} were never answered")
            open_calls = []
        if role == "assistant" and calls is not None:
            has_calls = True
            open_calls = _check_tool_calls(index, calls, found)
            if "content" in message and message["content"] is not None and not isinstance(message["content"], str | list):
                found.errors.append(f"message {index}: content must be text, a list of parts or null")
        elif _empty(message.get("content")):
            found.errors.append(f"message {index}: empty content")
        elif not isinstance(message.get("content"), str | list):
            found.errors.append(f"message {index}: content must be text or a list of parts")
        _check_parts(index, role, message.get("content"), found)
    last = messages[-1]
    if not isinstance(last, Mapping) or last.get("role") != "assistant":
        found.errors.append("the last message is not an assistant message")
    if has_calls and not example.get("tools"):
        found.warnings.append("tool calls without a tools list")
    if "tools" in example and not (isinstance(example["tools"], list) and all(
            isinstance(t, Mapping) and t.get("type") == "function" and isinstance(t.get("function"), Mapping)
            and isinstance(t["function"].get("name"), str) and t["function"]["name"] for t in example["tools"])):
        found.errors.append("tools must be a list of {\"type\": \"function\", \"function\": {\"name\", ...}}")
    return found


@attrs.define
class ValidationReport:
    path: Path
    examples: int = 0
    errors: list[tuple[int, str]] = attrs.field(factory=list)  # (line, message)
    warnings: list[tuple[int, str]] = attrs.field(factory=list)
    tokens: int = 0
    longest: tuple[int, int] | None = None  # (line, tokens)

    def failed(self, strict: bool) -> bool:
        return bool(self.errors or (strict and self.warnings))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as handle:
            yield from enumerate(handle, start=1)
    except UnicodeDecodeError as exc:
        raise SynthkitError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def validate_file(path: str | Path, max_tokens: int | None = None) -> ValidationReport:
    """Check every line of an SFT JSONL file (streamed: any size); examples above
    `max_tokens` are errors."""
    path = Path(path)
    if not path.is_file():
        raise SynthkitError(f"no such file: {path}" if not path.exists() else f"{path} is not a file")
    report = ValidationReport(path)
    for line_number, line in _lines(path):
        if not line.strip():
            report.errors.append((line_number, "empty line"))
            continue
        try:
            example = json.loads(line)
        except ValueError as exc:
            report.errors.append((line_number, f"not valid JSON: {exc}"))
            continue
        report.examples += 1
        found = check_example(example)
        report.errors.extend((line_number, e) for e in found.errors)
        report.warnings.extend((line_number, w) for w in found.warnings)
        if not found.errors:  # a malformed example has no token count to speak of
            tokens = count_tokens(as_chat(example))
            report.tokens += tokens
            if max_tokens is not None and tokens > max_tokens:
                report.errors.append((line_number, f"about {tokens} tokens, above max_tokens={max_tokens}"))
            if report.longest is None or tokens > report.longest[1]:
                report.longest = (line_number, tokens)
    if not report.examples and not report.errors:
        report.errors.append((0, "the file holds no example"))
    return report
