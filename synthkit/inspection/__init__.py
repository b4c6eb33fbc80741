"""Looking at judge results: the views of `synthkit query` and the review of a filter run.

`query(db, view, **keys)` is the Python face of the command, with the same `query.*` keys.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from synthkit import checks
from synthkit.errors import SynthkitError
from synthkit.filtering.spec import thresholds
from synthkit.inspection import views
from synthkit.inspection.agreement import agreement
from synthkit.inspection.table import Table
from synthkit.inspection.views import OUTCOMES, QueryOptions
from synthkit.traces.scores import PRIMARY
from synthkit.traces.store import TraceStore

__all__ = ["COMMAND_KEYS", "DEFAULTS", "VIEWS", "Table", "options_from_config", "query", "run_view"]

VIEWS: dict[str, Callable[[TraceStore, QueryOptions], Table | list[Table]]] = {
    "scores": views.scores, "sessions": views.sessions, "high": views.high, "agreement": agreement,
    "runs": views.runs}

COMMAND_KEYS = ("view", "format", "output", "overwrite")  # how the command writes; not query()'s
STANDARD_PRIMARY = 0.7  # `high` without thresholds: the filter's standard preset

# The selection keys of `query.*` and their defaults (what conf/query.yaml holds; a test keeps them equal).
DEFAULTS: dict[str, Any] = {
    "rubric": None, "criterion": None, "judge_model": None, "outcome": None, "min_primary": None,
    "min_judge_scores": {}, "judges": [], "threshold": 0.7, "key": PRIMARY, "top": 10,
    "include_stale": False, "limit": None}


def _names(node: DictConfig, key: str) -> tuple[str, ...]:
    """One name or a list of names (`query.rubric=RubricX` or `query.rubric=[RubricX,RubricY]`)."""
    value = node[key]
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(checks.strings(node, key))


def options_from_config(node: DictConfig) -> tuple[QueryOptions, int | None]:
    """The checked selections of `query.*`, and `query.limit`."""
    checks.only(node, {*DEFAULTS, *COMMAND_KEYS})
    outcomes = _names(node, "outcome")
    for outcome in outcomes:
        if outcome not in OUTCOMES:
            raise SynthkitError(f"query.outcome must be among {', '.join(OUTCOMES)}, not {outcome!r}")
    minimum = thresholds(node, "min_judge_scores")
    if node.min_primary is not None:
        primary = checks.number(node, "min_primary", positive=False)
        if primary > 1:
            raise SynthkitError(f"query.min_primary is {primary:g}: judge scores lie between 0 and 1")
        minimum = {PRIMARY: float(primary), **minimum}
    elif not minimum:
        minimum = {PRIMARY: STANDARD_PRIMARY}
    threshold = checks.number(node, "threshold", positive=False)
    if threshold > 1:
        raise SynthkitError(f"query.threshold is {threshold:g}: judge scores lie between 0 and 1")
    options = QueryOptions(
        rubrics=_names(node, "rubric"), criteria=_names(node, "criterion"),
        judge_model=None if node.judge_model is None else checks.text(node, "judge_model"),
        outcomes=outcomes, min_judge_scores=minimum, judges=tuple(checks.strings(node, "judges")),
        threshold=float(threshold), key=checks.text(node, "key"),
        top=checks.number(node, "top", integer=True), include_stale=checks.flag(node, "include_stale"))
    return options, checks.number(node, "limit", integer=True, optional=True)


def run_view(store: TraceStore, view: str, options: QueryOptions, limit: int | None) -> list[Table]:
    """The tables of one view, their rows streaming from `store` (open while they are read)."""
    if view not in VIEWS:
        raise SynthkitError(f"query.view must be one of {', '.join(VIEWS)}, not {view!r}")
    result = VIEWS[view](store, options)
    return [views.limited(table, limit) for table in (result if isinstance(result, list) else [result])]


def query(db_path: str | Path, view: str = "scores", **keys: Any) -> Table | dict[str, Table]:
    """A view of a trace DB from Python, with the `query.*` keys of the command, e.g.
    `query("traces.db", "sessions").to_pandas()` or `query(db, "agreement", judges=[a, b])["kappa"]`.
    Returns a `Table` of plain dicts (`agreement`: a dict of tables by name)."""
    unknown = sorted(set(keys) - set(DEFAULTS))
    if unknown:
        raise SynthkitError(f"{unknown[0]} is not a query key (keys: {', '.join(sorted(DEFAULTS))})")
    node = OmegaConf.create({"query": {**DEFAULTS, **keys}}).query
    options, limit = options_from_config(node)
    with TraceStore.open(db_path) as store:
        tables = [table.materialised() for table in run_view(store, view, options, limit)]
    return {table.name: table for table in tables} if view == "agreement" else tables[0]
