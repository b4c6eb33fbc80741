"""`pytest rubrics/`: golden examples run as test items, through the pytest11 plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

RUBRIC = '''
from synthkit import Rubric, criterion, example, judge

class RubricAnswer(Rubric):
    """Answers arithmetic."""

    @criterion
    def correct(self, trace):
        return 1.0 if trace.final_answer == "4" else 0.0

    @judge
    def tone(self):
        """Is it polite?"""

    @judge(applies=lambda trace: trace.final_answer != "4")
    def off_topic(self):
        """Does it wander?"""

def chat(answer):
    return [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": answer}]

RubricAnswer.examples = [
    example("right", messages=chat("4"), criteria={"correct": 1}),
    example("wrong range", messages=chat("4"), criteria={"correct": (0, 0.5)}),
    example("judge only", messages=chat("4"), criteria={"tone": (0.5, 1)}),
    example("both", messages=chat("4"), criteria={"correct": 1, "tone": (0.5, 1)}),
]
'''


def pytest_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
                          cwd=folder, capture_output=True, text=True)


def test_examples_are_items_and_a_wrong_range_fails(tmp_path):
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "rubric_answer.py").write_text(RUBRIC)
    (tmp_path / "rubrics" / "rubric_unrelated.py").write_text("raise SystemExit('not ours')\n")
    listed = pytest_in(tmp_path, "rubrics", "--collect-only")
    assert "RubricAnswer[right]" in listed.stdout and "RubricAnswer[wrong range]" in listed.stdout
    done = pytest_in(tmp_path, "rubrics", "-rs")
    assert done.returncode == 1, done.stdout
    assert "1 failed, 2 passed, 1 skipped" in done.stdout
    assert "RubricAnswer[both]: criterion tone not checked: it needs a judge" in done.stdout  # a warning
    assert "RubricAnswer[right]:" not in done.stdout
    assert "RubricAnswer on example 'wrong range' (rubric_answer.py:" in done.stdout
    assert "criterion correct: expected [0, 0.5], got 1 (passed)" in done.stdout
    assert "needs a judge" in done.stdout


def test_test_modules_that_match_the_rubric_pattern_stay_pytests(tmp_path):
    (tmp_path / "test_my_rubric.py").write_text(
        "from synthkit import Rubric\n\nclass Scorer(Rubric):\n    __rubric__ = True\n\n"
        "def test_plain():\n    assert Scorer.weight == 1\n")
    done = pytest_in(tmp_path, ".")
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout


def test_a_configured_judge_grades_the_judge_expectations(tmp_path):
    from tests.judge_server import JudgeServer, Reply, answer, requested_criteria

    (tmp_path / "rubrics").mkdir()
    (tmp_path / "rubrics" / "rubric_answer.py").write_text(RUBRIC)
    with JudgeServer() as server:
        server.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.9)))
        done = pytest_in(tmp_path, "rubrics", "--rubric-judge=openai/test-judge",
                         f"--rubric-judge-api-base={server.api_base}")
        assert "1 failed, 3 passed" in done.stdout, done.stdout      # "judge only" now runs and passes
        assert len(server.requests) == 4 and "not checked" not in done.stdout
        # as judge=local: the answer is held to a JSON schema of the criteria that apply
        assert [requested_criteria(r) for r in server.requests] == [["tone"]] * 4
        assert {r["response_format"]["type"] for r in server.requests} == {"json_schema"}
        server.reply = lambda request: Reply(answer(dict.fromkeys(requested_criteria(request), 0.1)))
        low = pytest_in(tmp_path, "rubrics", "-k", "judge", "--rubric-judge=openai/test-judge",
                        f"--rubric-judge-api-base={server.api_base}")
        assert "criterion tone: expected [0.5, 1], got 0.1 (failed)" in low.stdout


def test_a_broken_rubric_file_is_a_collection_error(tmp_path):
    (tmp_path / "rubric_broken.py").write_text("from synthkit import Rubric\nimport nothing_here\n")
    done = pytest_in(tmp_path, ".")
    assert done.returncode == 2
    assert "rubric_broken.py:2: ModuleNotFoundError: No module named 'nothing_here'" in done.stdout


def test_the_shipped_rubrics_pass_their_examples(tmp_path):
    done = pytest_in(ROOT, "rubrics", "-vv")
    assert done.returncode == 0, done.stdout
    assert "RubricCrafterOutcome[a strong run] PASSED" in done.stdout
    assert "RubricChatToolUse[a refusal loop] PASSED" in done.stdout
