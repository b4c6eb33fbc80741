from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from synthkit import EventType, TraceStore
from synthkit.resources import sample
from synthkit.traces.importers import ImportFailed, import_chat_jsonl, import_trace_db
from synthkit.traces.store import TraceWriter
from tests.conftest import tree
from tests.factories import make_session

WEATHER = [
    {"role": "system", "content": "Use the tools."},
    {"role": "user", "content": "Météo à Paris ?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "12 °C"},
    {"role": "assistant", "content": "Il fait 12 °C."},
]
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]


def jsonl(path: Path, *lines) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n"
                            for line in lines), encoding="utf-8")
    return path


def test_each_line_becomes_a_session_whose_assistant_turns_are_lm_calls(tmp_path):
    source = jsonl(tmp_path / "chat.jsonl",
                   {"messages": WEATHER, "tools": TOOLS, "metadata": {"task_split": "train", "model": "gpt-4o"}},
                   {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
                    "session_id": "greeting", "parallel_tool_calls": False, "source": "crm"})
    report = import_chat_jsonl(source, tmp_path / "t.db", metadata={"task_id": "weather"})
    assert report.imported == 2 and report.created_db
    with TraceStore.open(tmp_path / "t.db") as store:
        weather, greeting = list(store.sessions())
    assert weather.metadata == {"task_id": "weather", "task_split": "train", "model": "gpt-4o"}
    assert [t.step_id for t in weather.timesteps] == ["turn_0", "turn_1"]
    assert [e.type for e in weather.events] == [EventType.LM_CALL, EventType.LM_CALL]
    first, second = weather.lm_calls
    assert [m.role for m in first.input_messages] == ["system", "user"]
    assert first.tool_calls[0].parsed_arguments == {"city": "Paris"}
    assert first.tools == tuple(TOOLS) and first.model == "gpt-4o"
    assert [m.role for m in second.input_messages] == ["system", "user", "assistant", "tool"]
    assert second.input_messages[2].tool_calls == first.tool_calls
    assert second.output_text == "Il fait 12 °C."
    assert [(m.role, m.step_id) for m in weather.messages] == [
        ("system", "turn_0"), ("user", "turn_0"), ("assistant", "turn_0"), ("tool", "turn_1"), ("assistant", "turn_1")]
    assert weather.messages[3].tool_call_id == "c1"
    assert greeting.session_id == "greeting"
    assert greeting.metadata == {"task_id": "weather", "extra_fields": {"source": "crm"}}
    assert greeting.lm_calls[0].request_params == {"parallel_tool_calls": False}


