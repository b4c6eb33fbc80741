"""`synthkit validate`: check an SFT JSONL file before a fine-tuning job does."""

from __future__ import annotations

from typing import Any

import attrs
from omegaconf import DictConfig

from synthkit import checks
from synthkit.errors import RunFinishedWithErrors
from synthkit.filtering.tokens import estimator
from synthkit.filtering.validate import ValidationReport, validate_file


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@attrs.frozen
class ValidateOptions:
    strict: bool
    max_tokens: int | None
    show: int


def options_from(node: DictConfig) -> ValidateOptions:
    checks.only(node, {"strict", "max_tokens", "show"})
    return ValidateOptions(strict=checks.flag(node, "strict"),
                           max_tokens=checks.number(node, "max_tokens", integer=True, optional=True),
                           show=checks.number(node, "show", integer=True, positive=False))


def report_lines(report: ValidationReport, show: int) -> list[str]:
    """The first `show` problems as `FILE:LINE: kind: text`, errors first (one found on many
    lines once, with how many more), then the summary line."""
    found: dict[tuple[str, str], list[int]] = {}
    for kind, problems in (("error", report.errors), ("warning", report.warnings)):
        for line, text in sorted(problems):
            found.setdefault((kind, text), []).append(line)
    grouped = list(found.items())
    lines = [f"{report.path}{f':{numbers[0]}' if numbers[0] else ''}: {kind}: {text}"
             + (f" (and on {_count(len(numbers) - 1, 'more line')})" if len(numbers) > 1 else "")
             for (kind, text), numbers in grouped[:show]]
    if len(grouped) > show:
        lines.append(f"... and {sum(len(numbers) for _, numbers in grouped[show:])} more")
    longest = f"; longest: line {report.longest[0]}, about {report.longest[1]} tokens" if report.longest else ""
    lines.append(f"{report.path}: {_count(report.examples, 'example')}, about {report.tokens} tokens ({estimator()})"
                 f"{longest}; {_count(len(report.errors), 'error')}, {_count(len(report.warnings), 'warning')}")
    return lines


def not_ready(report: ValidationReport) -> str:
    what = "errors" if report.errors else "warnings (validate.strict=true)"
    return f"{report.path} is not ready for fine-tuning: {what}"


def run(cfg: DictConfig) -> dict[str, Any]:
    options = options_from(cfg.validate)
    report = validate_file(checks.text(cfg, "path"), max_tokens=options.max_tokens)
    for line in report_lines(report, options.show):
        print(line)
    result = {"examples": report.examples, "errors": len(report.errors), "warnings": len(report.warnings),
              "tokens": report.tokens}
    if report.failed(options.strict):
        raise RunFinishedWithErrors(not_ready(report), result)
    return result
