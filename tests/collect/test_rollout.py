"""Playing episodes on threads: what finished is written once, whatever interrupts the run."""

from __future__ import annotations

import threading
import time

import pytest

from synthkit.collect.rollout import Episode, run_episodes
from synthkit.traces.model import OutcomeReward


class QuickApp:
    """A task that plays whole episodes itself, like a task app: seeds 0-2 at once, the others in 0.5 s."""

    task_id, env_name = "quick", None

    def __init__(self) -> None:
        self.played: list[str] = []
        self.lock = threading.Lock()
        self.slow_started = 0
        self.three_slow_started = threading.Event()

    def play(self, seed, policy, recorder) -> None:
        if seed >= 3:
            with self.lock:
                self.slow_started += 1
                if self.slow_started == 3:
                    self.three_slow_started.set()
            time.sleep(0.5)
        recorder.outcome = OutcomeReward(total_reward=float(seed))
        with self.lock:
            self.played.append(recorder.session_id)


def test_ctrl_c_while_writing_keeps_every_finished_episode_once():
    task, written, calls = QuickApp(), [], []

    def write(session):
        calls.append(session.session_id)
        if len(calls) == 1:
            assert task.three_slow_started.wait(10)  # seeds 1 and 2 finish meanwhile, 3 to 5 start
            raise KeyboardInterrupt  # before this one was stored
        written.append(session.session_id)

    episodes = [Episode(seed, f"s{seed}", {"seed": seed}) for seed in range(12)]
    with pytest.raises(KeyboardInterrupt):
        run_episodes(task, policy=None, episodes=episodes, max_steps=1, concurrency=3, write=write,
                     progress=lambda summary: None)
    assert calls[0] in written  # written again after the interrupt
    assert sorted(written) == sorted(task.played) and len(set(written)) == len(written)
    assert sorted(written) == [f"s{seed}" for seed in range(6)]  # those in flight finished; 6-11 never started
