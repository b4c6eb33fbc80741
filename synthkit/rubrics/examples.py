"""Golden examples: traces a rubric must grade within a known range, so rubrics are tested
like code (`pytest rubrics/` runs them through synthkit's pytest plugin).

    class RubricChat(Rubric):
        examples = [
            example("answers", messages=[{"role": "user", "content": "2+2?"},
                                         {"role": "assistant", "content": "4"}],
                    primary=(0.9, 1.0), criteria={"has_answer": 1.0}),
            *examples_from("rubric_chat_examples.jsonl"),   # a file beside the rubric
        ]
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from synthkit.rubrics.api import RubricDefinitionError
from synthkit.rubrics.results import GradeResult, Outcome, RubricResult
from synthkit.traces.importers import chat_record_to_session
from synthkit.traces.model import OutcomeReward, Session, converter

__all__ = ["Example", "example", "examples_from"]

EXAMPLE_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # examples are data: no wall clock in them
Expectation = tuple[float, float] | Outcome


def _range(what: str, value: Any) -> Expectation:
    if isinstance(value, str):
        try:
            outcome = Outcome(value)
        except ValueError:
            raise RubricDefinitionError(f"{what}: expected a score, a [low, high] range or an "
                                        f"outcome (passed, failed, skipped, error), not {value!r}") from None
        return outcome
    pair = tuple(value) if isinstance(value, list | tuple) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                 and math.isfinite(v) for v in pair) \
            or not 0 <= pair[0] <= pair[1] <= 1:
        raise RubricDefinitionError(f"{what}: a range is [low, high] with 0 <= low <= high <= 1, "
                                    f"not {value!r}")
    return float(pair[0]), float(pair[1])


def _primary_range(where: str, value: Any) -> tuple[float, float]:
    expected = _range(f"{where}: primary", value)
    if isinstance(expected, Outcome):
        raise RubricDefinitionError(f"{where}: primary is a score or a [low, high] range, "
                                    f"not {value!r}")
    return expected


def _within(expected: Expectation, score: float | None, outcome: Outcome | None = None) -> bool:
    if isinstance(expected, Outcome):
        return outcome is expected
    return score is not None and expected[0] - 1e-9 <= score <= expected[1] + 1e-9


def _describe(expected: Expectation) -> str:
    if isinstance(expected, Outcome):
        return expected.value
    low, high = expected
    return f"{low:g}" if low == high else f"[{low:g}, {high:g}]"


@attrs.frozen
class Example:
    name: str
    trace: Session = attrs.field(repr=False)
    primary: tuple[float, float] | None = None
    criteria: Mapping[str, Expectation] = attrs.field(factory=dict)
    source: str = ""  # file:line where it was written
    only: tuple[str, ...] = ()  # rubric ids it is for (parametrized rubrics); empty: all

    def applies_to(self, rubric_id: str) -> bool:
        return not self.only or rubric_id in self.only

    def check(self, result: RubricResult, *, judged: bool) -> list[str]:
        """What in `result` misses the expectations (empty: the example passes). Without a
        judge (`judged=False`), expectations on judge criteria and on the primary of a rubric
        with judge criteria cannot be checked and are left out."""
        problems = []
        known = {r.criterion for r in result.criteria}
        for name, expected in self.criteria.items():
            if name not in known:
                problems.append(f"criterion {name}: {result.rubric_id} has no such criterion "
                                f"(it has: {', '.join(sorted(known))})")
                continue
            got = result[name]
            if got.kind == "judge" and not judged:
                continue
            if not _within(expected, got.score, got.outcome):
                shown = got.outcome.value if got.score is None else f"{got.score:g} ({got.outcome.value})"
                problems.append(f"criterion {name}: expected {_describe(expected)}, got {shown}"
                                + (f": {got.reason}" if got.reason else ""))
        has_judge = any(r.kind == "judge" for r in result.criteria)
        if self.primary is not None and (judged or not has_judge):
            if not _within(self.primary, result.primary):
                got = "none" if result.primary is None else f"{result.primary:g}"
                problems.append(f"primary: expected {_describe(self.primary)}, got {got}"
                                + (f" ({result.error})" if result.error else ""))
        return problems

    def unchecked(self, result: RubricResult, *, judged: bool) -> list[str]:
        """The expectations `check` leaves out for want of a judge."""
        if judged:
            return []
        kinds = {r.criterion: r.kind for r in result.criteria}
        left = [f"criterion {name}" for name in self.criteria if kinds.get(name) == "judge"]
        return left + (["primary"] if self.primary is not None and "judge" in kinds.values() else [])

    def checkable(self, result: RubricResult | GradeResult, *, judged: bool) -> bool:
        """Whether anything about this example can be checked without a judge."""
        if judged:
            return True
        rubric = result if isinstance(result, RubricResult) else result.rubrics[0]
        has_judge = any(r.kind == "judge" for r in rubric.criteria)
        kinds = {r.criterion: r.kind for r in rubric.criteria}
        code_expectations = [n for n in self.criteria if kinds.get(n, "code") == "code"]
        return bool(code_expectations) or (self.primary is not None and not has_judge)


def _outcome(value: Any) -> OutcomeReward | None:
    if value is None or isinstance(value, OutcomeReward):
        return value
    if not isinstance(value, Mapping):
        raise RubricDefinitionError(f"outcome must be an object, not {value!r}")
    fields = dict(value)
    fields["achievements"] = tuple(fields.get("achievements") or ())
    fields.setdefault("achievements_count", len(fields["achievements"]))
    try:
        return OutcomeReward(**fields)
    except TypeError as exc:
        raise RubricDefinitionError(f"outcome: {exc}") from None


def _build(name: str, source: str, *, messages: Sequence[Mapping[str, Any]] | None,
           tools: Sequence[Mapping[str, Any]] | None, metadata: Mapping[str, Any] | None,
           outcome: Any, session: Session | None, primary: Any,
           criteria: Mapping[str, Any] | None, only: Sequence[str] = ()) -> Example:
    where = f"example {name!r} ({source})"
    if session is None:
        if not messages:
            raise RubricDefinitionError(f"{where} needs messages= or session=")
        try:
            session = chat_record_to_session(
                {"messages": list(messages), "tools": list(tools or []),
                 "session_id": f"example:{name}"}, EXAMPLE_TIME, dict(metadata or {}))
        except ValueError as exc:
            raise RubricDefinitionError(f"{where}: {exc}") from None
    elif messages or tools or metadata:
        raise RubricDefinitionError(f"{where} takes session= or messages=, not both")
    made = _outcome(outcome)
    if made is not None:
        session = attrs.evolve(session, outcome_rewards=(*session.outcome_rewards, made))
    return Example(
        name=name, trace=session,
        primary=None if primary is None else _primary_range(where, primary),
        criteria={k: _range(f"{where}: criterion {k}", v) for k, v in (criteria or {}).items()},
        source=source, only=(only,) if isinstance(only, str) else tuple(only))


def example(name: str, *, messages: Sequence[Mapping[str, Any]] | None = None,
            tools: Sequence[Mapping[str, Any]] | None = None,
            metadata: Mapping[str, Any] | None = None, outcome: Any = None,
            session: Session | None = None, primary: Any = None,
            criteria: Mapping[str, Any] | None = None, only: Sequence[str] = ()) -> Example:
    """A golden example: a trace (OpenAI chat `messages` with optional `tools`, `metadata` and
    `outcome`, or a whole `session`) and what the rubric must give it: `primary` and
    `criteria` values are a score, a `(low, high)` range, or an outcome (`"passed"`,
    `"failed"`, `"skipped"`, `"error"`). `only` names the rubric ids of a parametrized rubric
    the example is for."""
    frame = sys._getframe(1)
    return _build(name, f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}", messages=messages,
                  tools=tools, metadata=metadata, outcome=outcome, session=session,
                  primary=primary, criteria=criteria, only=only)


def examples_from(path: str | Path) -> list[Example]:
    """Golden examples from a JSONL file (relative paths: beside the calling rubric file).

    Each line: `{"name": ..., "messages": [...], "tools": [...], "metadata": {...},
    "outcome": {...}, "expect": {"primary": [0.8, 1], "criteria": {"answered": 1}}}`, or a
    `"session"` (a Session as JSON) in place of the messages.
    """
    path = Path(path)
    if not path.is_absolute():
        path = Path(sys._getframe(1).f_code.co_filename).parent / path
    if not path.is_file():
        raise RubricDefinitionError(f"examples file not found: {path}")
    found = []
    known = {"name", "messages", "tools", "metadata", "outcome", "session", "expect", "only"}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        source = f"{path.name}:{number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise RubricDefinitionError(f"{source}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise RubricDefinitionError(f"{source}: not a JSON object")
        unknown = sorted(set(record) - known)
        expect = record.get("expect") or {}
        if unknown or not isinstance(expect, dict) or set(expect) - {"primary", "criteria"}:
            raise RubricDefinitionError(
                f"{source}: unknown keys {', '.join(unknown or sorted(set(expect) - {'primary', 'criteria'}))} "
                f"(an example has {', '.join(sorted(known))}; expect has primary and criteria)")
        session = record.get("session")
        if session is not None:
            try:
                session = converter.structure(session, Session)
            except Exception as exc:
                raise RubricDefinitionError(f"{source}: session is not a trace: {exc}") from None
        found.append(_build(str(record.get("name") or f"line {number}"), source,
                            messages=record.get("messages"), tools=record.get("tools"),
                            metadata=record.get("metadata"), outcome=record.get("outcome"),
                            session=session, primary=expect.get("primary"),
                            criteria=expect.get("criteria"), only=record.get("only") or ()))
    return found
