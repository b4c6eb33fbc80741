"""Which sessions to keep: every condition checked per session, every rejection counted.

One pass over light rows (id, time, metadata, outcome reward; never the trace content) in
recording order. A session is rejected by the first condition it fails, in this order: split,
task id, model, created_at, status, official score, judge scores. A missing score fails both a
min and a max. Then the mix adds a seeded share from the lower band, spread evenly among the
others so that every prefix of the kept sessions has that share, and shuffle, offset,
max_sessions and the validation split apply to the kept sessions. Only a small `Pick` per kept
session stays in memory; the export reads the rest again, chunk by chunk.
"""

from __future__ import annotations

import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from synthkit.errors import SynthkitError
from synthkit.filtering.spec import FilterSpec
from synthkit.traces import codec
from synthkit.traces.model import SessionStatus
from synthkit.traces.scores import ScoreIndex, describe_stale, score_index
from synthkit.traces.store import Selection, TraceDBError, TraceStore

__all__ = ["BINS", "Candidate", "Kept", "Pick", "Selected", "candidates", "check_filter_keys", "check_score_keys",
           "score_failure", "select_sessions", "session_rows"]

BINS = 20  # histogram bins over [0, 1]
CHUNK = 500
SESSION_FIELDS = ("task_id", "task_split", "seed", "model")
LEFT_OUT_STATUSES = {SessionStatus.FAILED.value, SessionStatus.INCOMPLETE.value}


@attrs.frozen
class Pick:
    """A kept session, as small as it can be: selection holds one per kept session."""

    session_id: str
    total_reward: float | None
    mixed_in: bool = False  # drawn from the lower band by the mix
    part: str = "train"  # or "val"


@attrs.frozen
class Kept:
    """A kept session with what the export writes beside its examples."""

    session_id: str
    scores: Mapping[str, float | None]  # the judge score keys tested
    total_reward: float | None
    metadata: Mapping[str, Any]  # task_id, task_split, seed, model
    mixed_in: bool = False
    part: str = "train"


@attrs.define
class Selected:
    picks: list[Pick]
    seen: int
    rejected: dict[str, int]
    index: ScoreIndex
    histograms: dict[str, list[int]]  # key -> counts per bin; the last entry counts missing scores
    mix: dict[str, dict[str, int]]  # group -> high, wanted, available, drawn

    def stale_lines(self) -> list[str]:
        return describe_stale(self.index.stale)

    def details(self, conn: Any, picks: list[Pick], keys: list[str]) -> list[Kept]:
        """The kept sessions of one chunk with their tested scores and metadata."""
        marks = ", ".join("?" * len(picks))
        metadata = {}
        for session_id, text in conn.execute(
                f"SELECT session_id, metadata FROM session_traces WHERE session_id IN ({marks})",
                [p.session_id for p in picks]):
            loaded = codec.loads(text, {})
            metadata[session_id] = loaded if isinstance(loaded, dict) else {}
        scores = self.index.scores(conn, list(metadata.items()), keys) if keys else {}
        return [Kept(p.session_id, scores.get(p.session_id, {}), p.total_reward,
                     {k: metadata[p.session_id].get(k) for k in SESSION_FIELDS}, p.mixed_in, p.part)
                for p in picks]


def session_rows(store: TraceStore) -> Iterator[list[tuple[str, Any, dict[str, Any], float | None]]]:
    """Every session in recording order as light rows (id, created_at, metadata, latest total
    reward), in chunks. A row that cannot be read as such is a `TraceDBError` naming it."""
    chunk = []
    for session_id, created_at, text, reward in store.conn.execute(
            "SELECT s.session_id, s.created_at, s.metadata, (SELECT o.total_reward FROM outcome_rewards AS o "
            "WHERE o.session_id = s.session_id ORDER BY o.id DESC LIMIT 1) "
            "FROM session_traces AS s ORDER BY s.created_at, s.session_id"):
        metadata = codec.loads(text, {})
        if not isinstance(metadata, dict) or not isinstance(metadata.get("status"), str | None) \
                or not isinstance(reward, int | float | None):
            raise TraceDBError(f"{store.path}: session {session_id} cannot be read: "
                               f"{_unreadable(text, metadata, reward)}")
        chunk.append((session_id, created_at, metadata, reward))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _unreadable(text: Any, metadata: Any, reward: Any) -> str:
    if not isinstance(metadata, dict):
        return f"its metadata is not a JSON object: {str(text)[:80]!r}"
    if not isinstance(metadata.get("status"), str | None):
        return f"its metadata.status is not text: {codec.dumps(metadata['status'])[:80]}"
    return f"its outcome's total_reward is not a number: {reward!r}"


