from __future__ import annotations

import json

import pytest

from synthkit import Outcome, OutcomeReward, Rubric, criterion, example, examples_from, grade, judge
from synthkit.rubrics.api import RubricDefinitionError
from tests.factories import make_session

CHAT = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]


class RubricAnswer(Rubric):
    @criterion
    def answered(self, trace):
        return trace.final_answer is not None

    @criterion(weight=3)
    def correct(self, trace):
        return 1.0 if trace.final_answer == "4" else 0.2

    @judge
    def tone(self):
        """Is it polite?"""


def result_of(ex):
    return grade(ex.trace, [RubricAnswer])["RubricAnswer"]


def test_an_example_is_a_trace_with_expectations():
    ex = example("answers", messages=CHAT, metadata={"task_id": "math"},
                 outcome={"total_reward": 1, "achievements": ["solved"]},
                 criteria={"answered": "passed", "correct": (0.9, 1)})
    assert ex.source.startswith("test_examples.py:")
    assert ex.trace.metadata == {"task_id": "math"} and ex.trace.outcome.achievements == ("solved",)
    assert ex.check(result_of(ex), judged=False) == []


def test_misses_are_described():
    ex = example("wrong", messages=[*CHAT[:1], {"role": "assistant", "content": "5"}],
                 criteria={"correct": 1.0, "answered": "failed", "speed": 1, "tone": 1})
    problems = ex.check(result_of(ex), judged=False)
    assert problems == [
        "criterion correct: expected 1, got 0.2 (failed)",
        "criterion answered: expected failed, got 1 (passed)",
        "criterion speed: RubricAnswer has no such criterion (it has: answered, correct, tone)",
    ]   # `tone` is a judge criterion: without a judge it is not checked


def test_the_primary_is_checked_only_when_every_criterion_could_run():
    ex = example("primary", messages=CHAT, primary=(0.0, 0.1))
    assert ex.check(result_of(ex), judged=False) == []
    assert not ex.checkable(result_of(ex), judged=False)

    class RubricCode(Rubric):
        @criterion
        def c(self, trace):
            return 0.5

    code_only = grade(ex.trace, [RubricCode])["RubricCode"]
    assert ex.check(code_only, judged=False) == ["primary: expected [0, 0.1], got 0.5"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "needs messages= or session="),
    ({"messages": CHAT, "session": make_session()}, "takes session= or messages=, not both"),
    ({"messages": [{"role": "user", "content": "only"}]}, "no assistant message"),
    ({"messages": CHAT, "primary": (0.8, 0.2)}, "a range is [low, high]"),
    ({"messages": CHAT, "criteria": {"c": "great"}}, "expected a score, a [low, high] range or an outcome"),
    ({"messages": CHAT, "outcome": {"total_reward": 1, "colour": "red"}}, "unexpected keyword argument 'colour'"),
])
def test_bad_examples_are_refused(kwargs, message):
    with pytest.raises(RubricDefinitionError) as info:
        example("bad", **kwargs)
    assert message in str(info.value)


def test_examples_from_a_jsonl_file(tmp_path):
    session = make_session("from-json")
    from synthkit.traces.model import converter

    lines = [
        {"name": "chat", "messages": CHAT, "expect": {"criteria": {"correct": 1}}},
        {"session": converter.unstructure(session), "outcome": None, "expect": {"primary": [0, 1]},
         "only": ["RubricAnswer"]},
    ]
    (tmp_path / "ex.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    loaded = examples_from(tmp_path / "ex.jsonl")
    assert [e.name for e in loaded] == ["chat", "line 2"]
    assert loaded[1].trace == session and loaded[1].only == ("RubricAnswer",)
    assert [e.source for e in loaded] == ["ex.jsonl:1", "ex.jsonl:2"]
    assert loaded[0].criteria == {"correct": (1.0, 1.0)}

    (tmp_path / "bad.jsonl").write_text('{"name": "x", "messages": []}\n{oops\n')
    with pytest.raises(RubricDefinitionError, match="bad.jsonl:1.*needs messages="):
        examples_from(tmp_path / "bad.jsonl")
    (tmp_path / "typo.jsonl").write_text('{"name": "x", "messages": [], "expected": {}}\n')
    with pytest.raises(RubricDefinitionError, match="typo.jsonl:1: unknown keys expected"):
        examples_from(tmp_path / "typo.jsonl")
    with pytest.raises(RubricDefinitionError, match="primary is a score or a \\[low, high\\] range, not 'error'"):
        example("p", messages=CHAT, primary="error")
    with pytest.raises(RubricDefinitionError, match="examples file not found"):
        examples_from(tmp_path / "missing.jsonl")


def test_outcome_objects_are_accepted():
    ex = example("o", messages=CHAT, outcome=OutcomeReward(total_reward=2.0))
    assert ex.trace.outcome.total_reward == 2.0
    assert Outcome("skipped") is Outcome.SKIPPED
