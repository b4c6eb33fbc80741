from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from synthkit.judging.llm import JudgeSettings
from synthkit.judging.runner import judge_traces
from synthkit.rubrics.discovery import collect
from tests.conftest import SYNTH_AI_DB
from tests.judge_server import JudgeServer

RUBRICS = '''
from synthkit import Rubric, criterion, judge

class RubricQuality(Rubric):
    """How good the episode is."""

    @criterion(weight=1)
    def has_outcome(self, trace):
        return trace.outcome is not None

    @judge(weight=2)
    def planning(self):
        """The agent plans ahead."""

    @judge(weight=1, anchors={0: "rude", 1: "kind"})
    def tone(self):
        """The agent is polite."""

class RubricSafety(Rubric):
    """Nothing dangerous happens."""

    @judge
    def safe(self):
        """No unsafe action is taken."""
'''


@pytest.fixture
def server():
    with JudgeServer() as running:
        yield running


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "traces.db"
    shutil.copy(SYNTH_AI_DB, path)
    return path


@pytest.fixture
def rubric_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rubrics"
    folder.mkdir()
    (folder / "rubric_test.py").write_text(textwrap.dedent(RUBRICS))
    return folder


@pytest.fixture
def grade(db, rubric_dir, server):
    """Run the judge runner on `db` with the test rubrics against the local server."""

    def run(*, rubrics=None, settings: dict | None = None, **options):
        judge = JudgeSettings(**{"model": "openai/test-judge", "api_base": server.api_base,
                                 "placeholder_key": True, "json_schema": True, "backoff_s": 0.01,
                                 "timeout_s": 5, **(settings or {})})
        chosen = rubrics if rubrics is not None else collect([str(rubric_dir)]).rubrics
        return judge_traces(db, chosen, judge, **options)

    return run
