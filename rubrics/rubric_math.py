"""A rubric for single-turn arithmetic answers (synthkit's `task=math`): is the number right,
was it given through the answer tool, and does the reply show how it was reached."""

from __future__ import annotations

from synthkit import Rubric, criterion, example, judge, mark, skip


def is_math(trace) -> bool:
    return trace.metadata.get("env_name") == "math" or str(trace.metadata.get("task_id", "")).startswith("math")


@mark.math
class RubricMathAnswer(Rubric):
    """The final number is exactly right, given through the answer tool, with the working shown."""

    def applies(self, trace) -> bool:
        return is_math(trace)

    @criterion(weight=0.6, required=True)
    def correct(self, trace):
        if trace.outcome is None:
            skip("no outcome reward recorded")
        return trace.outcome.total_reward >= 1

    @criterion(weight=0.1)
    def used_the_answer_tool(self, trace):
        return any(call.name == "answer" and call.parsed_arguments is not None for call in trace.tool_calls)

    @judge(weight=0.3, anchors={0: "a bare number or wrong steps", 1: "each step stated and right"})
    def shows_working(self):
        """The reply states the arithmetic that leads to its number, and each step is right."""


def _answer(value, text, reward):
    return dict(
        messages=[{"role": "user", "content": "Ada has 3 apples and buys 2 bags of 4 apples each. How many now?"},
                  {"role": "assistant", "content": text, "tool_calls": [{
                      "id": "c1", "type": "function", "function": {"name": "answer", "arguments": f'{{"value": {value}}}'}}]}],
        metadata={"env_name": "math", "task_id": "math"}, outcome={"total_reward": reward})


RubricMathAnswer.examples = [
    example("a right answer", **_answer(11, "3 + 2 x 4 = 11.", 1), criteria={"correct": 1.0, "used_the_answer_tool": 1.0}),
    example("a wrong answer gates the rubric", **_answer(20, "3 + 2 x 4 = 20.", 0), primary=0.0,
            criteria={"correct": "failed"}),
    example("a Crafter trace is not graded", messages=[{"role": "user", "content": "hi"},
                                                       {"role": "assistant", "content": "hello"}],
            metadata={"env_name": "crafter"}, criteria={"correct": "skipped"}),
]
