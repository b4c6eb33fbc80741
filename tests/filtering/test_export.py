"""What the filter writes: OpenAI chat examples with provenance, written atomically."""

from __future__ import annotations

import json

import attrs
import pytest

from synthkit import Message
from synthkit.errors import SynthkitError
from synthkit.filtering import export
from synthkit.filtering.export import filter_traces
from synthkit.filtering.validate import validate_file
from synthkit.traces.store import TraceWriter
from tests.factories import IMAGE, TOOLS, make_session
from tests.filtering.conftest import primary


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_example_per_call_with_tools_multimodal_content_and_provenance(graded_db, tmp_path):
    out = tmp_path / "sft.jsonl"
    result = filter_traces(graded_db, out, min_judge_scores={"primary": primary(17)}, dedup=False)
    written = lines(out)
    assert [e["metadata"]["session_id"] for e in written] == ["s17", "s19"]
    example = written[0]
    assert [m["role"] for m in example["messages"]] == ["system", "user", "user", "assistant"]
    assert example["messages"][2]["content"][1] == IMAGE and example["tools"] == list(TOOLS)
    assert example["messages"][3] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "interact",
                                                          "arguments": '{"actions": ["move_left", "do"]}'}}]}
    assert example["metadata"] == {
        "session_id": "s17", "scores": {"primary": pytest.approx(primary(17))},
        "rubric_versions": result.stats["rubric_versions"], "judge_model": None, "task_id": "a",
        "split": "test", "seed": 17, "model": "m2", "total_reward": 17.0, "mixed_in": False}
    assert set(example["metadata"]["rubric_versions"]) == {"RubricHalf", "RubricTarget"}
    assert "木" in out.read_text(encoding="utf-8") and "🛠️" in out.read_text(encoding="utf-8")
    assert result.stats["examples"]["left_out"] == {"errored LM call": 2}  # each session's failed call
    report = validate_file(out)
    assert (report.examples, report.errors) == (2, [])


def test_prompt_completion_examples_hold_the_same_chats(graded_db, tmp_path):
    filter_traces(graded_db, tmp_path / "chat.jsonl", min_judge_scores={"primary": primary(15)})
    filter_traces(graded_db, tmp_path / "pc.jsonl", min_judge_scores={"primary": primary(15)},
                  format="prompt_completion")
    chats, split = lines(tmp_path / "chat.jsonl"), lines(tmp_path / "pc.jsonl")
    assert split and [set(e) for e in split] == [{"prompt", "completion", "tools", "metadata"}] * len(chats)
    for chat, example in zip(chats, split, strict=True):
        assert example["prompt"] + example["completion"] == chat["messages"]
        assert example["completion"][0]["tool_calls"] and (example["tools"], example["metadata"]) == (
            chat["tools"], chat["metadata"])
    report = validate_file(tmp_path / "pc.jsonl")
    assert report.errors == [] and report.tokens == validate_file(tmp_path / "chat.jsonl").tokens
    with pytest.raises(SynthkitError, match="prompt_completion trains on one reply per example"):
        filter_traces(graded_db, format="prompt_completion", granularity="session")


def test_duplicates_are_written_once(graded_db, tmp_path):
    # every session of the test DB recorded the same conversation
    result = filter_traces(graded_db, tmp_path / "sft.jsonl", min_judge_scores={"primary": primary(15)})
    assert result.examples == 1 and result.stats["examples"]["left_out"]["duplicate"] == 3


def test_session_granularity_and_no_metadata(graded_db, tmp_path):
    out = tmp_path / "sft.jsonl"
    filter_traces(graded_db, out, granularity="session", metadata=False, dedup=False,
                  min_judge_scores={"primary": primary(17)})
    written = lines(out)
    assert len(written) == 2 and all(set(e) == {"messages", "tools"} for e in written)


def test_separate_metadata_leaves_the_examples_bare_and_keeps_their_provenance_line_for_line(graded_db, tmp_path):
    keys = {"min_judge_scores": {"primary": primary(12)}, "dedup": False, "val_fraction": 0.5, "seed": 3}
    inline = filter_traces(graded_db, tmp_path / "a.jsonl", **keys)
    separate = filter_traces(graded_db, tmp_path / "b.jsonl", metadata="separate", **keys)
    assert separate.outputs == (tmp_path / "b.jsonl", tmp_path / "b.val.jsonl")
    assert separate.metadata_files == (tmp_path / "b.metadata.jsonl", tmp_path / "b.val.metadata.jsonl")
    for a, b in (("a.jsonl", "b.jsonl"), ("a.val.jsonl", "b.val.jsonl")):
        with_metadata = lines(tmp_path / a)
        assert with_metadata and lines(tmp_path / b) == [
            {k: v for k, v in example.items() if k != "metadata"} for example in with_metadata]
        assert lines(export.metadata_path(tmp_path / b)) == [example["metadata"] for example in with_metadata]
        assert (validate_file(tmp_path / b).errors, validate_file(tmp_path / b).warnings) == ([], [])
    assert separate.stats == inline.stats
    dry = filter_traces(graded_db, metadata="separate", **keys)
    assert (dry.outputs, dry.metadata_files, dry.stats) == ((), (), inline.stats)


