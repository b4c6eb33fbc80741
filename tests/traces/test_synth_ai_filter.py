"""synth-ai 0.2.24's own `filter` command reads a DB that synthkit wrote.

synth-ai is installed into a throwaway virtualenv (with only what its filter imports), and its
filter runs there as a user would run it, on a DB written by synthkit's importers and tracer.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import venv
from pathlib import Path

import pytest

from synthkit import LMCall, OutcomeReward, SessionTracer, ToolCall
from synthkit.resources import sample
from synthkit.traces.importers import import_chat_jsonl
from tests.conftest import SYNTH_AI_DB

pytestmark = pytest.mark.slow

# synth-ai's filter imports these; its full dependency list (modal, dspy, ...) is far larger.
SYNTH_AI_FILTER_DEPS = ["libsql", "click<8.2", "pydantic", "python-dotenv", "httpx", "requests",
                        "tqdm", "rich", "typing_extensions", "aiosqlite", "sqlalchemy", "numpy",
                        "pandas", "fastapi", "aiohttp", "uvicorn", "modal", "tomli_w"]


@pytest.fixture(scope="module")
def synth_ai_python(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("synth_ai_env")
    venv.create(home, with_pip=True)
    python = home / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for packages in (["--no-deps", "synth-ai==0.2.24"], SYNTH_AI_FILTER_DEPS):
        done = subprocess.run([*pip, *packages], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    return python


def synth_ai_filter(python: Path, folder: Path, **config) -> list[dict]:
    def toml(value):
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
        return json.dumps(value)

    lines = ["[filter]"] + [f"{key} = {toml(value)}" for key, value in config.items()]
    (folder / "filter.toml").write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [str(python), "-c", "from synth_ai.cli.commands.filter.core import filter_command; "
         "filter_command.main(['--config', 'filter.toml'])"],
        cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in (folder / config["output"]).read_text().splitlines()]


def test_synth_ai_filter_reads_a_synthkit_db(synth_ai_python, tmp_path):
    db = tmp_path / "synthkit.db"
    import_chat_jsonl(sample("chat_sample.jsonl"), db)
    with SessionTracer(db) as tracer:
        with tracer.session("agent-1", metadata={"task_split": "train", "model": "m",
                                                 "judge_scores": {"quality": 0.9}}):
            with tracer.timestep():
                tracer.record_message("system", "Play well.")
                tracer.record_message("user", "Observation: a tree. ✓")
                call = ToolCall(name="interact", arguments='{"actions": ["do"]}', call_id="c1")
                tracer.record_lm_call(LMCall(model="m", tool_calls=(call,)))
                tracer.record_message("assistant", "chop", tool_calls=[call])
                tracer.record_environment_step(reward=1.0)
            tracer.record_outcome(OutcomeReward(total_reward=1, achievements_count=1, total_steps=1))

    examples = synth_ai_filter(synth_ai_python, tmp_path, db=str(db), output="all.jsonl")
    by_session: dict[str, list[dict]] = {}
    for example in examples:
        by_session.setdefault(example["metadata"]["session_id"], []).append(example)
    assert len(by_session) == 5
    (agent,) = by_session["agent-1"]
    assert agent["messages"][-2:] == [{"role": "user", "content": "Observation: a tree. ✓"},
                                      {"role": "assistant", "content": "chop"}]
    multimodal = [e for e in examples if isinstance(e["messages"][0]["content"], list)]
    assert multimodal and multimodal[0]["messages"][0]["content"][1]["type"] == "image_url"

    kept = synth_ai_filter(synth_ai_python, tmp_path, db=str(db), output="kept.jsonl",
                           splits=["train"], min_official_score=1,
                           min_judge_scores={"quality": 0.8})
    assert {e["metadata"]["session_id"] for e in kept} == {"agent-1"}
    assert kept[0]["metadata"]["total_reward"] == 1


def synthkit_kept(db: Path, **keys) -> set[str]:
    from synthkit.filtering.export import filter_traces

    return {kept.session_id for kept in filter_traces(db, **keys).kept}


@pytest.mark.parametrize("thresholds", [
    {"min_judge_scores": {"quality": 0.6}},
    {"min_judge_scores": {"quality": 0.5, "progress": 0.3}, "min_official_score": 2, "splits": ["train"]},
    {"max_official_score": 3, "models": ["gpt-4o-mini", "claude-3-5-sonnet-20241022"]},
    {"min_created_at": "2025-11-01T12:00:00Z", "max_judge_scores": {"quality": 0.95},
     "min_judge_scores": {"quality": 0.1}},
])
def test_synthkit_keeps_what_synth_ai_keeps(synth_ai_python, tmp_path, thresholds):
    db = tmp_path / "synth_ai.db"
    db.write_bytes(SYNTH_AI_DB.read_bytes())
    theirs = {e["metadata"]["session_id"] for e in synth_ai_filter(
        synth_ai_python, tmp_path, db=str(db), output="theirs.jsonl", **thresholds)}
    assert theirs and theirs == synthkit_kept(db, **thresholds)


def test_a_missing_score_fails_a_max_here_and_passes_in_synth_ai(synth_ai_python, tmp_path):
    db = tmp_path / "synth_ai.db"
    db.write_bytes(SYNTH_AI_DB.read_bytes())
    theirs = {e["metadata"]["session_id"] for e in synth_ai_filter(
        synth_ai_python, tmp_path, db=str(db), output="theirs.jsonl", max_judge_scores={"quality": 0.7})}
    ours = synthkit_kept(db, max_judge_scores={"quality": 0.7})
    no_quality = {r[0] for r in sqlite3.connect(db).execute(
        "SELECT session_id FROM session_traces WHERE json_extract(metadata, '$.judge_scores.quality') IS NULL")}
    assert no_quality and theirs - ours == no_quality and ours <= theirs
