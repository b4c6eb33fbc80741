"""`synthkit rerun <run dir> [key=value ...]`: run a command again as a run directory saved it.

Hydra keeps the command's overrides in `.hydra/overrides.yaml` and its name in
`.hydra/hydra.yaml`; replaying those overrides (not loading the saved config, which the
packaged config of the same name would shadow) reproduces the run, in a new run directory.
It runs in the folder the run was made in, so relative paths (the DB, the outputs, a project's
conf/ and rubrics/, experiments/) mean what they meant. Overrides given after the run directory
are added last, so they win.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import yaml

from synthkit.cli import COMMANDS, arguments


def _fail(message: str) -> NoReturn:
    print(f"synthkit rerun: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _load(path: Path) -> Any:
    """A saved YAML file; one that cannot be parsed is one line naming it and where it went wrong
    (a YAML error's own message spans several lines, with a caret under the spot)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        _fail(f"{path.parent} cannot be read: {path.name} is not UTF-8 text ({exc.reason} at byte {exc.start})")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        _fail(f"{path.parent} cannot be read: {path.name}: {problem}{where}")


def saved_run(run_dir: Path) -> tuple[str, list[str], Path | None]:
    """The command, overrides and working folder a run directory saved."""
    hydra_dir = run_dir / ".hydra"
    if not (hydra_dir / "hydra.yaml").is_file() or not (hydra_dir / "overrides.yaml").is_file():
        _fail(f"{run_dir} is not a run directory (no .hydra/hydra.yaml and .hydra/overrides.yaml)")
    try:
        hydra = _load(hydra_dir / "hydra.yaml")["hydra"]
        overrides = _load(hydra_dir / "overrides.yaml") or []
        name = hydra["job"]["name"]
        cwd = (hydra.get("runtime") or {}).get("cwd")
    except (KeyError, TypeError, AttributeError) as exc:
        _fail(f"{run_dir}/.hydra cannot be read: {exc}")
    if name not in COMMANDS:
        _fail(f"{run_dir} was made by {name!r}, not a synthkit command")
    return name, [str(item) for item in overrides], Path(cwd) if cwd else None


def rerun(args: Sequence[str]) -> None:
    if not args or args[0].startswith("-") or "=" in args[0]:
        _fail("usage: synthkit rerun <run dir> [key=value ...]")
    name, overrides, made_in = saved_run(Path(args[0]).resolve())
    from synthkit.cli.app import run_command

    here = Path.cwd()
    if made_in is not None and made_in.resolve() != here.resolve():
        if made_in.is_dir():
            print(f"synthkit rerun: in {made_in}, where the run was made", file=sys.stderr)
        else:
            print(f"synthkit rerun: the run was made in {made_in}, which is gone; running here", file=sys.stderr)
            made_in = None
    command_line = arguments(COMMANDS[name], [*overrides, *args[1:]])
    print(f"synthkit rerun: {name} {' '.join(command_line)}".rstrip(), file=sys.stderr)
    if made_in is not None:
        os.chdir(made_in)
    try:
        run_command(COMMANDS[name], command_line)
    finally:
        os.chdir(here)
