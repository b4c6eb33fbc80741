"""Grading a trace DB: the driver reads, workers grade, the driver writes.

The driver streams sessions in batches. For each batch it works out what is still to grade
(results already final for a session, rubric version, criterion and judge model are kept),
renders the judge prompts and looks them up in the cache, and hands workers plain objects:
sessions with the code criteria to run, and judge requests to send. Workers (joblib: threads,
loky processes or Dask) return results; the driver writes each batch in one transaction, with
the rubric primaries mirrored into `session_traces.metadata.judge_scores`. Killing the run loses
at most the batches in flight; running it again picks up where it stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import random
import sqlite3
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from synthkit.errors import RunFailedMidway, SynthkitError
from synthkit.judging.llm import (
    JudgeAnswer,
    JudgeRequest,
    JudgeSettings,
    call_judges,
    first_calls_failing,
    load_litellm,
    wants_schema,
)
from synthkit.judging.render import judge_messages, render_trace, response_schema
from synthkit.providers import is_own_process, missing_key, own_process, priced
from synthkit.rubrics.api import CriterionSpec, Rubric
from synthkit.rubrics.grading import (
    criterion_gate,
    rubric_gate,
    rubric_instances,
    rubric_result,
    run_criterion,
    score_outcome,
)
from synthkit.rubrics.results import CriterionResult, Outcome
from synthkit.rubrics.trace import Trace
from synthkit.traces import codec
from synthkit.traces.model import Session
from synthkit.traces.scores import CODE, NO_JUDGE, PRIMARY, latest_overall, latest_versions
from synthkit.traces.store import Selection, TraceDBError, TraceStore, TraceWriter

__all__ = ["JudgeOptions", "RunSummary", "judge_traces", "run_judging"]

log = logging.getLogger("synthkit.judge")
NO_JUDGE_RUN = "no judge configured (judge=none)"
NO_KEY = "no API key: set "  # the reason of judge criteria skipped for a missing key (retried)


@attrs.frozen
class JudgeOptions:
    """Everything `synthkit judge` takes besides the DB and the rubrics."""

    settings: JudgeSettings | None  # None: no judge (code criteria only)
    batch_size: int | None = None  # None: `sessions_per_batch` works it out
    workers: int = 2
    backend: str = "threading"  # threading | loky | dask
    dask_address: str | None = None
    refresh: bool = False
    dry_run: bool = False
    strict: bool = False
    max_cost_usd: float | None = None
    max_trace_tokens: int = 6000
    selection: Selection = Selection()
    sample: int | None = None
    seed: int = 0
    limit: int | None = None
    config: dict[str, Any] = attrs.field(factory=dict)  # recorded in judge_runs (no secrets)

    def missing_key(self) -> str | None:
        """The variable the judge's key would come from, when it is not set; with `strict`, an
        error. A dry run calls nothing, so it needs no key: it prices what a real run would send."""
        settings = self.settings
        if settings is None or self.dry_run:
            return None
        missing = missing_key(settings.model, settings.api_base, settings.api_key_env, settings.placeholder_key)
        if missing and self.strict:
            raise SynthkitError(f"judge {settings.model} needs {missing}, which is not set (judge.strict=true)")
        return missing

    @property
    def sessions_per_batch(self) -> int:
        """`batch_size`, or enough sessions to keep every call slot busy to the end of a batch:
        in-process batches share one process's slots, so two of them need twice the concurrency;
        a worker process grades its batch alone, and its calls drain as the batch ends."""
        if self.batch_size is not None:
            return self.batch_size
        if self.max_cost_usd is not None:  # every batch in flight is held against the limit
            return 32
        concurrency = self.settings.concurrency if self.settings is not None else 0
        return max(32, (2 if self.backend == "threading" else 8) * concurrency)

    @property
    def model(self) -> str:
        """The judge's identity in results: the model, and the server when one is named."""
        if self.settings is None:
            return NO_JUDGE
        return f"{self.settings.model}@{self.settings.api_base}" if self.settings.api_base \
            else self.settings.model


