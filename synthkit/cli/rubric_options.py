"""The `rubrics.*` config group, read and checked once for every command that uses rubrics."""

from __future__ import annotations

from omegaconf import DictConfig

from synthkit import checks
from synthkit.rubrics.api import Rubric
from synthkit.rubrics.discovery import Collection, collect, select_rubrics


def collection(node: DictConfig) -> tuple[Collection, str]:
    """Everything collected, and the selection expression (for listings)."""
    found = collect(checks.strings(node, "paths"), checks.strings(node, "patterns"),
                    include_defaults=checks.flag(node, "include_defaults"))
    return found, checks.text(node, "select")


def selected(node: DictConfig) -> tuple[Rubric, ...]:
    """The rubrics a grading command uses: collection errors stop it unless told otherwise."""
    _, rubrics = select_rubrics(
        checks.strings(node, "paths"), checks.strings(node, "patterns"), checks.text(node, "select"),
        include_defaults=checks.flag(node, "include_defaults"),
        continue_on_collection_errors=checks.flag(node, "continue_on_collection_errors"))
    return rubrics