def test_the_bundled_sample_imports(tmp_path):
    report = import_chat_jsonl(sample("chat_sample.jsonl"), tmp_path / "t.db")
    with TraceStore.open(tmp_path / "t.db") as store:
        sessions = list(store.sessions())
    assert report.imported == len(sessions) == 4
    multimodal = [m for s in sessions for m in s.messages if isinstance(m.content, list)]
    assert multimodal and multimodal[0].content[1]["type"] == "image_url"
    assert any("☀️" in m.text for s in sessions for m in s.messages)


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('["a list"]', "not a JSON object"),
    ({"tools": []}, "no 'messages' list"),
    ({"messages": [{"role": "user", "content": "only a question"}]}, "no assistant message"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "message 1 has role 'wizard'"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}, "message 1 \\(user\\) has no content"),
    ({"messages": [{"role": "user", "content": 5}]}, "message 1 has content of type int"),
    ({"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"id": "c"}]}]}, "message 1 has a tool call without function.name"),
    ({"messages": WEATHER, "tools": "weather"}, "'tools' is not a list"),
    ({"messages": WEATHER, "session_id": ""}, "session_id is not a non-empty string"),
    ({"messages": WEATHER, "metadata": {"status": {"code": 200}}}, 'metadata.status must be text, not {"code": 200}'),
    ({"messages": WEATHER, "metadata": {"judge_scores": {"quality": "high"}}},
     "metadata.judge_scores must be an object of numbers"),
    ({"messages": WEATHER, "metadata": {"session_id": 7}}, "session_id is not a non-empty string"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_a_bad_line_is_named_and_nothing_is_imported(tmp_path, line, reason):
    good = {"messages": WEATHER}
    source = jsonl(tmp_path / "chat.jsonl", good, line, {"messages": WEATHER[:3]})
    with pytest.raises(ImportFailed, match=f"line 2: {reason}") as info:
        import_chat_jsonl(source, tmp_path / "t.db")
    assert "nothing imported" in str(info.value)
    assert not (tmp_path / "t.db").exists()


def test_a_bad_line_leaves_an_existing_db_unchanged(tmp_path):
    jsonl(tmp_path / "first.jsonl", {"messages": WEATHER})
    import_chat_jsonl(tmp_path / "first.jsonl", tmp_path / "t.db")
    source = jsonl(tmp_path / "second.jsonl", {"messages": WEATHER[:3]}, "{oops")
    before = tree(tmp_path)
    with pytest.raises(ImportFailed, match="line 2"):
        import_chat_jsonl(source, tmp_path / "t.db")
    assert tree(tmp_path) == before


def test_skip_bad_imports_the_rest_and_says_why(tmp_path):
    source = jsonl(tmp_path / "chat.jsonl", {"messages": WEATHER}, "{oops", "",
                   {"messages": [{"role": "user", "content": "?"}]}, {"messages": WEATHER[:3]},
                   {"messages": WEATHER})
    report = import_chat_jsonl(source, tmp_path / "t.db", skip_bad=True)
    assert report.imported == 2
    assert [n for n, _ in report.skipped_bad] == [2, 4, 6]
    assert "same session id as line 1" in report.skipped_bad[2][1]
    assert "skipped 3 bad lines:" in report.lines()
    assert any(line.startswith("  line 4: no assistant message") for line in report.lines())


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / "chat.jsonl").write_bytes(b'{"messages": "\xff"}\n')
    with pytest.raises(ImportFailed, match="is not UTF-8 text"):
        import_chat_jsonl(tmp_path / "chat.jsonl", tmp_path / "t.db")


def test_importing_twice_clashes_unless_told_to_skip(tmp_path):
    source = jsonl(tmp_path / "chat.jsonl", {"messages": WEATHER}, {"messages": WEATHER[:3]})
    import_chat_jsonl(source, tmp_path / "t.db")
    before = tree(tmp_path)
    with pytest.raises(ImportFailed, match="already has session chat_.* \\(line 1\\) and 1 more"):
        import_chat_jsonl(source, tmp_path / "t.db")
    assert tree(tmp_path) == before
    report = import_chat_jsonl(source, tmp_path / "t.db", skip_existing=True)
    assert (report.imported, report.skipped_existing) == (0, 2)


@pytest.mark.parametrize("version", [2, 1])  # version 1 DBs have no rubric_scores
def test_merging_a_trace_db_keeps_ids_and_judge_results(tmp_path, version):
    source = tmp_path / "source.db"
    with TraceWriter.open(source, create=True) as writer:
        for i in range(3):
            writer.write_session(make_session(f"s-{i}"))
        writer.db["judge_runs"].insert({"run_id": "r1", "started_at": "2026-01-01", "status": "completed"})
        writer.db["judge_cache"].insert({"cache_key": "k1", "raw_answer": "{}", "parsed": "{}",
                                         "model": "m", "created_at": "2026-01-01"})
        for i in range(3):
            writer.db["judge_scores"].insert({
                "session_id": f"s-{i}", "run_id": "r1", "rubric_id": "R", "rubric_version": "v1",
                "criterion": "c", "kind": "judge", "judge_model": "m", "score": 0.5, "outcome": "passed",
                "cache_key": "k1", "created_at": "2026-01-01"})
            writer.db["rubric_scores"].insert({
                "session_id": f"s-{i}", "rubric_id": "R", "rubric_version": "v1", "judge_model": "m",
                "weight": 1.0, "score": 0.5, "run_id": "r1", "created_at": "2026-01-01"})
    if version == 1:
        with contextlib.closing(sqlite3.connect(source)) as conn, conn:
            conn.execute("DROP TABLE rubric_scores")
            conn.execute("UPDATE synthkit_meta SET value = '1' WHERE key = 'schema_version'")
    dest = tmp_path / "dest.db"
    with TraceWriter.open(dest, create=True) as writer:
        writer.write_session(make_session("s-0"))

    with pytest.raises(ImportFailed, match="already has session s-0 and 0 more"):
        import_trace_db(source, dest)
    report = import_trace_db(source, dest, skip_existing=True)
    assert (report.imported, report.skipped_existing, report.created_db) == (2, 1, False)
    with TraceStore.open(dest) as store:
        assert [s.session_id for s in store.sessions()] == ["s-0", "s-1", "s-2"]
        assert store.session("s-2") == make_session("s-2")
        scored = [r["session_id"] for r in store.db["judge_scores"].rows]
        assert scored == ["s-1", "s-2"]
        assert [r["session_id"] for r in store.db["rubric_scores"].rows] == (["s-1", "s-2"] if version == 2 else [])
        assert store.count("judge_runs") == 1 and store.count("judge_cache") == 1


def test_merging_copies_every_column_row_for_row(tmp_path, synth_ai_db):
    conn = sqlite3.connect(synth_ai_db)
    conn.execute("UPDATE events SET message_time = 42, span_id = 'span-1', trace_id = 'trace-1', "
                 "cost_usd = 7 WHERE id = (SELECT min(id) FROM events WHERE event_type = 'cais')")
    conn.commit()
    conn.close()
    dest = tmp_path / "dest.db"
    with TraceWriter.open(dest, create=True) as writer:
        writer.write_session(make_session("already-here"))
    import_trace_db(synth_ai_db, dest)

    def table(path, sql):
        with sqlite3.connect(path) as c:
            return c.execute(sql).fetchall()

    columns = ("session_id, event_type, system_instance_id, event_time, message_time, model_name, "
               "input_tokens, cost_usd, span_id, trace_id, call_records, reward, metadata")
    source_events = table(synth_ai_db, f"SELECT {columns} FROM events ORDER BY id")
    copied_events = table(dest, f"SELECT {columns} FROM events WHERE session_id != 'already-here' ORDER BY id")
    assert copied_events == source_events
    for name in ("messages", "event_rewards", "outcome_rewards", "session_timesteps", "session_traces"):
        assert table(dest, f"SELECT count(*) FROM {name} WHERE session_id != 'already-here'") == \
            table(synth_ai_db, f"SELECT count(*) FROM {name}")
    linked = table(dest, "SELECT count(*) FROM event_rewards r JOIN events e ON e.id = r.event_id "
                         "WHERE r.session_id = e.session_id AND r.session_id != 'already-here'")
    assert linked == table(synth_ai_db, "SELECT count(*) FROM event_rewards")


def test_chat_message_keys_beyond_openais_are_kept(tmp_path):
    source = jsonl(tmp_path / "chat.jsonl", {"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello", "weight": 0}]})
    import_chat_jsonl(source, tmp_path / "t.db")
    with TraceStore.open(tmp_path / "t.db") as store:
        (session,) = store.sessions()
    assert session.messages[1].metadata == {"weight": 0}
    assert session.lm_calls[0].output_messages[0].metadata == {"weight": 0}


