"""Shared fixtures: real SQLite files in temporary folders, and the CLI run in-process."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

DATA = Path(__file__).parent / "data"
SYNTH_AI_DB = DATA / "synth_ai_v3_sample.db"


@pytest.fixture
def synth_ai_db(tmp_path: Path) -> Path:
    """A private copy of the trace DB written by synth-ai 0.2.24's own SessionTracer."""
    path = tmp_path / "synth_ai_v3_sample.db"
    shutil.copy(SYNTH_AI_DB, path)
    return path


@pytest.fixture
def write(tmp_path: Path):
    """Write a file under tmp_path from dedented source; returns its path."""

    def write(relative: str, source: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    return write


@attrs.frozen
class CliResult:
    exit_code: int
    out: str
    err: str


@pytest.fixture
def run_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            ) -> Callable[..., CliResult]:
    """Run `synthkit <args>` in this process, from `tmp_path` (or `cwd=`), as a user would."""
    from synthkit.cli import main

    monkeypatch.delenv("SQLD_DB_PATH", raising=False)

    def run(*args: str, cwd: Path | None = None) -> CliResult:
        monkeypatch.chdir(cwd or tmp_path)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: to prove a command changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
