"""Bringing traces in from elsewhere: OpenAI chat JSONL files and other trace DBs.

Each import first reads its whole source and checks it (line by line, streaming), then writes
in one transaction: a bad line or a session-id clash means nothing is imported, unless the
caller asked to skip those. The destination DB is opened (or created) only once the source
has passed, so a failed import leaves no file behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from synthkit.errors import SynthkitError
from synthkit.traces import codec
from synthkit.traces.model import Event, EventType, LMCall, Message, Session, Timestep
from synthkit.traces.scores import score_number
from synthkit.traces.store import TraceStore, TraceWriter

__all__ = ["ImportFailed", "ImportReport", "chat_record_to_session", "detect_format",
           "import_chat_jsonl", "import_trace_db"]

FORMATS = ("chat_jsonl", "trace_db")
_CHAT_KEYS = {"messages", "tools", "parallel_tool_calls", "metadata", "session_id"}
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name"}


class ImportFailed(SynthkitError):
    """The source cannot be imported as asked."""


@attrs.frozen
class ImportReport:
    source: Path
    db_path: Path
    format: str
    imported: int
    created_db: bool
    skipped_existing: int = 0
    skipped_bad: tuple[tuple[int, str], ...] = ()

    def lines(self) -> list[str]:
        out = []
        if self.created_db:
            out.append(f"created trace DB {self.db_path}")
        out.append(f"imported {self.imported} sessions from {self.source} ({self.format}) "
                   f"into {self.db_path}")
        if self.skipped_existing:
            out.append(f"skipped {self.skipped_existing} sessions already in {self.db_path}")
        if self.skipped_bad:
            out.append(f"skipped {len(self.skipped_bad)} bad lines:")
            out.extend(f"  line {number}: {reason}" for number, reason in self.skipped_bad)
        return out


def detect_format(source: Path) -> str:
    with source.open("rb") as handle:
        return "trace_db" if handle.read(16) == b"SQLite format 3\x00" else "chat_jsonl"


def _check_source(source: Path) -> None:
    if not source.exists():
        raise ImportFailed(f"source not found: {source}")
    if not source.is_file():
        raise ImportFailed(f"source is not a file: {source}")


# -- chat JSONL ---------------------------------------------------------------------------------

class _BadLine(ValueError):
    pass


def _chat_message(raw: Any, index: int) -> Message:
    where = f"message {index + 1}"
    if not isinstance(raw, dict):
        raise _BadLine(f"{where} is not an object")
    role = raw.get("role")
    if role not in _ROLES:
        raise _BadLine(f"{where} has role {role!r} (expected one of {', '.join(_ROLES)})")
    content = raw.get("content")
    if content is None:
        if role != "assistant" or not raw.get("tool_calls"):
            raise _BadLine(f"{where} ({role}) has no content")
        content = ""
    elif isinstance(content, list):
        if not all(isinstance(part, dict) and "type" in part for part in content):
            raise _BadLine(f"{where} has a content list whose parts lack a 'type'")
    elif not isinstance(content, str):
        raise _BadLine(f"{where} has content of type {type(content).__name__}")
    raw_calls = raw.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise _BadLine(f"{where} has tool_calls that are not a list")
    for call in raw_calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise _BadLine(f"{where} has a tool call without function.name")
        if not isinstance(function.get("arguments", "{}"), str | dict):
            raise _BadLine(f"{where} has tool call arguments that are neither JSON text nor an object")
    extra = {k: v for k, v in raw.items() if k not in _MESSAGE_KEYS}  # e.g. fine-tuning `weight`
    return Message(role=role, content=content, tool_calls=codec.tool_calls_from_openai(raw_calls),
                   tool_call_id=raw.get("tool_call_id"), name=raw.get("name"), metadata=extra)


def chat_line_to_session(line: str, created_at: datetime, metadata: dict[str, Any]) -> Session:
    """One chat JSONL line as a session (see `chat_record_to_session`)."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise _BadLine(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    return chat_record_to_session(record, created_at, metadata)