def test_a_db_cannot_be_merged_into_itself(tmp_path, synth_ai_db):
    with pytest.raises(ImportFailed, match="same file"):
        import_trace_db(synth_ai_db, synth_ai_db)


def test_a_bad_source_db_creates_nothing(tmp_path):
    (tmp_path / "src.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    from synthkit import TraceDBError

    with pytest.raises(TraceDBError):
        import_trace_db(tmp_path / "src.db", tmp_path / "dest.db")
    assert not (tmp_path / "dest.db").exists()


@pytest.mark.parametrize(("change", "problem"), [
    ("DELETE FROM session_traces WHERE session_id = 'session_b1612dd272d1'",
     "row \\d+ of session_timesteps \\(session session_b1612dd272d1\\) refers to a missing row of session_traces "
     "\\(left behind by a deleted session\\?\\); nothing imported"),
    ("UPDATE events SET timestep_id = 99999 WHERE id = 3",
     "row 3 of events \\(session session_b1612dd272d1\\) refers to a missing row of session_timesteps"),
    ("UPDATE events SET call_records = json_set(call_records, '$[0].started_at', 1e20) WHERE id = 5",
     "call record 0 of event 5: started_at is not a date-time: 1e\\+20"),
    ("UPDATE events SET call_records = '[1]' WHERE id = 5",
     "session session_b1612dd272d1 cannot be read: call record 0 of event 5: a call record is not a JSON object"),
])
def test_a_source_that_cannot_be_read_whole_is_refused_and_creates_nothing(tmp_path, synth_ai_db, change, problem):
    import contextlib

    with contextlib.closing(sqlite3.connect(synth_ai_db)) as conn, conn:  # foreign keys are off by default
        conn.execute(change)
    from synthkit import TraceDBError

    with pytest.raises((ImportFailed, TraceDBError), match=problem):
        import_trace_db(synth_ai_db, tmp_path / "dest.db")
    assert not (tmp_path / "dest.db").exists()


@pytest.mark.parametrize(("metadata", "problem"), [
    ({"task_split": [1]}, "metadata.task_split must be text, not \\[1\\]"),
    ({"judge_scores": [0.5]}, "metadata.judge_scores must be an object of numbers"),
])
def test_metadata_given_for_every_line_is_checked_first(tmp_path, metadata, problem):
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps({"messages": WEATHER}) + "\n")
    with pytest.raises(ImportFailed, match=f"^{problem}$"):
        import_chat_jsonl(source, tmp_path / "t.db", metadata=metadata)
    assert not (tmp_path / "t.db").exists()


def test_rows_the_merge_does_not_copy_are_not_checked(tmp_path, synth_ai_db):
    import contextlib

    with contextlib.closing(sqlite3.connect(synth_ai_db)) as conn, conn:
        conn.execute("INSERT INTO experimental_systems (experiment_id, system_id, version_id) VALUES ('x', 'y', 'z')")
    assert import_trace_db(synth_ai_db, tmp_path / "dest.db").imported == 60


def test_numeric_task_ids_and_a_null_session_id_are_taken_as_given(tmp_path):
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps({"messages": WEATHER, "session_id": None, "metadata": {"task_id": 7}}) + "\n")
    import_chat_jsonl(source, tmp_path / "t.db", metadata={"task_split": 2024})
    with TraceStore.open(tmp_path / "t.db") as store:
        (session,) = store.sessions()
    assert session.session_id.startswith("chat_") and session.metadata["task_id"] == 7
    assert session.metadata["task_split"] == 2024
