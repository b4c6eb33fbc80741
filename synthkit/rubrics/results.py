"""What grading produces: an outcome per criterion, a primary per rubric, an overall primary."""

from __future__ import annotations

import enum

import attrs

__all__ = ["CriterionResult", "GradeResult", "Outcome", "RubricResult"]


class Outcome(str, enum.Enum):
    """Like a test's outcome: `error` and `skipped` carry no score."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


@attrs.frozen
class CriterionResult:
    rubric_id: str
    criterion: str
    kind: str  # "code" or "judge"
    weight: float
    required: bool
    threshold: float
    outcome: Outcome
    score: float | None = None
    reason: str | None = None  # the error message, the skip reason, or a judge's reasoning


@attrs.frozen
class RubricResult:
    rubric_id: str
    version: str
    weight: float
    criteria: tuple[CriterionResult, ...]
    primary: float | None
    error: str | None = None  # why `primary` is missing although criteria were scored

    def __getitem__(self, criterion: str) -> CriterionResult:
        for result in self.criteria:
            if result.criterion == criterion:
                return result
        raise KeyError(f"{self.rubric_id} has no criterion {criterion!r}")


@attrs.frozen
class GradeResult:
    session_id: str
    rubrics: tuple[RubricResult, ...]
    primary: float | None

    def __getitem__(self, rubric_id: str) -> RubricResult:
        for result in self.rubrics:
            if result.rubric_id == rubric_id:
                return result
        raise KeyError(f"no result for rubric {rubric_id!r}")