def _first_failure(spec: FilterSpec, created_at: Any, metadata: Mapping[str, Any],
                   reward: float | None) -> str | None:
    for key, name, allowed in (("task_split", "split", spec.splits), ("task_id", "task_id", spec.task_ids),
                               ("model", "model", spec.models)):
        if allowed and str(metadata.get(key)) not in allowed:
            return name
    if spec.min_created_at or spec.max_created_at:
        moment = codec.parse_time(created_at)
        if moment is None or (spec.min_created_at and moment < spec.min_created_at) \
                or (spec.max_created_at and moment > spec.max_created_at):
            return "created_at"
    if not spec.include_failed and metadata.get("status") in LEFT_OUT_STATUSES:
        return "status"
    if spec.min_official_score is not None and (reward is None or reward < spec.min_official_score):
        return "min_official_score"
    if spec.max_official_score is not None and (reward is None or reward > spec.max_official_score):
        return "max_official_score"
    return None


def _score_failure(thresholds: Mapping[str, float], scores: Mapping[str, float | None], name: str,
                   above: bool) -> str | None:
    for key, threshold in thresholds.items():
        value = scores.get(key)
        if value is None or (value < threshold if above else value > threshold):
            return f"{name}.{key}"
    return None


def check_score_keys(known: Iterable[str], where: str, keys: Iterable[str], missing: str = "no session has") -> None:
    """A key that is not `known` is an error listing the keys there are."""
    known = set(known)
    for key in keys:
        if key not in known:
            raise SynthkitError(f"{where}.{key}: {missing} a judge score {key!r} "
                                f"(known keys: {', '.join(sorted(known)) or 'none: judge the DB first'})")


def check_filter_keys(spec: FilterSpec, known: Iterable[str], missing: str = "no session has") -> None:
    """Every score key the filter tests must be `known`."""
    known = set(known)
    for where, keys in (("min_judge_scores", spec.min_judge_scores), ("max_judge_scores", spec.max_judge_scores),
                        ("mix.min_judge_scores", spec.mix_min_judge_scores)):
        check_score_keys(known, f"filter.{where}", keys, missing)


def select_sessions(store: TraceStore, spec: FilterSpec) -> Selected:
    """Check every session of the DB against `spec`; a bad key or judge is a `SynthkitError`."""
    conn = store.conn
    try:
        index = score_index(conn, spec.judge_model)
    except ValueError as exc:
        raise SynthkitError(f"filter.judge_model: {exc}") from None
    check_filter_keys(spec, index.known_keys())
    store.check_selection(Selection(splits=spec.splits, task_ids=spec.task_ids, models=spec.models),
                          {part: f"filter.{part}" for part in ("splits", "task_ids", "models")})
    keys = spec.score_keys()
    histograms = {key: [0] * (BINS + 1) for key in keys}
    rejected: Counter[str] = Counter()
    high: list[tuple[Pick, str]] = []  # (pick, group)
    pool: list[tuple[Pick, str, str]] = []  # lower band, with the condition it failed
    for candidate in candidates(store, spec, index, rejected):
        for key in keys:
            value = candidate.scores.get(key)
            histograms[key][_bin(value)] += 1
        pick, group = Pick(candidate.session_id, candidate.reward), _group(spec, candidate.metadata)
        failure = score_failure(spec, candidate.scores)
        if failure is None:
            high.append((pick, group))
        elif spec.mix_share and _in_lower_band(spec, candidate.scores, failure):
            pool.append((pick, group, failure))
        else:
            rejected[failure] += 1
    seen = sum(rejected.values()) + len(high) + len(pool)
    mixed, mix = _mix(spec, high, pool, rejected)
    picks = _order(spec, [pick for pick, _ in high], mixed, rejected)
    return Selected(_split(spec, picks), seen, dict(rejected), index, histograms, mix)


def _bin(score: float | None) -> int:
    """Scores outside [0, 1] count in the end bins; a missing score in the extra last one."""
    return BINS if score is None else min(int(min(max(score, 0.0), 1.0) * BINS), BINS - 1)


def _in_lower_band(spec: FilterSpec, scores: Mapping[str, float | None], failure: str) -> bool:
    """Below a min but scored on every min key (a missing score fails a min, it is not low) and
    above the mix floor."""
    return failure.startswith("min") and all(scores.get(key) is not None for key in spec.min_judge_scores) \
        and _score_failure(spec.mix_min_judge_scores, scores, "mix", above=True) is None


@attrs.frozen
class Candidate:
    """A session that passed every condition but the judge scores, with its tested scores."""

    position: int  # in recording order
    session_id: str
    metadata: Mapping[str, Any]
    reward: float | None
    scores: Mapping[str, float | None]


