"""How model objects map onto synth-ai's tracing v3 columns, both ways.

synth-ai stores chat messages as TEXT that may hold plain text or JSON, LM calls as its
`LLMCallRecord` JSON in `events.call_records`, and datetimes in several ISO-8601 spellings.
Writing, synthkit uses synth-ai's shapes (so synth-ai reads our DBs) and marks how a message's
content was stored; reading, it accepts everything synth-ai writes.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeVar

from synthkit.traces.model import LMCall, Message, ToolCall

# `messages.message_type` allows only these; other roles are stored as JSON carrying the role.
ROLE_TO_MESSAGE_TYPE = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool_result",
    "function": "tool_result",
    "tool_result": "tool_result",
    "tool_use": "tool_use",
}
MESSAGE_TYPE_TO_ROLE = {"system": "system", "user": "user", "assistant": "assistant",
                        "tool_result": "tool", "tool_use": "tool_use",
                        # what synth-ai task apps record for their policy's turns
                        "policy_system_prompt": "system", "policy_user_prompt": "user",
                        "policy_tool_call": "assistant"}

_DATETIME_REPR = re.compile(r"datetime\.datetime\((?P<fields>[\d,\s]+?)(?:,\s*tzinfo=(?P<tz>.+))?\)")

CONTENT_FORMAT_KEY = "content_format"  # in messages.metadata: "text" or "json"

# Keys of synth-ai's LLMRequestParams; anything else a caller passes goes to `raw_params`.
_REQUEST_PARAM_KEYS = ("temperature", "top_p", "max_tokens", "stop", "top_k", "presence_penalty",
                       "frequency_penalty", "repetition_penalty", "seed", "n", "best_of",
                       "response_format", "json_mode")


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def loads(text: Any, default: Any = None) -> Any:
    """Decode a JSON column; a value that is not JSON text comes back as it is."""
    if text is None:
        return default
    if not isinstance(text, str | bytes):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _from_repr(text: str) -> datetime | None:
    """`datetime.datetime(2025, 10, 31, 12, 0, 5, 120000, tzinfo=datetime.timezone.utc)`: how
    synth-ai task apps write datetimes they cannot serialise (they fall back to repr)."""
    match = _DATETIME_REPR.fullmatch(text)
    if match is None:
        return None
    fields = [int(part) for part in match["fields"].split(",") if part.strip()]
    if match["tz"] and "utc" not in match["tz"].lower():
        raise ValueError(f"a date-time with a time zone other than UTC: {text!r}")
    return datetime(*fields, tzinfo=UTC)


def parse_time(value: Any) -> datetime | None:
    """Read the datetime spellings found in trace DBs and task-app traces (ISO-8601, epoch
    seconds, Python reprs); naive times are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float):
        return _from_epoch(value, value)
    else:
        text = str(value).strip()
        if text.startswith("datetime.datetime("):
            parsed = _from_repr(text)
            if parsed is None:
                raise ValueError(f"not a date-time: {value!r}")
            return parsed
        text = text.replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return _from_epoch(text, value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_epoch(seconds: Any, value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (ValueError, OverflowError, OSError):  # not a number, or out of a date-time's range
        raise ValueError(f"not a date-time: {value!r}") from None


def format_time(value: datetime | None) -> str | None:
    """ISO-8601 in UTC: one spelling, so times sort as text (naive times are taken as UTC)."""
    if value is None:
        return None
    return (value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


# -- tool calls ---------------------------------------------------------------------------------

def _openai_tool_call(item: dict[str, Any]) -> dict[str, Any]:
    """One tool call in OpenAI's shape, whichever shape it was stored in; arguments as JSON text."""
    if not isinstance(item, dict) or not isinstance(item.get("function") or {}, dict):
        raise ValueError("a tool call is not a JSON object with a function object")
    function = item.get("function") or item
    arguments = function.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {"id": item.get("id") or item.get("call_id"), "type": "function",
            "function": {"name": function["name"], "arguments": arguments}}


def tool_calls_from_openai(items: Any) -> tuple[ToolCall, ...]:
    """OpenAI's `tool_calls` list (`{"id", "function": {"name", "arguments"}}`) as ToolCalls."""
    calls = []
    for item in items or ():
        call = _openai_tool_call(item)
        calls.append(ToolCall(name=call["function"]["name"], arguments=call["function"]["arguments"],
                              call_id=call["id"]))
    return tuple(calls)


def tool_calls_to_openai(calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    return [{"id": c.call_id, "type": "function",
             "function": {"name": c.name, "arguments": c.arguments}} for c in calls]


# -- session messages (the `messages` table) -------------------------------------------------------

def _is_plain(message: Message) -> bool:
    return (isinstance(message.content, str) and not message.tool_calls
            and message.tool_call_id is None and message.name is None
            and MESSAGE_TYPE_TO_ROLE.get(ROLE_TO_MESSAGE_TYPE.get(message.role, "")) == message.role)


def message_to_row(message: Message) -> dict[str, Any]:
    """Columns `message_type`, `content` and `metadata` for one session message."""
    if message.role not in ROLE_TO_MESSAGE_TYPE:
        raise ValueError(f"unknown message role {message.role!r} "
                         f"(known: {', '.join(ROLE_TO_MESSAGE_TYPE)})")
    metadata = dict(message.metadata)
    if _is_plain(message):
        content = message.content
        metadata[CONTENT_FORMAT_KEY] = "text"
    else:
        payload: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            payload["tool_calls"] = tool_calls_to_openai(message.tool_calls)
        if message.tool_call_id is not None:
            payload["tool_call_id"] = message.tool_call_id
        if message.name is not None:
            payload["name"] = message.name
        content = dumps(payload)
        metadata[CONTENT_FORMAT_KEY] = "json"
    return {"message_type": ROLE_TO_MESSAGE_TYPE[message.role], "content": content,
            "event_time": message.time, "metadata": dumps(metadata)}


def _structured_payload(content: str, metadata: dict[str, Any]) -> Any:
    """The JSON a message row holds, or None when its content is plain text."""
    declared = metadata.get(CONTENT_FORMAT_KEY)
    if declared == "text":
        return None
    if declared != "json" and "json_payload" not in metadata and content[:1] not in "{[":
        return None
    payload = loads(content)
    if isinstance(payload, dict) and "role" in payload and ("content" in payload or "text" in payload):
        return payload
    if isinstance(payload, list) and payload and all(
            isinstance(part, dict) and "type" in part for part in payload):
        return payload
    return None


def message_from_row(message_type: str, content: str | None, metadata_text: str | None,
                     step_id: str | None, time: float | None) -> Message:
    metadata = loads(metadata_text, {})
    if not isinstance(metadata, dict):
        metadata = {"metadata": metadata}
    content = content or ""
    payload = _structured_payload(content, metadata)
    metadata.pop(CONTENT_FORMAT_KEY, None)
    role = MESSAGE_TYPE_TO_ROLE.get(message_type, message_type)
    if isinstance(payload, list):
        return Message(role=role, content=payload, step_id=step_id, time=time, metadata=metadata)
    if isinstance(payload, dict):
        body = payload["content"] if "content" in payload else payload["text"]
        if body is None:
            body = ""
        elif not isinstance(body, str | list):
            body = dumps(body)
        return Message(role=payload.get("role") or role, content=body,
                       tool_calls=tool_calls_from_openai(payload.get("tool_calls")),
                       tool_call_id=payload.get("tool_call_id"), name=payload.get("name"),
                       step_id=step_id, time=time, metadata=metadata)
    return Message(role=role, content=content, step_id=step_id, time=time, metadata=metadata)


# -- LM calls (synth-ai's LLMCallRecord JSON in `events.call_records`) --------------------------

def _content_to_parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """synth-ai's content parts; a content list keeps each original part in `data`, so it
    reads back exactly (a one-part list stays a list, extra keys such as cache_control stay)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    parts = []
    for part in content:
        if part.get("type") == "text":
            parts.append({"type": "text", "text": part.get("text", ""), "data": part})
        else:
            url = (part.get("image_url") or {}).get("url") if part.get("type") == "image_url" else None
            parts.append({"type": "image" if url else part.get("type", "data"), "uri": url,
                          "data": part})
    return parts


def _parts_to_content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if not parts:
        return ""
    if len(parts) == 1 and parts[0].get("type") == "text" and not isinstance(parts[0].get("data"), dict):
        return parts[0].get("text") or ""
    content = []
    for part in parts:
        if isinstance(part.get("data"), dict) and "type" in part["data"]:
            content.append(part["data"])
        elif part.get("type") == "text":
            content.append({"type": "text", "text": part.get("text") or ""})
        elif part.get("uri") or part.get("base64_data"):
            url = part.get("uri") or f"data:{part.get('mime_type') or 'image/png'};base64,{part['base64_data']}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        else:
            content.append({k: v for k, v in part.items() if v is not None})
    return content


def _llm_message(message: Message) -> dict[str, Any]:
    metadata = dict(message.metadata)
    if message.tool_calls:
        metadata["tool_calls"] = tool_calls_to_openai(message.tool_calls)
    return {"role": message.role, "parts": _content_to_parts(message.content),
            "name": message.name, "tool_call_id": message.tool_call_id, "metadata": metadata}


def _message_from_llm(item: dict[str, Any]) -> Message:
    metadata = dict(item.get("metadata") or {})
    tool_calls = tool_calls_from_openai(metadata.pop("tool_calls", None))
    parts = item.get("parts")
    content = _parts_to_content(parts) if parts is not None else (item.get("content") or "")
    return Message(role=item.get("role") or "user", content=content, tool_calls=tool_calls,
                   tool_call_id=item.get("tool_call_id"), name=item.get("name"),
                   metadata=metadata)


def lm_call_to_record(call: LMCall) -> dict[str, Any]:
    params = dict(call.request_params)
    tool_choice = params.pop("tool_choice", None)
    request_params: dict[str, Any] = {key: params.pop(key, None) for key in _REQUEST_PARAM_KEYS}
    request_params["tool_config"] = {"tools": list(call.tools)} if call.tools else None
    request_params["raw_params"] = params
    usage = {"input_tokens": call.input_tokens, "output_tokens": call.output_tokens,
             "total_tokens": call.total_tokens, "cost_usd": call.cost_usd}
    return {
        "call_id": call.call_id,
        "api_type": "chat_completions",
        "provider": call.provider,
        "model_name": call.model or "",
        "schema_version": "1.0",
        "started_at": format_time(call.started_at),
        "completed_at": format_time(call.completed_at),
        "latency_ms": call.latency_ms,
        "request_params": request_params,
        "input_messages": [_llm_message(m) for m in call.input_messages],
        "tool_choice": tool_choice,
        "output_messages": [_llm_message(m) for m in call.output_messages],
        "output_text": call.output_text or None,
        "output_tool_calls": [
            {"name": c.name, "arguments_json": c.arguments, "arguments": c.parsed_arguments,
             "call_id": c.call_id, "index": i} for i, c in enumerate(call.tool_calls)],
        "usage": usage,
        "finish_reason": call.finish_reason,
        "outcome": "error" if call.error else "success",
        "error": {"message": call.error} if call.error else None,
        "metadata": {},
    }


def _optional(value: Any, kind: type, where: str) -> Any:
    """The value, or an empty one when it is absent or empty (as the readers below take it)."""
    if value and not isinstance(value, kind):
        raise ValueError(f"{where} is not a JSON {'object' if kind is dict else 'list'}")
    return value or kind()


def _objects(items: Any, where: str) -> list[dict[str, Any]]:
    items = _optional(items, list, where)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{i}] is not a JSON object")
    return items


def _check_record(record: Any) -> None:
    """Raise a ValueError naming the first field of an LLMCallRecord whose JSON has the wrong shape."""
    if not isinstance(record, dict):
        raise ValueError("a call record is not a JSON object")
    request = _optional(record.get("request_params"), dict, "request_params")
    _optional(request.get("raw_params"), dict, "request_params.raw_params")
    tool_config = _optional(request.get("tool_config"), dict, "request_params.tool_config")
    _optional(tool_config.get("tools"), list, "request_params.tool_config.tools")
    _optional(record.get("usage"), dict, "usage")
    if not isinstance(record.get("error"), str | dict | None):
        raise ValueError("error is neither text nor a JSON object")
    for key in ("started_at", "completed_at"):
        try:
            parse_time(record.get(key))
        except ValueError as exc:
            raise ValueError(f"{key} is {exc}") from None
    _objects(record.get("output_tool_calls"), "output_tool_calls")
    for key in ("input_messages", "output_messages"):
        for i, message in enumerate(_objects(record.get(key), key)):
            metadata = _optional(message.get("metadata"), dict, f"{key}[{i}].metadata")
            for j, call in enumerate(_objects(metadata.get("tool_calls"), f"{key}[{i}].metadata.tool_calls")):
                function = _optional(call.get("function"), dict, f"{key}[{i}].metadata.tool_calls[{j}].function")
                if not isinstance((function or call).get("name"), str):
                    raise ValueError(f"{key}[{i}].metadata.tool_calls[{j}] has no function name")
            _objects(message.get("parts"), f"{key}[{i}].parts")


T = TypeVar("T")


def from_records(records: list[Any], read: Callable[[dict[str, Any]], T], where: str = "") -> list[T]:
    """`read` applied to each call record. A record whose JSON has the wrong shape is a
    ValueError naming its field; the shape is checked only when reading fails, which keeps
    reading fast and lets a fault of the reader itself show as what it is."""
    try:
        return [read(record) for record in records]
    except (AttributeError, TypeError, ValueError, KeyError):
        for i, record in enumerate(records):
            try:
                _check_record(record)
            except ValueError as problem:
                raise ValueError(f"call record {i}{where}: {problem}") from None
        raise


def _error(record: dict[str, Any]) -> str | None:
    error = record.get("error")
    if isinstance(error, dict):
        return error.get("message") or dumps(error)
    if error is None or isinstance(error, str):
        return error
    raise TypeError("error")  # `from_records` says where


def _tools(record: dict[str, Any]) -> list[dict[str, Any]]:
    tools = ((record.get("request_params") or {}).get("tool_config") or {}).get("tools") or []
    if not isinstance(tools, list):
        raise TypeError("tools")  # `from_records` says where
    return tools


def _output_tool_calls(record: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(name, arguments as JSON text, call id) of each tool call the record's completion made."""
    for item in record.get("output_tool_calls") or ():
        arguments = item.get("arguments_json")
        if arguments is None:
            arguments = json.dumps(item.get("arguments") or {}, ensure_ascii=False)
        yield item.get("name") or "", arguments, item.get("call_id")


def lm_call_from_record(record: dict[str, Any]) -> LMCall:
    request = dict(record.get("request_params") or {})
    request.pop("tool_config", None)
    params = {k: v for k, v in request.items() if k != "raw_params" and v is not None}
    params.update(request.get("raw_params") or {})
    if record.get("tool_choice") is not None:
        params["tool_choice"] = record["tool_choice"]
    output_messages = tuple(_message_from_llm(m) for m in record.get("output_messages") or ())
    if not output_messages and record.get("output_text"):
        output_messages = (Message(role="assistant", content=record["output_text"]),)
    tool_calls = [ToolCall(name=name, arguments=arguments, call_id=call_id)
                  for name, arguments, call_id in _output_tool_calls(record)]
    usage = record.get("usage") or {}
    return LMCall(
        model=record.get("model_name") or None,
        provider=record.get("provider"),
        input_messages=tuple(_message_from_llm(m) for m in record.get("input_messages") or ()),
        output_messages=output_messages,
        tool_calls=tuple(tool_calls),
        tools=tuple(_tools(record)),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        cost_usd=usage.get("cost_usd"),
        latency_ms=record.get("latency_ms"),
        finish_reason=record.get("finish_reason"),
        error=_error(record),
        call_id=record.get("call_id"),
        started_at=parse_time(record.get("started_at")),
        completed_at=parse_time(record.get("completed_at")),
        request_params=params,
    )


# -- LM calls as fine-tuning turns ------------------------------------------------------------------

def blank(content: Any) -> bool:
    return content is None or content == "" or content == []


class ChatTurn(NamedTuple):
    """One LM call in OpenAI's chat format, read straight from its record (an export needs
    nothing else, and skipping the model objects makes it several times faster)."""

    inputs: list[dict[str, Any]]
    reply: dict[str, Any] | None  # the completion as an assistant message; None: it produced nothing
    tools: list[dict[str, Any]]
    error: str | None


def chat_message(item: dict[str, Any]) -> dict[str, Any]:
    """A message of a call record as an OpenAI chat message (content null beside tool calls)."""
    parts = item.get("parts")
    result: dict[str, Any] = {"role": item.get("role") or "user",
                              "content": _parts_to_content(parts) if parts is not None else (item.get("content") or "")}
    tool_calls = (item.get("metadata") or {}).get("tool_calls")
    if tool_calls:
        result["tool_calls"] = [_openai_tool_call(call) for call in tool_calls]
        if blank(result["content"]):
            result["content"] = None
    if item.get("tool_call_id") is not None:
        result["tool_call_id"] = item["tool_call_id"]
    if item.get("name") is not None:
        result["name"] = item["name"]
    return result


def _chat_reply(record: dict[str, Any]) -> dict[str, Any] | None:
    """The last assistant message of the completion; its tool calls, else the record's."""
    outputs = record.get("output_messages") or ()
    message = next((chat_message(m) for m in reversed(outputs) if (m.get("role") or "user") == "assistant"), None)
    if not outputs and record.get("output_text"):
        message = {"role": "assistant", "content": record["output_text"]}
    content = message["content"] if message is not None else ""
    tool_calls = message.get("tool_calls") if message is not None else None
    if not tool_calls:
        tool_calls = [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                      for name, arguments, call_id in _output_tool_calls(record)]
    if blank(content) and not tool_calls:
        return None
    reply: dict[str, Any] = {"role": "assistant", "content": None if blank(content) and tool_calls else content}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    return reply


def chat_turn(record: dict[str, Any]) -> ChatTurn:
    return ChatTurn(inputs=[chat_message(m) for m in record.get("input_messages") or ()],
                    reply=_chat_reply(record), tools=_tools(record),
                    error=_error(record))
