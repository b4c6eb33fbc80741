"""Trace DBs to inspect: one graded by synthkit's own judge runner, one written by hand.

`judged_db`: twelve sessions e00 to e11 graded with RubricQuality (a code criterion, `target`
= i / 11, and a judge criterion, `plan`) by two judges on a local server: judge A scores `plan`
as the target, judge B as 1 - target on odd sessions. The outcome reward of session i is i,
except e11, which has none. The judges' reasoning holds a comma, quotes, a newline and
non-ASCII text, for the CSV round trip.

`hand_db`: four sessions whose scores and rewards are set directly, so agreement figures can
be worked out by hand (see test_agreement.py).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from synthkit import JudgeSettings, OutcomeReward
from synthkit.judging.runner import judge_traces
from synthkit.rubrics.discovery import collect
from synthkit.traces.store import TraceWriter
from tests.factories import T0, make_session
from tests.judge_server import JudgeServer, Reply, requested_criteria

N = 12
REASONING = 'plans, "mostly" — 計画的\nsecond line'
RUBRICS = '''
from synthkit import Rubric, criterion, judge

class RubricQuality(Rubric):
    """How good the episode is."""

    @criterion
    def target(self, trace):
        return trace.metadata["target"]

    @judge
    def plan(self):
        """The agent plans ahead."""
'''


def target(i: int) -> float:
    return i / (N - 1)


def plan(judge: str, i: int) -> float:
    return target(i) if judge == "a" or i % 2 == 0 else 1 - target(i)


def judged_session(i: int):
    base = make_session(f"e{i:02d}", created_at=T0 + timedelta(minutes=i), split="train" if i < 8 else "val")
    outcomes = () if i == N - 1 else (OutcomeReward(total_reward=float(i), achievements_count=i, total_steps=3),)
    return attrs.evolve(base, metadata={**base.metadata, "target": target(i), "seed": i}, outcome_rewards=outcomes)


def judge_settings(server: JudgeServer, name: str) -> JudgeSettings:
    return JudgeSettings(model=f"openai/judge-{name}", api_base=server.api_base, placeholder_key=True,
                         json_schema=True, backoff_s=0.01, timeout_s=5)


def judge_model(server_api_base: str, name: str) -> str:
    return f"openai/judge-{name}@{server_api_base}"


@pytest.fixture(scope="session")
def judged_template(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("judged")
    db = folder / "judged.db"
    with TraceWriter.open(db, create=True) as writer:
        for i in range(N):
            writer.write_session(judged_session(i))
    (folder / "rubric_quality.py").write_text(RUBRICS)
    rubrics = collect([str(folder / "rubric_quality.py")]).rubrics
    models = {}
    with JudgeServer() as server:
        for name in ("a", "b"):
            def reply(request, name=name):
                text = "\n".join(str(m.get("content")) for m in request["messages"])
                seed = int(re.search(r'"seed": (\d+)', text).group(1))
                return Reply(json.dumps({c: {"reasoning": f"{REASONING} ({name})", "score": plan(name, seed)}
                                         for c in requested_criteria(request)}))
            server.reply = reply
            summary = judge_traces(db, rubrics, judge_settings(server, name))
            assert summary.errors == 0 and summary.calls == N
            models[name] = judge_model(server.api_base, name)
    return db, models


@pytest.fixture
def judged(judged_template, tmp_path) -> tuple[Path, dict[str, str]]:
    """A private copy of the judged DB, and the judge model names {"a": ..., "b": ...}."""
    db, models = judged_template
    path = tmp_path / "traces.db"
    shutil.copy(db, path)
    return path, models


# hand_db: session -> (reward, judge-a primary, judge-b primary)
HAND = {"h0": (0.0, 0.1, 0.2), "h1": (1.0, 0.4, 0.8), "h2": (2.0, 0.35, 0.3), "h3": (3.0, 0.9, 0.7)}


@pytest.fixture
def hand_db(tmp_path) -> Path:
    path = tmp_path / "hand.db"
    at = "2026-05-01T00:00:00+00:00"
    with TraceWriter.open(path, create=True) as writer:
        for number, (session_id, (reward, _, _)) in enumerate(HAND.items()):
            base = make_session(session_id, created_at=T0 + timedelta(minutes=number))
            writer.write_session(attrs.evolve(base, outcome_rewards=(
                OutcomeReward(total_reward=reward, achievements_count=0, total_steps=1),)))
        db = writer.db
        for run_id, model, started in (("ra", "judge-a", "2026-05-01"), ("rb", "judge-b", "2026-05-02")):
            db["judge_runs"].insert({"run_id": run_id, "started_at": started, "status": "completed",
                                     "judge_model": model})
        for session_id, (_, a, b) in HAND.items():
            for run_id, model, score in (("ra", "judge-a", a), ("rb", "judge-b", b)):
                db["judge_scores"].insert({
                    "session_id": session_id, "run_id": run_id, "rubric_id": "RubricA", "rubric_version": "v2",
                    "criterion": "plan", "kind": "judge", "judge_model": model, "score": score,
                    "outcome": "passed" if score >= 0.5 else "failed", "reasoning": f"{model} on {session_id}",
                    "created_at": at})
                db["rubric_scores"].insert({"session_id": session_id, "rubric_id": "RubricA", "rubric_version": "v2",
                                            "judge_model": model, "weight": 1.0, "score": score, "created_at": at})
        # an older version graded once (stale), and a code criterion with an error and a skip
        db["judge_scores"].insert({"session_id": "h0", "run_id": "ra", "rubric_id": "RubricA", "rubric_version": "v1",
                                   "criterion": "plan", "kind": "judge", "judge_model": "judge-a", "score": 0.05,
                                   "outcome": "failed", "created_at": "2026-04-01T00:00:00+00:00"})
        db["rubric_scores"].insert({"session_id": "h0", "rubric_id": "RubricA", "rubric_version": "v1",
                                    "judge_model": "judge-a", "weight": 1.0, "score": 0.05,
                                    "created_at": "2026-04-01T00:00:00+00:00"})
        for session_id, outcome, score, error in (("h0", "passed", 1.0, None), ("h1", "error", None, "boom"),
                                                  ("h2", "error", None, "boom"), ("h3", "skipped", None, None)):
            db["judge_scores"].insert({"session_id": session_id, "run_id": "ra", "rubric_id": "RubricA",
                                       "rubric_version": "v2", "criterion": "facts", "kind": "code",
                                       "judge_model": "code", "score": score, "outcome": outcome, "error": error,
                                       "created_at": at})
    return path
