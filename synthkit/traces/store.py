"""The trace DB on disk: checked opening, streaming reads, and the single writer.

Readers open the file read-only (`mode=ro`) and never change it, not even its journal mode.
Writers use WAL while they write, a busy timeout and `BEGIN IMMEDIATE` transactions, so
writers queue rather than interleave; the last one out returns the DB to a single file. Sessions stream in chunks: memory does not grow with the size of the DB.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import sqlite_utils

from synthkit.errors import SynthkitError
from synthkit.traces import codec, schema
from synthkit.traces.model import (
    Event,
    EventReward,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    Session,
    SessionStatus,
    Timestep,
)

__all__ = ["Selection", "TraceDBError", "TraceStore", "TraceWriter"]

BUSY_TIMEOUT_MS = 30_000


class TraceDBError(SynthkitError):
    """The trace DB is missing, unreadable, or not a trace DB this version understands."""


def _values(value: Any) -> tuple[str, ...]:
    """A selection part: one value or several (a lone string is one value, not its letters)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _json_field(column: str, key: str) -> str:
    return f"json_extract({column}, '$.{key}')"


@attrs.frozen
class Selection:
    """Which sessions to read; every part is pushed into SQL. Empty parts select everything."""

    splits: tuple[str, ...] = attrs.field(default=(), converter=_values)
    task_ids: tuple[str, ...] = attrs.field(default=(), converter=_values)
    models: tuple[str, ...] = attrs.field(default=(), converter=_values)
    created_from: datetime | None = None
    created_to: datetime | None = None
    session_ids: tuple[str, ...] = attrs.field(default=(), converter=_values)
    include_failed: bool = True  # False: sessions recorded as failed or incomplete are left out

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if not self.include_failed:
            clauses.append(f"COALESCE({_json_field('metadata', 'status')}, '') NOT IN (?, ?)")
            params.extend([SessionStatus.FAILED.value, SessionStatus.INCOMPLETE.value])
        for values, expression in (  # as text, the way the filter compares them: task_ids=[3] finds 3
            (self.splits, f"CAST({_json_field('metadata', 'task_split')} AS TEXT)"),
            (self.task_ids, f"CAST({_json_field('metadata', 'task_id')} AS TEXT)"),
            (self.models, f"CAST({_json_field('metadata', 'model')} AS TEXT)"),
            (self.session_ids, "session_id"),
        ):
            if values:
                clauses.append(f"{expression} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        if self.created_from is not None:
            clauses.append("julianday(created_at) >= julianday(?)")
            params.append(codec.format_time(self.created_from))
        if self.created_to is not None:
            clauses.append("julianday(created_at) <= julianday(?)")
            params.append(codec.format_time(self.created_to))
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _check_file(path: Path) -> None:
    """What can be told without opening the file. Opening and closing it from Python would drop
    the SQLite locks this process holds on it (POSIX locks are per process), so only SQLite opens
    trace DBs; it tells a non-SQLite file apart when reading its schema."""
    if not path.exists():
        raise TraceDBError(f"trace DB not found: {path}")
    if path.is_dir():
        raise TraceDBError(f"trace DB path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise TraceDBError(f"{path} is an empty file, not a trace DB")


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> TraceDBError:
    if "locked" in str(exc):  # another connection holds it past our busy timeout
        return TraceDBError(f"{path} is locked by another process ({exc}); try again when it is done")
    return TraceDBError(f"{path} is corrupt or unreadable: {exc}")


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The DB's synthkit schema version (0: written by synth-ai), after checking it is a trace DB."""
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        if "file is not a database" in str(exc):
            raise TraceDBError(f"{path} is not a SQLite database") from None
        raise _unreadable(path, exc) from None
    try:
        missing = [t for t in schema.REQUIRED_COLUMNS if t not in tables]
        if "session_traces" not in tables:
            raise TraceDBError(f"{path} is a SQLite database but not a trace DB (no session_traces table)")
        if missing:
            raise TraceDBError(f"{path} is not a complete trace DB (missing tables: {', '.join(missing)})")
        for table, required in schema.REQUIRED_COLUMNS.items():
            columns = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            lacking = [c for c in required if c not in columns]
            if lacking:
                raise TraceDBError(
                    f"{path} is not a trace DB this version can read "
                    f"(table {table} lacks columns: {', '.join(lacking)})")
        if "synthkit_meta" not in tables:
            return 0
        row = conn.execute("SELECT value FROM synthkit_meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from None
    if row is None or not str(row[0]).isdigit():
        raise TraceDBError(f"{path} has an unreadable schema version: {None if row is None else row[0]!r}")
    version = int(row[0])
    if version > schema.SCHEMA_VERSION:
        raise TraceDBError(
            f"{path} has trace schema version {version}; this synthkit reads up to "
            f"version {schema.SCHEMA_VERSION}: upgrade synthkit")
    missing = [table for since, names in schema.TABLES_SINCE.items() if since <= version
               for table in names if table not in tables]
    if missing:
        raise TraceDBError(f"{path} lacks synthkit's {', '.join(missing)} table(s) (dropped by hand?): restore "
                           "them, or delete the synthkit_meta table too and the next command that writes makes "
                           "them afresh")
    return version


def _load_object(text: Any, what: str) -> dict[str, Any]:
    value = codec.loads(text, {})
    if not isinstance(value, dict):
        raise TraceDBError(f"{what} is not a JSON object: {str(text)[:80]!r}")
    return value


class TraceStore:
    """Read-only access to a trace DB, for commands and notebooks alike.

    >>> with TraceStore.open("traces/v3/synth_ai.db") as store:
    ...     for session in store.sessions(Selection(splits=["train"])):
    ...         print(session.session_id, session.outcome)
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, schema_version: int) -> None:
        self.path = path
        self.schema_version = schema_version
        self._conn = conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The read-only connection, for readers that write their own SQL."""
        return self._conn

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, made on first use: importing sqlite-utils
        imports pandas when it is installed (0.3 s), which reading commands do not need."""
        import sqlite_utils

        return sqlite_utils.Database(self._conn)

    @classmethod
    def open(cls, path: str | Path) -> TraceStore:
        """Open an existing trace DB read-only; anything else is a `TraceDBError`."""
        path = Path(path)
        _check_file(path)
        uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise TraceDBError(f"cannot open {path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        try:
            version = _schema_version(conn, path)
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, version)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """A DB damaged inside is found only when its pages are read: one clear error then."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise TraceDBError(f"cannot read {self.path}: {exc}") from None

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        with self.reading():
            yield from self._conn.execute(sql, params)

    # -- summaries ---------------------------------------------------------------------------

    def table_exists(self, table: str) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  [table]).fetchone() is not None

    def count(self, table: str) -> int:
        if not self.table_exists(table):
            return 0
        with self.reading():
            return self._conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]

    def count_lm_calls(self) -> int:
        """Call records across LM call events; an event without records counts as one call."""
        with self.reading():
            return self._conn.execute(
                "SELECT coalesce(sum(CASE WHEN json_valid(call_records) "
                "THEN json_array_length(call_records) ELSE 1 END), 0) "
                "FROM events WHERE event_type = 'cais'").fetchone()[0]

    def count_sessions(self, selection: Selection = Selection()) -> int:
        where, params = selection.where()
        with self.reading():
            return self._conn.execute(f"SELECT count(*) FROM session_traces{where}", params).fetchone()[0]

    def check_selection(self, selection: Selection, names: Mapping[str, str]) -> None:
        """A split, task id or model that no session has is a typo: reading nothing would look
        like success. `names` spells each part the way its caller's user wrote it."""
        for part, key in (("splits", "task_split"), ("task_ids", "task_id"), ("models", "model")):
            for value in getattr(selection, part):
                if not self.count_sessions(Selection(**{part: (value,)})):
                    known = sorted(str(v) for v, _ in self.metadata_values(key) if v is not None)
                    shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
                    raise SynthkitError(f"{names[part]}: no session has {key} {value!r} (known: {shown or 'none'})")

    def metadata_values(self, key: str) -> list[tuple[Any, int]]:
        """Distinct values of one session metadata key with their session counts (None: absent)."""
        expression = f"CASE WHEN json_valid(metadata) THEN {_json_field('metadata', key)} END"
        return [(row[0], row[1]) for row in self._rows(
            f"SELECT {expression} AS value, count(*) FROM session_traces "
            "GROUP BY value ORDER BY count(*) DESC, value")]

    def judge_score_keys(self) -> list[tuple[str, int]]:
        """Keys of `metadata.judge_scores` (synth-ai's and synthkit's) with how many sessions
        have a number under each."""
        return [(row[0], row[1]) for row in self._rows(
            "SELECT j.key, count(j.value) FROM session_traces AS s, "
            "json_each(CASE WHEN json_valid(s.metadata) THEN s.metadata END, '$.judge_scores') AS j "
            "GROUP BY j.key ORDER BY j.key")]

    # -- sessions ----------------------------------------------------------------------------

    def sessions(self, selection: Selection = Selection(), *, chunk_size: int = 100) -> Iterator[Session]:
        """Stream the selected sessions with all they hold, in recording order."""
        where, params = selection.where()
        chunk: list[sqlite3.Row] = []
        for row in self._rows(
                f"SELECT * FROM session_traces{where} ORDER BY created_at, session_id", params):
            chunk.append(row)
            if len(chunk) >= chunk_size:
                yield from self._assemble(chunk)
                chunk = []
        if chunk:
            yield from self._assemble(chunk)

    def session(self, session_id: str) -> Session | None:
        return next(self.sessions(Selection(session_ids=(session_id,))), None)

    def conversations(self, session_ids: Sequence[str]) -> dict[str, tuple[tuple[codec.ChatTurn, ...], tuple[Message, ...]]]:
        """The LM calls of some sessions as chat turns, and the messages of those that have no
        calls: all an export reads, without assembling whole sessions."""
        ids = list(session_ids)
        turns: dict[str, list[codec.ChatTurn]] = defaultdict(list)
        messages: dict[str, list[Message]] = defaultdict(list)
        marks = ", ".join("?" * len(ids))
        current = None
        try:
            # `+event_type`: look the events up by session, not by type (that index spans the DB)
            for current, event_id, text in self._rows(
                    f"SELECT session_id, id, call_records FROM events WHERE session_id IN ({marks}) "
                    "AND +event_type = 'cais' ORDER BY id", ids):
                records = _call_records(event_id, text)
                # an LM call event without records is a call with nothing to learn from
                turns[current].extend(codec.from_records(records, codec.chat_turn, f" of event {event_id}")
                                      if records is not None else [codec.ChatTurn([], None, [], None)])
            without = [i for i in ids if not turns[i]]
            for current, rows in (self._children("messages", without, "id") if without else {}).items():
                messages[current] = [codec.message_from_row(m["message_type"], m["content"], m["metadata"],
                                                            None, m["event_time"]) for m in rows]
        except (ValueError, TypeError, KeyError) as exc:
            raise TraceDBError(f"{self.path}: session {current} cannot be read: {exc}") from None
        return {i: (tuple(turns[i]), tuple(messages[i])) for i in ids}

    def _children(self, table: str, ids: list[str], order: str) -> dict[str, list[sqlite3.Row]]:
        grouped: dict[str, list[sqlite3.Row]] = defaultdict(list)
        marks = ", ".join("?" * len(ids))
        for row in self._rows(f"SELECT * FROM {table} WHERE session_id IN ({marks}) ORDER BY {order}", ids):
            grouped[row["session_id"]].append(row)
        return grouped

    def _assemble(self, rows: list[sqlite3.Row]) -> Iterator[Session]:
        ids = [row["session_id"] for row in rows]
        timesteps = self._children("session_timesteps", ids, "step_index, id")
        events = self._children("events", ids, "id")
        rewards = self._children("event_rewards", ids, "id")
        messages = self._children("messages", ids, "id")
        outcomes = self._children("outcome_rewards", ids, "id")
        for row in rows:
            sid = row["session_id"]
            step_ids = {ts["id"]: ts["step_id"] for ts in timesteps[sid]}
            rewards_by_event: dict[int, list[EventReward]] = defaultdict(list)
            try:
                for reward in rewards[sid]:
                    rewards_by_event[reward["event_id"]].append(_event_reward(reward))
                yield Session(
                    session_id=sid,
                    created_at=codec.parse_time(row["created_at"]),
                    metadata=_load_object(row["metadata"], f"metadata of session {sid}"),
                    experiment_id=row["experiment_id"] if "experiment_id" in row.keys() else None,
                    timesteps=tuple(_timestep(ts) for ts in timesteps[sid]),
                    events=tuple(_event(ev, step_ids.get(ev["timestep_id"]), rewards_by_event[ev["id"]])
                                 for ev in events[sid]),
                    messages=tuple(codec.message_from_row(
                        m["message_type"], m["content"], m["metadata"],
                        step_ids.get(m["timestep_id"]), m["event_time"]) for m in messages[sid]),
                    outcome_rewards=tuple(_outcome(o) for o in outcomes[sid]),
                )
            except (ValueError, TypeError, KeyError) as exc:
                raise TraceDBError(f"{self.path}: session {sid} cannot be read: {exc}") from None


def _timestep(row: sqlite3.Row) -> Timestep:
    return Timestep(step_id=row["step_id"], index=row["step_index"], turn=row["turn_number"],
                    started_at=codec.parse_time(row["started_at"]),
                    completed_at=codec.parse_time(row["completed_at"]),
                    metadata=_load_object(row["step_metadata"], f"metadata of step {row['step_id']}"))


def _number(value: Any, what: str) -> float | None:
    if not isinstance(value, int | float | None):
        raise ValueError(f"{what} is not a number: {value!r}")
    return value


def _event_reward(row: sqlite3.Row) -> EventReward:
    return EventReward(value=_number(row["reward_value"], f"the value of event reward {row['id']}"),
                       type=row["reward_type"], key=row["key"], annotation=codec.loads(row["annotation"]),
                       source=row["source"], turn=row["turn_number"], created_at=codec.parse_time(row["created_at"]))


def _call_records(event_id: int, text: Any) -> list[dict[str, Any]] | None:
    records = codec.loads(text)
    if records is not None and not isinstance(records, list):
        raise ValueError(f"call_records of event {event_id} is not a JSON list")
    return records


def _lm_calls(row: sqlite3.Row) -> tuple[LMCall, ...]:
    records = _call_records(row["id"], row["call_records"])
    if records is not None:
        return tuple(codec.from_records(records, codec.lm_call_from_record, f" of event {row['id']}"))
    # An LM call event written without call records still says which model ran and what it cost.
    return (LMCall(model=row["model_name"], provider=row["provider"],
                   input_tokens=row["input_tokens"], output_tokens=row["output_tokens"],
                   cost_usd=None if row["cost_usd"] is None else row["cost_usd"] / 100,
                   latency_ms=row["latency_ms"]),)


def _event(row: sqlite3.Row, step_id: str | None, rewards: list[EventReward]) -> Event:
    kind = EventType(row["event_type"])
    metadata = _load_object(row["metadata"], f"metadata of event {row['id']}")
    extra = codec.loads(row["event_metadata"])
    if extra is not None:
        metadata = {**metadata, "event_metadata": extra}
    return Event(
        type=kind, step_id=step_id, system_instance_id=row["system_instance_id"],
        time=row["event_time"],
        lm_calls=_lm_calls(row) if kind is EventType.LM_CALL else (),
        reward=_number(row["reward"], f"the reward of event {row['id']}"),
        terminated=None if row["terminated"] is None else bool(row["terminated"]),
        truncated=None if row["truncated"] is None else bool(row["truncated"]),
        state_before=codec.loads(row["system_state_before"]),
        state_after=codec.loads(row["system_state_after"]),
        metadata=metadata, rewards=tuple(rewards))


def _outcome(row: sqlite3.Row) -> OutcomeReward:
    metadata = _load_object(row["reward_metadata"], f"reward metadata of outcome {row['id']}")
    achievements = tuple(metadata.pop("final_achievements", None) or ())
    return OutcomeReward(total_reward=_number(row["total_reward"], f"the total_reward of outcome {row['id']}"),
                         achievements_count=row["achievements_count"],
                         total_steps=row["total_steps"], achievements=achievements,
                         metadata=metadata, created_at=codec.parse_time(row["created_at"]))


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TraceWriter:
    """The one place that writes traces: every method runs in a transaction of its own,
    or in the caller's `transaction()` when one is open."""

    def __init__(self, path: Path, conn: sqlite3.Connection, created: bool) -> None:
        import sqlite_utils

        self.path = path
        self.created = created
        self._conn = conn
        self.db = sqlite_utils.Database(conn)

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False,
             busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> TraceWriter:
        """Open a trace DB for writing; with `create`, a missing DB is made (`created` says so).

        Another writer holding the DB is waited for up to `busy_timeout_ms`."""
        path = Path(path)
        created = not path.exists()
        if created and not create:
            raise TraceDBError(f"trace DB not found: {path}")
        version = schema.SCHEMA_VERSION
        try:
            if not created:
                _check_file(path)
            elif not path.parent.is_dir():
                path.parent.mkdir(parents=True)
            conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False,
                                   timeout=busy_timeout_ms / 1000)
        except (OSError, sqlite3.Error) as exc:
            raise TraceDBError(f"cannot create {path}: {exc}" if created else
                               f"cannot open {path}: {exc}") from None
        conn.row_factory = sqlite3.Row
        writer = cls(path, conn, created)
        try:
            if not created:
                version = _schema_version(conn, path)
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if created or version < schema.SCHEMA_VERSION:
                with writer.transaction():
                    schema.create(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise TraceDBError(f"cannot write {path}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return writer

    def close(self) -> None:
        """Close, and leave the DB as one file at rest when no one else has it open.

        A read-only connection to a WAL-mode DB must create `-wal` and `-shm` files it cannot
        remove; in rollback-journal mode it creates nothing, so readers leave no trace.
        """
        with contextlib.suppress(sqlite3.OperationalError):
            self._conn.execute("PRAGMA busy_timeout = 0")
            self._conn.execute("PRAGMA journal_mode = DELETE")
        self._conn.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all; nested blocks are savepoints."""
        if self._conn.in_transaction:
            with self.db.atomic():
                yield
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):  # locked past the timeout, disk full, ...
                raise TraceDBError(f"cannot write {self.path}: {exc}") from None
            raise

    def has_session(self, session_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM session_traces WHERE session_id = ?",
                                  (session_id,)).fetchone() is not None

    def statuses(self, session_id: str) -> list[str]:
        """The statuses of `session_id` and of the sessions named `<session_id>-...` (its reruns)."""
        pattern = re.sub(r"([\\%_])", r"\\\1", session_id) + "-%"
        rows = self._conn.execute(
            "SELECT json_extract(metadata, '$.status') FROM session_traces "
            "WHERE session_id = ? OR session_id LIKE ? ESCAPE '\\'", (session_id, pattern))
        return [status or SessionStatus.COMPLETED.value for (status,) in rows]

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        return self.db[table].insert(row).last_rowid

    def _bump(self, column: str, session_id: str, timestep_row: int | None) -> None:
        self._conn.execute(f"UPDATE session_traces SET {column} = {column} + 1 WHERE session_id = ?",
                           (session_id,))
        if timestep_row is not None:
            self._conn.execute(
                f"UPDATE session_timesteps SET {column} = {column} + 1 WHERE id = ?", (timestep_row,))

    def _timestep_row(self, session_id: str, step_id: str | None) -> int | None:
        if step_id is None:
            return None
        row = self._conn.execute("SELECT id FROM session_timesteps WHERE session_id = ? AND step_id = ?",
                                 (session_id, step_id)).fetchone()
        if row is None:
            raise ValueError(f"session {session_id} has no timestep {step_id!r}")
        return row[0]

    def add_session(self, session_id: str, created_at: datetime, metadata: dict[str, Any],
                    experiment_id: str | None = None) -> None:
        with self.transaction():
            self._insert("session_traces", {
                "session_id": session_id, "created_at": codec.format_time(created_at),
                "num_timesteps": 0, "num_events": 0, "num_messages": 0,
                "metadata": codec.dumps(metadata), "experiment_id": experiment_id})

    def update_metadata(self, session_id: str, updates: dict[str, Any]) -> None:
        """Merge keys into a session's metadata (read and write in one transaction)."""
        with self.transaction():
            row = self._conn.execute("SELECT metadata FROM session_traces WHERE session_id = ?",
                                     (session_id,)).fetchone()
            if row is None:
                raise ValueError(f"no session {session_id!r}")
            metadata = _load_object(row[0], f"metadata of session {session_id}")
            self._conn.execute("UPDATE session_traces SET metadata = ? WHERE session_id = ?",
                               (codec.dumps({**metadata, **updates}), session_id))

    def add_timestep(self, session_id: str, timestep: Timestep) -> int:
        with self.transaction():
            row_id = self._insert("session_timesteps", {
                "session_id": session_id, "step_id": timestep.step_id,
                "step_index": timestep.index, "turn_number": timestep.turn,
                "started_at": codec.format_time(timestep.started_at),
                "completed_at": codec.format_time(timestep.completed_at),
                "num_events": 0, "num_messages": 0, "step_metadata": codec.dumps(timestep.metadata)})
            self._conn.execute(
                "UPDATE session_traces SET num_timesteps = num_timesteps + 1 WHERE session_id = ?",
                (session_id,))
            return row_id

    def complete_timestep(self, session_id: str, step_id: str, completed_at: datetime) -> None:
        with self.transaction():
            self._conn.execute(
                "UPDATE session_timesteps SET completed_at = ? WHERE session_id = ? AND step_id = ?",
                (codec.format_time(completed_at), session_id, step_id))

    def add_event(self, session_id: str, event: Event) -> int:
        calls = event.lm_calls
        row: dict[str, Any] = {
            "session_id": session_id, "event_type": event.type.value,
            "system_instance_id": event.system_instance_id, "event_time": event.time,
            "reward": event.reward, "terminated": event.terminated, "truncated": event.truncated,
            "system_state_before": codec.dumps(event.state_before),
            "system_state_after": codec.dumps(event.state_after),
        }
        metadata = dict(event.metadata)
        row["event_metadata"] = codec.dumps(metadata.pop("event_metadata", None))
        row["metadata"] = codec.dumps(metadata)
        if event.type is EventType.LM_CALL:
            costs = [c.cost_usd for c in calls if c.cost_usd is not None]
            row.update({
                "model_name": calls[0].model if calls else None,
                "provider": calls[0].provider if calls else None,
                "input_tokens": _sum(c.input_tokens for c in calls),
                "output_tokens": _sum(c.output_tokens for c in calls),
                "total_tokens": _sum(c.total_tokens for c in calls),
                # synth-ai's column holds whole cents, truncated as synth-ai does (rounded first
                # so that 0.29 is 29 cents, not 28); the exact USD stays in each call record.
                "cost_usd": int(round(sum(costs) * 100, 6)) if costs else None,
                "latency_ms": _sum(c.latency_ms for c in calls),
                "call_records": codec.dumps([codec.lm_call_to_record(c) for c in calls]),
            })
        elif calls:
            raise ValueError(f"a {event.type.value} event cannot carry LM calls")
        with self.transaction():
            timestep_row = self._timestep_row(session_id, event.step_id)
            row["timestep_id"] = timestep_row
            event_row = self._insert("events", row)
            self._bump("num_events", session_id, timestep_row)
            for reward in event.rewards:
                self.add_event_reward(session_id, event_row, reward)
            return event_row

    def add_event_reward(self, session_id: str, event_row: int, reward: EventReward) -> int:
        with self.transaction():
            return self._insert("event_rewards", {
                "event_id": event_row, "session_id": session_id, "turn_number": reward.turn,
                "reward_value": reward.value, "reward_type": reward.type, "key": reward.key,
                "annotation": codec.dumps(reward.annotation), "source": reward.source,
                "created_at": codec.format_time(reward.created_at) or _now()})

    def add_message(self, session_id: str, message: Message) -> int:
        row = {"session_id": session_id, **codec.message_to_row(message)}
        with self.transaction():
            timestep_row = self._timestep_row(session_id, message.step_id)
            row["timestep_id"] = timestep_row
            message_row = self._insert("messages", row)
            self._bump("num_messages", session_id, timestep_row)
            return message_row

    def add_outcome(self, session_id: str, outcome: OutcomeReward) -> int:
        metadata = dict(outcome.metadata)
        if outcome.achievements:
            metadata["final_achievements"] = list(outcome.achievements)
        with self.transaction():
            return self._insert("outcome_rewards", {
                "session_id": session_id, "total_reward": outcome.total_reward,
                "achievements_count": outcome.achievements_count,
                "total_steps": outcome.total_steps,
                "created_at": codec.format_time(outcome.created_at) or _now(),
                "reward_metadata": codec.dumps(metadata)})

    def merge_from(self, source: Path, skip: set[str] = frozenset()) -> int:
        """Copy every session of another trace DB but those in `skip`, row for row (columns
        this DB does not have are left out), renumbering row ids; judge results come along.
        Returns how many sessions were copied."""
        conn = self._conn
        conn.execute("ATTACH DATABASE ? AS src", (str(source),))
        try:
            with self.transaction():
                conn.execute("CREATE TEMP TABLE merge_skip (session_id TEXT PRIMARY KEY)")
                conn.executemany("INSERT INTO merge_skip VALUES (?)", [(s,) for s in skip])
                offsets = {t: conn.execute(f"SELECT coalesce(max(id), 0) FROM main.{t}").fetchone()[0]
                           for t in ("session_timesteps", "events", "messages")}
                shifted = {"timestep_id": "session_timesteps", "event_id": "events", "message_id": "messages"}
                selected = "session_id NOT IN (SELECT session_id FROM temp.merge_skip)"

                def copy(table: str, where: str, id_from: str | None = None, verb: str = "INSERT") -> int:
                    main_cols = [r[1] for r in conn.execute(f'PRAGMA main.table_info("{table}")')]
                    src_cols = {r[1] for r in conn.execute(f'PRAGMA src.table_info("{table}")')}
                    if not src_cols:
                        return 0
                    cols, values = [], []
                    for col in main_cols:
                        if col not in src_cols or (col == "id" and id_from is None and table in _RENUMBERED):
                            continue
                        target = id_from if col == "id" else shifted.get(col) if table in _RENUMBERED else None
                        cols.append(f'"{col}"')
                        values.append(f'"{col}" + {offsets[target]}' if target in offsets else f'"{col}"')
                    sql = (f"{verb} INTO main.{table} ({', '.join(cols)}) "
                           f"SELECT {', '.join(values)} FROM src.{table} WHERE {where}")
                    return conn.execute(sql).rowcount

                copied = copy("session_traces", selected)
                copy("experiments", "experiment_id IN (SELECT experiment_id FROM src.session_traces "
                     f"WHERE {selected})", verb="INSERT OR IGNORE")
                copy("session_timesteps", selected, id_from="session_timesteps")
                copy("events", selected, id_from="events")
                copy("messages", selected, id_from="messages")
                copy("event_rewards", selected)
                copy("outcome_rewards", selected)
                graded = [t for t in ("judge_scores", "rubric_scores")  # a version 1 DB has no rubric_scores
                          if conn.execute("SELECT 1 FROM src.sqlite_master WHERE name = ?", (t,)).fetchone()]
                if graded:
                    copy("judge_runs", "run_id IN ({})".format(" UNION ".join(f"SELECT run_id FROM src.{t}"
                                                                              for t in graded)),
                         verb="INSERT OR IGNORE")
                copy("judge_scores", selected, verb="INSERT OR IGNORE")
                copy("rubric_scores", selected, verb="INSERT OR IGNORE")
                copy("judge_cache", "1", verb="INSERT OR IGNORE")
                conn.execute("DROP TABLE temp.merge_skip")
        finally:
            conn.execute("DETACH DATABASE src")
        return copied

    def write_session(self, session: Session) -> None:
        """Write a whole session at once (importers): all of it or, on error, none of it."""
        with self.transaction():
            self.add_session(session.session_id, session.created_at, session.metadata,
                             session.experiment_id)
            for timestep in session.timesteps:
                self.add_timestep(session.session_id, timestep)
            for event in session.events:
                self.add_event(session.session_id, event)
            for message in session.messages:
                self.add_message(session.session_id, message)
            for outcome in session.outcome_rewards:
                self.add_outcome(session.session_id, outcome)


# Tables whose row ids are not kept when merging DBs: shifted past this DB's own where other rows
# refer to them (`id_from`), given new ones otherwise; their references to such rows shift along.
_RENUMBERED = {"session_timesteps", "events", "messages", "event_rewards", "outcome_rewards", "judge_scores"}


def _sum(values: Any) -> int | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None
