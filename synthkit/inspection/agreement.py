"""Does a judge agree with the environment's rewards, and with another judge?

Four tables, so a user can see at a glance whether to trust a threshold:

- `correlation`: Pearson and Spearman (ties get average ranks) of every score key (the overall
  primary, each rubric's primary, each criterion) against the outcome reward;
- `kappa` (with two judge models): at a pass threshold, raw agreement and Cohen's kappa of the
  two judges' pass / fail, key by key, over the sessions both scored;
- `disagreements`: the sessions where one score and the reward (scaled to [0, 1] over the
  sessions) are furthest apart;
- `rates`: per criterion and judge model, how many results passed, failed, errored or skipped.

Correlations need every (score, reward) pair: two floats per session and key are held (the
traces themselves stream), the kappa counts only four numbers per key.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from synthkit.errors import SynthkitError
from synthkit.filtering.select import check_score_keys, session_rows
from synthkit.inspection.table import Table
from synthkit.inspection.views import QueryOptions, index_for
from synthkit.traces.scores import CODE, PRIMARY, ScoreIndex, latest_versions
from synthkit.traces.store import TraceStore

__all__ = ["agreement", "cohen_kappa", "pearson", "ranks", "spearman"]

CORRELATION_COLUMNS = ("key", "kind", "sessions", "mean_score", "pearson", "spearman")
KAPPA_COLUMNS = ("key", "sessions", "judge_a", "judge_b", "threshold", "a_pass_rate", "b_pass_rate",
                 "agreement", "kappa", "mean_abs_difference")
DISAGREEMENT_COLUMNS = ("session_id", "key", "score", "total_reward", "reward_scaled", "gap")
KAPPA_BRIEF = ("key", "sessions", "a_pass_rate", "b_pass_rate", "agreement", "kappa", "mean_abs_difference")
RATE_BRIEF = ("rubric_id", "criterion", "judge_model", "stale", "results", "error", "skipped", "error_rate",
              "skip_rate", "most_common_error")
RATE_COLUMNS = ("rubric_id", "rubric_version", "stale", "criterion", "kind", "judge_model", "results", "passed",
                "failed", "error", "skipped", "error_rate", "skip_rate", "most_common_error")


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """None when fewer than two pairs or either side is constant (the coefficient is undefined)."""
    n = len(xs)
    if n < 2:
        return None
    mean_x, mean_y = math.fsum(xs) / n, math.fsum(ys) / n
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    syy = math.fsum((y - mean_y) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            result[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    return pearson(ranks(xs), ranks(ys))


def cohen_kappa(both: int, only_a: int, only_b: int, neither: int) -> tuple[float | None, float | None]:
    """(kappa, raw agreement) from the 2x2 pass counts; kappa is None when chance agreement is
    total (both judges gave one verdict throughout)."""
    n = both + only_a + only_b + neither
    if n == 0:
        return None, None
    observed = (both + neither) / n
    a_pass, b_pass = (both + only_a) / n, (both + only_b) / n
    expected = a_pass * b_pass + (1 - a_pass) * (1 - b_pass)
    return (None if expected == 1 else (observed - expected) / (1 - expected)), observed


def _kind(key: str, index: ScoreIndex) -> str:
    if key == PRIMARY:
        return "overall"
    if key in index.criteria or ("@" in key and "." in key):
        return "criterion"
    if key in index.rubric_ids or "@" in key:
        return "rubric"
    return "metadata"


def _correlation_keys(index: ScoreIndex, include_stale: bool) -> list[str]:
    keys = ([PRIMARY] if index.rubric_ids else []) + sorted(index.rubric_ids) + sorted(index.criteria)
    keys += sorted(index.metadata_keys - index.table_keys())
    return keys + (sorted(index.stale_keys) if include_stale else [])


def _pairs(store: TraceStore, index: ScoreIndex, keys: list[str], key: str
           ) -> tuple[dict[str, tuple[array, array]], list[str]]:
    """(score, reward) arrays per key over the sessions with both, and the session ids of `key`'s."""
    pairs: dict[str, tuple[array, array]] = {k: (array("d"), array("d")) for k in keys}
    ids: list[str] = []
    for chunk in session_rows(store):
        rewarded = [(session_id, metadata, reward) for session_id, _, metadata, reward in chunk if reward is not None]
        values = index.scores(store.conn, [(s, m) for s, m, _ in rewarded], keys)
        for session_id, _, reward in rewarded:
            for name, score in values[session_id].items():
                if score is not None:
                    pairs[name][0].append(score)
                    pairs[name][1].append(reward)
                    if name == key:
                        ids.append(session_id)
    return pairs, ids


def _correlation(index: ScoreIndex, pairs: dict[str, tuple[array, array]]) -> Table:
    rows = [{"key": key, "kind": _kind(key, index), "sessions": len(scores),
             "mean_score": math.fsum(scores) / len(scores) if scores else None,
             "pearson": pearson(scores, rewards), "spearman": spearman(scores, rewards)}
            for key, (scores, rewards) in pairs.items()]
    return Table("correlation", CORRELATION_COLUMNS, rows)


