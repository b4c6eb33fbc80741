"""Grading one trace offline: run the code criteria of some rubrics and aggregate.

Judge criteria end `skipped` here (no judge is configured); the judging runner adds judges on
top of the same rules. An exception or an invalid return value is an `error` outcome, and a
rubric with an errored criterion has no primary: never a score of 0 standing in for a failure.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any

from synthkit.rubrics.api import CriterionSpec, Rubric, Skipped
from synthkit.rubrics.results import CriterionResult, GradeResult, Outcome, RubricResult
from synthkit.rubrics.trace import Trace
from synthkit.traces.model import Session
from synthkit.traces.scores import overall

__all__ = ["criterion_gate", "grade", "rubric_gate", "rubric_instances", "run_criterion", "score_outcome"]

NO_JUDGE = "no judge configured"


def score_outcome(score: float, threshold: float) -> Outcome:
    return Outcome.PASSED if score >= threshold else Outcome.FAILED


def _as_score(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 1:
        return float(value)
    return None


def rubric_gate(rubric: Rubric, trace: Trace) -> tuple[Outcome, str] | None:
    """Why no criterion of `rubric` runs on `trace` (it does not apply, or asking raised), or None."""
    try:
        applies = rubric.applies(trace)
    except Exception as exc:
        return Outcome.ERROR, f"{rubric.id}.applies raised {type(exc).__name__}: {exc}"
    return None if applies else (Outcome.SKIPPED, f"{rubric.id} does not apply to this trace")


def criterion_gate(rubric: Rubric, spec: CriterionSpec, trace: Trace) -> tuple[Outcome, str] | None:
    """Why the criterion does not run on `trace` (its `applies=` says no, or raised), or None."""
    try:
        if spec.applies is None or spec.applies(trace):
            return None
    except Skipped as exc:
        return Outcome.SKIPPED, str(exc)
    except Exception as exc:
        return Outcome.ERROR, f"{rubric.id}.{spec.name} applies= raised {type(exc).__name__}: {exc}"
    return Outcome.SKIPPED, "does not apply to this trace"


def run_criterion(rubric: Rubric, spec: CriterionSpec, trace: Trace) -> CriterionResult:
    """One code criterion on one trace, its failures turned into outcomes."""
    where = f"{rubric.id}.{spec.name}"
    gate = criterion_gate(rubric, spec, trace)
    if gate is not None:
        return spec.result(rubric, gate[0], reason=gate[1])
    try:
        value = spec.func(rubric, trace)
    except Skipped as exc:
        return spec.result(rubric, Outcome.SKIPPED, reason=str(exc))
    except Exception as exc:
        return spec.result(rubric, Outcome.ERROR, reason=f"{where} raised {type(exc).__name__}: {exc}")
    score = _as_score(value)
    if score is None:
        return spec.result(rubric, Outcome.ERROR, reason=(
            f"{where} returned {value!r}: a criterion returns a float in [0, 1] or a bool"))
    return spec.result(rubric, score_outcome(score, rubric.threshold_for(spec)), score=score)


def rubric_result(rubric: Rubric, results: list[CriterionResult]) -> RubricResult:
    """The rubric's primary from its criteria: missing when any of them errored."""
    errored = [r.criterion for r in results if r.outcome is Outcome.ERROR]
    if errored:
        return RubricResult(rubric.id, rubric.version, rubric.weight, tuple(results), None,
                            error=f"criteria ended in error: {', '.join(errored)}")
    try:
        primary = rubric.aggregate(results)
    except Exception as exc:
        primary, error = None, f"{rubric.id}.aggregate raised {type(exc).__name__}: {exc}"
    else:
        error = None
        if primary is not None and (isinstance(primary, bool) or _as_score(primary) is None):
            primary, error = None, f"{rubric.id}.aggregate returned {primary!r}, not a float in [0, 1]"
    return RubricResult(rubric.id, rubric.version, rubric.weight, tuple(results),
                        None if primary is None else float(primary), error=error)


def overall_primary(results: Iterable[RubricResult]) -> float | None:
    """Rubric primaries averaged by rubric weight; missing if any rubric's primary is in error."""
    return overall((r.weight, r.primary, r.error) for r in results)


def rubric_instances(rubrics: Iterable[Rubric | type[Rubric]]) -> list[Rubric]:
    """Rubrics given as classes (each of their instances) or instances; anything else is a TypeError."""
    found: list[Rubric] = []
    for rubric in rubrics:
        if inspect.isclass(rubric) and issubclass(rubric, Rubric):
            found.extend(rubric.instances())
        elif isinstance(rubric, Rubric):
            found.append(rubric)
        else:
            raise TypeError(f"not a rubric: {rubric!r}")
    return found


def grade(trace: Session | Trace, rubrics: Iterable[Rubric | type[Rubric]]) -> GradeResult:
    """Grade one trace with the code criteria of `rubrics` (classes or instances)."""
    view = trace if isinstance(trace, Trace) else Trace(trace)
    graded = []
    for rubric in rubric_instances(rubrics):
        gate = rubric_gate(rubric, view)
        results = []
        for spec in rubric.criteria():
            if gate is not None:
                results.append(spec.result(rubric, gate[0], reason=gate[1]))
            elif spec.kind == "code":
                results.append(run_criterion(rubric, spec, view))
            else:  # whether a judge criterion applies is known here; only its score needs a judge
                outcome, reason = criterion_gate(rubric, spec, view) or (Outcome.SKIPPED, NO_JUDGE)
                results.append(spec.result(rubric, outcome, reason=reason))
        graded.append(rubric_result(rubric, results))
    return GradeResult(view.session_id, tuple(graded), overall_primary(graded))
