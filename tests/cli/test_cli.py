"""The `synthkit` console script, run in-process as a user would run it."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from synthkit.resources import sample
from synthkit import TraceStore
from synthkit.cli import COMMANDS
from tests import baddbs
from tests.conftest import SYNTH_AI_DB, tree


def assert_one_line_error(result, *fragments: str, code: int = 2) -> None:
    assert result.exit_code == code, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err + result.out
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_the_commands(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0
    for command in COMMANDS:
        assert f"\n  {command} " in result.out
    bare = run_cli()
    assert bare.exit_code == 2 and "commands:" in bare.out


def test_an_unknown_command_is_one_line(run_cli):
    assert_one_line_error(run_cli("jugde"), "unknown command 'jugde'", "info, import")


@pytest.mark.parametrize("command", ["info", "import"])
def test_each_command_shows_hydra_help(run_cli, command):
    result = run_cli(command, "--help")
    assert result.exit_code == 0
    assert f"synthkit {command}:" in result.out
    assert "== Configuration groups ==" in result.out and "db: sqlite" in result.out
    assert "path: ${oc.env:SQLD_DB_PATH,traces/v3/synth_ai.db}" in result.out


# -- info ----------------------------------------------------------------------------------------

def test_info_reads_a_synth_ai_db_and_changes_nothing(run_cli, synth_ai_db, tmp_path):
    before = tree(tmp_path)
    result = run_cli("info", f"db.path={synth_ai_db}", "format=json")
    assert result.exit_code == 0, result.err
    info = json.loads(result.out)
    assert info["counts"] == {"sessions": 60, "timesteps": 267, "events": 533, "lm calls": 267,
                              "messages": 800, "outcome rewards": 60, "event rewards": 667,
                              "judge scores": 0}
    assert info["schema_version"] == 0
    assert info["splits"] == {"train": 41, "test": 11, "val": 8}
    assert set(info["models"]) == {"gpt-4o-mini", "claude-3-5-sonnet-20241022", "llama-3.3-70b-versatile"}
    assert sum(info["task ids"].values()) == 60
    assert info["judge score keys"] == {"progress": 60, "quality": 58}
    assert info["unreadable metadata"] == {"sessions": 0, "first": None}
    assert tree(tmp_path) == before  # no run directory, no log, DB byte-identical


def test_info_warns_of_sessions_whose_metadata_cannot_be_read(run_cli, synth_ai_db):
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(synth_ai_db)) as conn, conn:
        conn.execute("UPDATE session_traces SET metadata = substr(metadata, 2) WHERE session_id IN "
                     "('session_b1612dd272d1', 'session_d8cfdd2a58ef')")
    result = run_cli("info", f"db.path={synth_ai_db}")
    assert result.exit_code == 0, result.err
    assert result.out.splitlines()[-1] == ("  warning: the metadata of 2 sessions is not a JSON object (first: "
                                           "session_b1612dd272d1); the filter and the judge refuse them")


def test_info_text_and_the_sqld_db_path_default(run_cli, synth_ai_db, monkeypatch):
    monkeypatch.setenv("SQLD_DB_PATH", str(synth_ai_db))
    result = run_cli("info")
    assert result.exit_code == 0, result.err
    assert result.out.splitlines()[0] == str(synth_ai_db)
    assert "  sessions          60" in result.out
    assert "  splits            train (41), test (11), val (8)" in result.out


@pytest.mark.parametrize(("setup", "fragment"), [
    (None, "trace DB not found: traces/v3/synth_ai.db"),
    (lambda p: p.write_text("id,score\n1,0.5\n"), "is not a SQLite database"),
    (baddbs.corrupt, "traces/v3/synth_ai.db is corrupt or unreadable"),
    (baddbs.not_a_trace_db, "not a trace DB"),
    (baddbs.future_version, "has trace schema version 99"),
])
def test_info_on_a_bad_db_is_one_line_and_creates_nothing(run_cli, tmp_path, setup, fragment):
    path = tmp_path / "traces" / "v3" / "synth_ai.db"
    if setup:
        path.parent.mkdir(parents=True)
        setup(path)
    before = tree(tmp_path)
    assert_one_line_error(run_cli("info"), "synthkit info: error:", fragment)
    assert tree(tmp_path) == before


def test_a_bad_value_is_one_line(run_cli, synth_ai_db):
    assert_one_line_error(run_cli("info", f"db.path={synth_ai_db}", "format=xml"),
                          "format must be one of text, json, not 'xml'")


def test_read_only_commands_have_no_sweeps(run_cli, synth_ai_db, tmp_path):
    before = tree(tmp_path)
    assert_one_line_error(run_cli("info", "-m", f"db.path={synth_ai_db}", "format=text,json"),
                          "info reads only and has no sweeps (-m)")
    assert tree(tmp_path) == before


KEY = "sk-proj-" + "a1B2" * 10
HF_TOKEN = "hf_" + "abcdEFGH" * 4  # a key that is also a valid variable name


@pytest.mark.parametrize(("args", "fragment"), [
    (("judge", "-m", f"+judge.api_key={KEY},x"), "judge.api_key: a secret on the command line"),
    (("pipeline", "-m", "eval.seeds=[0]", f"+policy.api_key={KEY}"), "policy.api_key: a secret on the command line"),
    (("judge", f"judge.model=openai/{KEY}"), "judge.model: the value looks like an API key"),
    (("judge", f"judge.api_key_env={KEY}"), "judge.api_key_env: the value looks like an API key"),
    (("judge", "judge.api_key_env=my-key-1234"), "judge.api_key_env names an environment variable"),
    (("judge", "-m", f"judge.api_key_env={HF_TOKEN},OPENAI_API_KEY"), "judge.api_key_env: the value looks like an API"),
    (("judge", "-m", "judge.api_key_env=OPENAI_API_KEY,'pasted_aB3xaB3xaB3x'"),
     "judge.api_key_env names an environment variable"),
    (("filter", "-m", "+filter.token=abc"), "filter.token: a secret on the command line"),
    (("eval", "-m", f"+task.auth_key={KEY},other"), "task.auth_key: a secret on the command line"),
    (("eval", f"+policy.api-key={KEY}"), "policy.api-key: a secret on the command line"),
    (("judge", f"+judge.headers={{X-Api-Key: {HF_TOKEN}}}"), "judge.headers: a secret on the command line"),
    (("judge", f"+judge.headers={{User: me, Authorization: Bearer {HF_TOKEN}}}"), "judge.headers: a secret"),
    (("judge", f"+judge.extra=bearer {HF_TOKEN}"), "judge.extra: the value looks like an API key"),
    (("eval", f"+task.hf={HF_TOKEN}"), "task.hf: the value looks like an API key"),
    (("eval", "policy=litellm", "policy.api_base=http://me:pw@127.0.0.1:9/v1"), "policy.api_base carries credentials"),
])
def test_a_secret_on_the_command_line_is_refused_before_anything_is_written(run_cli, tmp_path, args, fragment):
    shutil.copy(SYNTH_AI_DB, tmp_path / "traces.db")
    before = tree(tmp_path)
    result = run_cli(*args, "db.path=traces.db")
    assert_one_line_error(result, fragment)
    assert tree(tmp_path) == before and KEY not in result.err and HF_TOKEN not in result.err


def test_a_secret_added_to_a_rerun_is_refused_before_anything_is_written(run_cli, tmp_path):
    shutil.copy(SYNTH_AI_DB, tmp_path / "traces.db")
    assert run_cli("filter", "db.path=traces.db", "filter=none", "filter.plot=false").exit_code == 0
    (run_dir,) = (tmp_path / "experiments" / "filter").iterdir()
    before = tree(tmp_path)
    assert_one_line_error(run_cli("rerun", str(run_dir), f"+judge.api_key={KEY}"),
                          "synthkit filter: error: judge.api_key: a secret on the command line")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("override", [
    "judge.api_key_env=OPENAI_API_KEY", "judge.api_key_env='GROQ_API_KEY'", "judge.api_key_env=null",
    "judge.api_key_env=choice(OPENAI_API_KEY,'GROQ_API_KEY')", "judge.api_key_env=SET_in_this_shell",
    "judge.placeholder_key=true", "query.key=quality", "+filter.min_judge_scores.RubricX.token=0.5",
    "judge.model=openai/gpt-4o-mini", "judge.api_key_env=Null",
    "filter.min_judge_scores={Safety.no_secret: 0.5, primary: 0.7}",
    "policy.system_prompt='Reply as JSON, token: the next move'",
])
def test_what_only_looks_near_a_secret_passes(override, monkeypatch):
    from synthkit.checks import override_secret

    monkeypatch.setenv("SET_in_this_shell", "x")
    assert override_secret(override) is None


@pytest.mark.parametrize("args", [("rundir=none",), ("rundir='none'",), ("-m", "rundir=none,experiment")])
def test_a_command_that_writes_always_gets_a_run_directory(run_cli, tmp_path, args):
    shutil.copy(SYNTH_AI_DB, tmp_path / "traces.db")
    before = tree(tmp_path)
    assert_one_line_error(run_cli("filter", "db.path=traces.db", *args),
                          "synthkit filter: error: rundir=none: filter writes outputs")
    assert tree(tmp_path) == before


def test_a_rerun_gets_a_run_directory_too(run_cli, tmp_path):
    shutil.copy(SYNTH_AI_DB, tmp_path / "traces.db")
    assert run_cli("filter", "db.path=traces.db", "filter=none", "filter.plot=false").exit_code == 0
    (run_dir,) = (tmp_path / "experiments" / "filter").iterdir()
    before = tree(tmp_path)
    assert_one_line_error(run_cli("rerun", str(run_dir), "rundir=none"),
                          "synthkit filter: error: rundir=none: filter writes outputs")
    assert tree(tmp_path) == before


def test_api_key_env_from_a_config_file_must_name_a_variable():
    from omegaconf import OmegaConf

    from synthkit import checks
    from synthkit.errors import SynthkitError

    node = OmegaConf.create({"judge": {"api_key_env": "MY_KEY"}}).judge
    assert checks.variable_name(node, "api_key_env") == "MY_KEY"
    for pasted in ("sk-abc-def", HF_TOKEN):
        node.api_key_env = pasted
        with pytest.raises(SynthkitError, match="judge.api_key_env names an environment variable") as raised:
            checks.variable_name(node, "api_key_env")
        assert pasted not in str(raised.value)


@pytest.mark.parametrize(("args", "fragment"), [
    (("info", "colour=red"), "Could not override 'colour'. To append to your config use +colour=red "
                             "Key 'colour' is not in struct"),
    (("filter", "filter=nope"), "In 'filter': Could not find 'filter/nope' Available options in 'filter': "
                                "expert high initial none standard"),
    (("filter", "filter.min_judge_scores=[1"), "no viable alternative at input '[1'"),
    (("filter", "hydra.run.dir=/proc/synthkit-run"), "cannot write /proc/synthkit-run"),
])
def test_what_hydra_refuses_is_one_line_too(run_cli, synth_ai_db, tmp_path, args, fragment):
    assert_one_line_error(run_cli(*args, f"db.path={synth_ai_db}"), f"synthkit {args[0]}: error: {fragment}")
    assert not (tmp_path / "experiments").exists()


def test_what_the_machine_refuses_inside_a_command_is_one_line_and_a_failed_manifest(run_cli, synth_ai_db, tmp_path,
                                                                                 monkeypatch):
    import synthkit.cli.filter

    def full_disk(cfg):
        raise OSError(28, "No space left on device", "sft.jsonl")

    monkeypatch.setattr(synthkit.cli.filter, "run", full_disk)
    assert_one_line_error(run_cli("filter", f"db.path={synth_ai_db}"),
                          "synthkit filter: error: No space left on device: sft.jsonl", code=1)
    (run_dir,) = (tmp_path / "experiments" / "filter").iterdir()  # the run may have done something: kept
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed: No space left on device: sft.jsonl"


# -- import --------------------------------------------------------------------------------------

def test_import_creates_the_db_and_a_run_directory(run_cli, tmp_path):
    result = run_cli("import", f"source={sample('chat_sample.jsonl')}", "metadata.run=quickstart")
    assert result.exit_code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "created trace DB traces/v3/synth_ai.db"
    assert lines[1].startswith("imported 4 sessions from ")
    (run_dir,) = (tmp_path / "experiments" / "import").iterdir()
    assert lines[-1] == f"run directory: {run_dir}"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["command"] == "import"
    assert manifest["result"]["imported"] == 4 and manifest["result"]["created_db"] is True
    assert manifest["db"]["path"] == str(tmp_path / "traces/v3/synth_ai.db")
    assert (run_dir / "import.log").read_text().count("imported 4 sessions") == 1
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    assert overrides == [f"source={sample('chat_sample.jsonl')}", "metadata.run=quickstart"]

    info = json.loads(run_cli("info", "format=json").out)
    assert info["counts"]["sessions"] == 4 and info["counts"]["lm calls"] == 6
    with TraceStore.open(tmp_path / "traces/v3/synth_ai.db") as store:
        assert {s.metadata["run"] for s in store.sessions()} == {"quickstart"}


def test_a_clash_is_one_line_and_leaves_no_run_directory(run_cli, tmp_path):
    source = f"source={sample('chat_sample.jsonl')}"
    assert run_cli("import", source).exit_code == 0
    before = tree(tmp_path)
    assert_one_line_error(run_cli("import", source), "already has session", "skip_existing=true")
    assert tree(tmp_path) == before
    skipped = run_cli("import", source, "skip_existing=true")
    assert skipped.exit_code == 0
    assert "skipped 4 sessions already in traces/v3/synth_ai.db" in skipped.out


def test_import_merges_a_trace_db(run_cli, tmp_path):
    result = run_cli("import", f"source={SYNTH_AI_DB}", "db.path=merged.db")
    assert result.exit_code == 0, result.err
    assert "imported 60 sessions" in result.out and "(trace_db)" in result.out
    assert json.loads(run_cli("info", "db.path=merged.db", "format=json").out)["counts"]["sessions"] == 60


@pytest.mark.parametrize(("args", "fragments"), [
    ((), ("config: Missing mandatory value: source",)),
    (("source=nowhere.jsonl",), ("source not found: nowhere.jsonl",)),
    (("source=.",), ("source is not a file: .",)),
    (("source=bad.jsonl",), ("bad.jsonl: line 2: not valid JSON", "nothing imported")),
    (("source=good.jsonl", "format=csv"), ("format must be one of auto, chat_jsonl, trace_db",)),
    (("source=good.jsonl", "skip_bad=no"), ("skip_bad must be true or false, not 'no'",)),
    (("source=good.jsonl", "metadata=5"), ("metadata must be a map of keys to values, not 5",)),
    (("source=good.jsonl", "db.path=good.jsonl/t.db"), ("cannot create good.jsonl/t.db",)),
    ((f"source={SYNTH_AI_DB}", "skip_bad=true"), ("skip_bad applies to chat JSONL",)),
])
def test_bad_import_input_is_one_line_and_creates_nothing(run_cli, tmp_path, args, fragments):
    shutil.copy(sample("chat_sample.jsonl"), tmp_path / "good.jsonl")
    (tmp_path / "bad.jsonl").write_text(sample("chat_sample.jsonl").read_text().splitlines()[0] + "\n{oops\n")
    before = tree(tmp_path)
    assert_one_line_error(run_cli("import", *args), "synthkit import: error:", *fragments)
    assert tree(tmp_path) == before


def test_skip_bad_reports_what_it_skipped(run_cli, tmp_path):
    (tmp_path / "bad.jsonl").write_text(sample("chat_sample.jsonl").read_text() + "{oops\n")
    result = run_cli("import", "source=bad.jsonl", "skip_bad=true")
    assert result.exit_code == 0, result.err
    assert "imported 4 sessions" in result.out
    assert "skipped 1 bad lines:\n  line 5: not valid JSON" in result.out
    (run_dir,) = (tmp_path / "experiments" / "import").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["result"]["skipped_bad"] == [
        {"line": 5, "reason": "not valid JSON (Expecting property name enclosed in double quotes at column 2)"}]


# -- a project's own conf/ -----------------------------------------------------------------------

def test_a_project_conf_overrides_and_extends_the_packaged_one(run_cli, tmp_path, synth_ai_db):
    (tmp_path / "conf" / "db").mkdir(parents=True)
    (tmp_path / "conf" / "db" / "sqlite.yaml").write_text(f"path: {synth_ai_db}\n")
    (tmp_path / "conf" / "db" / "empty.yaml").write_text("path: elsewhere.db\n")
    result = run_cli("info", "format=json")
    assert result.exit_code == 0, result.err
    assert json.loads(result.out)["db"] == str(synth_ai_db)
    assert_one_line_error(run_cli("info", "db=empty"), "trace DB not found: elsewhere.db")
