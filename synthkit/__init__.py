"""synthkit: judge-based filtering of LLM agent traces into fine-tuning data."""
# ruff: noqa: F401  (the imports under TYPE_CHECKING are there to be seen, not used)

import importlib
import importlib.util
from typing import TYPE_CHECKING

# Each public name is imported on first use, so `synthkit <command>` loads only what the
# command runs (`synthkit filter` never imports the judging stack).
_EXPORTS = {
    "synthkit.errors": ("SynthkitError",),
    "synthkit.filtering.export": ("FilterResult", "filter_traces"),
    "synthkit.inspection": ("Table", "query"),
    "synthkit.judging.llm": ("JudgeSettings",),
    "synthkit.judging.runner": ("RunSummary", "judge_traces"),
    "synthkit.rubrics.api": ("Rubric", "criterion", "judge", "mark", "skip"),
    "synthkit.rubrics.examples": ("example", "examples_from"),
    "synthkit.rubrics.grading": ("grade",),
    "synthkit.rubrics.results": ("CriterionResult", "GradeResult", "Outcome", "RubricResult"),
    "synthkit.rubrics.trace": ("Trace",),
    "synthkit.traces.model": ("Event", "EventReward", "EventType", "LMCall", "Message", "OutcomeReward",
                              "Session", "SessionStatus", "Timestep", "ToolCall"),
    "synthkit.traces.store": ("Selection", "TraceDBError", "TraceStore"),
    "synthkit.traces.tracer": ("SessionTracer",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted([*_MODULE_OF, "__version__"])

if TYPE_CHECKING:  # what type checkers and editors see; a test keeps it equal to _EXPORTS
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

    __version__: str


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synthkit")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0+unknown"


def __getattr__(name: str) -> object:
    if name == "__version__":
        value: object = _version()
    elif name in _MODULE_OF:
        value = getattr(importlib.import_module(_MODULE_OF[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")  # `synthkit.traces.model.to_json`
    else:
        raise AttributeError(f"module 'synthkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
