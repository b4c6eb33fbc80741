"""`synthkit validate`: check an SFT JSONL file before a fine-tuning job does."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from synthkit import checks
from synthkit.errors import RunFinishedWithErrors
from synthkit.filtering.tokens import estimator
from synthkit.filtering.validate import validate_file


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def run(cfg: DictConfig) -> dict[str, Any]:
    options = cfg.validate
    strict = checks.flag(options, "strict")
    max_tokens = checks.number(options, "max_tokens", integer=True, optional=True)
    show = checks.number(options, "show", integer=True, positive=False)
    report = validate_file(checks.text(cfg, "path"), max_tokens=max_tokens)
    problems = [(line, "error", text) for line, text in report.errors] + \
               [(line, "warning", text) for line, text in report.warnings]
    for line, kind, text in sorted(problems)[:show]:
        print(f"{report.path}{f':{line}' if line else ''}: {kind}: {text}")
    if len(problems) > show:
        print(f"... and {len(problems) - show} more")
    longest = f"; longest: line {report.longest[0]}, about {report.longest[1]} tokens" if report.longest else ""
    print(f"{report.path}: {_count(report.examples, 'example')}, about {report.tokens} tokens ({estimator()}){longest}; "
          f"{_count(len(report.errors), 'error')}, {_count(len(report.warnings), 'warning')}")
    result = {"examples": report.examples, "errors": len(report.errors), "warnings": len(report.warnings),
              "tokens": report.tokens}
    if report.failed(strict):
        what = "errors" if report.errors else "warnings (validate.strict=true)"
        raise RunFinishedWithErrors(f"{report.path} is not ready for fine-tuning: {what}", result)
    return result
