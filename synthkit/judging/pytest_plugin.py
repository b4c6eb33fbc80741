"""pytest plugin: `pytest rubrics/` runs each rubric's golden examples as test items.

Registered through the `pytest11` entry point, so it loads in every pytest run of an
environment where synthkit is installed: it imports nothing of synthkit until a file matching
the rubric patterns (ini option `rubric_files`) and mentioning synthkit is collected.
"""

from __future__ import annotations

import fnmatch
import warnings
from pathlib import Path
from typing import Any

import pytest

DEFAULT_PATTERNS = ["rubric_*.py", "*_rubric.py"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("rubric_files", type="args", default=DEFAULT_PATTERNS,
                  help="glob patterns of synthkit rubric files whose golden examples are tests")
    group = parser.getgroup("synthkit", "synthkit rubric examples")
    group.addoption("--rubric-judge", default=None,
                    help="litellm model grading the judge criteria of golden examples "
                         "(default: ini rubric_judge; none: those expectations are skipped)")
    group.addoption("--rubric-judge-api-base", default=None,
                    help="OpenAI-compatible server for --rubric-judge (a local judge)")
    parser.addini("rubric_judge", default="", help="litellm model for judge criteria of examples")
    parser.addini("rubric_judge_api_base", default="", help="server of rubric_judge")


def _judge_settings(config: pytest.Config) -> Any:
    model = config.getoption("rubric_judge") or config.getini("rubric_judge")
    if not model:
        return None
    from synthkit.judging.llm import JudgeSettings

    api_base = config.getoption("rubric_judge_api_base") or config.getini("rubric_judge_api_base") or None
    return JudgeSettings(model=model, api_base=api_base, placeholder_key=api_base is not None,  # as judge=local
                         api_key_env="SYNTHKIT_JUDGE_API_KEY" if api_base else None,
                         json_schema=True if api_base else None, max_retries=2)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix != ".py" or not any(
            fnmatch.fnmatch(file_path.name, p) for p in parent.config.getini("rubric_files")):
        return None
    if any(fnmatch.fnmatch(file_path.name, p) for p in parent.config.getini("python_files")):
        return None  # a test module (test_my_rubric.py): pytest's own to collect
    if "synthkit" not in file_path.read_text(encoding="utf-8", errors="replace"):
        return None  # a file that merely matches the pattern is not ours to collect
    return RubricFile.from_parent(parent, path=file_path)


class RubricFile(pytest.File):
    def collect(self):
        from synthkit.rubrics.discovery import collect_file

        rubrics, errors = collect_file(self.path)
        if errors:
            raise self.CollectError("\n".join(str(e) for e in errors))
        for rubric in rubrics:
            for example in type(rubric).examples:
                if example.applies_to(rubric.id):
                    yield RubricExample.from_parent(self, name=f"{rubric.id}[{example.name}]",
                                                    rubric=rubric, example=example)


class ExampleMissed(Exception):
    """The rubric graded a golden example outside its expected range."""


class ExpectationsNotChecked(UserWarning):
    """A golden example passed on what could be checked without a judge; the rest was not."""


class RubricExample(pytest.Item):
    def __init__(self, *, rubric: Any, example: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rubric = rubric
        self.example = example

    def runtest(self) -> None:
        from synthkit.rubrics.grading import grade

        settings = _judge_settings(self.config)
        result = grade(self.example.trace, [self.rubric])[self.rubric.id]
        judged = settings is not None
        if judged and any(c.kind == "judge" for c in result.criteria):
            result = self._with_judge(result, settings)
        if not self.example.checkable(result, judged=judged):
            pytest.skip("every expectation of this example is on judge criteria: needs a judge "
                        "(--rubric-judge or the ini option rubric_judge)")
        problems = self.example.check(result, judged=judged)
        if problems:
            raise ExampleMissed(problems)
        unchecked = self.example.unchecked(result, judged=judged)
        if unchecked:
            warnings.warn(ExpectationsNotChecked(
                f"{self.rubric.id}[{self.example.name}]: {', '.join(unchecked)} not checked: it needs a judge "
                "(--rubric-judge or the ini option rubric_judge)"), stacklevel=1)

    def _with_judge(self, result: Any, settings: Any) -> Any:
        """Grade the example's judge criteria with the configured judge, like `synthkit judge`."""
        import attrs

        from synthkit.judging.llm import call_judges, wants_schema
        from synthkit.judging.runner import JudgeOptions, answer_results, judge_request
        from synthkit.rubrics.grading import NO_JUDGE, rubric_result
        from synthkit.rubrics.trace import Trace

        specs = [s for s in self.rubric.criteria() if s.kind == "judge" and result[s.name].reason == NO_JUDGE]
        if not specs:  # the rubric or its judge criteria do not apply to this example
            return result
        request = judge_request(self.rubric, specs, Trace(self.example.trace), settings,
                                max_trace_tokens=attrs.fields(JudgeOptions).max_trace_tokens.default,
                                use_schema=wants_schema(settings))
        (answer,) = call_judges([request], settings)
        judged = {r.criterion: r for r in answer_results(self.rubric, request, answer)}
        return rubric_result(self.rubric, [judged.get(c.criterion, c) for c in result.criteria])

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExampleMissed):
            return "\n".join([f"{self.rubric.id} on example {self.example.name!r} "
                              f"({self.example.source}):", *(f"  {p}" for p in excinfo.value.args[0])])
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.rubric.id}[{self.example.name}]"
