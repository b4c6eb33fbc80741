"""A single-turn task: an arithmetic word problem made from the seed, answered with a number.

The policy answers by calling `answer` (or, failing that, with a reply whose last number is
taken); the outcome reward is 1 for exactly the right number and 0 otherwise.
"""

from __future__ import annotations

import random
import re

import attrs

from synthkit.collect.episode import EpisodeRecorder
from synthkit.collect.task import Observation, first_tool_call
from synthkit.traces.model import LMCall, Message, OutcomeReward

__all__ = ["MathEnvironment", "MathTask", "Problem", "problem"]

NAMES = ("Ada", "Bo", "Chen", "Dara", "Eli", "Fatou", "Goro", "Hana")
SYSTEM_PROMPT = ("Solve the arithmetic word problem. Work it out in a sentence or two, then call the "
                 "answer tool with the final number.")
ANSWER_TOOL = {"type": "function", "function": {
    "name": "answer", "description": "Give the final answer to the problem.",
    "parameters": {"type": "object", "additionalProperties": False, "required": ["value"],
                   "properties": {"value": {"type": "number", "description": "the final number"}}}}}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@attrs.frozen
class Problem:
    text: str
    working: str  # how the answer comes about, e.g. "12 + 3 x 4 = 24"
    answer: int


def problem(seed: int) -> Problem:
    rng = random.Random(f"math:{seed}")
    name = rng.choice(NAMES)
    kind = rng.randrange(4)
    if kind == 0:
        a, b, c = rng.randint(2, 40), rng.randint(2, 9), rng.randint(2, 12)
        return Problem(f"{name} has {a} apples and buys {b} bags of {c} apples each. How many apples does "
                       f"{name} have now?", f"{a} + {b} x {c} = {a + b * c}", a + b * c)
    if kind == 1:
        a, b, c = rng.randint(20, 90), rng.randint(2, 6), rng.randint(5, 60)
        return Problem(f"A train runs at {a} km an hour for {b} hours, then {c} km more. How many km does it "
                       "run in all?", f"{a} x {b} + {c} = {a * b + c}", a * b + c)
    if kind == 2:
        c, q, b = rng.randint(2, 8), rng.randint(3, 25), rng.randint(1, 30)
        a = b + c * q
        return Problem(f"{name} had {a} coins, spent {b}, and shared the rest equally among {c} friends. How "
                       "many coins did each friend get?", f"({a} - {b}) / {c} = {q}", q)
    a, b = rng.randint(6, 30), rng.randint(2, 9)
    c = rng.randint(1, a * b - 1)
    return Problem(f"A box holds {a} pencils. {name} fills {b} boxes and gives {c} pencils away. How many "
                   "pencils are left?", f"{a} x {b} - {c} = {a * b - c}", a * b - c)


@attrs.frozen
class MathTask:
    task_id: str = "math"
    env_name: str = "math"

    def environment(self, seed: int, max_steps: int) -> MathEnvironment:
        return MathEnvironment(seed)


class MathEnvironment:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.problem = problem(seed)
        self.system_prompt = SYSTEM_PROMPT
        self.tools = (ANSWER_TOOL,)
        self.given: float | None = None
        self.steps = 0

    def reset(self) -> Observation:
        return Observation(self.problem.text, self.problem)

    def _given(self, call: LMCall) -> tuple[float | None, str | None, str | None]:
        tool, arguments, problem_text = first_tool_call(call, "answer")
        if arguments is not None:
            value = arguments.get("value")
            if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
                value = float(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value), None, tool.call_id
            return None, f"answer takes a number in `value`, not {value!r}", tool.call_id
        numbers = _NUMBER.findall(call.output_text)
        if numbers:  # no usable tool call: the reply's last number stands for the answer
            return float(numbers[-1]), None, tool.call_id if tool else None
        return None, problem_text, tool.call_id if tool else None

    def act(self, call: LMCall, recorder: EpisodeRecorder) -> Observation:
        self.given, problem_text, call_id = self._given(call)
        self.steps = 1
        reward = float(self.given is not None and self.given == self.problem.answer)
        recorder.environment(reward=reward, terminated=True, state_before={"problem": self.problem.text},
                             state_after={"answer": self.given, "correct": bool(reward)})
        report = problem_text or f"answer {self.given:g} recorded"
        recorder.message(Message(role="tool", content=report, tool_call_id=call_id, name="answer"))
        return Observation(report, self.problem, done=True)

    def outcome(self) -> OutcomeReward:
        correct = self.given is not None and self.given == self.problem.answer
        return OutcomeReward(total_reward=1.0 if correct else 0.0, achievements_count=int(correct), total_steps=1,
                             achievements=("correct_answer",) if correct else (),
                             metadata={"expected": self.problem.answer, "given": self.given})
