from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from synthkit import Message, Selection, SynthkitError, TraceDBError, TraceStore
from synthkit.traces import schema
from synthkit.traces.store import TraceWriter
from tests import baddbs
from tests.conftest import tree
from tests.factories import T0, make_session


def write(path: Path, *sessions) -> None:
    with TraceWriter.open(path, create=True) as writer:
        for session in sessions:
            writer.write_session(session)


def test_a_written_session_reads_back_equal(tmp_path):
    session = make_session()
    write(tmp_path / "t.db", session)
    with TraceStore.open(tmp_path / "t.db") as store:
        assert list(store.sessions()) == [session]
        assert store.session("s-1") == session
        assert store.session("missing") is None
        assert store.schema_version == schema.SCHEMA_VERSION


def test_columns_keep_synth_ai_meanings(tmp_path):
    write(tmp_path / "t.db", make_session())
    conn = sqlite3.connect(tmp_path / "t.db")
    row = conn.execute("SELECT cost_usd, model_name, input_tokens, call_records FROM events "
                       "WHERE event_type = 'cais' ORDER BY id LIMIT 1").fetchone()
    assert row[0] == 0  # integer cents, as synth-ai: 0.000123 USD is 0 cents
    assert row[1] == "gpt-4o-mini" and row[2] == 120
    assert '"cost_usd": 0.000123' in row[3]  # the exact USD stays in the call record
    counts = conn.execute("SELECT num_timesteps, num_events, num_messages FROM session_traces").fetchone()
    assert counts == (2, 4, 7)
    per_step = conn.execute("SELECT step_id, num_events, num_messages FROM session_timesteps "
                            "ORDER BY step_index").fetchall()
    assert per_step == [("decision_0", 2, 5), ("decision_1", 1, 1)]
    types = [r[0] for r in conn.execute("SELECT message_type FROM messages ORDER BY id")]
    assert types == ["system", "user", "assistant", "assistant", "tool_result", "system", "user"]
    assert conn.execute("SELECT value FROM synthkit_meta WHERE key='schema_version'").fetchone() == (str(schema.SCHEMA_VERSION),)


