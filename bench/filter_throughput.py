"""`synthkit filter` end to end against a plain sqlite3 + json script doing the same job.

Builds a DB of N sessions (default 20,000; each with an LM call that made a tool call, a failed
call, messages and an outcome) whose `metadata.judge_scores.quality` is spread over [0, 1],
then times, as separate processes with start-up included:

- `synthkit filter filter=none filter.min_judge_scores.quality=0.5` (the whole command: Hydra,
  run directory, selection, examples checked and counted, dedup, stats, plot);
- the baseline: a script with nothing but sqlite3 and json that selects the same sessions and
  writes one example per successful LM call.

Both must write the same number of examples. The same is timed on a DB of a hundredth the size,
which gives what each takes to start and what each further 1,000 sessions cost.
Run: python bench/filter_throughput.py [sessions]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from synthkit.traces.store import TraceWriter  # noqa: E402
from tests.factories import T0, make_session  # noqa: E402

THRESHOLD = 0.5
RUNS = 3

BASELINE = r'''
import json, sqlite3, sys
db, out, threshold = sys.argv[1], sys.argv[2], float(sys.argv[3])
conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

def content(parts):
    if len(parts) == 1 and parts[0].get("type") == "text" and not isinstance(parts[0].get("data"), dict):
        return parts[0]["text"]
    return [p["data"] if isinstance(p.get("data"), dict) else {"type": "text", "text": p.get("text")} for p in parts]

written = 0
with open(out, "w", encoding="utf-8") as handle:
    rows = conn.execute("SELECT session_id, metadata FROM session_traces ORDER BY created_at, session_id")
    for session_id, metadata in rows:
        metadata = json.loads(metadata)
        score = (metadata.get("judge_scores") or {}).get("quality")
        if score is None or score < threshold:
            continue
        reward = conn.execute("SELECT total_reward FROM outcome_rewards WHERE session_id = ? ORDER BY id DESC",
                              (session_id,)).fetchone()
        for kind, records in conn.execute("SELECT event_type, call_records FROM events WHERE session_id = ? "
                                          "ORDER BY id", (session_id,)):
            if kind != "cais":
                continue
            for record in json.loads(records):
                if record.get("error"):
                    continue
                messages = [{"role": m["role"], "content": content(m["parts"])} for m in record["input_messages"]]
                reply = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": c["call_id"], "type": "function",
                     "function": {"name": c["name"], "arguments": c["arguments_json"]}}
                    for c in record["output_tool_calls"]]}
                tools = (record["request_params"].get("tool_config") or {}).get("tools")
                example = {"messages": messages + [reply], "tools": tools,
                           "metadata": {"session_id": session_id, "scores": {"quality": score},
                                        "total_reward": reward and reward[0]}}
                handle.write(json.dumps(example, ensure_ascii=False) + "\n")
                written += 1
print(written)
'''


def build(path: Path, sessions: int) -> None:
    base = make_session()
    with TraceWriter.open(path, create=True) as writer, writer.transaction():
        for i in range(sessions):
            quality = (i * 7919 % sessions) / sessions
            # every session's conversation differs, so dedup keeps them all
            writer.write_session(attrs.evolve(
                base, session_id=f"s{i:07d}", created_at=T0,
                metadata={**base.metadata, "judge_scores": {"quality": quality}, "seed": i},
                events=tuple(attrs.evolve(e, lm_calls=tuple(
                    attrs.evolve(c, input_messages=(*c.input_messages[:-1], attrs.evolve(
                        c.input_messages[-1], content=f"observation {i}"))) for c in e.lm_calls))
                    for e in base.events)))


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    """The median wall time of three runs (each a fresh process), and what the last printed."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{command[:3]} failed:\n{done.stdout}\n{done.stderr}")
    return statistics.median(times), done.stdout


def measure(folder: Path, sessions: int) -> tuple[float, float, int]:
    """(synthkit's time, the baseline's, examples written) on a DB of `sessions`."""
    db = folder / f"bench-{sessions}.db"
    start = time.perf_counter()
    build(db, sessions)
    print(f"{sessions} sessions, {db.stat().st_size / 1e6:.0f} MB, built in {time.perf_counter() - start:.0f} s")
    output = folder / f"sft-{sessions}.jsonl"
    synthkit = [str(Path(sys.executable).parent / "synthkit"), "filter", f"db.path={db}", "filter=none",
                f"filter.min_judge_scores.quality={THRESHOLD}", f"filter.output={output}", "filter.overwrite=true"]
    ours, _ = timed(synthkit, folder)
    base, count = timed([sys.executable, "-c", BASELINE, str(db), str(folder / "baseline.jsonl"),
                         str(THRESHOLD)], folder)
    examples = sum(1 for _ in output.open(encoding="utf-8"))
    assert examples == int(count), (examples, count)
    return ours, base, examples


def main(sessions: int) -> None:
    if sessions < 2_000:
        raise SystemExit("give 2,000 sessions or more: the difference from a hundredth of them is the figure")
    folder = Path(tempfile.mkdtemp())
    few = max(sessions // 100, 2)
    ours, base, examples = measure(folder, sessions)
    ours_few, base_few, _ = measure(folder, few)
    print(f"\nmedian of {RUNS} runs each; {examples} examples written from {sessions} sessions")
    print(f"synthkit filter (whole command)      {ours:6.2f} s  {sessions / ours:8,.0f} sessions/s")
    print(f"plain sqlite3 + json script          {base:6.2f} s  {sessions / base:8,.0f} sessions/s")
    print(f"ratio: synthkit takes {ours / base:.2f}x the baseline (target: within 2x)")
    print(f"\non {few} sessions: synthkit {ours_few:.2f} s, the baseline {base_few:.2f} s (start-up, mostly)")
    extra = sessions - few
    print(f"each further 1,000 sessions: synthkit {1000 * (ours - ours_few) / extra:.3f} s, "
          f"the baseline {1000 * (base - base_few) / extra:.3f} s: "
          f"{(ours - ours_few) / (base - base_few):.2f}x (the ratio large DBs tend to)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
