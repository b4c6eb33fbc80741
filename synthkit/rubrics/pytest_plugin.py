"""pytest plugin: `pytest rubrics/` runs each rubric's golden examples as test items.

Registered through the `pytest11` entry point, so it loads in every pytest run of an
environment where synthkit is installed: it imports nothing of synthkit until a file matching
the rubric patterns (ini option `rubric_files`) and mentioning synthkit is collected.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

DEFAULT_PATTERNS = ["rubric_*.py", "*_rubric.py"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("rubric_files", type="args", default=DEFAULT_PATTERNS,
                  help="glob patterns of synthkit rubric files whose golden examples are tests")


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


class RubricExample(pytest.Item):
    def __init__(self, *, rubric: Any, example: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rubric = rubric
        self.example = example

    def runtest(self) -> None:
        from synthkit.rubrics.grading import grade

        result = grade(self.example.trace, [self.rubric])[self.rubric.id]
        judged = False  # judge criteria need a judge; until one is configured they are skipped
        if not self.example.checkable(result, judged=judged):
            pytest.skip("every expectation of this example is on judge criteria: needs a judge")
        problems = self.example.check(result, judged=judged)
        if problems:
            raise ExampleMissed(problems)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ExampleMissed):
            return "\n".join([f"{self.rubric.id} on example {self.example.name!r} "
                              f"({self.example.source}):", *(f"  {p}" for p in excinfo.value.args[0])])
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.rubric.id}[{self.example.name}]"
