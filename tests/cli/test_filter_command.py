"""`synthkit filter`, `synthkit rerun` and `synthkit validate` as a user runs them."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from synthkit.cli import sweep
from synthkit.cli.experiment import file_digest
from synthkit.cli.filter import summary_lines
from synthkit.filtering import plotter
from synthkit.traces.store import TraceWriter
from tests.cli.test_cli import assert_one_line_error
from tests.conftest import SYNTH_AI_DB
from tests.factories import T0, make_session
from tests.filtering.conftest import graded_db_template  # noqa: F401 (a fixture)


@pytest.fixture
def project(tmp_path, graded_db_template):  # noqa: F811
    shutil.copy(graded_db_template, tmp_path / "traces.db")
    return tmp_path


def run_dirs(project, command="filter"):
    folder = project / "experiments" / command
    return sorted(p for p in folder.iterdir() if not p.name.startswith("multirun")) if folder.exists() else []


def test_a_run_writes_examples_stats_plot_and_a_manifest(run_cli, project, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-written-anywhere")
    result = run_cli("filter", "db.path=traces.db", "filter=initial", "filter.val_fraction=0.3", "filter.dedup=false")
    assert result.exit_code == 0, result.err
    assert "sessions: 20 seen, 3 kept (2 train, 1 val)" in result.out  # s16, s17, s19
    assert "rejected by min_judge_scores.primary: 16" in result.out and "rejected by status: 1" in result.out
    assert "primary: sessions per 1/20 of [0, 1]: 2 1 1 2 1 1 1 2 1 1 1 2 1 1 0 1 0 0 0 0" in result.out
    (run_dir,) = run_dirs(project)
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".hydra", "filter.log", "manifest.json", "scores.png", "sft.jsonl", "stats.json", "val.jsonl"]
    stats = json.loads((run_dir / "stats.json").read_text())
    assert stats["thresholds"]["min_judge_scores"] == {"primary": 0.6}
    assert sum(stats["histograms"]["primary"]["counts"]) == 19
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["db"]["path"] == str(project / "traces.db")
    assert set(manifest["rubric_versions"]) == {"RubricHalf", "RubricTarget"}
    for name in ("sft.jsonl", "val.jsonl", "stats.json", "scores.png"):
        assert manifest["outputs"][str(run_dir / name)] == file_digest(run_dir / name)
    assert (run_dir / "scores.png").read_bytes()[:4] == b"\x89PNG"
    for path in project.rglob("*"):
        if path.is_file():
            assert b"sk-never-written-anywhere" not in path.read_bytes(), path


def test_a_plot_the_machine_refuses_is_one_line_and_a_failed_manifest(run_cli, project):
    (project / "out" / "scores.png").mkdir(parents=True)
    result = run_cli("filter", "db.path=traces.db", "filter=initial", "hydra.run.dir=out")
    assert_one_line_error(result, f"synthkit filter: error: Is a directory: {project / 'out' / 'scores.png'}",
                          code=1)
    assert json.loads((project / "out" / "manifest.json").read_text())["status"].startswith("failed: Is a directory")


def test_the_summary_says_what_the_mix_drew_in_each_group(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=initial", "filter.mix.share=0.5",
                     "filter.mix.min_judge_scores.primary=0.1", "filter.stratify_by=split")
    assert result.exit_code == 0, result.err
    assert "  mix in test: 2 drawn from the lower band (2 wanted, 7 available) beside 2 above the thresholds" \
        in result.out.splitlines()


def test_nothing_kept_is_a_distinct_exit_with_the_stats_kept(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=high")
    assert_one_line_error(result, "synthkit filter: error: no session matched the filter; see ", code=4)
    (run_dir,) = run_dirs(project)
    assert json.loads((run_dir / "stats.json").read_text())["sessions"]["rejected"] == {
        "min_judge_scores.primary": 19, "status": 1}
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished with errors"
    assert not (run_dir / "sft.jsonl").exists()


def test_nothing_kept_because_no_session_has_the_score_says_so(run_cli, tmp_path):
    shutil.copy(SYNTH_AI_DB, tmp_path / "traces.db")
    assert run_cli("judge", "db.path=traces.db", "judge=none").exit_code == 0  # judge criteria not graded
    result = run_cli("filter", "db.path=traces.db", "filter.plot=false")
    assert_one_line_error(result, "synthkit filter: error: no session matched the filter: none of them has a "
                          "primary score (a rubric's score is missing where", code=4)


def test_kept_sessions_that_give_no_example_are_exit_4_with_their_own_message(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=none", "filter.max_tokens_per_example=10",
                     "filter.plot=false")
    (run_dir,) = run_dirs(project)
    assert_one_line_error(result, "synthkit filter: error: the kept sessions gave no example (left out: 19 errored "
                          f"LM call, 19 longer than max_tokens_per_example); see {run_dir / 'stats.json'}", code=4)
    stats = json.loads((run_dir / "stats.json").read_text())
    assert stats["sessions"]["kept"] == 19 and stats["examples"]["written"] == 0
    assert stats["examples"]["left_out"]["longer than max_tokens_per_example"] > 0
    assert "sessions: 20 seen, 19 kept" in result.out
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished with errors"
    assert not (run_dir / "sft.jsonl").exists()


def test_a_sweep_job_that_keeps_nothing_is_a_warning_and_the_sweep_goes_on(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=none", "filter.plot=false", "-m",
                     "filter.max_tokens_per_example=10")
    assert result.exit_code == 0, result.err
    assert "the kept sessions gave no example (left out: 19 errored LM call, 19 longer than max_tokens_per_example): " \
        "this job keeps nothing; the sweep goes on" in result.out
    (root,) = (project / "experiments" / "filter").glob("multirun_*")
    manifest = json.loads((root / "0" / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["result"]["examples"] == 0
    assert (root / "sweep_summary.csv").is_file()


FULL_STATS = {
    "sessions": {"seen": 30, "kept": 8, "train": 6, "val": 2, "mixed_in": 3,
                 "rejected": {"min_judge_scores.primary": 20, "status": 2}},
    "mix": {"all": {"high": 5, "wanted": 3, "available": 9, "drawn": 3}},
    "examples": {"written": 12, "tokens": 3400, "token_estimate": "o200k_base", "longest_tokens": 700,
                 "limit_reached": True, "left_out": {"duplicate": 2, "past filter.limit": 4}},
    "judge_model": "judge-a",
    "stale": ["RubricA: scores of 1 older version(s) ignored (v1 on 1 sessions)"],
    "histograms": {"primary": {"bins": 4, "counts": [1, 0, 3, 4], "missing": 2}},
    "mean_total_reward_kept": 2 / 3,
}
QUIET_STATS = {
    **FULL_STATS, "sessions": {**FULL_STATS["sessions"], "val": 0, "mixed_in": 0, "rejected": {}}, "mix": {},
    "examples": {**FULL_STATS["examples"], "limit_reached": False, "left_out": {}}, "judge_model": None,
    "stale": [], "histograms": {"primary": {"bins": 4, "counts": [1, 0, 3, 4], "missing": 0}},
    "mean_total_reward_kept": None,
}


@pytest.mark.parametrize(("stats", "lines"), [
    (FULL_STATS, [
        "sessions: 30 seen, 8 kept (6 train, 2 val), 3 of them mixed in from the lower band",
        "  rejected by min_judge_scores.primary: 20",
        "  rejected by status: 2",
        "  mix: 3 drawn from the lower band (3 wanted, 9 available) beside 5 above the thresholds",
        "examples: 12 written (3400 tokens, o200k_base; longest 700), stopped at filter.limit",
        "  left out, duplicate: 2",
        "  left out, past filter.limit: 4",
        "judge scores of judge-a",
        "stale: RubricA: scores of 1 older version(s) ignored (v1 on 1 sessions)",
        "primary: sessions per 1/4 of [0, 1]: 1 0 3 4; 2 without a score",
        "mean outcome reward of the kept sessions: 0.6667"]),
    ({**QUIET_STATS, "sessions": {**QUIET_STATS["sessions"], "mixed_in": 3},
      "mix": {"test": {"high": 5, "wanted": 3, "available": 2, "drawn": 2}}}, [
        "sessions: 30 seen, 8 kept, 3 of them mixed in from the lower band",
        "  mix in test: 2 drawn from the lower band (3 wanted, 2 available) beside 5 above the thresholds",
        "examples: 12 written (3400 tokens, o200k_base; longest 700)",
        "primary: sessions per 1/4 of [0, 1]: 1 0 3 4"]),
    (QUIET_STATS, [
        "sessions: 30 seen, 8 kept",
        "examples: 12 written (3400 tokens, o200k_base; longest 700)",
        "primary: sessions per 1/4 of [0, 1]: 1 0 3 4"]),
])
def test_the_summary_says_each_part_of_the_stats_only_when_there_is_something_to_say(stats, lines):
    assert summary_lines(stats) == lines


def test_the_manifest_result_says_what_the_run_kept_and_no_plot_is_drawn_when_told(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=initial", "filter.dedup=false", "filter.plot=false")
    assert result.exit_code == 0, result.err
    (run_dir,) = run_dirs(project)
    assert not (run_dir / "scores.png").exists()
    stats = json.loads((run_dir / "stats.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    examples = (run_dir / "sft.jsonl").read_text().splitlines()
    assert examples and manifest["result"] == {"sessions_seen": 20, "sessions_kept": 3, "examples": len(examples),
                                               "tokens": stats["examples"]["tokens"]}   # s16, s17, s19
    assert manifest["judge_models"] == []   # code criteria only: no judge model
    assert sorted(manifest["outputs"]) == [str(run_dir / "sft.jsonl"), str(run_dir / "stats.json")]


@pytest.mark.parametrize(("args", "judge_models", "kept"), [
    ((), ["judge-b"], 1),   # the judge of the most recent judge run
    (("filter.judge_model=judge-a",), ["judge-a"], 1),
])
def test_the_manifest_names_the_judge_whose_scores_were_used(run_cli, tmp_path, args, judge_models, kept):
    from tests.traces.test_scores import add_scores   # RubricA by judge-a and judge-b

    with TraceWriter.open(tmp_path / "judged.db", create=True) as writer:
        for number, name in enumerate(("s1", "s2")):
            writer.write_session(make_session(name, created_at=T0 + timedelta(minutes=number)))
        add_scores(writer)
    result = run_cli("filter", "db.path=judged.db", "filter=none", "filter.min_judge_scores.RubricA=0.6",
                     "filter.plot=false", *args)
    assert result.exit_code == 0, result.err
    assert f"judge scores of {judge_models[0]}" in result.out
    (run_dir,) = run_dirs(tmp_path)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["judge_models"] == judge_models
    assert manifest["result"]["sessions_seen"] == 2 and manifest["result"]["sessions_kept"] == kept


def sweep_job(root: Path, number: int, overrides: list[str], kept: int | None = None,
              status: str | None = "completed") -> None:
    """A job folder as a filter sweep leaves it: overrides, and a manifest and stats unless told."""
    job = root / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if status is not None:
        (job / "manifest.json").write_text(json.dumps({"status": status}))
    if kept is not None:
        (job / "stats.json").write_text(json.dumps({
            "sessions": {"kept": kept}, "examples": {"written": 2 * kept, "tokens": 10 * kept},
            "mean_total_reward_kept": kept / 2}))


@pytest.fixture
def drawn(monkeypatch):
    """The sweep plots asked for, drawn as an empty file each: (rows, swept keys) per plot."""
    calls = []

    def draw(name, rows, keys, path):
        calls.append((name, rows, keys))
        path.write_bytes(b"")
        return path

    monkeypatch.setattr(plotter, "draw", draw)
    return calls


def test_a_sweep_summary_lists_jobs_by_number_and_shows_overrides_without_prefixes(tmp_path, drawn):
    root = tmp_path / "multirun"
    (root / ".hydra").mkdir(parents=True)   # Hydra's own folder at the root is not a job
    (root / "multirun.yaml").write_text("hydra: {}\n")
    for number in (11, 3, 0, 10, 7, 1, 9, 2, 5, 4, 8, 6):   # made in no particular order
        sweep_job(root, number, [f"filter.min_official_score={number}", "+filter.note=hi", "~filter.judge_model"],
                  kept=None if number == 5 else 20 - number, status=None if number == 5 else "completed")
    written = sweep.summarise(root)
    assert written == [root / "sweep_summary.csv", root / "sweep_summary.md", root / "sweep.png"]
    with (root / "sweep_summary.csv").open() as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["job", "filter.min_official_score", "filter.note", "filter.judge_model",
                                 "sessions_kept", "examples", "tokens", "mean_total_reward_kept", "status"]
    assert [r["job"] for r in rows] == [str(n) for n in range(12)]   # 10 and 11 after 9
    assert [r["filter.min_official_score"] for r in rows] == [str(n) for n in range(12)]
    assert {(r["filter.note"], r["filter.judge_model"]) for r in rows} == {("hi", "")}
    assert (rows[5]["status"], rows[5]["sessions_kept"]) == ("no manifest", "")
    assert (rows[10]["status"], rows[10]["sessions_kept"], rows[10]["examples"]) == ("completed", "10", "20")
    markdown = (root / "sweep_summary.md").read_text().splitlines()
    assert [line.split(" | ")[0] for line in markdown[2:]] == [f"| {n}" for n in range(12)]
    assert markdown[2 + 5] == "| 5 | 5 | hi |  |  |  |  |  | no manifest |"
    ((name, plotted, keys),) = drawn
    assert (name, keys) == ("sweep", ["filter.min_official_score"])
    assert [row["job"] for row in plotted] == [str(n) for n in range(12)]


def test_a_sweep_summary_of_jobs_that_swept_nothing_has_no_plot(tmp_path, drawn):
    for number in range(2):
        sweep_job(tmp_path, number, ["filter=initial"], kept=3)
    assert sweep.summarise(tmp_path) == [tmp_path / "sweep_summary.csv", tmp_path / "sweep_summary.md"]
    assert drawn == [] and not (tmp_path / "sweep.png").exists()
    assert (tmp_path / "sweep_summary.md").read_text().splitlines()[0] == (
        "| job | filter | sessions_kept | examples | tokens | mean_total_reward_kept | status |")


def test_the_end_of_a_sweep_that_made_no_folder_writes_nothing(tmp_path, drawn):
    # every job failed to start: Hydra still calls the end-of-sweep callback
    sweep.SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "gone")}}}))
    assert not (tmp_path / "gone").exists() and drawn == []


def test_a_sweep_summarises_every_job_even_one_that_kept_nothing(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=none", "-m",
                     "filter.min_judge_scores.primary=0.3,0.6,0.8", "filter.min_official_score=0,10")
    assert result.exit_code == 0, result.err
    (root,) = (project / "experiments" / "filter").glob("multirun_*")
    assert (root / "multirun.yaml").is_file() and (root / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    with (root / "sweep_summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["filter.min_judge_scores.primary"], r["filter.min_official_score"], r["sessions_kept"]) for r in rows] \
        == [("0.3", "0", "10"), ("0.3", "10", "8"), ("0.6", "0", "2"), ("0.6", "10", "2"), ("0.8", "0", "0"),
            ("0.8", "10", "0")]
    assert all(r["status"] == "completed" for r in rows)
    markdown = (root / "sweep_summary.md").read_text()
    assert markdown.startswith("| job | filter.min_judge_scores.primary | filter.min_official_score |")
    assert "| 4 | 0.8 | 0 |" in markdown


def test_a_sweep_over_presets_is_plotted_in_job_order(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "-m", "filter=initial,standard,high")
    assert result.exit_code == 0, result.err
    (root,) = (project / "experiments" / "filter").glob("multirun_*")
    assert (root / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    with (root / "sweep_summary.csv").open() as handle:
        assert [(r["filter"], r["sessions_kept"]) for r in csv.DictReader(handle)] == [
            ("initial", "3"), ("standard", "1"), ("high", "0")]


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=none", "filter.plot=false", "-m",
                     "filter.min_judge_scores.primary=0.3,nan,0.6")
    assert result.exit_code == 2
    assert result.err.strip().splitlines() == [
        "synthkit filter: error: job 1: filter.min_judge_scores.primary must be a number between 0 and 1, not nan",
        "synthkit filter: error: 1 sweep job(s) failed; the manifest.json of each job says why"]
    (root,) = (project / "experiments" / "filter").glob("multirun_*")
    with (root / "sweep_summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["sessions_kept"], r["status"].split(":")[0]) for r in rows] == [
        ("11", "completed"), ("", "failed"), ("3", "completed")]


def test_thresholds_on_new_keys_need_no_plus(run_cli, project):
    result = run_cli("filter", "db.path=traces.db", "filter=none", "filter.min_judge_scores.RubricTarget.target=0.9")
    assert result.exit_code == 0, result.err
    assert "sessions: 20 seen, 1 kept" in result.out  # s19 (s18 failed)


def test_rerun_reproduces_the_outputs_byte_for_byte(run_cli, project):
    first = run_cli("filter", "db.path=traces.db", "filter=none", "filter.shuffle=true", "filter.seed=4",
                    "filter.val_fraction=0.2", "filter.dedup=false")
    assert first.exit_code == 0, first.err
    (original,) = run_dirs(project)
    again = run_cli("rerun", str(original))
    assert again.exit_code == 0, again.err
    (replayed,) = [d for d in run_dirs(project) if d != original]
    for name in ("sft.jsonl", "val.jsonl", "stats.json"):
        assert (replayed / name).read_bytes() == (original / name).read_bytes(), name
    assert (replayed / ".hydra" / "overrides.yaml").read_text() == (original / ".hydra" / "overrides.yaml").read_text()


def test_rerun_from_another_folder_runs_where_the_run_was_made(run_cli, project, tmp_path_factory):
    first = run_cli("filter", "db.path=traces.db", "filter=none", "filter.dedup=false")
    assert first.exit_code == 0, first.err
    (original,) = run_dirs(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    again = run_cli("rerun", str(original), "filter.output=again.jsonl", cwd=elsewhere)
    assert again.exit_code == 0, again.err
    assert f"synthkit rerun: in {project}, where the run was made" in again.err
    assert f"wrote {project / 'again.jsonl'}" in again.out   # an added relative path: from there too
    assert (project / "again.jsonl").read_bytes() == (original / "sft.jsonl").read_bytes()
    (replayed,) = [d for d in run_dirs(project) if d != original]
    assert str(project / "again.jsonl") in json.loads((replayed / "manifest.json").read_text())["outputs"]
    assert len(run_dirs(project)) == 2 and not list(elsewhere.iterdir())   # the new run beside the original


def test_rerun_of_a_run_whose_folder_is_gone_runs_here_and_says_so(run_cli, project):
    assert run_cli("filter", "db.path=traces.db", "filter=none").exit_code == 0
    (original,) = run_dirs(project)
    saved = original / ".hydra" / "hydra.yaml"
    saved.write_text(saved.read_text().replace(f"cwd: {project}", "cwd: /gone/project"))
    again = run_cli("rerun", str(original))
    assert again.exit_code == 0, again.err
    assert "the run was made in /gone/project, which is gone; running here" in again.err


def test_rerun_can_sweep(run_cli, project):
    assert run_cli("filter", "db.path=traces.db", "filter=none", "filter.dedup=false").exit_code == 0
    (original,) = run_dirs(project)
    swept = run_cli("rerun", str(original), "-m", "filter.min_judge_scores.primary=0.1,0.5")
    assert swept.exit_code == 0, swept.err
    (root,) = (project / "experiments" / "filter").glob("multirun_*")
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["0", "1"]


def test_rerun_of_something_else_is_one_line(run_cli, project):
    assert_one_line_error(run_cli("rerun", str(project)), "is not a run directory")
    assert_one_line_error(run_cli("rerun"), "usage: synthkit rerun <run dir>")


@pytest.mark.parametrize("args", [("-x",), ("--help",), ("db.path=traces.db",), ("filter=none", "x")])
def test_rerun_wants_a_run_directory_first(run_cli, project, args):
    assert_one_line_error(run_cli("rerun", *args), "synthkit rerun: error: usage: synthkit rerun <run dir>")


@pytest.mark.parametrize(("hydra_yaml", "fragment"), [
    ("hydra:\n  job:\n    name: my_app\n", "was made by 'my_app', not a synthkit command"),
    ("hydra:\n  runtime:\n    cwd: /somewhere\n", "/.hydra cannot be read: 'job'"),
    ("hydra: [unclosed\n", "/.hydra cannot be read: hydra.yaml: expected ',' or ']', but got '<stream end>' "
     "(line 2, column 1)"),
    (b"hydra: \xff\n", "/.hydra cannot be read: hydra.yaml is not UTF-8 text (invalid start byte at byte 7)"),
])
def test_rerun_of_a_run_directory_it_cannot_replay_is_one_line(run_cli, project, hydra_yaml, fragment):
    (project / "other" / ".hydra").mkdir(parents=True)
    saved = project / "other" / ".hydra" / "hydra.yaml"
    saved.write_bytes(hydra_yaml) if isinstance(hydra_yaml, bytes) else saved.write_text(hydra_yaml)
    (project / "other" / ".hydra" / "overrides.yaml").write_text("- a=1\n")
    assert_one_line_error(run_cli("rerun", "other"), f"synthkit rerun: error: {project / 'other'}", fragment)
    assert not (project / "experiments").exists()


@pytest.mark.parametrize(("override", "message"), [
    ("filter.min_judge_scores.primary=nan", "filter.min_judge_scores.primary must be a number between 0 and 1"),
    ("nosuchgroup=x", "nosuchgroup"),   # refused by Hydra itself
])
def test_a_failed_rerun_from_another_folder_leaves_the_working_folder_as_it_was(run_cli, project, tmp_path_factory,
                                                                               override, message):
    assert run_cli("filter", "db.path=traces.db", "filter=none", "filter.plot=false").exit_code == 0
    (original,) = run_dirs(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    again = run_cli("rerun", str(original), override, cwd=elsewhere)
    assert again.exit_code == 2
    assert again.err.strip().splitlines()[-1].startswith("synthkit filter: error: ")
    assert message in again.err.strip().splitlines()[-1]
    assert Path.cwd() == elsewhere
    assert run_dirs(project) == [original]


@pytest.mark.parametrize(("args", "fragment"), [
    (("db.path=nowhere.db",), "trace DB not found: nowhere.db"),
    (("filter.min_judge_scores.speed=0.5",), "filter.min_judge_scores.speed: no session has a judge score 'speed'"),
    (("filter.output=out/sft.jsonl",), "filter.output: the folder out does not exist"),
    (("filter.output=",), "filter.output is empty (null writes sft.jsonl in the run directory)"),
    (("filter.min_judge_score.speed=0.5",), "filter.min_judge_score is not a filter key (keys: dedup, "),
    (("filter.output=traces.db", "filter.overwrite=true"), "filter.output: traces.db is the trace DB itself"),
    (("filter.output=.", "filter.metadata=separate"), "filter.output: . is a directory"),
    (("filter.output=.", "filter.val_fraction=0.5"), "filter.output: . is a directory"),
])
def test_mistakes_are_one_line_and_leave_no_run_directory(run_cli, project, args, fragment):
    assert_one_line_error(run_cli("filter", "db.path=traces.db", *args), fragment)
    assert run_dirs(project) == []


def test_an_existing_output_is_kept(run_cli, project):
    (project / "sft.jsonl").write_text("mine\n")
    assert_one_line_error(run_cli("filter", "db.path=traces.db", "filter.output=sft.jsonl"),
                          "sft.jsonl exists; set filter.overwrite=true to replace it")
    assert (project / "sft.jsonl").read_text() == "mine\n"
    assert run_cli("filter", "db.path=traces.db", "filter=initial", "filter.output=sft.jsonl",
                   "filter.overwrite=true").exit_code == 0
    assert (project / "sft.jsonl").read_text() != "mine\n"


def test_an_earlier_validation_split_is_never_left_beside_a_new_file(run_cli, project):
    assert run_cli("filter", "db.path=traces.db", "filter=none", "filter.val_fraction=0.5", "filter.dedup=false",
                   "filter.output=sft.jsonl").exit_code == 0
    assert (project / "val.jsonl").is_file()
    (project / "sft.jsonl").unlink()
    assert_one_line_error(run_cli("filter", "db.path=traces.db", "filter=none", "filter.output=sft.jsonl"),
                          "val.jsonl exists beside filter.output, from an earlier run's validation split")
    replaced = run_cli("filter", "db.path=traces.db", "filter=none", "filter.output=sft.jsonl", "filter.overwrite=true")
    assert replaced.exit_code == 0 and not (project / "val.jsonl").exists()
    assert "removed " in replaced.out and "val.jsonl: an earlier run's validation split" in replaced.out
    before = (project / "sft.jsonl").read_bytes()
    empty = run_cli("filter", "db.path=traces.db", "filter=expert", "filter.output=sft.jsonl", "filter.overwrite=true")
    assert empty.exit_code == 4 and "nothing written: sft.jsonl is left as it was" in empty.out
    assert (project / "sft.jsonl").read_bytes() == before


def test_the_manifest_counts_the_db_rows(run_cli, project):
    assert run_cli("filter", "db.path=traces.db", "filter=initial").exit_code == 0
    (run_dir,) = run_dirs(project)
    rows = json.loads((run_dir / "manifest.json").read_text())["db"]["rows"]
    assert rows == {"sessions": 20, "judge_scores": 40, "judge_runs": 1, "lm_call_events": 40}


def test_a_synth_ai_db_filters_on_its_own_judges(run_cli, tmp_path):
    shutil.copy(SYNTH_AI_DB, tmp_path / "synth.db")
    result = run_cli("filter", "db.path=synth.db", "filter=none", "filter.min_judge_scores.quality=0.6")
    assert result.exit_code == 0, result.err
    assert "sessions: 60 seen, 34 kept" in result.out
    assert_one_line_error(run_cli("filter", "db.path=synth.db"),
                          "filter.min_judge_scores.primary: no session has a judge score 'primary' "
                          "(known keys: progress, quality)")


def test_validate_reports_lines_and_exits_by_severity(run_cli, project):
    assert run_cli("filter", "db.path=traces.db", "filter=initial", "filter.output=sft.jsonl").exit_code == 0
    good = run_cli("validate", "path=sft.jsonl")
    assert good.exit_code == 0, good.err
    assert "sft.jsonl: 1 example, about" in good.out and "0 errors, 1 warning" in good.out
    strict = run_cli("validate", "path=sft.jsonl", "validate.strict=true")
    assert strict.exit_code == 1 and "sft.jsonl:1: warning: extra top-level keys: metadata" in strict.out
    chat = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "metadata": {}}'
    (project / "bad.jsonl").write_text("\n".join([chat, '{"messages": [{"role": "user", "content": "hi"}]}',
                                                  chat, "not json", chat]) + "\n")
    bad = run_cli("validate", "path=bad.jsonl", "validate.show=3")
    assert bad.exit_code == 1
    assert bad.out.splitlines()[:3] == [  # errors first, a warning on many lines once
        "bad.jsonl:2: error: the last message is not an assistant message",
        "bad.jsonl:4: error: not valid JSON: Expecting value: line 1 column 1 (char 0)",
        "bad.jsonl:1: warning: extra top-level keys: metadata (and on 2 more lines)"]
    assert run_cli("validate", "path=bad.jsonl", "validate.show=2").out.splitlines()[2] == "... and 3 more"
    assert_one_line_error(run_cli("validate", "path=missing.jsonl"), "no such file: missing.jsonl")
    assert not (project / "experiments" / "validate").exists()