def _disagreements(key: str, scores: array, rewards: array, ids: list[str], top: int) -> Table:
    rows: list[dict[str, Any]] = []
    if rewards and max(rewards) > min(rewards):
        low, span = min(rewards), max(rewards) - min(rewards)
        scaled = [(reward - low) / span for reward in rewards]
        worst = heapq.nlargest(top, range(len(ids)), key=lambda i: (abs(scores[i] - scaled[i]), ids[i]))
        rows = [{"session_id": ids[i], "key": key, "score": scores[i], "total_reward": rewards[i],
                 "reward_scaled": scaled[i], "gap": abs(scores[i] - scaled[i])} for i in worst]
    return Table("disagreements", DISAGREEMENT_COLUMNS, rows)


def _judge_keys(store: TraceStore, index: ScoreIndex) -> list[str]:
    """The keys two judges can differ on: primaries, and criteria graded by a judge (not code)."""
    judged = {f"{rubric}.{criterion}" for rubric, criterion in store.conn.execute(
        "SELECT DISTINCT rubric_id, criterion FROM judge_scores WHERE kind = 'judge'")}
    return ([PRIMARY] if index.rubric_ids else []) + sorted(index.rubric_ids) + sorted(index.criteria & judged)


def _kappa(store: TraceStore, options: QueryOptions) -> Table:
    if len(options.judges) != 2 or options.judges[0] == options.judges[1]:
        raise SynthkitError(f"query.judges must name two different judge models, not {list(options.judges)}")
    first, second = (index_for(store, judge, "query.judges") for judge in options.judges)
    keys = [k for k in _judge_keys(store, first) if k in second.table_keys()]
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    differences: dict[str, float] = defaultdict(float)
    conn, cut = store.conn, options.threshold
    for chunk in session_rows(store):
        sessions = [(session_id, metadata) for session_id, _, metadata, _ in chunk]
        a_scores, b_scores = first.scores(conn, sessions, keys), second.scores(conn, sessions, keys)
        for session_id, _ in sessions:
            for key in keys:
                a, b = a_scores[session_id].get(key), b_scores[session_id].get(key)
                if a is not None and b is not None:
                    counts[key][("a" if a >= cut else "") + ("b" if b >= cut else "") or "neither"] += 1
                    differences[key] += abs(a - b)
    rows = []
    for key in keys:
        tally = counts[key]
        n = sum(tally.values())
        kappa, observed = cohen_kappa(tally["ab"], tally["a"], tally["b"], tally["neither"])
        rows.append({"key": key, "sessions": n, "judge_a": options.judges[0], "judge_b": options.judges[1],
                     "threshold": cut, "a_pass_rate": (tally["ab"] + tally["a"]) / n if n else None,
                     "b_pass_rate": (tally["ab"] + tally["b"]) / n if n else None, "agreement": observed,
                     "kappa": kappa, "mean_abs_difference": differences[key] / n if n else None})
    return Table("kappa", KAPPA_COLUMNS, rows, KAPPA_BRIEF)


def _rates(store: TraceStore, include_stale: bool) -> Table:
    conn = store.conn
    versions = latest_versions(conn)
    common_error: dict[tuple[str, str, str, str], str] = {}
    for rubric, version, criterion, judge_model, error, _ in conn.execute(
            "SELECT rubric_id, rubric_version, criterion, judge_model, error, count(*) AS n FROM judge_scores "
            "WHERE outcome = 'error' GROUP BY 1, 2, 3, 4, 5 ORDER BY n, error DESC"):
        common_error[(rubric, version, criterion, judge_model)] = error  # the most frequent comes last

    def rows() -> Iterator[dict[str, Any]]:
        for row in conn.execute(
                "SELECT rubric_id, rubric_version, criterion, kind, judge_model, count(*), "
                "sum(outcome = 'passed'), sum(outcome = 'failed'), sum(outcome = 'error'), sum(outcome = 'skipped') "
                "FROM judge_scores GROUP BY rubric_id, rubric_version, criterion, kind, judge_model "
                "ORDER BY rubric_id, criterion, judge_model = ?, judge_model, rubric_version", [CODE]):
            rubric, version, criterion, kind, judge_model, results, passed, failed, errors, skipped = row
            stale = versions.get(rubric) != version
            if stale and not include_stale:
                continue
            yield {"rubric_id": rubric, "rubric_version": version, "stale": stale, "criterion": criterion,
                   "kind": kind, "judge_model": judge_model, "results": results, "passed": passed,
                   "failed": failed, "error": errors, "skipped": skipped, "error_rate": errors / results,
                   "skip_rate": skipped / results,
                   "most_common_error": common_error.get((rubric, version, criterion, judge_model))}

    return Table("rates", RATE_COLUMNS, list(rows()), RATE_BRIEF)


def agreement(store: TraceStore, options: QueryOptions) -> list[Table]:
    """The agreement tables of one DB, for the judge `options.judge_model` (default: the latest)."""
    index = index_for(store, options.judge_model)
    keys = _correlation_keys(index, options.include_stale)
    if options.key not in keys:
        if options.key not in index.stale_keys:
            check_score_keys(index.known_keys(), "query.key", [options.key])
        keys.append(options.key)  # a criterion, or an older version named outright
    pairs, ids = _pairs(store, index, keys, options.key)
    tables = [_correlation(index, pairs), _disagreements(options.key, *pairs[options.key], ids, options.top)]
    if options.judges:
        tables.append(_kappa(store, options))
    if store.table_exists("judge_scores"):
        tables.append(_rates(store, options.include_stale))
    return tables
