"""The views of `synthkit query` over one trace DB, each a `Table` whose rows stream from it.

- `scores`: every judge result, stale ones (older rubric versions) marked as such;
- `sessions`: one row per session with its rubric primaries and the overall primary;
- `high`: the sessions at or above thresholds, with the filter's key semantics;
- `runs`: the judge runs with their totals.

Scores per session come from `ScoreIndex`, the same reader the filter uses, so a key means the
same thing here and there: one judge (`judge_model`, default the latest), latest versions.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from synthkit.errors import SynthkitError
from synthkit.filtering.select import check_score_keys, session_rows
from synthkit.inspection.table import Table
from synthkit.traces.scores import PRIMARY, ScoreIndex, latest_versions, score_index
from synthkit.traces.store import TraceStore

__all__ = ["OUTCOMES", "QueryOptions", "high", "index_for", "limited", "runs", "scores", "session_table",
           "sessions"]

OUTCOMES = ("passed", "failed", "error", "skipped")
SCORE_COLUMNS = ("session_id", "rubric_id", "rubric_version", "stale", "criterion", "kind", "judge_model",
                 "score", "outcome", "reasoning", "error", "tokens_in", "tokens_out", "cost_usd", "latency_ms",
                 "run_id", "created_at")
SCORE_BRIEF = ("session_id", "rubric_id", "criterion", "judge_model", "score", "outcome", "stale", "reasoning")
SESSION_COLUMNS = ("session_id", "created_at", "task_id", "split", "model", "status", "total_reward")
SESSION_BRIEF = ("session_id", "task_id", "split", "total_reward")
RUN_COLUMNS = ("run_id", "started_at", "finished_at", "status", "judge_model", "rubrics", "sessions", "results",
               "calls", "tokens_in", "tokens_out", "cost_usd", "errors")
RUN_BRIEF = ("run_id", "started_at", "status", "judge_model", "sessions", "calls", "tokens_in", "tokens_out",
             "cost_usd", "errors")


@attrs.frozen
class QueryOptions:
    """The `query.*` selections, checked (see `synthkit.cli.query.options_from`)."""

    rubrics: tuple[str, ...] = ()
    criteria: tuple[str, ...] = ()
    judge_model: str | None = None  # None: every judge for `scores`, the latest judge elsewhere
    outcomes: tuple[str, ...] = ()
    min_judge_scores: Mapping[str, float] = attrs.field(factory=lambda: {PRIMARY: 0.7})
    judges: tuple[str, ...] = ()  # two judge models to compare (agreement)
    threshold: float = 0.7  # pass / fail cut for the judges' agreement
    key: str = PRIMARY  # the score compared with outcome rewards in the disagreements
    top: int = 10  # disagreements listed
    include_stale: bool = False
    session_ids: tuple[str, ...] = ()  # for review: the judge results of these sessions only


def index_for(store: TraceStore, judge_model: str | None, where: str = "query.judge_model") -> ScoreIndex:
    try:
        return score_index(store.conn, judge_model)
    except ValueError as exc:
        raise SynthkitError(f"{where}: {exc}") from None


def _check_values(store: TraceStore, column: str, where: str, values: Sequence[str]) -> None:
    """A selection that names nothing in the DB is a mistake to report, not an empty table."""
    if not values:
        return
    known = {row[0] for row in store.conn.execute(f"SELECT DISTINCT {column} FROM judge_scores")}
    for value in values:
        if value not in known:
            raise SynthkitError(f"{where}: no judge result has {column} {value!r} "
                                f"(known: {', '.join(sorted(known)) or 'none: judge the DB first'})")


def scores(store: TraceStore, options: QueryOptions) -> Table:
    if not store.table_exists("judge_scores"):
        _check_values_absent(options)
        return Table("scores", SCORE_COLUMNS, iter(()), SCORE_BRIEF)
    conn = store.conn
    clauses, params = [], []
    for column, where, values in (("rubric_id", "query.rubric", options.rubrics),
                                  ("criterion", "query.criterion", options.criteria),
                                  ("judge_model", "query.judge_model",
                                   () if options.judge_model is None else (options.judge_model,)),
                                  ("session_id", "session", options.session_ids)):
        if column != "session_id":
            _check_values(store, column, where, values)
        if values:
            clauses.append(f"j.{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
    if options.outcomes:
        clauses.append(f"j.outcome IN ({', '.join('?' * len(options.outcomes))})")
        params.extend(options.outcomes)
    versions = latest_versions(conn)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    sql = (f"SELECT j.{', j.'.join(c for c in SCORE_COLUMNS if c != 'stale')} FROM judge_scores AS j "
           f"LEFT JOIN session_traces AS s ON s.session_id = j.session_id {where}"
           "ORDER BY s.created_at, j.session_id, j.rubric_id, j.criterion, j.judge_model")

    def rows() -> Iterator[dict[str, Any]]:
        for row in conn.execute(sql, params):
            item = dict(row)
            item["stale"] = versions.get(item["rubric_id"]) != item["rubric_version"]
            yield {column: item[column] for column in SCORE_COLUMNS}

    return Table("scores", SCORE_COLUMNS, rows(), SCORE_BRIEF)


def _check_values_absent(options: QueryOptions) -> None:
    for where, values in (("query.rubric", options.rubrics), ("query.criterion", options.criteria),
                          ("query.judge_model", options.judge_model)):
        if values:
            raise SynthkitError(f"{where}: this DB has no judge results (judge it first)")


def _score_keys(index: ScoreIndex, include_stale: bool) -> list[str]:
    """The overall primary, each rubric's primary, then judge names found only in the metadata
    (synth-ai's); with `include_stale`, older rubric versions as `rubric_id@version`."""
    keys = ([PRIMARY] if index.rubric_ids else []) + sorted(index.rubric_ids)
    keys += sorted(index.metadata_keys - index.table_keys())
    if include_stale:
        keys += sorted(key for key in index.stale_keys if "." not in key)
    return keys


def session_table(store: TraceStore, index: ScoreIndex, name: str, keys: Sequence[str],
                  keep: Any = None) -> Table:
    """One row per session (recording order) with the scores of `keys`; `keep(scores)`
    chooses rows."""
    conn = store.conn
    keys = list(dict.fromkeys(keys))

    def rows() -> Iterator[dict[str, Any]]:
        for chunk in session_rows(store):
            values = index.scores(conn, [(session_id, metadata) for session_id, _, metadata, _ in chunk], keys)
            for session_id, created_at, metadata, reward in chunk:
                scored = values[session_id]
                if keep is None or keep(scored):
                    yield {"session_id": session_id, "created_at": created_at, "task_id": metadata.get("task_id"),
                           "split": metadata.get("task_split"), "model": metadata.get("model"),
                           "status": metadata.get("status"), "total_reward": reward,
                           **{key: scored.get(key) for key in keys}}

    return Table(name, (*SESSION_COLUMNS, *keys), rows(), (*SESSION_BRIEF, *keys))


def sessions(store: TraceStore, options: QueryOptions) -> Table:
    index = index_for(store, options.judge_model)
    return session_table(store, index, "sessions", _score_keys(index, options.include_stale))


def high(store: TraceStore, options: QueryOptions) -> Table:
    """Sessions whose every tested score is at or above its threshold (a missing score fails)."""
    index = index_for(store, options.judge_model)
    thresholds = dict(options.min_judge_scores)
    if not thresholds:
        raise SynthkitError("query.view=high needs query.min_primary or query.min_judge_scores")
    check_score_keys(index.known_keys(), "query.min_judge_scores", thresholds)

    def keep(values: Mapping[str, float | None]) -> bool:
        return all(values.get(key) is not None and values[key] >= t for key, t in thresholds.items())

    keys = [*thresholds, *_score_keys(index, options.include_stale)]
    return session_table(store, index, "high", keys, keep)


def runs(store: TraceStore, options: QueryOptions) -> Table:
    if not store.table_exists("judge_runs"):
        return Table("runs", RUN_COLUMNS, iter(()), RUN_BRIEF)
    conn = store.conn
    where, params = ("WHERE r.judge_model = ? ", [options.judge_model]) if options.judge_model else ("", [])
    sql = ("SELECT r.run_id, r.started_at, r.finished_at, r.status, r.judge_model, r.rubrics, "
           "(SELECT count(DISTINCT session_id) FROM judge_scores AS j WHERE j.run_id = r.run_id), "
           "(SELECT count(*) FROM judge_scores AS j WHERE j.run_id = r.run_id), "
           f"r.calls, r.tokens_in, r.tokens_out, r.cost_usd, r.errors FROM judge_runs AS r {where}"
           "ORDER BY r.started_at, r.run_id")

    def rows() -> Iterator[dict[str, Any]]:
        for row in conn.execute(sql, params):
            item = dict(zip(RUN_COLUMNS, row))
            try:
                rubrics = json.loads(item["rubrics"] or "{}")
            except ValueError:
                rubrics = None
            if isinstance(rubrics, dict):
                item["rubrics"] = ", ".join(f"{rubric}@{version}" for rubric, version in rubrics.items())
            yield item

    return Table("runs", RUN_COLUMNS, rows(), RUN_BRIEF)


def limited(table: Table, limit: int | None) -> Table:
    return table if limit is None else attrs.evolve(table, rows=itertools.islice(table.rows, limit))
