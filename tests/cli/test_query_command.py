"""`synthkit query` and `synthkit review` as a user runs them, on a DB graded by the judge runner."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3

import pytest

from synthkit.inspection.views import SCORE_COLUMNS
from tests.cli.test_cli import assert_one_line_error
from tests.conftest import tree
from tests.inspection.conftest import REASONING, N, judged_template, plan  # noqa: F401 (a fixture)


@pytest.fixture
def project(tmp_path, judged_template):  # noqa: F811
    db, models = judged_template
    (tmp_path / "traces.db").write_bytes(db.read_bytes())
    return tmp_path, models


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("view", ["scores", "sessions", "high", "agreement", "runs"])
def test_every_view_reads_only_and_every_format_holds_the_same_rows(run_cli, project, view):
    folder, _ = project
    before = tree(folder)
    out = {}
    for fmt in ("table", "csv", "jsonl", "markdown"):
        result = run_cli("query", "db.path=traces.db", f"query.view={view}", f"query.format={fmt}")
        assert result.exit_code == 0 and not result.err, result.err
        out[fmt] = result.out
    assert tree(folder) == before  # the DB byte for byte, and no file, log or run directory added
    as_csv = list(csv.DictReader(io.StringIO(out["csv"])))
    as_jsonl = [json.loads(line) for line in out["jsonl"].splitlines()]
    assert as_csv and [list(row) for row in as_csv] == [list(row) for row in as_jsonl]
    first = next(iter(as_jsonl[0]))
    assert [row[first] for row in as_csv] == ["" if row[first] is None else str(row[first]) for row in as_jsonl]
    markdown_rows = [line for line in out["markdown"].splitlines() if line.startswith("| ")]
    assert len(markdown_rows) == len(as_csv) + len({row.get("table") for row in as_jsonl})  # + a header per table
    assert out["table"].split()[0] == (first if view != "agreement" else "correlation")


def test_the_table_shows_the_judges_reasoning_cut_to_the_terminal(run_cli, project, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    result = run_cli("query", "db.path=traces.db", "query.criterion=plan", "query.limit=3")
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["session_id", "rubric_id", "criterion"]
    assert len(lines) == 2 + 3 + 2 and all(len(line) <= 100 for line in lines)  # header, rule, rows, note
    assert "plans, \"mostly\"" in lines[2] and "e00" in lines[2]


def test_csv_to_a_file_round_trips_and_leaves_a_manifest(run_cli, project):
    folder, models = project
    result = run_cli("query", "db.path=traces.db", "query.format=csv", "query.output=scores.csv")
    assert result.exit_code == 0, result.err
    assert f"wrote {N * 3} rows to scores.csv" in result.out
    with (folder / "scores.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(SCORE_COLUMNS)
    conn = sqlite3.connect(folder / "traces.db")
    stored = {(s, c, m): (score, reasoning) for s, c, m, score, reasoning in conn.execute(
        "SELECT session_id, criterion, judge_model, score, reasoning FROM judge_scores")}
    assert len(rows) == len(stored) == N * 3
    for row in rows:
        score, reasoning = stored[(row["session_id"], row["criterion"], row["judge_model"])]
        assert float(row["score"]) == score and row["reasoning"] == (reasoning or "")
    assert rows[1]["reasoning"] in (f"{REASONING} (a)", f"{REASONING} (b)")  # quotes, comma, newline, 計画的
    (run_dir,) = (folder / "experiments" / "query").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["result"]["rows"] == N * 3
    assert manifest["outputs"][str("scores.csv")]["sha256"] == digest(folder / "scores.csv")


def test_an_output_is_never_overwritten_silently(run_cli, project):
    folder, _ = project
    (folder / "mine.csv").write_text("mine\n")
    assert_one_line_error(run_cli("query", "db.path=traces.db", "query.output=mine.csv"),
                          "mine.csv exists; set query.overwrite=true to replace it")
    assert (folder / "mine.csv").read_text() == "mine\n" and not (folder / "experiments").exists()
    assert_one_line_error(run_cli("query", "db.path=traces.db", "query.output=traces.db", "query.overwrite=true"),
                          "query.output is the trace DB itself")
    assert run_cli("query", "db.path=traces.db", "query.view=runs", "query.output=mine.csv",
                   "query.overwrite=true").exit_code == 0
    assert (folder / "mine.csv").read_text().startswith("run_id")


def test_agreement_with_two_judges(run_cli, project):
    _, models = project
    result = run_cli("query", "db.path=traces.db", "query.view=agreement", "query.format=jsonl",
                     f"query.judges=[{models['a']},{models['b']}]", "query.threshold=0.5")
    assert result.exit_code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    kappa = {row["key"]: row for row in rows if row["table"] == "kappa"}
    # plan: A = target, B = 1 - target on odd sessions; at 0.5 they agree on the evens and on 5 (both fail)
    agree = sum((plan("a", i) >= 0.5) == (plan("b", i) >= 0.5) for i in range(N))
    assert kappa["RubricQuality.plan"]["agreement"] == pytest.approx(agree / N)
    assert {row["table"] for row in rows} == {"correlation", "disagreements", "kappa", "rates"}


@pytest.mark.parametrize(("args", "fragment"), [
    (("db.path=nowhere.db",), "trace DB not found: nowhere.db"),
    (("query.view=everything",), "query.view must be one of scores, sessions, high, agreement, runs"),
    (("query.format=xml",), "query.format must be one of table, csv, jsonl, markdown"),
    (("query.outcome=maybe",), "query.outcome must be among passed, failed, error, skipped"),
    (("query.view=high", "query.min_primary=2"), "query.min_primary is 2"),
    (("query.view=agreement", "query.judges=[x]"), "query.judges must name two different judge models"),
    (("query.judge_model=nobody",), "query.judge_model: no judge result has judge_model 'nobody'"),
    (("query.output=out/x.csv",), "query.output: the folder out does not exist"),
])
def test_mistakes_are_one_line(run_cli, project, args, fragment):
    assert_one_line_error(run_cli("query", "db.path=traces.db", *args), fragment)
    assert not (project[0] / "experiments").exists()


def test_query_has_no_sweeps(run_cli, project):
    assert_one_line_error(run_cli("query", "db.path=traces.db", "-m", "query.view=scores,runs"), "has no sweeps")


# -- review ---------------------------------------------------------------------------------------

def filter_run(run_cli, folder, *args, threshold="filter.min_judge_scores.RubricQuality=0.5"):
    result = run_cli("filter", "db.path=traces.db", "filter=none", threshold,
                     "filter.dedup=false", *args)  # the sessions hold the same conversation
    assert result.exit_code == 0, result.err
    return sorted((folder / "experiments" / "filter").iterdir())[-1]


def kept_ids(run_dir):
    return [json.loads(line)["metadata"]["session_id"] for line in (run_dir / "sft.jsonl").open()]


def test_review_shows_kept_examples_with_scores_and_reasoning(run_cli, project):
    folder, models = project
    run_dir = filter_run(run_cli, folder)
    before = tree(folder)
    result = run_cli("review", "review.n=3")
    assert result.exit_code == 0, result.err
    assert tree(folder) == before
    out = result.out
    assert f"filter run {run_dir.relative_to(folder)}" in out and f"judge {models['b']}" in out
    assert "3 of " in out and "kept examples, drawn with seed 0" in out
    shown = [line.split()[1] for line in out.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(shown) == 3 and set(shown) <= set(kept_ids(run_dir))
    assert out.count("RubricQuality ") >= 3 and ">= 0.5 ok" in out
    assert "RubricQuality.plan" in out and 'plans, "mostly" — 計画的 second line (b)' in out
    assert "RubricQuality.target" in out and "assistant: → interact(" in out
    assert run_cli("review", "review.n=3").out == out  # the same seed, the same examples
    other = run_cli("review", f"review.run={run_dir}", "review.n=3", "review.seed=5").out
    assert "drawn with seed 5" in other
    assert [line.split()[1] for line in other.splitlines() if line[:2] in ("1.", "2.", "3.")] != shown


def test_review_reads_the_metadata_a_run_wrote_beside_its_examples(run_cli, project):
    folder, _ = project
    run_dir = filter_run(run_cli, folder, "filter.metadata=separate")
    beside = run_dir / "sft.metadata.jsonl"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {str(beside.resolve()), str((run_dir / "sft.jsonl").resolve())} <= set(manifest["outputs"])
    assert all("metadata" not in json.loads(line) for line in (run_dir / "sft.jsonl").open())
    result = run_cli("review", "review.n=3")
    assert result.exit_code == 0, result.err
    shown = [line.split()[1] for line in result.out.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert len(shown) == 3 and set(shown) <= {json.loads(line)["session_id"] for line in beside.open()}
    assert result.out.count("RubricQuality ") >= 3 and "RubricQuality.plan" in result.out
    with beside.open("a", encoding="utf-8") as handle:
        handle.write("{}\n")
    assert_one_line_error(run_cli("review"), "sft.metadata.jsonl do not have as many lines")
    beside.write_text("null\n" + "".join(beside.read_text().splitlines(keepends=True)[1:-1]))
    assert_one_line_error(run_cli("review"), "sft.metadata.jsonl:1: not the metadata the filter writes")


@pytest.mark.parametrize("metadata", ["true", "separate"])
def test_review_finds_a_run_s_files_by_their_names_whatever_they_end_in(run_cli, project, metadata):
    folder, _ = project
    filter_run(run_cli, folder, f"filter.metadata={metadata}", "filter.output=data", "filter.val_fraction=0.3")
    assert (folder / "data.val.jsonl").is_file() and (folder / "data.metadata.jsonl").is_file() == (
        metadata == "separate")
    total = sum(1 for name in ("data", "data.val.jsonl") for _ in (folder / name).open())
    result = run_cli("review", "review.n=1000")
    assert result.exit_code == 0, result.err
    assert f"{total} of {total} kept examples" in result.out


def test_review_shows_prompt_completion_examples_as_their_chats(run_cli, project):
    folder, _ = project
    filter_run(run_cli, folder, "filter.format=prompt_completion")
    result = run_cli("review", "review.n=1")
    assert result.exit_code == 0, result.err
    assert "example, 0 messages" not in result.out and "assistant: → interact(" in result.out


def test_review_of_rejected_sessions_nearest_the_threshold_first(run_cli, project):
    folder, _ = project
    run_dir = filter_run(run_cli, folder)
    result = run_cli("review", f"review.run={run_dir}", "review.rejected=true", "review.n=2")
    assert result.exit_code == 0, result.err
    headers = [line for line in result.out.splitlines() if line[:2] in ("1.", "2.")]
    assert len(headers) == 2 and "FAILS" in result.out
    assert all("rejected by min_judge_scores.RubricQuality" in line for line in headers)
    gaps = [float(line.split(", ")[-1].split()[0]) for line in headers]
    assert gaps == sorted(gaps) and gaps[0] > 0
    assert not {line.split()[1] for line in headers} & set(kept_ids(run_dir))


def test_review_mistakes_are_one_line(run_cli, project):
    folder, _ = project
    assert_one_line_error(run_cli("review"), "no filter run with outputs under experiments/filter")
    assert_one_line_error(run_cli("review", f"review.run={folder}"), "is not a filter run directory")
    run_dir = filter_run(run_cli, folder, threshold="filter.splits=[train]")
    assert_one_line_error(run_cli("review", f"review.run={run_dir}", "review.rejected=true"),
                          "tested no judge score threshold")
    assert_one_line_error(run_cli("review", "review.n=0"), "review.n must be a whole number > 0")


@pytest.mark.parametrize(("line", "problem"), [
    ('{"messages": "hi", "metadata": [1]}', "not an example the filter writes: no messages list"),
    ('[1, 2]', "not an example the filter writes: not a JSON object but list"),
    ('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "metadata": [1]}',
     "not an example the filter writes: metadata is not an object"),
])
def test_review_of_an_edited_file_names_the_line(run_cli, project, line, problem):
    folder, _ = project
    run_dir = filter_run(run_cli, folder)
    with (run_dir / "sft.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    lines = sum(1 for _ in (run_dir / "sft.jsonl").open())
    assert_one_line_error(run_cli("review", "review.n=100"),
                          f"sft.jsonl:{lines}: {problem} (edited, or written by an older")