@attrs.frozen
class RunSummary:
    run_id: str | None
    sessions: int = 0
    criteria: int = 0          # results written
    reused: int = 0            # results already final, kept
    calls: int = 0             # LLM requests sent (attempts included)
    cache_hits: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    unpriced: bool = False
    stopped: str | None = None  # why the run stopped before the end
    skipped_no_key: str | None = None
    seconds: float = 0.0
    estimated: bool = False     # a dry run: nothing was called or written

    def lines(self) -> list[str]:
        if self.estimated:
            return [f"dry run: {self.sessions} sessions, {self.criteria} criterion results to grade, "
                    f"{self.reused} already final",
                    f"judge calls needed: {self.calls} ({self.cache_hits} more answered by the cache)",
                    f"input tokens: {self.tokens_in:,}; output at most {self.tokens_out:,}",
                    f"estimated cost: at most ${self.cost_usd:.4f}"
                    + (" (the model has no price in litellm's bundled map: counted as 0)"
                       if self.unpriced else "")]
        out = [f"graded {self.sessions} sessions: {self.criteria} criterion results written, "
               f"{self.reused} already final", f"judge calls: {self.calls} sent, {self.cache_hits} "
               f"from the cache, {self.errors} errors",
               f"tokens: {self.tokens_in:,} in, {self.tokens_out:,} out; cost ${self.cost_usd:.4f}"
               + (" (the model has no price in litellm's bundled map: counted as 0)" if self.unpriced else ""),
               f"time: {self.seconds:.1f} s"]
        if self.skipped_no_key:
            out.append(f"judge criteria skipped: {self.skipped_no_key}")
        if self.stopped:
            out.append(f"stopped early: {self.stopped}")
        return out


# -- what a worker gets and gives back ---------------------------------------------------------

@attrs.frozen
class _Task:
    code: tuple[tuple[Session, Rubric, tuple[str, ...]], ...]
    requests: tuple[JudgeRequest, ...]
    settings: JudgeSettings | None
    loky: _LokyTask | None = None


@attrs.define
class _Plan:
    """What the driver keeps of a batch while its task runs, to write the results."""

    batch: list[Session]
    counted: bool  # False: sessions of this run seen before, not counted again
    existing: dict[tuple, dict[str, Any]]  # the batch's judge_scores rows before this run
    skipped: list[tuple[str, CriterionResult, str]]  # (session id, result, judge model): known without running
    cache_answers: list[JudgeAnswer]
    requests: dict[tuple[str, str], JudgeRequest]  # every judge request, cached or not, by key
    estimate: float = 0.0  # the task's cost, at most


@attrs.frozen
class _LokyTask:
    """What a task run by a loky worker, a process synthkit started on this machine, needs."""

    db_path: str     # where the worker journals its answers as they arrive
    model: str
    own: bool        # the driver is synthkit's own process (the command), so are its workers


@attrs.frozen
class _TaskResult:
    code: tuple[tuple[str, CriterionResult], ...]  # (session id, result)
    answers: tuple[JudgeAnswer, ...]


# Set by the driver for in-process workers (threading): answers go to its cache journal as they
# arrive. A loky worker process opens a journal of its own for each task; Dask workers, which may
# be on other machines, have none and rely on their batch's commit.
_answer_journal: Callable[[JudgeAnswer], None] | None = None


def _work(task: _Task) -> _TaskResult:
    code = []
    for session, rubric, names in task.code:
        trace = Trace(session)
        specs = {s.name: s for s in rubric.criteria()}
        code.extend((session.session_id, run_criterion(rubric, specs[n], trace)) for n in names)
    if not task.requests:
        return _TaskResult(tuple(code), ())
    if task.loky is not None and task.loky.own:
        own_process()
    with contextlib.ExitStack() as stack:
        journal = _answer_journal
        if journal is None and task.loky is not None:
            journal = stack.enter_context(_CacheJournal.opened(Path(task.loky.db_path), task.loky.model))
        answers = call_judges(task.requests, task.settings, journal)
    return _TaskResult(tuple(code), tuple(answers))


def _cache_row(answer: JudgeAnswer, model: str) -> dict[str, Any]:
    return {"cache_key": answer.cache_key, "raw_answer": answer.raw or "",
            "parsed": json.dumps({k: list(v) for k, v in answer.scores.items()}),
            "model": model, "created_at": _now()}


