"""`synthkit eval`: play one episode per seed, record each into the trace DB, grade as they finish."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from omegaconf import DictConfig

from synthkit import checks
from synthkit.cli import rubric_options
from synthkit.cli.judge import options_from
from synthkit.cli.progress import Progress
from synthkit.collect.config import (
    identity,
    plain_config,
    policy_from_config,
    task_from_config,
)
from synthkit.collect.rollout import Episode, RemoteTask, run_episodes
from synthkit.collect.seeds import parse_seeds
from synthkit.errors import RunFinishedWithErrors
from synthkit.judging.runner import JudgeOptions, RunSummary, run_judging
from synthkit.rubrics.api import Rubric
from synthkit.traces.model import Session, SessionStatus
from synthkit.traces.store import Selection, TraceWriter

log = logging.getLogger("synthkit.eval")
EVAL_KEYS = {"seeds", "split", "max_steps", "concurrency", "rerun"}


class _InlineJudge:
    """Grades finished episodes a batch at a time (`judge.batch_size`, or its default) through
    the judge runner: the same cache, tables and rules as `synthkit judge`. Failed episodes are
    not graded (the filter leaves them out anyway)."""

    def __init__(self, cfg: DictConfig, db_path: Path, rubrics: tuple[Rubric, ...]) -> None:
        self.db_path, self.rubrics = db_path, rubrics
        self.options: JudgeOptions = options_from(cfg)
        self.waiting: list[str] = []
        self.runs: list[RunSummary] = []
        # without a key no call is made: one run at the end grades the code criteria, one warning
        self.only_at_end = bool(self.options.missing_key())

    def add(self, session: Session) -> None:
        if session.status is SessionStatus.FAILED:
            return
        self.waiting.append(session.session_id)
        if not self.only_at_end and len(self.waiting) >= self.options.sessions_per_batch:
            self.flush()

    def pause(self) -> None:
        """After a Ctrl-C: what is still stored is only queued, never graded now."""
        self.only_at_end = True

    def flush(self) -> None:
        if not self.waiting:
            return
        selection = Selection(session_ids=tuple(self.waiting))
        self.waiting = []
        self.runs.append(run_judging(self.db_path, self.rubrics, attrs.evolve(
            self.options, selection=selection, sample=None, limit=None)))

    def totals(self) -> dict[str, Any]:
        return {"judged_sessions": sum(r.sessions for r in self.runs), "results": sum(r.criteria for r in self.runs),
                "judge_calls": sum(r.calls for r in self.runs), "judge_errors": sum(r.errors for r in self.runs),
                "judge_cost_usd": sum(r.cost_usd for r in self.runs),
                "skipped_no_key": next((r.skipped_no_key for r in self.runs if r.skipped_no_key), None),
                "judge_stopped": next((r.stopped for r in self.runs if r.stopped), None),
                "rubric_versions": {r.id: r.version for r in self.rubrics}, "judge_models": [self.options.model]}


def _episodes(cfg: DictConfig, plan: Plan, writer: TraceWriter) -> tuple[list[Episode], int]:
    task, policy = plan.task, plan.policy
    digest = identity(cfg.task, cfg.policy, plan.max_steps)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    metadata = {"task_id": task.task_id, "task_split": plan.split, "env_name": task.env_name,
                "policy_name": policy.name, "model": policy.model,
                "eval": {"identity": digest, "config": plain_config(cfg)}}
    episodes, skipped = [], 0
    for seed in plan.seeds:
        session_id = f"eval-{task.task_id}-{plan.split}-seed{seed}-{digest}"
        recorded = writer.statuses(session_id)
        if recorded:
            if not plan.rerun and any(status != SessionStatus.FAILED.value for status in recorded):
                skipped += 1
                continue
            session_id = f"{session_id}-{stamp}"  # a rerun, or another try of a seed that only failed
        episodes.append(Episode(seed, session_id, {**metadata, "seed": seed}))
    return episodes, skipped


@attrs.frozen
class Plan:
    """What `eval.*`, `task.*` and `policy.*` say, checked, with the task app (if any) reached:
    every problem with them shows before the first episode."""

    seeds: list[int]
    split: str
    max_steps: int
    concurrency: int
    rerun: bool
    task: Any
    policy: Any
    rubrics: tuple[Rubric, ...]


def prepare(cfg: DictConfig) -> Plan:
    e = cfg.eval
    checks.only(e, EVAL_KEYS)
    seeds = parse_seeds(e.seeds)
    task, policy = task_from_config(cfg.task), policy_from_config(cfg.policy)
    if isinstance(task, RemoteTask):
        policy = task.bind(policy)
    policy.check()
    return Plan(seeds=seeds, split=checks.nonempty(e, "split"), max_steps=checks.number(e, "max_steps", integer=True),
                concurrency=checks.number(e, "concurrency", integer=True), rerun=checks.flag(e, "rerun"),
                task=task, policy=policy, rubrics=rubric_options.for_task(cfg, task))


def evaluate(cfg: DictConfig, db_path: Path, plan: Plan | None = None, *, inline_judge: bool = True) -> dict[str, Any]:
    """Play, record and (with `inline_judge`) grade what `cfg` says; the command's result (what
    the manifest keeps)."""
    plan = plan or prepare(cfg)
    task, policy = plan.task, plan.policy
    judge = _InlineJudge(cfg, db_path, plan.rubrics) if inline_judge else None
    created = not db_path.exists()
    with TraceWriter.open(db_path, create=True) as writer:
        if created:
            log.info("created trace DB %s", db_path)
        episodes, skipped = _episodes(cfg, plan, writer)
        if skipped:
            log.info("skipped %d seeds already recorded in %s (eval.rerun=true plays them again)", skipped, db_path)
        progress = Progress(log, every=max(1, len(episodes) // 10))
        failures: list[str] = []

        def write(session: Session) -> None:
            if writer.has_session(session.session_id):
                return  # handed over again after a Ctrl-C that came just after it was stored
            session = _store(writer, session)
            if session.status is SessionStatus.FAILED:
                failures.append(f"seed {session.metadata['seed']}: {session.metadata.get('error')}")
                log.warning("seed %s failed: %s", session.metadata["seed"], session.metadata.get("error"))
            if judge is not None:
                judge.add(session)

        try:
            summary = run_episodes(task, policy, episodes, max_steps=plan.max_steps, concurrency=plan.concurrency,
                                   write=write, progress=lambda s: progress(s.line(len(episodes))),
                                   interrupted=judge.pause if judge is not None else lambda: None)
        except KeyboardInterrupt:
            progress.end()
            if judge is not None and judge.waiting:
                log.warning("%d recorded episodes are not graded yet: synthkit judge db.path=%s grades them",
                            len(judge.waiting), db_path)
            raise
        progress.end()
        if judge is not None:
            judge.flush()
    result = {"db": str(db_path), "created_db": created, "task": task.task_id, "policy": policy.name,
              "model": policy.model, "seeds": len(plan.seeds), "skipped_existing": skipped,
              "episodes": summary.episodes, "failed": summary.failed, "mean_reward": summary.mean_reward,
              **(judge.totals() if judge is not None else {})}
    for line in _summary_lines(result):
        log.info(line)
    if failures:
        raise RunFinishedWithErrors(f"{len(failures)} of {summary.episodes} episodes failed (stored as failed "
                                    "sessions with their errors)", result)
    return result


def _store(writer: TraceWriter, session: Session) -> Session:
    """Write the episode; one whose record cannot be stored (a task app's trace that breaks the
    DB's rules, say) is stored as a failed session with its metadata and the reason."""
    try:
        writer.write_session(session)
        return session
    except (sqlite3.IntegrityError, ValueError, TypeError, OverflowError) as exc:
        failed = attrs.evolve(session, timesteps=(), events=(), messages=(), outcome_rewards=(), metadata={
            **session.metadata, "status": SessionStatus.FAILED.value,
            "error": f"the recorded episode cannot be stored: {type(exc).__name__}: {exc}"})
        writer.write_session(failed)
        return failed


def _summary_lines(result: dict[str, Any]) -> list[str]:
    mean = "-" if result["mean_reward"] is None else f"{result['mean_reward']:.4g}"
    lines = [f"episodes: {result['episodes']} played ({result['failed']} failed), "
             f"{result['skipped_existing']} skipped as already recorded; mean reward {mean}"]
    if "judged_sessions" not in result:
        return lines
    lines.append(f"graded: {result['judged_sessions']} sessions, {result['results']} results, "
                 f"{result['judge_calls']} judge calls, {result['judge_errors']} errors")
    if result["skipped_no_key"]:
        lines.append(f"judge criteria skipped ({result['skipped_no_key']} to grade them)")
    return lines


def run(cfg: DictConfig) -> dict[str, Any]:
    return evaluate(cfg, Path(checks.text(cfg.db, "path")))
