"""Playing episodes: one per seed, several at once on threads, each handed back as a Session.

Episodes never touch the DB; `run_episodes` hands every finished one to `write` on the
calling thread (the driver) as it completes. An episode that raises comes back as a failed
session holding what it had recorded and its error, and the run goes on. Ctrl-C stops the
episodes in flight at their next turn; every episode that finished is still written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol, runtime_checkable

import attrs

from synthkit.collect.episode import EpisodeRecorder
from synthkit.collect.task import Environment
from synthkit.traces.model import Message, Session, SessionStatus

__all__ = ["Episode", "RemoteTask", "RolloutSummary", "play", "run_episodes"]


class Task(Protocol):
    task_id: str
    env_name: str

    def environment(self, seed: int, max_steps: int) -> Environment: ...


@runtime_checkable
class RemoteTask(Protocol):
    """A task that plays whole episodes itself (a task app) and records what it reports."""

    task_id: str
    env_name: str | None

    def play(self, seed: int, policy: Any, recorder: EpisodeRecorder) -> None: ...


class Policy(Protocol):
    name: str

    def check(self) -> None: ...

    def episode(self, seed: int) -> Callable[..., Any]: ...


class _Stopped(Exception):
    """The run was interrupted: this episode is dropped, not stored half done."""


@attrs.frozen
class Episode:
    seed: int
    session_id: str
    metadata: dict[str, Any]


@attrs.define
class RolloutSummary:
    episodes: int = 0
    failed: int = 0
    rewards: list[float] = attrs.field(factory=list)

    @property
    def mean_reward(self) -> float | None:
        return sum(self.rewards) / len(self.rewards) if self.rewards else None

    def line(self, total: int) -> str:
        mean = "-" if self.mean_reward is None else f"{self.mean_reward:.3g}"
        return f"{self.episodes}/{total} episodes, mean reward {mean}, {self.failed} failed"


def play(task: Task | RemoteTask, policy: Policy, episode: Episode, max_steps: int, stop: threading.Event) -> Session:
    """One episode, turn by turn: observe, decide, act, until the environment is done or
    `max_steps` turns have passed."""
    recorder = EpisodeRecorder(episode.session_id, episode.metadata)
    try:
        if isinstance(task, RemoteTask):
            task.play(episode.seed, policy, recorder)
            return recorder.session(SessionStatus.COMPLETED)
        environment = task.environment(episode.seed, max_steps)
        decide = policy.episode(episode.seed)
        system = Message("system", getattr(policy, "system_prompt", None) or environment.system_prompt)
        observation = environment.reset()
        turns = 0
        while not observation.done and turns < max_steps:
            if stop.is_set():
                raise _Stopped
            recorder.start_step()
            if turns == 0:
                recorder.message(system)
            user = Message("user", observation.text)
            recorder.message(user)
            call = decide(system, user, environment.tools, observation.state)
            recorder.lm_call(call)
            if call.error:
                raise RuntimeError(f"the policy's LM call failed: {call.error}")
            for message in call.output_messages:
                recorder.message(message)
            observation = environment.act(call, recorder)
            turns += 1
        recorder.outcome = environment.outcome()
        return recorder.session(SessionStatus.COMPLETED)
    except _Stopped:
        raise
    except Exception as exc:  # the episode's failure is recorded with it; the run goes on
        return recorder.session(SessionStatus.FAILED, error=f"{type(exc).__name__}: {exc}")


def run_episodes(task: Task | RemoteTask, policy: Policy, episodes: Sequence[Episode], *, max_steps: int,
                 concurrency: int, write: Callable[[Session], None],
                 progress: Callable[[RolloutSummary], None],
                 interrupted: Callable[[], None] = lambda: None) -> RolloutSummary:
    """Play `episodes` and hand each finished one to `write`. On Ctrl-C, `interrupted` is told
    first; then every episode that finished is handed over, so `write` may see one again that
    it was storing when the interrupt came (it must tell, and not store it twice)."""
    summary = RolloutSummary()
    stop = threading.Event()
    unwritten: set[Future] = set()

    def finish(future: Future) -> None:
        session = future.result()
        write(session)
        unwritten.discard(future)
        summary.episodes += 1
        if session.status is SessionStatus.FAILED:
            summary.failed += 1
        elif session.outcome is not None:
            summary.rewards.append(session.outcome.total_reward)
        progress(summary)

    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="episode")
    unwritten.update(pool.submit(play, task, policy, episode, max_steps, stop) for episode in episodes)
    try:
        pending = set(unwritten)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                finish(future)
    except KeyboardInterrupt:
        interrupted()
        _stop(pool, stop, unwritten)
        # every episode that finished is kept, the one being written when the interrupt came included
        for future in list(unwritten):
            if not future.cancelled() and future.exception() is None:
                finish(future)
        raise
    finally:
        _stop(pool, stop, unwritten)
    return summary


def _stop(pool: ThreadPoolExecutor, stop: threading.Event, futures: set[Future]) -> None:
    """Episodes not started are cancelled, those in flight stop at their next turn."""
    stop.set()
    for future in futures:
        future.cancel()
    pool.shutdown(wait=True)