class _CacheJournal:
    """Writes judge answers into `judge_cache` as soon as they arrive (on a thread of its own,
    with a connection of its own, all answers waiting at that moment in one transaction), so a
    run killed mid-batch does not pay for those answers again: the next run finds them in the
    cache."""

    def __init__(self, db_path: Path, model: str) -> None:
        self.model = model
        self.queue: queue.Queue[JudgeAnswer | None] = queue.Queue()
        self.writer = TraceWriter.open(db_path)
        self.thread = threading.Thread(target=self._drain, name="synthkit-cache-journal", daemon=True)
        self.thread.start()

    @classmethod
    @contextlib.contextmanager
    def opened(cls, db_path: Path, model: str) -> Iterator[_CacheJournal | None]:
        """A journal for the duration of the block, or None when the DB cannot be opened for it
        (best effort: each batch's own commit still writes its answers)."""
        try:
            journal = cls(db_path, model)
        except TraceDBError as exc:
            log.warning("judge answers are saved only when their batch is done (%s)", exc)
            yield None
            return
        try:
            yield journal
        finally:
            journal.close()

    def __call__(self, answer: JudgeAnswer) -> None:
        self.queue.put(answer)

    def _drain(self) -> None:
        failed = False
        done = False
        while not done:
            waiting = [self.queue.get()]
            while not self.queue.empty():
                waiting.append(self.queue.get_nowait())
            done = None in waiting  # answers that come after `close` (a Ctrl-C) are not waited for
            answers = waiting[:waiting.index(None)] if done else waiting
            if failed or not answers:
                continue  # best effort: each batch's own commit still writes its answers
            try:
                with self.writer.transaction():
                    self.writer.db["judge_cache"].upsert_all(
                        [_cache_row(a, self.model) for a in answers], pk="cache_key")
            except (TraceDBError, sqlite3.Error) as exc:
                failed = True
                log.warning("judge answers are no longer saved as they arrive (%s); "
                            "each batch still saves its own when it is done", exc)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.writer.close()


# -- the driver --------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat()


def cache_key(rubric: Rubric, messages: Sequence[dict[str, str]], settings: JudgeSettings,
              schema: bool) -> str:
    payload = {"rubric": rubric.id, "version": rubric.version, "messages": list(messages),
               "model": settings.model, "api_base": settings.api_base, "decoding": settings.decoding(),
               "schema": schema}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def judge_request(rubric: Rubric, specs: Sequence[CriterionSpec], trace: Trace, settings: JudgeSettings,
                  *, max_trace_tokens: int, use_schema: bool) -> JudgeRequest:
    """The one call that grades `specs` (judge criteria of `rubric`) on `trace`."""
    rendered = render_trace(trace, max_trace_tokens)
    messages = judge_messages(rubric, specs, rendered, system_prompt=settings.system_prompt)
    return JudgeRequest(key=(trace.session_id, rubric.id), criteria=tuple(s.name for s in specs),
                        messages=tuple(messages), schema=response_schema(specs) if use_schema else None,
                        cache_key=cache_key(rubric, messages, settings, use_schema))


def answer_results(rubric: Rubric, request: JudgeRequest, answer: JudgeAnswer) -> list[CriterionResult]:
    """A judge's answer as criterion results: scores where it gave them, errors where not."""
    specs = {s.name: s for s in rubric.criteria()}
    results = []
    for name in request.criteria:
        spec = specs[name]
        if answer.scores is None:
            results.append(spec.result(rubric, Outcome.ERROR, reason=answer.error))
        else:
            score, reasoning = answer.scores[name]
            results.append(spec.result(rubric, score_outcome(score, rubric.threshold_for(spec)),
                                       score=score, reason=reasoning))
    return results


def _final(row: dict[str, Any]) -> bool:
    return row["outcome"] in ("passed", "failed") or (row["outcome"] == "skipped" and row["error"] is None)


def _row_result(row: dict[str, Any], rubric: Rubric, spec: CriterionSpec) -> CriterionResult:
    return spec.result(rubric, Outcome(row["outcome"]), score=row["score"],
                       reason=row["error"] or row["reasoning"])


