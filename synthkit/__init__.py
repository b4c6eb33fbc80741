"""synthkit: judge-based filtering of LLM agent traces into fine-tuning data."""

from importlib.metadata import PackageNotFoundError, version

from synthkit.errors import SynthkitError
from synthkit.filtering.export import FilterResult, filter_traces
from synthkit.inspection import Table, query
from synthkit.judging.llm import JudgeSettings
from synthkit.judging.runner import RunSummary, judge_traces
from synthkit.rubrics.api import Rubric, criterion, judge, mark, skip
from synthkit.rubrics.examples import example, examples_from
from synthkit.rubrics.grading import grade
from synthkit.rubrics.results import CriterionResult, GradeResult, Outcome, RubricResult
from synthkit.rubrics.trace import Trace
from synthkit.traces.model import (
    Event,
    EventReward,
    EventType,
    LMCall,
    Message,
    OutcomeReward,
    Session,
    SessionStatus,
    Timestep,
    ToolCall,
)
from synthkit.traces.store import Selection, TraceDBError, TraceStore
from synthkit.traces.tracer import SessionTracer

try:
    __version__ = version("synthkit")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "CriterionResult",
    "Event",
    "EventReward",
    "EventType",
    "FilterResult",
    "LMCall",
    "GradeResult",
    "JudgeSettings",
    "Message",
    "Outcome",
    "OutcomeReward",
    "Rubric",
    "RubricResult",
    "RunSummary",
    "Selection",
    "Session",
    "SessionStatus",
    "SessionTracer",
    "SynthkitError",
    "Table",
    "Timestep",
    "ToolCall",
    "Trace",
    "TraceDBError",
    "TraceStore",
    "__version__",
    "criterion",
    "example",
    "examples_from",
    "filter_traces",
    "grade",
    "judge",
    "judge_traces",
    "mark",
    "query",
    "skip",
]