def test_an_earlier_runs_metadata_file_is_never_left_beside_a_new_file(graded_db, tmp_path):
    out, beside = tmp_path / "sft.jsonl", tmp_path / "sft.metadata.jsonl"
    filter_traces(graded_db, out, metadata="separate")
    out.unlink()
    with pytest.raises(SynthkitError, match="sft.metadata.jsonl exists beside filter.output, from an earlier "
                                            "run's line metadata of the training file"):
        filter_traces(graded_db, out)
    again = filter_traces(graded_db, out, overwrite=True)
    assert not beside.exists() and "metadata" in lines(out)[0]
    assert again.notes == (f"removed {beside}: an earlier run's line metadata of the training file; "
                           "this run wrote none",)


def test_limit_and_max_tokens(graded_db, tmp_path):
    limited = filter_traces(graded_db, tmp_path / "a.jsonl", dedup=False, limit=3)
    assert limited.examples == 3 and limited.stats["examples"]["limit_reached"]
    assert len(lines(tmp_path / "a.jsonl")) == 3
    # the sessions past the limit are not kept: the stats describe the sessions written
    sessions = limited.stats["sessions"]
    assert sessions["kept"] == 3 and sessions["rejected"] == {"limit": 16, "status": 1}
    assert [k.session_id for k in limited.kept] == ["s00", "s01", "s02"]
    assert limited.stats["mean_total_reward_kept"] == 1.0   # of s00, s01 and s02
    short = filter_traces(graded_db, tmp_path / "b.jsonl", dedup=False, max_tokens_per_example=10)
    assert short.examples == 0 and short.stats["examples"]["left_out"]["longer than max_tokens_per_example"] == 19
    assert not (tmp_path / "b.jsonl").exists()  # nothing to write: no empty file either


def test_a_limit_with_a_validation_split_fills_both_files(graded_db, tmp_path):
    out = tmp_path / "sft.jsonl"
    result = filter_traces(graded_db, out, dedup=False, limit=4, val_fraction=0.25, seed=3)
    assert (len(lines(out)), len(lines(tmp_path / "val.jsonl"))) == (3, 1)
    assert result.stats["examples"]["limit_reached"]
    sessions = result.stats["sessions"]
    assert (sessions["kept"], sessions["train"], sessions["val"]) == (4, 3, 1)
    assert sessions["rejected"]["limit"] == 19 - 4


def test_a_limit_without_a_validation_split_goes_to_train_alone(tmp_path):
    base = make_session("one")
    event = next(e for e in base.events if e.lm_calls and not e.lm_calls[0].error)
    calls = tuple(attrs.evolve(event.lm_calls[0], call_id=f"c{i}") for i in range(4))
    with TraceWriter.open(tmp_path / "one.db", create=True) as writer:
        writer.write_session(attrs.evolve(base, events=(attrs.evolve(event, lm_calls=calls),)))
    result = filter_traces(tmp_path / "one.db", tmp_path / "sft.jsonl", dedup=False, limit=3, val_fraction=0.5)
    assert result.stats["sessions"]["val"] == 0 and result.examples == 3   # one session: no split, no val share
    assert result.stats["examples"]["left_out"] == {"past filter.limit": 1}


def test_a_run_that_writes_no_validation_split_removes_an_earlier_one(graded_db, tmp_path):
    out = tmp_path / "sft.jsonl"
    filter_traces(graded_db, out, dedup=False, val_fraction=0.25)
    assert (tmp_path / "val.jsonl").is_file()
    again = filter_traces(graded_db, out, dedup=False, val_fraction=0.25, limit=1, overwrite=True)
    assert again.outputs == (out,) and not (tmp_path / "val.jsonl").exists()
    assert again.notes == (f"removed {tmp_path / 'val.jsonl'}: an earlier run's validation split; this run wrote none",)