def test_selection_is_pushed_into_sql(tmp_path):
    sessions = [make_session(f"s-{i}", created_at=T0 + timedelta(hours=i),
                             split=("train", "val")[i % 2], task_id=f"task-{i % 3}",
                             model=("a", "b")[i % 2]) for i in range(12)]
    write(tmp_path / "t.db", *sessions)
    with TraceStore.open(tmp_path / "t.db") as store:
        def ids(selection):
            found = [s.session_id for s in store.sessions(selection, chunk_size=5)]
            assert store.count_sessions(selection) == len(found)
            return found

        assert ids(Selection()) == [s.session_id for s in sessions]
        assert ids(Selection(splits=["val"])) == [f"s-{i}" for i in range(1, 12, 2)]
        assert ids(Selection(task_ids=["task-0"], models=["a"])) == ["s-0", "s-6"]
        assert ids(Selection(created_from=T0 + timedelta(hours=3),
                             created_to=T0 + timedelta(hours=5))) == ["s-3", "s-4", "s-5"]
        # a bound written in another time zone means the same instant
        other_zone = (T0 + timedelta(hours=10)).astimezone(tz=__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
        assert ids(Selection(created_from=other_zone)) == ["s-10", "s-11"]
        assert ids(Selection(session_ids=["s-2", "nope"])) == ["s-2"]
    with TraceWriter.open(tmp_path / "t.db") as writer:
        writer.update_metadata("s-4", {"task_id": 3})
    with TraceStore.open(tmp_path / "t.db") as store:  # compared as text, as the filter does
        assert [s.session_id for s in store.sessions(Selection(task_ids=["3"]))] == ["s-4"]
    # what the filter leaves out by default, so the pipeline's judge does not grade it
    with TraceWriter.open(tmp_path / "t.db") as writer:
        writer.update_metadata("s-1", {"status": "failed"})
        writer.update_metadata("s-2", {"status": "incomplete"})
        writer.update_metadata("s-3", {"status": "completed"})
    with TraceStore.open(tmp_path / "t.db") as store:
        kept = [s.session_id for s in store.sessions(Selection(include_failed=False))]
        assert kept == [s.session_id for s in sessions if s.session_id not in ("s-1", "s-2")]


def test_a_selection_value_no_session_has_is_named_with_ten_known_values_at_most(tmp_path):
    write(tmp_path / "t.db", *(make_session(f"s-{i}", task_id=f"task-{i:02d}", model="m") for i in range(12)))
    names = {"splits": "x.splits", "task_ids": "x.task_ids", "models": "x.policy_models"}
    with TraceStore.open(tmp_path / "t.db") as store:
        store.check_selection(Selection(task_ids=["task-03"], models=["m"]), names)
        with pytest.raises(SynthkitError, match=r"^x.task_ids: no session has task_id 'task-3' \(known: "
                           r"task-00, task-01, .*, task-09 and 2 more\)$"):
            store.check_selection(Selection(task_ids=["task-03", "task-3"]), names)
        with pytest.raises(SynthkitError, match=r"^x.policy_models: no session has model 'gpt-5' "
                           r"\(known: m\)$"):
            store.check_selection(Selection(models=["gpt-5"]), names)


def test_readers_change_nothing(synth_ai_db):
    before = tree(synth_ai_db.parent)
    with TraceStore.open(synth_ai_db) as store:
        assert len(list(store.sessions())) == 60
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.execute("DELETE FROM session_traces")
    assert tree(synth_ai_db.parent) == before
    mode = sqlite3.connect(synth_ai_db).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "delete"


def test_a_db_left_in_wal_mode_is_read_without_change(tmp_path):
    path = tmp_path / "t.db"
    write(path, make_session())
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")  # as a crashed writer would leave it
    before = path.read_bytes()
    with TraceStore.open(path) as store:
        assert store.session("s-1") == make_session()
    assert path.read_bytes() == before   # SQLite may add -wal/-shm beside it, as any reader does


def test_opening_a_reader_beside_a_writer_keeps_every_commit(tmp_path):
    """Opening and closing the DB file from Python would drop this process's SQLite locks:
    another process could then reset the WAL under the writer and lose its commits."""
    path = tmp_path / "t.db"
    write(path)
    with TraceWriter.open(path) as writer, TraceStore.open(path) as store:
        writer.write_session(make_session("one"))
        assert store.count_sessions() == 1
        outside = subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                                  "print(c.execute('SELECT count(*) FROM session_traces').fetchone()[0]); c.close()",
                                  str(path)], capture_output=True, text=True, check=True)
        assert outside.stdout.strip() == "1"
        writer.write_session(make_session("two"))
    with TraceStore.open(path) as store:
        assert [s.session_id for s in store.sessions()] == ["one", "two"]


def test_times_are_stored_in_utc_and_keep_their_instant(tmp_path):
    from zoneinfo import ZoneInfo

    tokyo = (T0 + timedelta(hours=1)).astimezone(ZoneInfo("Asia/Tokyo"))
    write(tmp_path / "t.db", make_session("later", created_at=tokyo), make_session("earlier"))
    with TraceStore.open(tmp_path / "t.db") as store:
        sessions = list(store.sessions())
    assert [s.session_id for s in sessions] == ["earlier", "later"]
    assert sessions[1].created_at == tokyo and sessions[1].created_at.utcoffset() == timedelta(0)


def test_writers_use_wal_and_foreign_keys(tmp_path):
    with TraceWriter.open(tmp_path / "t.db", create=True) as writer:
        assert writer.created
        assert writer.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert writer.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with pytest.raises(sqlite3.IntegrityError):
            writer.add_event_reward("nope", 999, make_session().events[1].rewards[0])


def test_a_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "t.db"
    write(path)
    session = make_session("s-2")
    broken = attrs.evolve(session, messages=(*session.messages, Message(role="wizard")))
    with TraceWriter.open(path) as writer, pytest.raises(ValueError, match="unknown message role"):
        writer.write_session(broken)
    with TraceStore.open(path) as store:
        assert store.count_sessions() == 0


