"""The manifest every output-producing run leaves in its run directory.

Hydra already saves the composed config and the overrides under `.hydra/`; the manifest adds
what the config cannot say: which synthkit and which project commit ran, on which DB, with
what result. Replaying `.hydra/overrides.yaml` with the same command reproduces the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
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


def db_fingerprint(path: Path) -> dict[str, Any]:
    """Enough to tell whether a later run saw the same DB, without hashing gigabytes."""
    path = Path(path)
    if not path.exists():
        return {"path": str(path.resolve()), "exists": False}
    stat = path.stat()
    return {"path": str(path.resolve()), "size_bytes": stat.st_size,
            "modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()}


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
