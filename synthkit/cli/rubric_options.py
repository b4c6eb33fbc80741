"""The `rubrics.*` config group, read and checked once for every command that uses rubrics.

A command may also name a task (`task=crafter`, `task=taskapp task.url=...`): its `task.rubrics`
is then the selection when `rubrics.select` is empty, and a task app adds the rubric built from
the criteria it advertises.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from synthkit import checks
from synthkit.rubrics.api import Rubric
from synthkit.rubrics.discovery import Collection, collect, select_rubrics


def _task_rubrics(task: Any) -> tuple[Rubric, ...]:
    return task.rubrics() if hasattr(task, "rubrics") else ()


def collection(node: DictConfig, task: Any = None) -> tuple[Collection, str]:
    """Everything collected (with the task's own rubrics), and the selection expression (for listings)."""
    found = collect(checks.strings(node, "paths"), checks.strings(node, "patterns"),
                    include_defaults=checks.flag(node, "include_defaults"), extra=_task_rubrics(task))
    return found, checks.text(node, "select")


def selected(node: DictConfig, default: str = "", task: Any = None) -> tuple[Rubric, ...]:
    """The rubrics a grading command uses (`default` is the selection when `rubrics.select` is
    empty: a task's own rubrics); collection errors stop it unless told otherwise."""
    _, rubrics = select_rubrics(
        checks.strings(node, "paths"), checks.strings(node, "patterns"), checks.text(node, "select") or default,
        include_defaults=checks.flag(node, "include_defaults"),
        continue_on_collection_errors=checks.flag(node, "continue_on_collection_errors"),
        extra=_task_rubrics(task))
    return rubrics


def for_task(cfg: DictConfig, task: Any) -> tuple[Rubric, ...]:
    """The rubrics of a command run on `task`, if any: its `task.rubrics` unless `rubrics.select` says."""
    return selected(cfg.rubrics, default_selection(cfg, task), task)


def default_selection(cfg: DictConfig, task: Any) -> str:
    return "" if task is None else checks.text(cfg.task, "rubrics")


def named_task(cfg: DictConfig) -> Any:
    """The task chosen with `task=...` on a command where it is optional (judge, rubrics), reached
    if it is a task app; None when no task was chosen."""
    if cfg.get("task") is None:
        return None
    from synthkit.collect.config import task_from_config

    task = task_from_config(cfg.task)
    if hasattr(task, "connect"):
        task.connect()
    return task