def test_a_run_that_writes_only_a_validation_split_removes_an_earlier_training_file(graded_db, tmp_path):
    out, val = tmp_path / "sft.jsonl", tmp_path / "val.jsonl"
    filter_traces(graded_db, out, dedup=False, val_fraction=0.5)
    # every session holds the same conversation: deduplicated, only the first kept one (in val) gives examples
    again = filter_traces(graded_db, out, val_fraction=0.5, seed=7, overwrite=True)
    assert again.outputs == (val,) and not out.exists()
    assert again.notes == (f"removed {out}: an earlier run's training file; this run wrote none",)


def test_the_validation_split_never_shares_a_session(graded_db, tmp_path):
    out = tmp_path / "sft.jsonl"
    result = filter_traces(graded_db, out, dedup=False, val_fraction=0.2, seed=5)
    assert result.outputs == (out, tmp_path / "val.jsonl")
    train = {e["metadata"]["session_id"] for e in lines(out)}
    val = {e["metadata"]["session_id"] for e in lines(tmp_path / "val.jsonl")}
    assert len(val) == 4 and len(train) == 15 and not train & val
    assert result.stats["examples"]["val"] == 4
    assert export.val_path(tmp_path / "train.jsonl") == tmp_path / "train.val.jsonl"


@pytest.mark.parametrize(("db", "keys"), [
    ("graded_db", {}),
    ("synth_ai_db", {"granularity": "session", "include_failed": True}),   # examples of many lengths
    ("synth_ai_db", {"format": "prompt_completion", "include_failed": True}),
])
def test_the_token_stats_are_what_validate_counts_in_the_files_written(db, keys, request, tmp_path):
    db = request.getfixturevalue(db)
    one = filter_traces(db, tmp_path / "all.jsonl", metadata=False, dedup=False, **keys)
    report = validate_file(tmp_path / "all.jsonl")
    assert report.errors == [] and report.examples == one.stats["examples"]["written"]
    assert (one.stats["examples"]["tokens"], one.stats["examples"]["longest_tokens"]) == (
        report.tokens, report.longest[1])
    split = filter_traces(db, tmp_path / "sft.jsonl", metadata=False, dedup=False, val_fraction=0.25, seed=1, **keys)
    examples = split.stats["examples"]
    train, val = validate_file(tmp_path / "sft.jsonl"), validate_file(tmp_path / "val.jsonl")
    assert (examples["train_tokens"], examples["val_tokens"]) == (train.tokens, val.tokens)
    assert examples["train_tokens"] + examples["val_tokens"] == examples["tokens"] == report.tokens
    assert examples["longest_tokens"] == max(train.longest[1], val.longest[1]) == report.longest[1]


def test_an_existing_output_is_never_overwritten_unless_asked(graded_db, tmp_path):
    out = tmp_path / "sft.jsonl"
    out.write_text("precious\n")
    with pytest.raises(SynthkitError, match="sft.jsonl exists; set filter.overwrite=true to replace it"):
        filter_traces(graded_db, out)
    assert out.read_text() == "precious\n"
    filter_traces(graded_db, out, overwrite=True)
    assert lines(out)[0]["metadata"]["session_id"] == "s00"


