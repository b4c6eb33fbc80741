"""`synthkit info`: what a trace DB holds, at a glance."""

from __future__ import annotations

import json
from typing import Any

from omegaconf import DictConfig

from synthkit import checks
from synthkit.traces.store import TraceStore

COUNTED = {
    "sessions": "session_traces",
    "timesteps": "session_timesteps",
    "events": "events",
    "lm calls": None,
    "messages": "messages",
    "outcome rewards": "outcome_rewards",
    "event rewards": "event_rewards",
    "judge scores": "judge_scores",
}
GROUPED = {"splits": "task_split", "models": "model", "task ids": "task_id", "statuses": "status"}


def summary(store: TraceStore) -> dict[str, Any]:
    counts = {name: store.count_lm_calls() if table is None else store.count(table)
              for name, table in COUNTED.items()}
    groups = {name: {("(none)" if value is None else str(value)): n
                     for value, n in store.metadata_values(key)}
              for name, key in GROUPED.items()}
    unreadable, first = store.conn.execute(
        "SELECT count(*), min(session_id) FROM session_traces WHERE metadata IS NOT NULL "
        "AND (NOT json_valid(metadata) OR json_type(metadata) != 'object')").fetchone()
    return {"db": str(store.path), "schema_version": store.schema_version,
            "written_by": "synthkit" if store.schema_version else "synth-ai (no judge tables yet)",
            "counts": counts, **groups, "judge score keys": dict(store.judge_score_keys()),
            # counted under "(none)" above; the filter and the judge refuse such sessions
            "unreadable metadata": {"sessions": unreadable, "first": first}}


def _text(info: dict[str, Any]) -> str:
    width = max(map(len, [*COUNTED, *GROUPED, "schema version", "judge score keys"]))
    lines = [f"{info['db']}",
             f"  {'schema version'.ljust(width)}  {info['schema_version']} ({info['written_by']})"]
    lines += [f"  {name.ljust(width)}  {n:,}" for name, n in info["counts"].items()]
    for name in (*GROUPED, "judge score keys"):
        values = ", ".join(f"{value} ({n:,})" for value, n in info[name].items()) or "-"
        lines.append(f"  {name.ljust(width)}  {values}")
    unreadable = info["unreadable metadata"]
    if unreadable["sessions"]:
        lines.append(f"  warning: the metadata of {unreadable['sessions']:,} sessions is not a JSON object "
                     f"(first: {unreadable['first']}); the filter and the judge refuse them")
    return "\n".join(lines)


def run(cfg: DictConfig) -> None:
    output = checks.choice(cfg, "format", ("text", "json"))
    with TraceStore.open(checks.text(cfg.db, "path")) as store:
        info = summary(store)
    print(json.dumps(info, indent=2, ensure_ascii=False) if output == "json" else _text(info))