def test_writers_take_turns(tmp_path):
    path = tmp_path / "t.db"
    write(path)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with TraceWriter.open(path) as writer:
                for i in range(10):
                    writer.write_session(make_session(f"w{n}-{i}"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with TraceStore.open(path) as store:
        assert store.count_sessions() == 40
        assert store.count("events") == 160


def test_a_writer_locked_out_past_its_timeout_says_so(tmp_path):
    path = tmp_path / "t.db"
    write(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(TraceDBError, match=f"cannot write {path}: database is locked"), \
                TraceWriter.open(path, busy_timeout_ms=50) as writer:
            writer.write_session(make_session())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with TraceWriter.open(path) as first, TraceWriter.open(path, busy_timeout_ms=50) as second:
        with first.transaction():
            first.write_session(make_session("first"))
            with pytest.raises(TraceDBError, match="database is locked"):
                second.write_session(make_session("second"))
        second.write_session(make_session("second"))
    with TraceStore.open(path) as store:
        assert [s.session_id for s in store.sessions()] == ["first", "second"]


def test_a_synth_ai_db_gains_judge_tables_when_written(synth_ai_db):
    with TraceStore.open(synth_ai_db) as store:
        assert store.schema_version == 0 and not store.table_exists("judge_scores")
    with TraceWriter.open(synth_ai_db):
        pass
    with TraceStore.open(synth_ai_db) as store:
        assert store.schema_version == schema.SCHEMA_VERSION and store.table_exists("judge_scores")
        assert store.count_sessions() == 60


def test_a_version_1_db_gains_rubric_scores_when_written(tmp_path):
    path = tmp_path / "v1.db"
    with TraceWriter.open(path, create=True) as writer:
        writer.write_session(make_session("kept"))
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE rubric_scores")
        conn.execute("UPDATE synthkit_meta SET value = '1' WHERE key = 'schema_version'")
    with TraceStore.open(path) as store:
        assert store.schema_version == 1 and not store.table_exists("rubric_scores")
    with TraceWriter.open(path):
        pass
    with TraceStore.open(path) as store:
        assert store.schema_version == 2 and store.table_exists("rubric_scores")
        assert [s.session_id for s in store.sessions()] == ["kept"]


def test_a_db_whose_synthkit_tables_were_dropped_is_made_whole_by_the_next_writer(tmp_path):
    path = tmp_path / "t.db"
    baddbs.dropped_judge_table(path)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE synthkit_meta")  # as the error says
    with TraceWriter.open(path):
        pass
    with TraceStore.open(path) as store:
        assert store.schema_version == schema.SCHEMA_VERSION and store.table_exists("judge_runs")
        assert [s.session_id for s in store.sessions()] == ["s-1"]


# -- bad DBs: one clear error each, nothing created or changed ---------------------------------

@pytest.mark.parametrize(("make", "message"), [
    (None, "trace DB not found"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b""), "is an empty file"),
    (lambda p: p.write_text("session_id,score\n"), "is not a SQLite database"),
    (baddbs.corrupt, "corrupt"),
    (baddbs.not_a_trace_db, "not a trace DB \\(no session_traces table\\)"),
    (baddbs.future_version, "schema version 99; this synthkit reads up to version 2"),
    (baddbs.missing_column, "table events lacks columns: call_records"),
    (baddbs.dropped_judge_table, "lacks synthkit's judge_runs table\\(s\\) \\(dropped by hand\\?\\)"),
])
def test_bad_dbs_are_refused_with_one_clear_error(tmp_path, make, message):
    path = tmp_path / "traces.db"
    if make:
        make(path)
    before = tree(tmp_path)
    for opener in (TraceStore.open, lambda p: TraceWriter.open(p, create=False)):
        with pytest.raises(TraceDBError, match=message) as info:
            opener(path)
        assert "\n" not in str(info.value)
        assert str(path) in str(info.value)
    assert tree(tmp_path) == before


def damaged(folder: Path, statement: str, *params: str) -> Path:
    """A DB of one session, changed by a statement that must change something."""
    write(folder / "t.db", make_session())
    with contextlib.closing(sqlite3.connect(folder / "t.db")) as conn, conn:
        assert conn.execute(statement, params).rowcount > 0
    return folder / "t.db"


@pytest.mark.parametrize(("records", "problem"), [
    ('{"input_messages": []}', "call_records of event \\d+ is not a JSON list"),
    ('["a record"]', "call record 0 of event \\d+: a call record is not a JSON object"),
    ('[{}, {"input_messages": ["hi"]}]', "call record 1 of event \\d+: input_messages\\[0\\] is not a JSON object"),
    ('[{"input_messages": [{"parts": [{"type": "text"}, "p"]}]}]', "input_messages\\[0\\].parts\\[1\\] is not"),
    ('[{"input_messages": [{"metadata": [1]}]}]', "input_messages\\[0\\].metadata is not a JSON object"),
    ('[{"output_messages": [{"role": "assistant", "metadata": {"tool_calls": [1]}}]}]',
     "output_messages\\[0\\].metadata.tool_calls\\[0\\] is not"),
    ('[{"output_messages": [{"role": "assistant", "metadata": {"tool_calls": [{"function": "f"}]}}]}]',
     "tool_calls\\[0\\].function is not"),
    ('[{"output_tool_calls": {"name": "f"}}]', "output_tool_calls is not a JSON list"),
    ('[{"request_params": {"tool_config": {"tools": {"f": 1}}}}]', "tool_config.tools is not a JSON list"),
    ('[{"input_messages": [{"metadata": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]}]',
     "input_messages\\[0\\].metadata.tool_calls\\[0\\] has no function name"),
    ('[{"error": [1]}]', "error is neither text nor a JSON object"),
])
def test_a_malformed_call_record_is_one_error_naming_its_field(tmp_path, records, problem):
    db = damaged(tmp_path, "UPDATE events SET call_records = ? WHERE event_type = 'cais'", records)
    with TraceStore.open(db) as store:
        for read in (lambda: list(store.sessions()), lambda: store.conversations(["s-1"])):
            with pytest.raises(TraceDBError, match=f"session s-1 cannot be read: .*{problem}"):
                read()


@pytest.mark.parametrize(("record", "problem"), [
    ('{"usage": 3}', "usage is not a JSON object"),
    ('{"started_at": "yesterday"}', "started_at is not a date-time: 'yesterday'"),
])
def test_a_field_only_whole_sessions_read_is_checked_only_there(tmp_path, record, problem):
    db = damaged(tmp_path, "UPDATE events SET call_records = ? WHERE event_type = 'cais'", f"[{record}]")
    with TraceStore.open(db) as store:
        with pytest.raises(TraceDBError, match=f"call record 0 of event \\d+: {problem}"):
            list(store.sessions())
        assert store.conversations(["s-1"])["s-1"][0][0].error is None  # an export never reads it


@pytest.mark.parametrize(("change", "problem"), [
    ("UPDATE outcome_rewards SET total_reward = 'n/a'", "the total_reward of outcome \\d+ is not a number: 'n/a'"),
    ("UPDATE events SET reward = 'n/a' WHERE reward IS NOT NULL", "the reward of event \\d+ is not a number: 'n/a'"),
    ("UPDATE event_rewards SET reward_value = 'abc'", "the value of event reward \\d+ is not a number: 'abc'"),
])
def test_a_reward_that_is_not_a_number_is_one_error(tmp_path, change, problem):
    with TraceStore.open(damaged(tmp_path, change)) as store, \
            pytest.raises(TraceDBError, match=f"session s-1 cannot be read: {problem}"):
        list(store.sessions())


def test_a_fault_of_the_reader_is_not_blamed_on_the_trace(tmp_path, monkeypatch):
    from synthkit.traces import codec

    def broken(record):
        return record.missing_attribute

    write(tmp_path / "t.db", make_session())
    monkeypatch.setattr(codec, "chat_turn", broken)
    with TraceStore.open(tmp_path / "t.db") as store, pytest.raises(AttributeError, match="missing_attribute"):
        store.conversations(["s-1"])


def test_a_db_locked_by_another_process_says_so_not_corrupt(tmp_path):
    path = tmp_path / "t.db"
    write(path, make_session())
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:  # readers wait SQLite's default 5 s first
        with pytest.raises(TraceDBError, match=f"^{path} is locked by another process \\(database is locked\\)"):
            TraceStore.open(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_times_in_every_spelling_read_as_utc():
    from synthkit.traces.codec import parse_time

    expected = datetime(2025, 11, 7, 0, 51, 32, tzinfo=UTC)
    for text in ("2025-11-07T00:51:32+00:00", "2025-11-07 00:51:32", "2025-11-07T00:51:32Z",
                 "2025-11-07T09:51:32+09:00", 1762476692, "1762476692"):
        assert parse_time(text) == expected
    with pytest.raises(ValueError, match="not a date-time"):
        parse_time("yesterday")
