"""Criterion outcomes and aggregation: the rules that decide a rubric's primary."""

from __future__ import annotations

import math

import pytest

from synthkit import Outcome, Rubric, criterion, grade, judge, skip
from tests.factories import make_session

SESSION = make_session()


def scores(**values):
    """A rubric whose criteria return the given values (name=value or name=(value, weight[, required]))."""
    body = {}
    for name, spec in values.items():
        value, weight, required = (spec + (False,))[:3] if isinstance(spec, tuple) and len(spec) > 1 \
            else (spec, 1.0, False)

        def method(self, trace, _value=value):
            if isinstance(_value, BaseException):
                raise _value
            if _value == "skip":
                skip("not for this trace")
            return _value

        method.__name__ = name
        body[name] = criterion(weight=weight, required=required)(method)
    return type("RubricT", (Rubric,), body)


def primary(rubric):
    return grade(SESSION, [rubric])["RubricT"]


def test_weighted_mean_over_scored_criteria():
    result = primary(scores(a=(1.0, 3.0), b=(0.0, 1.0), c=(True, 0.0)))
    assert result.primary == pytest.approx(0.75)
    assert [r.outcome for r in result.criteria] == [Outcome.PASSED, Outcome.FAILED, Outcome.PASSED]


def test_skipped_criteria_are_left_out_and_weights_renormalised():
    result = primary(scores(a=(0.2, 1.0), b=("skip", 9.0), c=(0.8, 3.0)))
    assert result.primary == pytest.approx((0.2 + 0.8 * 3) / 4)
    assert result["b"].outcome is Outcome.SKIPPED and result["b"].reason == "not for this trace"
    assert result["b"].score is None


def test_a_failing_required_criterion_makes_the_primary_zero():
    assert primary(scores(gate=(0.1, 1.0, True), other=(1.0, 5.0))).primary == 0.0
    assert primary(scores(gate=(0.9, 1.0, True), other=(1.0, 1.0))).primary == pytest.approx(0.95)


def test_any_error_leaves_the_primary_missing_never_zero():
    result = primary(scores(ok=1.0, broken=ValueError("no inventory")))
    assert result.primary is None
    assert result.error == "criteria ended in error: broken"
    assert result["broken"].outcome is Outcome.ERROR
    assert result["broken"].reason == "RubricT.broken raised ValueError: no inventory"
    assert result["ok"].score == 1.0
    everything = primary(scores(a=KeyError("x"), b=RuntimeError("y")))
    assert everything.primary is None and everything.error == "criteria ended in error: a, b"


@pytest.mark.parametrize("value", [None, 1.7, -0.1, "0.5", math.nan, [1]])
def test_a_bad_return_value_is_an_error_naming_rubric_criterion_and_value(value):
    result = primary(scores(speed=value))
    assert result["speed"].outcome is Outcome.ERROR
    assert result["speed"].reason == (f"RubricT.speed returned {value!r}: a criterion returns a "
                                      "float in [0, 1] or a bool")
    assert result.primary is None


def test_thresholds_decide_passed_or_failed():
    class RubricT(Rubric):
        threshold = 0.8

        @criterion
        def strict(self, trace):
            return 0.7

        @criterion(threshold=0.6)
        def lenient(self, trace):
            return 0.7

    result = grade(SESSION, [RubricT])["RubricT"]
    assert (result["strict"].outcome, result["lenient"].outcome) == (Outcome.FAILED, Outcome.PASSED)
    assert (result["strict"].threshold, result["lenient"].threshold) == (0.8, 0.6)


def test_judge_criteria_are_skipped_without_a_judge_and_a_rubric_may_not_apply():
    class RubricT(Rubric):
        def applies(self, trace):
            return trace.metadata["env_name"] == "crafter"

        @criterion
        def fact(self, trace):
            return 1.0

        @judge
        def opinion(self):
            """Is it good?"""

    result = grade(SESSION, [RubricT])["RubricT"]
    assert result["opinion"].outcome is Outcome.SKIPPED and result["opinion"].reason == "no judge configured"
    assert result.primary == 1.0
    chat = grade(make_session(), [type("RubricU", (RubricT,), {"applies": lambda self, t: False})])
    assert {r.outcome for r in chat["RubricU"].criteria} == {Outcome.SKIPPED}
    assert chat["RubricU"].primary is None and chat.primary is None


def test_a_criterion_may_declare_where_it_applies():
    class RubricT(Rubric):
        @criterion(applies=lambda trace: bool(trace.tool_calls))
        def tools(self, trace):
            return 1.0

        @criterion(applies=lambda trace: False)
        def never(self, trace):
            raise AssertionError("must not run")

        @judge(applies=lambda trace: False)
        def never_judged(self):
            """Is it good?"""

        @judge(applies=lambda trace: 1 / 0)
        def broken(self):
            """Is it good?"""

    result = grade(SESSION, [RubricT])["RubricT"]
    assert result["tools"].outcome is Outcome.PASSED
    assert result["never"].outcome is Outcome.SKIPPED
    # judge criteria too, as the judge runner decides: not "no judge configured"
    assert (result["never_judged"].outcome, result["never_judged"].reason) == \
        (Outcome.SKIPPED, "does not apply to this trace")
    assert (result["broken"].outcome, result["broken"].reason) == \
        (Outcome.ERROR, "RubricT.broken applies= raised ZeroDivisionError: division by zero")


def test_aggregate_can_be_overridden_but_not_around_errors():
    class RubricMin(Rubric):
        def aggregate(self, results):
            return min(r.score for r in results)

        @criterion
        def a(self, trace):
            return 0.3

        @criterion
        def b(self, trace):
            return 0.9

    assert grade(SESSION, [RubricMin])["RubricMin"].primary == 0.3

    class RubricBad(RubricMin):
        def aggregate(self, results):
            return 2.0

    bad = grade(SESSION, [RubricBad])["RubricBad"]
    assert bad.primary is None and bad.error == "RubricBad.aggregate returned 2.0, not a float in [0, 1]"


def test_the_overall_primary_weights_rubrics():
    class RubricA(Rubric):
        weight = 3

        @criterion
        def c(self, trace):
            return 1.0

    class RubricB(Rubric):
        @criterion
        def c(self, trace):
            return 0.0

    class RubricBroken(Rubric):
        @criterion
        def c(self, trace):
            raise ValueError("x")

    assert grade(SESSION, [RubricA, RubricB]).primary == pytest.approx(0.75)
    assert grade(SESSION, [RubricA, RubricB, RubricBroken]).primary is None
