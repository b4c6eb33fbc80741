"""Judge throughput against a local OpenAI-compatible server with a fixed latency per call.

Prints, per setting: calls/s achieved next to the ideal (concurrency / latency), the CPU
milliseconds the judging processes (the driver, and loky's workers) spend per judge call next to
bare `litellm.completion`'s on the same server, and the wall time of a fully cached re-run. The
server (bench/latency_server.py, one asyncio loop) runs in a process of its own so its CPU is not
counted. Run: python bench/judge_throughput.py [sessions]
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthkit import JudgeSettings, Message, Session, Timestep, judge_traces  # noqa: E402
from synthkit.providers import load_litellm, own_process  # noqa: E402
from synthkit.rubrics.discovery import collect  # noqa: E402
from synthkit.traces.store import TraceWriter  # noqa: E402

RUBRIC = '''
from synthkit import Rubric, judge

class RubricHelpful(Rubric):
    """The assistant helps."""

    @judge
    def helpful(self):
        """The answer helps the user."""
'''


def cpu_seconds(server: int) -> float:
    """CPU of this process and its children (loky's worker processes, alive or gone), the
    latency server's left out (Linux: from /proc)."""
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = sum(u.ru_utime + u.ru_stime for u in usage)
    for pid in _descendants(os.getpid()) - {server}:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found |= {child, *_descendants(child)}
    return found


def make_db(folder: Path, sessions: int) -> Path:
    path = folder / "bench.db"
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with TraceWriter.open(path, create=True) as writer, writer.transaction():
        for i in range(sessions):
            writer.write_session(Session(
                session_id=f"s{i:06d}", created_at=t0, timesteps=(Timestep("t0", 0),),
                messages=(Message("user", f"Question {i}: what is {i} + {i}?", step_id="t0"),
                          Message("assistant", f"It is {2 * i}.", step_id="t0"))))
    return path


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "latency_server.py"),
                                "--latency", str(latency)],
                               cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().strip()


def bare_litellm_cpu_ms(api_base: str, calls: int = 100) -> float:
    import litellm

    messages = [{"role": "user", "content": "Grade this."}]
    start = time.process_time()
    for _ in range(calls):
        litellm.completion(model="openai/bench", api_base=api_base, api_key="x", messages=messages,
                           timeout=30, num_retries=0)
    return (time.process_time() - start) / calls * 1000


def bare_loop_rate(api_base: str, concurrency: int, calls: int = 1000) -> float:
    """Calls/s of a bare asyncio loop of `litellm.acompletion` at `concurrency`: what litellm and
    the server reach with no runner around them."""
    import asyncio

    import litellm

    async def go() -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with slots:
                await litellm.acompletion(model="openai/bench", api_base=api_base, api_key="x",
                                          messages=[{"role": "user", "content": "Grade this."}],
                                          timeout=60, num_retries=0)

        await asyncio.gather(*(one() for _ in range(calls)))

    started = time.perf_counter()
    asyncio.run(go())
    return calls / (time.perf_counter() - started)


def run(sessions: int, latency: float, concurrency: int, backend: str, workers: int, batch: int | None = None) -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "rubrics").mkdir()
    (folder / "rubrics" / "rubric_bench.py").write_text(textwrap.dedent(RUBRIC))
    db = make_db(folder, sessions)
    rubrics = collect([str(folder / "rubrics")]).rubrics
    server, api_base = start_server(latency)
    try:
        settings = JudgeSettings(model="openai/bench", api_base=api_base, placeholder_key=True,
                                 json_schema=True, concurrency=concurrency, timeout_s=60)
        cpu, wall = cpu_seconds(server.pid), time.perf_counter()
        summary = judge_traces(db, rubrics, settings, backend=backend, workers=workers, batch_size=batch)
        wall, cpu = time.perf_counter() - wall, cpu_seconds(server.pid) - cpu
        final = time.perf_counter()
        judge_traces(db, rubrics, settings, backend=backend, workers=workers, batch_size=batch)
        final = time.perf_counter() - final
        with sqlite3.connect(db) as conn:  # results gone, cache kept: every answer from the cache
            conn.execute("DELETE FROM judge_scores")
        conn.close()
        cached = time.perf_counter()
        again = judge_traces(db, rubrics, settings, backend=backend, workers=workers, batch_size=batch)
        cached = time.perf_counter() - cached
        bare = bare_litellm_cpu_ms(api_base)
        loop_rate = bare_loop_rate(api_base, concurrency) if backend == "threading" else None
    finally:
        server.stdin.close()
        server.wait()
    ideal = concurrency / latency if backend == "threading" else concurrency * workers / latency
    rate = summary.calls / wall
    print(f"latency {latency:.2f} s, concurrency {concurrency} x {workers} {backend}"
          + (f", batch {batch}" if batch else "") + ": "
          f"{summary.calls} calls in {wall:.1f} s = {rate:.0f} calls/s, ideal {ideal:.0f} "
          f"(ratio {rate / ideal:.2f}"
          + (f"; a bare acompletion loop: {loop_rate:.0f} calls/s, {loop_rate / ideal:.2f}" if loop_rate else "")
          + f"); CPU {cpu / summary.calls * 1000:.1f} ms per call, workers included "
          f"(bare litellm.completion {bare:.1f} ms); re-run with every result final {final:.2f} s; "
          f"re-run from the cache {cached:.2f} s, {again.calls} calls, {again.cache_hits} cache hits; "
          f"errors {summary.errors}")


if __name__ == "__main__":
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    own_process()  # measured as the `synthkit` command runs
    started = time.perf_counter()
    load_litellm()  # seconds of import, paid once per process: not a throughput figure

    print(f"litellm import: {time.perf_counter() - started:.1f} s (not counted below)")
    run(sessions, 0.5, 32, "threading", 2)
    run(sessions, 0.1, 64, "threading", 2)
    run(sessions, 0.1, 32, "loky", 2)  # cold: the worker processes start and import litellm inside the timing
    print("loky workers are warm from here on (joblib reuses them, as a long grading run does):")
    run(sessions, 0.1, 32, "loky", 2)
    run(sessions, 0.1, 32, "loky", 2, batch=64)
