"""A trace DB graded by synthkit's own judge runner (code criteria, judge=none), for filtering.

Twenty sessions, s00 to s19, recorded a minute apart; session i has `target` = i / 19, so its
scores are known exactly: RubricTarget = target, RubricHalf = target / 2, and the overall
primary = (target + target / 2) / 2. Even sessions are train, odd ones test; task ids alternate
a, a, b, b; s18 failed; s19 has no outcome reward; the outcome reward of session i is i.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

from synthkit import OutcomeReward
from synthkit.judging.runner import judge_traces
from synthkit.rubrics.discovery import collect
from synthkit.traces.store import TraceWriter
from tests.factories import T0, make_session

RUBRICS = '''
from synthkit import Rubric, criterion

class RubricTarget(Rubric):
    @criterion
    def target(self, trace):
        return trace.metadata["target"]

class RubricHalf(Rubric):
    @criterion
    def half(self, trace):
        return trace.metadata["target"] / 2
'''
N = 20


def target(i: int) -> float:
    return i / (N - 1)


def primary(i: int) -> float:
    return (target(i) + target(i) / 2) / 2


def session(i: int):
    base = make_session(f"s{i:02d}", created_at=T0 + timedelta(minutes=i), split="train" if i % 2 == 0 else "test",
                        task_id="a" if i % 4 < 2 else "b", model="m1" if i < 10 else "m2")
    metadata = {**base.metadata, "target": target(i), "seed": i,
                "status": "failed" if i == 18 else "completed"}
    outcomes = () if i == 19 else (OutcomeReward(total_reward=float(i), achievements_count=i, total_steps=3),)
    return attrs.evolve(base, metadata=metadata, outcome_rewards=outcomes)


@pytest.fixture(scope="session")
def graded_db_template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("graded")
    db = folder / "graded.db"
    with TraceWriter.open(db, create=True) as writer:
        for i in range(N):
            writer.write_session(session(i))
    (folder / "rubric_targets.py").write_text(RUBRICS)
    judge_traces(db, collect([str(folder / "rubric_targets.py")]).rubrics, None)
    return db


@pytest.fixture
def graded_db(graded_db_template, tmp_path) -> Path:
    path = tmp_path / "graded.db"
    shutil.copy(graded_db_template, path)
    return path