def candidates(store: TraceStore, spec: FilterSpec, index: ScoreIndex, rejected: Counter[str]) -> Iterator[Candidate]:
    """The sessions left for the judge score conditions, in recording order; the others are
    counted in `rejected` under the first condition they fail."""
    keys, conn, position = spec.score_keys(), store.conn, 0
    for chunk in session_rows(store):
        passed = []
        for session_id, created_at, metadata, reward in chunk:
            try:
                failure = _first_failure(spec, created_at, metadata, reward)
            except ValueError as exc:  # from reading created_at
                raise TraceDBError(f"{store.path}: session {session_id} cannot be read: created_at is {exc}") from None
            if failure:
                rejected[failure] += 1
            else:
                passed.append((position, session_id, metadata, reward))
            position += 1
        scores = index.scores(conn, [(p[1], p[2]) for p in passed], keys) if keys else {}
        for number, session_id, metadata, reward in passed:
            yield Candidate(number, session_id, metadata, reward, scores.get(session_id, {}))


def score_failure(spec: FilterSpec, scores: Mapping[str, float | None]) -> str | None:
    """The first judge score condition `scores` fail (maxima first), or None."""
    return _score_failure(spec.max_judge_scores, scores, "max_judge_scores", above=False) or \
        _score_failure(spec.min_judge_scores, scores, "min_judge_scores", above=True)


def _group(spec: FilterSpec, metadata: Mapping[str, Any]) -> str:
    if spec.stratify_by is None:
        return "all"
    return sys.intern(str(metadata.get("task_id" if spec.stratify_by == "task_id" else "task_split")))


def _mix(spec: FilterSpec, high: list[tuple[Pick, str]], pool: list[tuple[Pick, str, str]],
         rejected: Counter[str]) -> tuple[list[Pick], dict[str, dict[str, int]]]:
    """Draw round(high * share / (1 - share)) lower-band sessions per group by seed; they come
    back in recording order."""
    if not spec.mix_share:
        return [], {}
    rng = random.Random(spec.seed)
    high_count: Counter[str] = Counter(group for _, group in high)
    pool_by: dict[str, list[int]] = defaultdict(list)  # group -> indexes into pool
    for number, (_, group, _) in enumerate(pool):
        pool_by[group].append(number)
    chosen: set[int] = set()
    report = {}
    for group in sorted(set(high_count) | set(pool_by)):
        wanted = round(high_count[group] * spec.mix_share / (1 - spec.mix_share))
        available = pool_by[group]
        drawn = rng.sample(available, min(wanted, len(available)))
        chosen.update(drawn)
        report[group] = {"high": high_count[group], "wanted": wanted, "available": len(available),
                         "drawn": len(drawn)}
    for number, (_, _, failure) in enumerate(pool):
        if number not in chosen:
            rejected[failure] += 1
    return [attrs.evolve(pool[n][0], mixed_in=True) for n in sorted(chosen)], report


def _interleave(high: list[Pick], mixed: list[Pick]) -> list[Pick]:
    """Both lists in their order, the mixed-in sessions spread evenly: every prefix holds its
    share of them, rounded to the nearest."""
    total, taken, result = len(high) + len(mixed), 0, []
    others = iter(high)
    for position in range(1, total + 1):
        if (2 * position * len(mixed) + total) // (2 * total) > taken:
            result.append(mixed[taken])
            taken += 1
        else:
            result.append(next(others))
    return result


def _order(spec: FilterSpec, high: list[Pick], mixed: list[Pick], rejected: Counter[str]) -> list[Pick]:
    if spec.shuffle:
        order = random.Random(spec.order_seed)
        order.shuffle(high)
        order.shuffle(mixed)
    kept = _interleave(high, mixed) if mixed else high
    if spec.offset:
        rejected["offset"] += min(spec.offset, len(kept))
        kept = kept[spec.offset:]
    if spec.max_sessions is not None and len(kept) > spec.max_sessions:
        rejected["max_sessions"] += len(kept) - spec.max_sessions
        kept = kept[:spec.max_sessions]
    return kept


def _split(spec: FilterSpec, kept: list[Pick]) -> list[Pick]:
    """Hold out whole sessions: round(val_fraction * kept), at least one and never all."""
    if not spec.val_fraction or len(kept) < 2:
        return kept
    size = min(max(round(spec.val_fraction * len(kept)), 1), len(kept) - 1)
    held = set(random.Random(f"{spec.seed}:val").sample(sorted(k.session_id for k in kept), size))
    return [attrs.evolve(k, part="val") if k.session_id in held else k for k in kept]
