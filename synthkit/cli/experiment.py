"""The manifest every output-producing run leaves in its run directory.

Hydra already saves the composed config and the overrides under `.hydra/`; the manifest adds
what the config cannot say: which synthkit and which project commit ran, on which DB, with
what result. Replaying `.hydra/overrides.yaml` with the same command reproduces the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

MANIFEST = "manifest.json"


def _git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


COUNTED_TABLES = {"sessions": "session_traces", "judge_scores": "judge_scores", "judge_runs": "judge_runs"}


def _row_counts(path: Path) -> dict[str, int] | None:
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            counts = {name: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                      for name, table in COUNTED_TABLES.items() if table in tables}
            if "events" in tables:
                counts["lm_call_events"] = conn.execute(
                    "SELECT count(*) FROM events WHERE event_type = 'cais'").fetchone()[0]
            return counts
    except sqlite3.Error:
        return None


def db_fingerprint(path: Path) -> dict[str, Any]:
    """Enough to tell whether a later run saw the same DB, without hashing gigabytes: its size,
    modification time and row counts."""
    path = Path(path)
    if not path.exists():
        return {"path": str(path.resolve()), "exists": False}
    stat = path.stat()
    return {"path": str(path.resolve()), "size_bytes": stat.st_size,
            "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(), "rows": _row_counts(path)}


def file_digest(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"sha256": digest.hexdigest(), "bytes": Path(path).stat().st_size}


def write_manifest(run_dir: Path, command: str, cfg: DictConfig, started_at: datetime,
                   status: str, result: dict[str, Any] | None) -> Path:
    from synthkit import __version__

    result = dict(result or {})
    outputs = {str(path): file_digest(Path(path)) for path in result.pop("outputs", [])
               if Path(path).is_file()}
    manifest = {
        "command": command,
        "status": status,
        "synthkit_version": __version__,
        "project_git_commit": _git_commit(Path.cwd()),
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "cwd": os.getcwd(),
        "db": db_fingerprint(Path(cfg.db.path)) if "db" in cfg else None,
        "rubric_versions": result.pop("rubric_versions", None),
        "judge_models": result.pop("judge_models", None),
        "outputs": outputs,
        "result": result,
    }
    path = Path(run_dir) / MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path
