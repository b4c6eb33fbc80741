"""synthkit: judge-based filtering of LLM agent traces into fine-tuning data."""

import importlib

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
    else:
        raise AttributeError(f"module 'synthkit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
