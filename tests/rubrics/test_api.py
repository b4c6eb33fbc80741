from __future__ import annotations

import pytest

from synthkit import Rubric, criterion, judge, mark
from synthkit.rubrics.api import RubricDefinitionError
from synthkit.rubrics.expression import ExpressionError, compile_expression


def test_criteria_keep_their_declaration_and_inheritance():
    class RubricBase(Rubric):
        @criterion(weight=2, required=True, threshold=0.7)
        def first(self, trace):
            return 1.0

        @judge(weight=0.5, anchors={0: "bad", 1: "good"})
        def second(self):
            """Is the plan sound?"""

    class RubricChild(RubricBase):
        @criterion
        def first(self, trace):  # redefined: the child's version counts
            return 0.0

        second = None  # no longer a criterion

        @judge(prompt="Grade the tone.")
        def third(self):
            pass

    base = {s.name: s for s in RubricBase.criteria()}
    assert (base["first"].kind, base["first"].weight, base["first"].required, base["first"].threshold) == \
        ("code", 2.0, True, 0.7)
    assert (base["second"].kind, base["second"].prompt, base["second"].anchors) == \
        ("judge", "Is the plan sound?", {0.0: "bad", 1.0: "good"})
    child = RubricChild.criteria()
    assert [(s.name, s.weight) for s in child] == [("first", 1.0), ("third", 1.0)]
    assert child[1].prompt == "Grade the tone."


def test_marks_are_inherited_and_the_docstring_describes():
    @mark.crafter
    class RubricBase(Rubric):
        """Progress in Crafter."""

        @criterion
        def c(self, trace):
            return 1.0

    @mark.slow
    class RubricChild(RubricBase):
        pass

    assert RubricChild.marks() == ("crafter", "slow")
    assert RubricBase().description == "Progress in Crafter."
    assert RubricBase().id == "RubricBase" and RubricBase().weight == 1.0


@pytest.mark.parametrize(("make", "message"), [
    (lambda: criterion(weight="heavy")(lambda self, trace: 1), "weight of <lambda> must be a number >= 0"),
    (lambda: criterion(threshold=1.5)(lambda self, trace: 1), "threshold of <lambda> must be a number in [0, 1]"),
    (lambda: judge(prompt="x", anchors={2: "x"})(lambda self: None), "must be a number in [0, 1], not 2"),
    (lambda: mark.crafter(object), "@mark.crafter decorates a Rubric class"),
    (lambda: mark.crafter(), "write @mark.crafter without parentheses"),
    (lambda: criterion(0.5), "@criterion decorates a method, not 0.5 (options are keywords: @criterion(weight=0.5))"),
    (lambda: mark.parametrize("a, b", [(1,)]), "2 names"),
    (lambda: mark.parametrize("a", []), "got no values"),
    (lambda: mark.parametrize("a", [1, 2], ids=["x"]), "got 1 ids for 2 values"),
])
def test_mistakes_in_declarations_are_clear(make, message):
    with pytest.raises(RubricDefinitionError) as info:
        make()
    assert message in str(info.value)


def test_clashing_parameter_ids_are_numbered():
    @mark.parametrize("x", [1, -1, "a b", "a-b"])
    class RubricP(Rubric):
        @criterion
        def c(self, trace):
            return 1.0

    assert [r.id for r in RubricP.instances()] == ["RubricP-1_0", "RubricP-1_1", "RubricP-a_b_2", "RubricP-a_b_3"]


def test_parametrize_stacks_into_a_product():
    @mark.parametrize("size", ["s", "l"])
    @mark.parametrize("level", [1, 2])
    class RubricP(Rubric):
        @criterion
        def c(self, trace):
            return 1.0

    # as pytest: the decorator nearest the class first, the outer one varying fastest
    assert [r.id for r in RubricP.instances()] == ["RubricP-1-s", "RubricP-1-l", "RubricP-2-s",
                                                   "RubricP-2-l"]
    assert {(r.size, r.level) for r in RubricP.instances()} == {("s", 1), ("s", 2), ("l", 1), ("l", 2)}


@pytest.mark.parametrize(("expression", "keywords", "expected"), [
    ("a and b", {"xa", "b"}, True),
    ("a and b", {"a"}, False),
    ("a or b and c", {"a"}, True),            # and binds tighter than or
    ("(a or b) and c", {"a"}, False),
    ("not not a", {"A"}, True),               # case-insensitive
    ("RubricX-one", {"RubricX-one"}, True),
    ("", set(), True),
])
def test_expressions(expression, keywords, expected):
    assert compile_expression(expression)(keywords) is expected


@pytest.mark.parametrize(("expression", "message"), [
    ("a and", "expected word, found 'nothing' at the end"),
    ("(a", "expected ), found 'nothing' at the end"),
    ("a b", "unexpected 'b' at column 3"),
    ("a = b", "unexpected character '=' at column 3"),
])
def test_bad_expressions_say_where(expression, message):
    with pytest.raises(ExpressionError, match=message.replace("(", "\\(").replace(")", "\\)")):
        compile_expression(expression)
