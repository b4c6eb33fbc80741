"""Judge scores as readers use them: one number per session and key, for one judge.

A key is `primary` (the overall score), a rubric id (its primary), `rubric_id.criterion`, or
any other name under `session_traces.metadata.judge_scores` (how synth-ai's judges store
theirs). Keys synthkit's own tables hold are read from them, for the chosen judge and each
rubric's latest graded version; scores of older versions are stale and never mixed in.
Everything else comes from the metadata, so a DB judged by synth-ai filters the same way.
A key may pin an older rubric version, `rubric_id@version` or `rubric_id@version.criterion`
(the stale keys), for readers that show stale scores as such.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["CODE", "NO_JUDGE", "PRIMARY", "ScoreIndex", "describe_stale", "latest_overall", "latest_versions",
           "overall", "score_index", "score_number"]

CODE = "code"  # the judge model recorded for code criteria (and rubrics made only of them)
NO_JUDGE = "none"  # the judge model recorded for judge criteria skipped by judge=none
PRIMARY = "primary"


def overall(rubric_scores: Iterable[tuple[float, float | None, str | None]]) -> float | None:
    """The overall primary from (weight, score, error) per rubric: the weighted mean of the
    rubrics that have a score; missing when any rubric could not be scored or none has one."""
    rows = list(rubric_scores)
    if any(error for _, _, error in rows):
        return None
    scored = [(weight, score) for weight, score, _ in rows if score is not None]
    total = sum(weight for weight, _ in scored)
    if not scored or total == 0:
        return None
    return sum(weight * score for weight, score in scored) / total


def latest_overall(rows: Iterable[tuple[str, str, float, float | None, str | None]],
                   versions: Mapping[str, str]) -> float | None:
    """One session's overall primary from its (rubric id, version, weight, score, error) rows:
    the latest versions count, and a rubric graded only at an older version leaves no overall
    (one made of the other rubrics alone would not compare with sessions graded again)."""
    latest, older = [], set()
    for rubric_id, version, weight, score, error in rows:
        if versions.get(rubric_id) == version:
            latest.append((rubric_id, weight, score, error))
        else:
            older.add(rubric_id)
    if older - {rubric_id for rubric_id, *_ in latest}:
        return None
    return overall((weight, score, error) for _, weight, score, error in latest)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@attrs.frozen
class ScoreIndex:
    """What the judge tables of one DB hold, read once; then scores are read per chunk."""

    judge_model: str | None  # whose judge criteria count (None: code criteria only)
    judge_models: tuple[str, ...]  # every judge model with judge results
    versions: Mapping[str, str]  # rubric id -> latest graded version
    rubric_ids: frozenset[str]  # rubrics with primaries in rubric_scores (latest version)
    criteria: frozenset[str]  # "rubric_id.criterion" of the latest versions
    metadata_keys: frozenset[str]  # keys under metadata.judge_scores
    stale: Mapping[str, Mapping[str, int]]  # rubric id -> older version -> sessions scored
    stale_keys: frozenset[str] = frozenset()  # "rubric_id@version" and "rubric_id@version.criterion"

    def table_keys(self) -> frozenset[str]:
        return self.rubric_ids | self.criteria | ({PRIMARY} if self.rubric_ids else frozenset())

    def known_keys(self) -> list[str]:
        """The keys of the latest versions and of the metadata (stale keys are not offered)."""
        return sorted(self.table_keys() | self.metadata_keys)

    def _target(self, key: str) -> tuple[str, str | None, str | None]:
        """(rubric id, version, criterion or None) of a key read from the judge tables."""
        head, _, criterion = key.partition(".")
        rubric_id, pinned, version = head.partition("@")
        return rubric_id, version if pinned else self.versions.get(rubric_id), criterion or None

    def scores(self, conn: sqlite3.Connection, sessions: Sequence[tuple[str, Mapping[str, Any]]],
               keys: Iterable[str]) -> dict[str, dict[str, float | None]]:
        """{session id: {key: score or None}} for sessions given as (id, metadata)."""
        keys = list(dict.fromkeys(keys))
        ids = [session_id for session_id, _ in sessions]
        table = self.table_keys()
        result: dict[str, dict[str, float | None]] = {session_id: {} for session_id in ids}
        for session_id, metadata in sessions:
            judged = metadata.get("judge_scores") if isinstance(metadata, Mapping) else None
            judged = judged if isinstance(judged, Mapping) else {}
            for key in keys:
                if key not in table:
                    result[session_id][key] = score_number(judged.get(key))
        wanted = [k for k in keys if k in table or k in self.stale_keys]
        if not wanted or not ids:
            return result
        for session_id in ids:
            result[session_id].update(dict.fromkeys(wanted))
        targets = {self._target(key): key for key in wanted if key != PRIMARY}
        # without a judge, rubrics that need one count as not graded (judge=none's rows say so)
        models = [CODE, NO_JUDGE] if self.judge_model is None else [CODE, self.judge_model]
        marks, model_marks = ", ".join("?" * len(ids)), ", ".join("?" * len(models))
        if PRIMARY in wanted or any(criterion is None for _, _, criterion in targets):
            rubrics: dict[str, list[tuple[str, str, float, float | None, str | None]]] = defaultdict(list)
            for session_id, rubric_id, version, weight, score, error in conn.execute(
                    "SELECT session_id, rubric_id, rubric_version, weight, score, error FROM rubric_scores "
                    f"WHERE session_id IN ({marks}) AND judge_model IN ({model_marks})", [*ids, *models]):
                rubrics[session_id].append((rubric_id, version, weight, score, error))
                if (key := targets.get((rubric_id, version, None))) is not None:
                    result[session_id][key] = score
            if PRIMARY in wanted:
                for session_id in ids:
                    result[session_id][PRIMARY] = latest_overall(rubrics[session_id], self.versions)
        if any(criterion is not None for _, _, criterion in targets):
            for session_id, rubric_id, version, name, score in conn.execute(
                    "SELECT session_id, rubric_id, rubric_version, criterion, score FROM judge_scores "
                    f"WHERE session_id IN ({marks}) AND judge_model IN ({model_marks})", [*ids, *models]):
                if (key := targets.get((rubric_id, version, name))) is not None:
                    result[session_id][key] = score
        return result


def score_number(value: Any) -> float | None:
    """A metadata score: a number, or text holding one (synth-ai's filter reads both)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value in (float("inf"), float("-inf")):
        return None
    return float(value) if value == value else None


def latest_versions(conn: sqlite3.Connection) -> dict[str, str]:
    """Each rubric's most recently graded version (rubric id -> version)."""
    if "judge_scores" not in _tables(conn):
        return {}
    # SQLite takes the bare columns of an aggregate query from the row holding the max()
    return {rubric_id: version for rubric_id, version, _ in conn.execute(
        "SELECT rubric_id, rubric_version, max(created_at) FROM judge_scores GROUP BY rubric_id")}


def score_index(conn: sqlite3.Connection, judge_model: str | None = None) -> ScoreIndex:
    """Read what the DB's judge tables hold. `judge_model` None means the judge of the most
    recent judge run that produced judge scores; `ValueError` names the known ones when the
    given judge has none."""
    tables = _tables(conn)
    metadata_keys = frozenset(row[0] for row in conn.execute(
        "SELECT DISTINCT j.key FROM session_traces AS s, json_each(CASE WHEN json_valid(s.metadata) "
        "AND json_type(s.metadata, '$.judge_scores') = 'object' THEN s.metadata END, '$.judge_scores') AS j"))
    judge_models = () if "judge_scores" not in tables else tuple(row[0] for row in conn.execute(
        "SELECT DISTINCT judge_model FROM judge_scores WHERE kind = 'judge' AND judge_model != ? "
        "ORDER BY judge_model", [NO_JUDGE]))
    if judge_model is not None and judge_model not in judge_models:
        raise ValueError(f"judge model {judge_model!r} has no judge results in this DB " + (
            f"(judge models: {', '.join(judge_models)})" if judge_models else
            "(no LLM judge graded it; code criteria count without choosing a judge)"))
    if "judge_scores" not in tables:
        return ScoreIndex(None, (), {}, frozenset(), frozenset(), metadata_keys, {})
    if judge_model is None:
        row = conn.execute(
            "SELECT r.judge_model FROM judge_runs AS r WHERE EXISTS (SELECT 1 FROM judge_scores AS s "
            "WHERE s.run_id = r.run_id AND s.kind = 'judge' AND s.score IS NOT NULL) "
            "ORDER BY r.started_at DESC LIMIT 1").fetchone()
        judge_model = row[0] if row else None
    versions = latest_versions(conn)
    stale: dict[str, dict[str, int]] = defaultdict(dict)
    criteria, stale_keys = set(), set()
    for rubric_id, version, name, sessions in conn.execute(
            "SELECT rubric_id, rubric_version, criterion, count(DISTINCT session_id) FROM judge_scores "
            "GROUP BY rubric_id, rubric_version, criterion"):
        if versions[rubric_id] == version:
            criteria.add(f"{rubric_id}.{name}")
        else:
            stale[rubric_id][version] = max(stale[rubric_id].get(version, 0), sessions)
            stale_keys.add(f"{rubric_id}@{version}.{name}")
    rubric_ids = set()
    if "rubric_scores" in tables:
        for rubric_id, version in conn.execute("SELECT DISTINCT rubric_id, rubric_version FROM rubric_scores"):
            if rubric_id in versions:
                rubric_ids.add(rubric_id)
                if versions[rubric_id] != version:
                    stale_keys.add(f"{rubric_id}@{version}")
    return ScoreIndex(judge_model, judge_models, versions, frozenset(rubric_ids), frozenset(criteria),
                      metadata_keys, {k: dict(v) for k, v in stale.items()}, frozenset(stale_keys))


def describe_stale(stale: Mapping[str, Mapping[str, int]]) -> list[str]:
    """One line per rubric whose older versions have scores that are being ignored."""
    return [f"{rubric_id}: scores of {len(versions)} older version(s) ignored "
            f"({', '.join(f'{v} on {n} sessions' for v, n in sorted(versions.items()))})"
            for rubric_id, versions in sorted(stale.items())]