class _Driver:
    def __init__(self, db_path: Path, rubrics: Sequence[Rubric], options: JudgeOptions,
                 progress: Callable[[str], None]) -> None:
        self.db_path = db_path
        self.rubrics = list(rubrics)
        self.options = options
        self.progress = progress
        self.settings = options.settings
        self.no_key = options.missing_key()
        if self.no_key:
            log.warning("judge %s needs %s, which is not set: judge criteria end skipped "
                        "(judge.strict=true makes this an error)", self.settings.model, self.no_key)
        self.use_schema = self.settings is not None and wants_schema(self.settings)
        self.totals: dict[str, Any] = defaultdict(int)
        self.totals["cost_usd"] = 0.0
        self.stopped: str | None = None
        self.first_error: str | None = None
        self.in_flight_cost = 0.0
        self.lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------

    def session_batches(self, store: TraceStore) -> Iterator[list[Session]]:
        options = self.options
        selection = options.selection
        if options.sample is not None:
            ids = sorted(row[0] for row in store.db.execute(
                f"SELECT session_id FROM session_traces{selection.where()[0]}", selection.where()[1]))
            chosen = sorted(random.Random(options.seed).sample(ids, min(options.sample, len(ids))))
            chunks = [chosen[i:i + 500] for i in range(0, len(chosen), 500)]
            sessions: Iterator[Session] = (s for chunk in chunks
                                           for s in store.sessions(Selection(session_ids=chunk)))
        else:
            sessions = store.sessions(selection)
        batch: list[Session] = []
        for count, session in enumerate(sessions):
            if options.limit is not None and count >= options.limit:
                break
            batch.append(session)
            if len(batch) >= options.sessions_per_batch:
                yield batch
                batch = []
        if batch:
            yield batch

    def count_selected(self, store: TraceStore) -> int:
        total = store.count_sessions(self.options.selection)
        for cap in (self.options.sample, self.options.limit):
            if cap is not None:
                total = min(total, cap)
        return total

    def existing(self, store: TraceStore, session_ids: list[str]) -> dict[tuple, dict[str, Any]]:
        if not store.table_exists("judge_scores") or self.options.refresh:
            return {}
        models = [CODE, self.options.model]
        marks = ", ".join("?" * len(session_ids))
        rows = store.db.query(
            f"SELECT * FROM judge_scores WHERE session_id IN ({marks}) AND judge_model IN "
            f"({', '.join('?' * len(models))})", [*session_ids, *models])
        return {(r["session_id"], r["rubric_id"], r["rubric_version"], r["criterion"], r["judge_model"]): r
                for r in rows}

    def cached(self, store: TraceStore, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys or self.options.refresh or not store.table_exists("judge_cache"):
            return {}
        marks = ", ".join("?" * len(keys))
        return {r["cache_key"]: r for r in store.db.query(
            f"SELECT * FROM judge_cache WHERE cache_key IN ({marks})", keys)}

    # -- planning one batch ----------------------------------------------------------------

    def plan(self, store: TraceStore, batch: list[Session], counted: bool = True) -> tuple[_Task, _Plan]:
        existing = self.existing(store, [s.session_id for s in batch])
        code, requests, skipped = [], [], []
        for session in batch:
            trace = Trace(session)
            for rubric in self.rubrics:
                gate = rubric_gate(rubric, trace)
                todo_code, todo_judge = [], []
                for spec in rubric.criteria():
                    model = CODE if spec.kind == "code" else self.options.model
                    row = existing.get((session.session_id, rubric.id, rubric.version, spec.name, model))
                    if row is not None and _final(row):
                        self.totals["reused"] += counted
                        continue
                    if row is not None and not counted and row["run_id"] == self.run_id:
                        continue  # sent again: this run's errors are recorded, a re-run retries them
                    if gate is not None:
                        skipped.append((session.session_id, spec.result(rubric, gate[0], reason=gate[1]), model))
                    elif spec.kind == "code":
                        todo_code.append(spec.name)
                    else:
                        todo_judge.append(spec)
                if todo_code:
                    code.append((session, rubric, tuple(todo_code)))
                if todo_judge and (request := self._request(rubric, todo_judge, trace, skipped)) is not None:
                    requests.append(request)
        hits = self.cached(store, [r.cache_key for r in requests])
        answers = []
        for request in requests:
            row = hits.get(request.cache_key)
            if row is not None:
                parsed = json.loads(row["parsed"])
                answers.append(JudgeAnswer(key=request.key, cache_key=request.cache_key, raw=row["raw_answer"],
                                           scores={k: (v[0], v[1]) for k, v in parsed.items()}, calls=0))
        pending = [r for r in requests if r.cache_key not in hits]
        loky = _LokyTask(str(self.db_path.resolve()), self.options.model, is_own_process()) \
            if self.options.backend == "loky" else None
        task = _Task(code=tuple(code), requests=tuple(pending), settings=self.settings, loky=loky)
        return task, _Plan(batch, counted, existing, skipped, answers, {r.key: r for r in requests})

    def _request(self, rubric: Rubric, specs: list[CriterionSpec], trace: Trace,
                 skipped: list[tuple[str, CriterionResult, str]]) -> JudgeRequest | None:
        """The call grading the judge criteria `specs` on `trace`; those it cannot grade go to
        `skipped`, with why."""
        if self.settings is None:
            skipped += [(trace.session_id, spec.result(rubric, Outcome.SKIPPED, reason=NO_JUDGE_RUN), NO_JUDGE)
                        for spec in specs]
            return None
        if self.no_key:
            skipped += [(trace.session_id, spec.result(rubric, Outcome.SKIPPED, reason=f"{NO_KEY}{self.no_key}"),
                         self.options.model) for spec in specs]
            return None
        live = []
        for spec in specs:
            gate = criterion_gate(rubric, spec, trace)
            if gate is None:
                live.append(spec)
            else:
                skipped.append((trace.session_id, spec.result(rubric, gate[0], reason=gate[1]), self.options.model))
        return judge_request(rubric, live, trace, self.settings, max_trace_tokens=self.options.max_trace_tokens,
                             use_schema=self.use_schema) if live else None

    # -- writing one batch -----------------------------------------------------------------

    def _row(self, session_id: str, rubric: Rubric, result: CriterionResult, model: str,
             extra: dict[str, Any]) -> dict[str, Any]:
        error = result.reason if result.outcome is Outcome.ERROR or (
            result.outcome is Outcome.SKIPPED and str(result.reason).startswith(NO_KEY)) else None
        reasoning = None if error else result.reason
        return {"session_id": session_id, "run_id": self.run_id, "rubric_id": rubric.id,
                "rubric_version": rubric.version, "criterion": result.criterion, "kind": result.kind,
                "judge_model": model, "score": result.score, "outcome": result.outcome.value,
                "reasoning": reasoning, "error": error, "created_at": _now(), **extra}

    def write(self, writer: TraceWriter, plan: _Plan, result: _TaskResult) -> None:
        by_id = {r.id: r for r in self.rubrics}
        rows: list[dict[str, Any]] = []
        new: dict[tuple[str, str, str], CriterionResult] = {}
        for session_id, criterion_result, model in plan.skipped:
            rubric = by_id[criterion_result.rubric_id]
            rows.append(self._row(session_id, rubric, criterion_result, model, {}))
            new[(session_id, rubric.id, criterion_result.criterion)] = criterion_result
        for session_id, criterion_result in result.code:
            rubric = by_id[criterion_result.rubric_id]
            rows.append(self._row(session_id, rubric, criterion_result, CODE, {}))
            new[(session_id, rubric.id, criterion_result.criterion)] = criterion_result
        cache_rows = []
        answers = [(answer, True) for answer in plan.cache_answers] + [(answer, False) for answer in result.answers]
        for answer, from_cache in answers:
            if not answer.sent:
                continue
            session_id, rubric_id = answer.key
            rubric = by_id[rubric_id]
            request = plan.requests[answer.key]
            share = len(request.criteria)
            self.totals["calls"] += answer.calls
            self.totals["cache_hits"] += from_cache
            self.totals["tokens_in"] += answer.tokens_in
            self.totals["tokens_out"] += answer.tokens_out
            self.totals["cost_usd"] += answer.cost_usd
            self.totals["unpriced"] |= not answer.priced
            if answer.scores is not None and not from_cache:
                cache_rows.append(_cache_row(answer, self.options.model))
            for index, criterion_result in enumerate(answer_results(rubric, request, answer)):
                name = criterion_result.criterion
                extra = {"tokens_in": answer.tokens_in // share + (answer.tokens_in % share if index == 0 else 0),
                         "tokens_out": answer.tokens_out // share + (answer.tokens_out % share if index == 0 else 0),
                         "cost_usd": answer.cost_usd / share, "latency_ms": answer.latency_ms,
                         "cache_key": answer.cache_key,
                         "raw_answer": answer.raw if answer.scores is None else None}
                rows.append(self._row(session_id, rubric, criterion_result, self.options.model, extra))
                new[(session_id, rubric.id, name)] = criterion_result
        errors = sum(1 for r in rows if r["outcome"] == "error")
        with writer.transaction():
            if rows:
                writer.db["judge_scores"].upsert_all(
                    rows, pk=("session_id", "rubric_id", "rubric_version", "criterion", "judge_model"))
            if cache_rows:
                writer.db["judge_cache"].upsert_all(cache_rows, pk="cache_key")
            for session in plan.batch:
                self._mirror(writer, session.session_id, plan.existing, new)
            self.totals["criteria"] += len(rows)
            self.totals["errors"] += errors
            self.totals["sessions"] += len(plan.batch) if plan.counted else 0
            writer.db.execute(
                "UPDATE judge_runs SET calls = ?, tokens_in = ?, tokens_out = ?, cost_usd = ?, errors = ? "
                "WHERE run_id = ?", [self.totals["calls"], self.totals["tokens_in"], self.totals["tokens_out"],
                                     self.totals["cost_usd"], self.totals["errors"], self.run_id])

    def _mirror(self, writer: TraceWriter, session_id: str, existing: dict[tuple, dict[str, Any]],
                new: dict[tuple[str, str, str], CriterionResult]) -> None:
        """Keep `rubric_scores` in step and merge the primaries into `metadata.judge_scores`.

        A rubric gets a primary only when every criterion has a result from this judge: one
        made without some of them would be a number standing in for a judgment never made.
        A rubric whose judge criteria were not graded (no judge, no key) is recorded as such,
        so the overall `primary` is missing rather than made of the other rubrics alone; it is
        mirrored only when every rubric of the run has its primary."""
        rows: list[dict[str, Any]] = []
        scores: dict[str, float | None] = {}
        for rubric in self.rubrics:
            criteria, not_graded = [], None
            for spec in rubric.criteria():
                found = new.get((session_id, rubric.id, spec.name))
                model = CODE if spec.kind == "code" else self.options.model
                if found is None and model is not None:
                    row = existing.get((session_id, rubric.id, rubric.version, spec.name, model))
                    found = _row_result(row, rubric, spec) if row is not None else None
                if found is None:
                    break  # not sent (the run stopped): leave this rubric as it was
                if (found.outcome is Outcome.SKIPPED and found.reason == NO_JUDGE_RUN) \
                        or str(found.reason).startswith(NO_KEY):
                    not_graded = f"not graded: {found.reason}"
                criteria.append(found)
            else:
                judged = any(spec.kind == "judge" for spec in rubric.criteria())
                result = None if not_graded else rubric_result(rubric, criteria)
                rows.append({"session_id": session_id, "rubric_id": rubric.id,
                             "rubric_version": rubric.version,
                             "judge_model": self.options.model if judged else CODE,
                             "weight": rubric.weight, "score": result and result.primary,
                             "error": not_graded or result.error, "run_id": self.run_id,
                             "created_at": _now()})
                if result is not None:
                    scores[rubric.id] = result.primary
        if not rows:
            return
        writer.db["rubric_scores"].upsert_all(
            rows, pk=("session_id", "rubric_id", "rubric_version", "judge_model"))
        if len(scores) == len(self.rubrics):
            graded = writer.db.execute(
                "SELECT rubric_id, rubric_version, weight, score, error FROM rubric_scores "
                "WHERE session_id = ? AND judge_model IN (?, ?)", [session_id, CODE, self.options.model])
            scores[PRIMARY] = latest_overall(graded, self.versions)
        if not scores:
            return
        row = writer.db.execute("SELECT metadata FROM session_traces WHERE session_id = ?",
                                [session_id]).fetchone()
        metadata = codec.loads(row[0], {}) if row else {}
        if not isinstance(metadata, dict):
            metadata = {}
        judge_scores = metadata.get("judge_scores") if isinstance(metadata.get("judge_scores"), dict) else {}
        metadata["judge_scores"] = {**judge_scores, **scores}
        writer.db.execute("UPDATE session_traces SET metadata = ? WHERE session_id = ?",
                          [codec.dumps(metadata), session_id])

    # -- the run ---------------------------------------------------------------------------

    def past_first_calls(self) -> bool:
        done = self.totals["answered"] + self.totals["failed_calls"]
        return done > 4 * self.settings.abort_after or self.totals["answered"] > 0

    def estimate_cost(self, task: _Task) -> float:
        """An upper bound of what a task's calls cost: counted input and max_tokens of output, for
        the call and a possible repair."""
        if self.options.max_cost_usd is None or not task.requests or not priced(self.settings.model):
            return 0.0  # an unpriced model has nothing to hold against the limit
        most = self.settings.max_tokens
        # at most two completions: the call and its repair (the prompt again, plus an answer)
        return sum(self._price(2 * self._prompt_tokens(request) + most, 2 * most) for request in task.requests)

    def _prompt_tokens(self, request: JudgeRequest) -> int:
        return load_litellm().token_counter(model=self.settings.model, messages=list(request.messages))

    def _price(self, prompt_tokens: int, completion_tokens: int) -> float:
        cost_in, cost_out = load_litellm().cost_per_token(
            model=self.settings.model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return cost_in + cost_out

    def should_stop(self, estimate: float) -> str | None:
        """Whether dispatching a task estimated at `estimate` could take the spend past the limit,
        counting what batches in flight may still spend."""
        limit = self.options.max_cost_usd
        if limit is None or estimate == 0:
            return None
        if self.totals["cost_usd"] + self.in_flight_cost + estimate > limit:
            alone = "; that batch alone passes it: raise judge.max_cost_usd or lower judge.batch_size" \
                if estimate > limit else ""
            return (f"the spend would pass judge.max_cost_usd=${limit:g} "
                    f"(spent ${self.totals['cost_usd']:.4f}, next batch up to ${estimate:.4f}){alone}")
        return None

    def dry_run(self) -> RunSummary:
        """Plan every batch and price its calls; call nothing, write nothing."""
        self.run_id = None
        self.totals["unpriced"] = self.settings is not None and not priced(self.settings.model)
        with TraceStore.open(self.db_path) as store:
            for batch in self.session_batches(store):
                task, plan = self.plan(store, batch)
                self.totals["sessions"] += len(batch)
                self.totals["cache_hits"] += len(plan.cache_answers)
                self.totals["criteria"] += len(plan.skipped) + sum(len(names) for _, _, names in task.code) \
                    + sum(len(r.criteria) for r in plan.requests.values())
                for request in task.requests:
                    tokens = self._prompt_tokens(request)
                    self.totals["calls"] += 1
                    self.totals["tokens_in"] += tokens
                    self.totals["tokens_out"] += self.settings.max_tokens
                    if not self.totals["unpriced"]:
                        self.totals["cost_usd"] += self._price(tokens, self.settings.max_tokens)
        return attrs.evolve(self.summary(0.0), estimated=True)

    def run(self) -> RunSummary:
        if self.options.dry_run:
            return self.dry_run()
        self.run_id = uuid.uuid4().hex
        options = self.options
        self.started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            if options.backend == "dask":  # reach the cluster before touching the DB
                import joblib

                from synthkit.judging.dask_backend import dask_client

                stack.enter_context(dask_client(options.dask_address))
                stack.enter_context(joblib.parallel_config(backend="dask"))
            if options.backend == "threading" and self.settings is not None:
                stack.enter_context(self._journal())
            return self._run()

    @contextlib.contextmanager
    def _journal(self) -> Iterator[None]:
        global _answer_journal
        journal = _CacheJournal(self.db_path, self.options.model)
        _answer_journal = journal
        try:
            yield
        finally:
            _answer_journal = None
            journal.close()

    def _run(self) -> RunSummary:
        options = self.options
        # The writer first: it puts the DB in WAL mode, so the reader sees its commits safely.
        with TraceWriter.open(self.db_path) as writer, TraceStore.open(self.db_path) as store:
            self.total_sessions = self.count_selected(store)
            self.versions = {**latest_versions(store.conn), **{r.id: r.version for r in self.rubrics}}
            writer.db["judge_runs"].insert({
                "run_id": self.run_id, "started_at": _now(), "status": "running",
                "config": json.dumps(options.config, default=str), "judge_model": options.model,
                "rubrics": json.dumps({r.id: r.version for r in self.rubrics})})
            status = "failed"
            try:
                self._loop(store, writer)
                status = "interrupted" if self.stopped else "completed"
            except KeyboardInterrupt:
                status = "interrupted"
                raise
            except SynthkitError as exc:  # a session that cannot be read, say
                raise RunFailedMidway(f"{exc} (judge run {self.run_id} is recorded as failed; what it "
                                      "graded before is kept)") from None
            finally:
                writer.db["judge_runs"].update(self.run_id, {"status": status, "finished_at": _now()})
        return self.summary(time.perf_counter() - self.started)

    def _loop(self, store: TraceStore, writer: TraceWriter) -> None:
        again = self._round(store, writer, self.session_batches(store), retry=False)
        if again and not self.stopped:
            # batches that stopped their own calls early while the run went on: their sessions
            # once more, now past the first calls, so every call is sent and every failure recorded
            size = self.options.sessions_per_batch
            self._round(store, writer, [again[i:i + size] for i in range(0, len(again), size)], retry=True)

    def _round(self, store: TraceStore, writer: TraceWriter, batches: Iterable[list[Session]],
               retry: bool) -> list[Session]:
        """Grade `batches` (`retry`: sessions of this run seen before, not counted again); returns
        the sessions of batches that gave up calls without the run stopping."""
        plans: dict[int, _Plan] = {}
        again: list[Session] = []

        def tasks() -> Iterator[tuple[int, _Task]]:
            for number, batch in enumerate(batches):
                if self.stopped:
                    return
                task, plan = self.plan(store, batch, counted=not retry)
                if self.settings is not None and self.past_first_calls():
                    # only the first calls of a run may stop it; later failures are just errors
                    task = attrs.evolve(task, settings=attrs.evolve(task.settings, abort_after=0))
                plan.estimate = self.estimate_cost(task)
                reason = self.should_stop(plan.estimate)
                if reason:
                    self.stopped = reason
                    return
                with self.lock:  # joblib may consume this generator on a thread of its own
                    self.in_flight_cost += plan.estimate
                    plans[number] = plan
                yield number, task

        for number, result in self._parallel(tasks()):
            with self.lock:
                plan = plans.pop(number)
                self.in_flight_cost -= plan.estimate
            self.write(writer, plan, result)
            sent = [a for a in result.answers if a.sent]
            self.totals["answered"] += sum(a.scores is not None for a in sent)
            failed = [a for a in sent if a.scores is None]
            self.totals["failed_calls"] += len(failed)
            self.first_error = self.first_error or next((a.error for a in failed), None)
            gave_up = len(sent) < len(result.answers)  # the batch's calls stopped themselves
            done = self.totals["answered"] + self.totals["failed_calls"]
            if not self.stopped and self.settings is not None and (
                    (gave_up and done <= 4 * self.settings.abort_after)
                    or first_calls_failing(done, self.totals["failed_calls"], self.settings.abort_after)):
                self.stopped = (f"most of the first judge calls failed ({self.totals['failed_calls']} of "
                                f"{done}: {self.first_error})")
            elif gave_up and not self.stopped:
                again.extend(plan.batch)
            self.progress(self.status_line())
        return again

    def _parallel(self, tasks: Iterator[tuple[int, _Task]]) -> Iterator[tuple[int, _TaskResult]]:
        import joblib

        def numbered(item: tuple[int, _Task]) -> tuple[int, _TaskResult]:
            return item[0], _work(item[1])

        backend = self.options.backend
        if backend in ("loky", "dask"):
            _pickle_rubrics_by_value(self.rubrics)
        if backend == "dask":  # run() has connected to the cluster and set joblib's backend
            yield from joblib.Parallel(return_as="generator_unordered")(
                joblib.delayed(numbered)(item) for item in tasks)
            return
        # A batch planned ahead keeps a worker from waiting for the next; under a cost limit it
        # would be one more batch held against the limit.
        ahead = "n_jobs" if self.options.max_cost_usd is not None else "2*n_jobs"
        yield from joblib.Parallel(n_jobs=self.options.workers, backend=backend,
                                   return_as="generator_unordered", pre_dispatch=ahead)(
            joblib.delayed(numbered)(item) for item in tasks)

    def status_line(self) -> str:
        t = self.totals
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        rate = t["calls"] / elapsed
        left = self.total_sessions - t["sessions"]
        eta = f", ETA {left * elapsed / t['sessions']:.0f} s" if t["sessions"] and left > 0 else ""
        return (f"{t['sessions']}/{self.total_sessions} sessions, {t['criteria']} results, "
                f"{t['calls']} calls ({t['cache_hits']} cached, {rate:.1f}/s), {t['errors']} errors, "
                f"${t['cost_usd']:.4f}{eta}")

    def summary(self, seconds: float) -> RunSummary:
        t = self.totals
        return RunSummary(run_id=self.run_id, sessions=t["sessions"], criteria=t["criteria"],
                          reused=t["reused"], calls=t["calls"], cache_hits=t["cache_hits"],
                          errors=t["errors"], tokens_in=t["tokens_in"], tokens_out=t["tokens_out"],
                          cost_usd=t["cost_usd"], unpriced=bool(t["unpriced"]), stopped=self.stopped,
                          skipped_no_key=f"{NO_KEY}{self.no_key}" if self.no_key else None,
                          seconds=seconds)


def _pickle_rubrics_by_value(rubrics: Sequence[Rubric]) -> None:
    """Rubric modules are imported from files, not installed: ship them to worker processes
    (loky's and Dask's, both pickling with cloudpickle) by value."""
    import cloudpickle

    for module_name in {type(r).__module__ for r in rubrics}:
        module = sys.modules.get(module_name)
        if module is not None and module_name.startswith("synthkit_rubrics_"):
            cloudpickle.register_pickle_by_value(module)


def run_judging(db_path: str | Path, rubrics: Sequence[Rubric], options: JudgeOptions, *,
                progress: Callable[[str], None] = lambda line: None) -> RunSummary:
    """Grade the selected sessions of a trace DB: what `synthkit judge` runs."""
    return _Driver(Path(db_path), rubrics, options, progress).run()


def judge_traces(db_path: str | Path, rubrics: Iterable[Rubric | type[Rubric]],
                 judge: JudgeSettings | str | None = None, *,
                 progress: Callable[[str], None] = lambda line: None, **options: Any) -> RunSummary:
    """Grade a trace DB from Python (a notebook, an eval loop): `judge` is a litellm model name,
    `JudgeSettings`, or None for code criteria only; `options` are `JudgeOptions` fields
    (`selection`, `sample`, `limit`, `refresh`, `max_cost_usd`, ...).

    >>> judge_traces("traces.db", [RubricCrafterOutcome], "gpt-4o-mini", sample=50)
    """
    settings = JudgeSettings(model=judge) if isinstance(judge, str) else judge
    judge_options = JudgeOptions(settings=settings, **options)
    with TraceStore.open(db_path) as store:
        store.check_selection(judge_options.selection, {part: f"selection.{part}"
                                                        for part in ("splits", "task_ids", "models")})
    return run_judging(db_path, rubric_instances(rubrics), judge_options, progress=progress)
