"""`synthkit rubrics`: what is collected and selected, like `pytest --collect-only`."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from omegaconf import DictConfig

from synthkit import checks
from synthkit.cli import rubric_options
from synthkit.errors import SynthkitError
from synthkit.rubrics.api import Rubric
from synthkit.rubrics.discovery import source_of


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {'criteria' if noun == 'criterion' else noun + 's'}"


def _shown(path: str) -> str:
    if "://" in path:  # a rubric built from what a task app advertises
        return path
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def describe(rubric: Rubric) -> dict[str, Any]:
    file, line = source_of(rubric)
    return {
        "id": rubric.id, "version": rubric.version, "weight": rubric.weight,
        "marks": list(rubric.marks()), "file": _shown(file), "line": line,
        "description": rubric.description,
        "examples": sum(1 for e in type(rubric).examples if e.applies_to(rubric.id)),
        "criteria": [{"name": s.name, "kind": s.kind, "weight": s.weight, "required": s.required,
                      "threshold": rubric.threshold_for(s), "line": s.line if line else 0}
                     for s in rubric.criteria()],
    }


def _text(rubrics: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    current = None
    for rubric in rubrics:
        if rubric["file"] != current:
            current = rubric["file"]
            lines.append(current)
        marks = f"  marks: {', '.join(rubric['marks'])}" if rubric["marks"] else ""
        where = f"  line {rubric['line']}" if rubric["line"] else ""
        lines.append(f"  {rubric['id']}  version {rubric['version']}  weight {rubric['weight']:g}"
                     f"{marks}{where}  {rubric['examples']} examples")
        width = max(len(c["name"]) for c in rubric["criteria"])
        for c in rubric["criteria"]:
            required = "required" if c["required"] else "        "
            where = f"  line {c['line']}" if c["line"] else ""
            lines.append(f"    {c['name'].ljust(width)}  {c['kind']:<5}  weight {c['weight']:<5g} "
                         f"{required}{where}".rstrip())
    return "\n".join(lines)


def run(cfg: DictConfig) -> None:
    output = checks.choice(cfg, "format", ("text", "json"))
    task = rubric_options.named_task(cfg)
    collection, select = rubric_options.collection(cfg.rubrics, task)
    select = select or rubric_options.default_selection(cfg, task)
    selected = collection.select(select)
    listed = [describe(r) for r in selected]
    deselected = len(collection.rubrics) - len(selected)
    if output == "json":
        print(json.dumps({"rubrics": listed, "deselected": deselected,
                          "files": [_shown(str(f)) for f in collection.files],
                          "errors": [str(e) for e in collection.errors]}, indent=2, ensure_ascii=False))
    else:
        if listed:
            print(_text(listed))
        criteria = sum(len(r["criteria"]) for r in listed)
        note = f" ({deselected} deselected by {select!r})" if deselected else ""
        print(f"{_count(len(collection.files), 'file')}, {_count(len(listed), 'rubric')}{note}, "
              f"{_count(criteria, 'criterion')}")
    for error in collection.errors:
        print(f"ERROR {_shown(error.path)}{':' + str(error.line) if error.line else ''}: "
              f"{error.message}", file=sys.stderr)
    if collection.errors:
        count = len(collection.errors)
        raise SynthkitError(f"{count} collection error{'s' if count > 1 else ''}")
    if not collection.rubrics:
        raise SynthkitError(f"no rubric found in {', '.join(checks.strings(cfg.rubrics, 'paths'))}")