def test_a_failed_export_leaves_no_file(graded_db, tmp_path, monkeypatch):
    calls = []

    def failing(example):
        calls.append(example)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return 10

    monkeypatch.setattr(export, "count_tokens", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        filter_traces(graded_db, tmp_path / "sft.jsonl", dedup=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graded.db"]


def write_db(path, sessions):
    with TraceWriter.open(path, create=True) as writer:
        for session in sessions:
            writer.write_session(session)
    return path


def test_sessions_without_lm_calls_fall_back_to_messages_then_prompt(tmp_path):
    base = make_session("chat")
    chat = attrs.evolve(base, events=())
    bare = attrs.evolve(make_session("eval"), events=(), messages=(),
                        metadata={"prompt": "2+2? ½", "completion": "4"})
    odd = attrs.evolve(make_session("odd"), events=(), messages=(
        Message(role="developer", content="be brief"), Message(role="user", content="hi"),
        Message(role="assistant", content="hello")))
    db = write_db(tmp_path / "t.db", [chat, bare, odd])
    out = tmp_path / "sft.jsonl"
    result = filter_traces(db, out, min_judge_scores={}, metadata=False)
    written = lines(out)
    # the messages table: one example per assistant reply, system prompt included
    assert [[m["role"] for m in e["messages"]] for e in written[:2]] == [
        ["system", "user", "assistant"], ["system", "user", "assistant", "assistant"]]
    assert written[1]["messages"][-1]["tool_calls"][0]["id"] == "call_1"
    assert written[2:] == [{"messages": [{"role": "user", "content": "2+2? ½"}, {"role": "assistant", "content": "4"}]}]
    # what does not fit the format is left out and counted, never written
    assert result.stats["examples"]["left_out"] == {
        "not valid for fine-tuning: role 'developer' is not one of system, user, assistant, tool, function": 1}


def test_examples_left_out_are_counted_by_problem_whatever_message_holds_it(tmp_path):
    audio = [{"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}]
    heard = [attrs.evolve(make_session(f"audio-{n}"), events=(), messages=(
        *[Message(role="user", content="hi")] * n, Message(role="user", content=audio),
        Message(role="assistant", content="hello"))) for n in (0, 1)]
    base = make_session("tools")
    event = next(e for e in base.events if e.lm_calls)
    odd_tools = attrs.evolve(base, events=(attrs.evolve(event, lm_calls=tuple(
        attrs.evolve(c, tools=({"type": "code"},)) for c in event.lm_calls)),))
    result = filter_traces(write_db(tmp_path / "t.db", [*heard, odd_tools]), tmp_path / "sft.jsonl",
                           min_judge_scores={})
    assert result.stats["examples"]["left_out"] == {
        "not valid for fine-tuning: a part must be an object whose type is one of text, image_url, refusal": 2,
        'not valid for fine-tuning: tools must be a list of {"type": "function", "function": {"name", ...}}': 1}


def test_a_session_example_from_the_messages_table_keeps_one_system_prompt(synth_ai_db, tmp_path):
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(synth_ai_db)) as conn, conn:   # messages only, as older DBs
        conn.execute("DELETE FROM events WHERE event_type = 'cais'")
    result = filter_traces(synth_ai_db, tmp_path / "sft.jsonl", granularity="session", dedup=False,
                           include_failed=True)
    sessions = result.stats["sessions"]
    assert result.examples > 10 and result.examples == sessions["kept"] - sessions["without_examples"]
    assert not [reason for reason in result.stats["examples"]["left_out"] if reason.startswith("not valid")]
    for example in lines(tmp_path / "sft.jsonl"):
        roles = [m["role"] for m in example["messages"]]
        assert "system" not in roles[roles.index("user"):] and roles[-1] == "assistant"


def test_a_folder_that_cannot_be_written_is_one_clear_error(graded_db):
    with pytest.raises(SynthkitError, match="filter.output: cannot write in /sys: "):
        filter_traces(graded_db, "/sys/synthkit-sft.jsonl")


def test_a_db_damaged_inside_is_one_clear_error(graded_db):
    data = bytearray(graded_db.read_bytes())
    assert len(data) > 60_000
    data[20_000:50_000] = b"\xff" * 30_000   # the header and schema stay readable
    graded_db.write_bytes(bytes(data))
    with pytest.raises(SynthkitError, match=f"cannot read {graded_db}: "):
        filter_traces(graded_db)


def test_a_terminated_filter_leaves_no_partial_file(graded_db, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = ("import sys, time\n"
              "import synthkit.filtering.export as export\n"
              "export.count_tokens = lambda example: time.sleep(0.2) or 1   # slow enough to be caught\n"
              "from synthkit.cli import console\n"
              f"sys.argv = ['synthkit', 'filter', 'db.path={graded_db}', 'filter=none', 'filter.dedup=false']\n"
              "console()\n")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.rglob(".sft.jsonl.*.tmp")):
        assert process.poll() is None and time.monotonic() < deadline, "the filter ended before writing"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "synthkit filter: interrupted" in err, err
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("sft.jsonl"))
    (manifest,) = tmp_path.rglob("manifest.json")
    assert json.loads(manifest.read_text())["status"] == "interrupted"


def test_filtering_imports_neither_pandas_nor_the_judging_stack(tmp_path):
    import subprocess
    import sys

    from tests.conftest import SYNTH_AI_DB

    script = ("import sys; from synthkit import filter_traces; "
              f"result = filter_traces({str(SYNTH_AI_DB)!r}, {str(tmp_path / 'sft.jsonl')!r}, "
              "min_judge_scores={'quality': 0.0}); "
              "print(result.examples > 0, *(name in sys.modules for name in "
              "('sqlite_utils', 'pandas', 'synthkit.judging', 'litellm')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False", "False", "False", "False"]  # 0.3 s of start-up, for nothing