def chat_record_to_session(record: Any, created_at: datetime, metadata: dict[str, Any]) -> Session:
    """An OpenAI chat record (`{"messages": [...], "tools": [...]}`) as a session: each
    assistant turn a timestep with its LM call. A malformed record raises `ValueError`."""
    if not isinstance(record, dict):
        raise _BadLine("not a JSON object")
    raw_messages = record.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _BadLine("no 'messages' list")
    tools = record.get("tools") or []
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise _BadLine("'tools' is not a list of objects")
    line_metadata = record.get("metadata") or {}
    if not isinstance(line_metadata, dict):
        raise _BadLine("'metadata' is not an object")
    problem = metadata_problem(line_metadata)
    if problem:
        raise _BadLine(f"metadata.{problem}")
    messages = [_chat_message(raw, i) for i, raw in enumerate(raw_messages)]
    if not any(m.role == "assistant" for m in messages):
        raise _BadLine("no assistant message")

    given = [source["session_id"] for source in (record, line_metadata) if source.get("session_id") is not None]
    if any(not isinstance(value, str) or not value.strip() for value in given):
        raise _BadLine("session_id is not a non-empty string")
    session_id = given[0] if given else "chat_" + hashlib.sha256(json.dumps(
        [raw_messages, tools], sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]
    extra = {k: v for k, v in record.items() if k not in _CHAT_KEYS}
    session_metadata = {**metadata, **{k: v for k, v in line_metadata.items() if k != "session_id"}}
    if extra:
        session_metadata["extra_fields"] = extra
    request_params = ({"parallel_tool_calls": record["parallel_tool_calls"]}
                      if "parallel_tool_calls" in record else {})

    timesteps, events, placed = [], [], []
    start = 0
    for i, message in enumerate(messages):
        is_last = i == len(messages) - 1
        if message.role != "assistant" and not is_last:
            continue
        step_id = f"turn_{len(timesteps)}"
        timesteps.append(Timestep(step_id=step_id, index=len(timesteps), turn=len(timesteps)))
        placed.extend(attrs.evolve(m, step_id=step_id) for m in messages[start:i + 1])
        if message.role == "assistant":
            events.append(Event(type=EventType.LM_CALL, step_id=step_id, lm_calls=(LMCall(
                model=session_metadata.get("model"), input_messages=tuple(messages[:i]),
                output_messages=(message,), tool_calls=message.tool_calls, tools=tuple(tools),
                request_params=request_params),)))
        start = i + 1
    return Session(session_id=session_id, created_at=created_at, metadata=session_metadata,
                   timesteps=tuple(timesteps), events=tuple(events), messages=tuple(placed))


def _chat_sessions(source: Path, metadata: dict[str, Any], started: datetime,
                   ) -> Iterator[tuple[int, Session | None, str | None]]:
    """(line number, session or None, why it is bad or None) for each non-blank line."""
    with source.open(encoding="utf-8", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                # Sessions of one import keep the file's order in the DB's recording order.
                created_at = started + timedelta(microseconds=number)
                try:
                    yield number, chat_line_to_session(line, created_at, metadata), None
                except _BadLine as exc:
                    yield number, None, str(exc)
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """What is wrong with session metadata that selections and filters read (None: nothing)."""
    for key in ("task_id", "task_split", "model"):  # compared as text: 3 matches task_ids=[3]
        value = metadata.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int | None):
            return f"{key} must be text, not {json.dumps(value, ensure_ascii=False, default=str)[:60]}"
    if not isinstance(metadata.get("status"), str | None):
        return f"status must be text, not {json.dumps(metadata['status'], ensure_ascii=False, default=str)[:60]}"
    scores = metadata.get("judge_scores")
    if scores is not None and (not isinstance(scores, dict) or any(
            value is not None and score_number(value) is None for value in scores.values())):
        return "judge_scores must be an object of numbers"
    return None


def import_chat_jsonl(source: str | Path, db_path: str | Path, *, skip_bad: bool = False,
                      skip_existing: bool = False, metadata: dict[str, Any] | None = None,
                      ) -> ImportReport:
    source, db_path = Path(source), Path(db_path)
    _check_source(source)
    started = datetime.now(UTC)
    metadata = dict(metadata or {})
    problem = metadata_problem(metadata)
    if problem:
        raise ImportFailed(f"metadata.{problem}")

    bad: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, session, reason in _chat_sessions(source, metadata, started):
        if session is not None and session.session_id in seen:
            reason = f"same session id as line {seen[session.session_id]} ({session.session_id})"
        if reason is not None:
            if not skip_bad:
                raise ImportFailed(f"{source}: line {number}: {reason} (nothing imported; "
                                   "skip_bad=true imports the other lines)")
            bad.append((number, reason))
        else:
            seen[session.session_id] = number
    if not seen:
        raise ImportFailed(f"{source}: no session to import")

    existing = _existing_ids(db_path, seen)
    if existing and not skip_existing:
        raise ImportFailed(f"{db_path} already has session {existing[0]} (line {seen[existing[0]]}) "
                           f"and {len(existing) - 1} more; skip_existing=true skips them")
    bad_lines = {number for number, _ in bad}
    with TraceWriter.open(db_path, create=True) as writer, writer.transaction():
        imported = 0
        for number, session, _ in _chat_sessions(source, metadata, started):
            if number in bad_lines or session is None or session.session_id in existing:
                continue
            writer.write_session(session)
            imported += 1
        created = writer.created
    return ImportReport(source=source, db_path=db_path, format="chat_jsonl", imported=imported,
                        created_db=created, skipped_existing=len(existing),
                        skipped_bad=tuple(bad))


def _existing_ids(db_path: Path, ids: Any) -> list[str]:
    if not db_path.exists():
        return []
    with TraceStore.open(db_path) as store:
        return [sid for sid in ids if store.conn.execute(
            "SELECT 1 FROM session_traces WHERE session_id = ?", [sid]).fetchone()]


# -- another trace DB ---------------------------------------------------------------------------

# the merged tables that refer to others
MERGED_CHILDREN = ("session_traces", "session_timesteps", "events", "messages", "event_rewards", "outcome_rewards",
                   "judge_scores", "rubric_scores")


def _check_references(store: TraceStore, source: Path) -> None:
    """Rows of a session's tables whose session, step or event is gone (SQLite does not enforce
    foreign keys unless asked) would not merge: name the first."""
    for table in MERGED_CHILDREN:
        if not store.table_exists(table):
            continue
        dangling = store.conn.execute(f'PRAGMA foreign_key_check("{table}")').fetchone()
        if dangling:
            _, row, parent = dangling[:3]
            (session,) = store.conn.execute(f'SELECT session_id FROM "{table}" WHERE rowid = ?', (row,)).fetchone()
            raise ImportFailed(f"{source}: row {row} of {table} (session {session}) refers to a missing row of "
                               f"{parent} (left behind by a deleted session?); nothing imported")


def import_trace_db(source: str | Path, db_path: str | Path, *, skip_existing: bool = False,
                    ) -> ImportReport:
    """Merge the sessions of another trace DB (synth-ai's or synthkit's) row for row, ids kept,
    with their judge results."""
    source, db_path = Path(source), Path(db_path)
    _check_source(source)
    if db_path.exists() and source.resolve() == db_path.resolve():
        raise ImportFailed(f"source and db.path are the same file: {source}")
    with TraceStore.open(source) as store:
        _check_references(store, source)
        ids = [session.session_id for session in store.sessions()]  # each read whole: a bad one is named here
    existing = set(_existing_ids(db_path, ids))
    if existing and not skip_existing:
        first = sorted(existing)[0]
        raise ImportFailed(f"{db_path} already has session {first} and {len(existing) - 1} "
                           "more from the source; skip_existing=true skips them")
    with TraceWriter.open(db_path, create=True) as writer:
        imported = writer.merge_from(source, skip=existing)
        created = writer.created
    return ImportReport(source=source, db_path=db_path, format="trace_db", imported=imported,
                        created_db=created, skipped_existing=len(existing))
