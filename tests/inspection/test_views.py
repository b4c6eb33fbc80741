"""The views from Python, on a DB graded by synthkit's judge runner with two local judges."""

from __future__ import annotations

import sys

import pytest

from synthkit import SynthkitError
from synthkit.inspection import query
from synthkit.inspection.views import SCORE_COLUMNS
from tests.inspection.conftest import HAND, REASONING, N, plan, target


def test_scores_lists_every_result_with_its_judge(judged):
    db, models = judged
    table = query(db, "scores")
    assert table.columns == SCORE_COLUMNS
    assert len(table) == N * 3  # a code criterion, and one judge criterion by two judges
    plans = [r for r in table.rows if r["criterion"] == "plan" and r["judge_model"] == models["b"]]
    assert [r["score"] for r in plans] == pytest.approx([plan("b", i) for i in range(N)])
    assert plans[0]["reasoning"] == f"{REASONING} (b)" and plans[0]["kind"] == "judge"
    assert plans[0]["tokens_in"] == 100 and plans[0]["cost_usd"] == 0 and plans[0]["stale"] is False
    code = [r for r in table.rows if r["criterion"] == "target"]
    assert {r["judge_model"] for r in code} == {"code"} and len(code) == N


def test_scores_selections(judged):
    db, models = judged
    assert len(query(db, "scores", judge_model=models["a"])) == N
    assert {r["criterion"] for r in query(db, "scores", criterion="target").rows} == {"target"}
    failed = query(db, "scores", outcome=["failed"], criterion=["plan"], judge_model=models["a"]).rows
    assert [r["session_id"] for r in failed] == [f"e{i:02d}" for i in range(N) if plan("a", i) < 0.5]
    assert len(query(db, "scores", rubric="RubricQuality", limit=5)) == 5
    with pytest.raises(SynthkitError, match=r"query.rubric: no judge result has rubric_id 'RubricNope' "
                                            r"\(known: RubricQuality\)"):
        query(db, "scores", rubric="RubricNope")
    with pytest.raises(SynthkitError, match="query.outcome must be among passed, failed, error, skipped"):
        query(db, "scores", outcome="maybe")


def test_sessions_has_the_primaries_of_the_latest_judge(judged):
    db, models = judged
    rows = query(db, "sessions").rows
    assert [r["session_id"] for r in rows] == [f"e{i:02d}" for i in range(N)]  # recording order
    for i, row in enumerate(rows):
        expected = (target(i) + plan("b", i)) / 2
        assert row["RubricQuality"] == pytest.approx(expected) and row["primary"] == pytest.approx(expected)
        assert row["total_reward"] == (None if i == N - 1 else i)
        assert row["split"] == ("train" if i < 8 else "val") and row["quality"] == 0.8  # synth-ai style key
    first = query(db, "sessions", judge_model=models["a"]).rows[3]
    assert first["primary"] == pytest.approx(target(3))


def test_high_keeps_what_passes_every_threshold(judged):
    db, models = judged
    high = query(db, "high", judge_model=models["a"], min_primary=0.5).rows
    assert [r["session_id"] for r in high] == [f"e{i:02d}" for i in range(N) if target(i) >= 0.5]
    by_criterion = query(db, "high", min_judge_scores={"RubricQuality.plan": 0.9}).rows
    assert [r["session_id"] for r in by_criterion] == ["e01", "e10"]  # judge b: 1 - 1/11 and 10/11
    assert by_criterion[0]["RubricQuality.plan"] == pytest.approx(10 / 11)
    default = query(db, "high").rows  # primary >= 0.7, the filter's standard
    assert all(r["primary"] >= 0.7 for r in default) and default
    with pytest.raises(SynthkitError, match=r"query.min_judge_scores.nope: no session has a judge score 'nope' "
                                            r"\(known keys: RubricQuality, RubricQuality.plan"):
        query(db, "high", min_judge_scores={"nope": 0.5})


def test_runs_lists_each_judge_run(judged):
    db, models = judged
    rows = query(db, "runs").rows
    assert [r["judge_model"] for r in rows] == [models["a"], models["b"]]
    assert all(r["sessions"] == N and r["calls"] == N and r["errors"] == 0 and r["tokens_in"] == 100 * N
               for r in rows)
    assert rows[0]["rubrics"].startswith("RubricQuality@") and rows[0]["status"] == "completed"


def test_stale_scores_are_marked_and_left_out_unless_asked_for(hand_db):
    stale = [r for r in query(hand_db, "scores").rows if r["stale"]]
    assert [(r["session_id"], r["rubric_version"]) for r in stale] == [("h0", "v1")]
    assert "RubricA@v1" not in query(hand_db, "sessions").columns
    rows = query(hand_db, "sessions", judge_model="judge-a", include_stale=True).rows
    assert rows[0]["RubricA@v1"] == 0.05 and rows[0]["RubricA"] == HAND["h0"][1]
    assert rows[1]["RubricA@v1"] is None


def test_a_db_without_judge_tables(synth_ai_db):
    assert len(query(synth_ai_db, "scores")) == 0 and len(query(synth_ai_db, "runs")) == 0
    sessions = query(synth_ai_db, "sessions")
    assert "quality" in sessions.columns and "primary" not in sessions.columns
    assert len(query(synth_ai_db, "high", min_judge_scores={"quality": 0.9})) > 0


def test_to_pandas_without_pandas_says_what_to_install(judged, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(SynthkitError, match="pip install pandas"):
        query(judged[0], "runs").to_pandas()


def test_to_pandas_gives_a_frame(judged):
    pandas = pytest.importorskip("pandas")
    frame = query(judged[0], "sessions").to_pandas()
    assert isinstance(frame, pandas.DataFrame) and len(frame) == N


def test_unknown_keys_and_views_are_refused(judged):
    with pytest.raises(SynthkitError, match="rubrik is not a query key"):
        query(judged[0], "scores", rubrik="x")
    with pytest.raises(SynthkitError, match="query.view must be one of scores, sessions, high, agreement, runs"):
        query(judged[0], "everything")


def test_the_python_defaults_are_the_configs():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from synthkit.cli.app import register_configs
    from synthkit.inspection import COMMAND_KEYS, DEFAULTS
    from synthkit.resources import default_dir

    register_configs()
    with initialize_config_dir(config_dir=str(default_dir("conf")), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name="query").query)
    assert {k: v for k, v in cfg.items() if k not in COMMAND_KEYS} == DEFAULTS
