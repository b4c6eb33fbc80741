"""Running one sub-command as a Hydra app: composition, run directory, and how failures end.

A user mistake (`SynthkitError`, a missing or bad config value) ends as one line on stderr and
a non-zero exit, and the run directory Hydra made for it is removed again: a failed command
leaves no file behind. A command that fails after it changed something (`RunFailedMidway`, or
an `OSError` the machine raised) keeps its run directory, with a manifest saying what failed.
Anything else is a bug and keeps its traceback and its run directory.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from synthkit.cli import Command
from synthkit.cli.experiment import write_manifest
from synthkit.errors import RunFailedMidway, RunFinishedWithErrors, SynthkitError
from synthkit.resources import default_dir

log = logging.getLogger("synthkit")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _hydra_message(exc: BaseException) -> str:
    """Hydra's message on one line, without its indented details (`full_key: ...`)."""
    parts = [str(exc), str(exc.__cause__) if isinstance(exc.__cause__, OmegaConfBaseException) else ""]
    lines = [line.strip() for part in parts for line in part.split("Config search path:")[0].splitlines()
             if line.strip() and not line.startswith(" ")]
    return " ".join(dict.fromkeys(lines)) or type(exc).__name__


def _failure(exc: Exception) -> tuple[str, int]:
    """What a failed command says, and its exit code."""
    if isinstance(exc, SynthkitError):
        return str(exc), exc.exit_code
    if isinstance(exc, OSError):  # what the machine refused (a full disk, a connection): not a bug
        reason = str(exc.strerror or exc)
        return (f"{reason}: {exc.filename}" if exc.filename else reason), 1
    return f"config: {_first_line(exc)}", 2


def _fail(command: Command, message: str, exit_code: int, run_dir: Path | None) -> None:
    if run_dir is not None:
        _discard(run_dir)
    print(f"synthkit {command.name}: error: {message}", file=sys.stderr)
    raise SystemExit(exit_code)


def _discard(run_dir: Path) -> None:
    """Remove a failed run's directory and the parents it leaves empty, up to the current folder."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and \
                Path(handler.baseFilename).resolve().is_relative_to(run_dir.resolve()):
            root.removeHandler(handler)
            handler.close()
    shutil.rmtree(run_dir, ignore_errors=True)
    cwd = Path.cwd().resolve()
    parent = run_dir.resolve().parent
    while parent != cwd and cwd in parent.parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def _task(command: Command, failed_jobs: list[int]):
    """The Hydra task of `command`. Inside a sweep, a job that fails is recorded (its run
    directory and manifest say why, the sweep summary shows it) and the sweep goes on; its exit
    code is kept in `failed_jobs` for the end of the sweep."""

    def task(cfg: DictConfig) -> None:
        hydra_config = HydraConfig.get()
        run_dir = Path(hydra_config.runtime.output_dir) if hydra_config.output_subdir is not None else None
        in_sweep = hydra_config.mode == RunMode.MULTIRUN
        started_at = datetime.now(UTC)
        try:
            result: dict[str, Any] | None = command.load()(cfg)
        except BrokenPipeError:  # the reader went away (`synthkit query | head`): stop quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        except (SynthkitError, OmegaConfBaseException, OSError) as exc:
            message, code = _failure(exc)
            finished = isinstance(exc, RunFinishedWithErrors)
            status = "finished with errors" if finished else f"failed: {message}"
            result = exc.result if finished else None
            if in_sweep and run_dir is not None:
                write_manifest(run_dir, command.name, cfg, started_at, status, result)
                print(f"synthkit {command.name}: error: job {hydra_config.job.num}: {message}", file=sys.stderr)
                failed_jobs.append(code)
                return
            if not finished and not isinstance(exc, OSError | RunFailedMidway):  # bad input: nothing was done
                _fail(command, message, code, run_dir)
            if run_dir is not None:  # the run did something: its directory says what, and how it ended
                write_manifest(run_dir, command.name, cfg, started_at, status, result)
                log.info("run directory: %s", run_dir)
            print(f"synthkit {command.name}: error: {message}", file=sys.stderr)
            raise SystemExit(code) from None
        except KeyboardInterrupt:
            if run_dir is not None:
                write_manifest(run_dir, command.name, cfg, started_at, "interrupted", None)
            print(f"synthkit {command.name}: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        if run_dir is not None:
            write_manifest(run_dir, command.name, cfg, started_at, "completed", result)
            log.info("run directory: %s", run_dir)

    task.__name__ = command.name
    return task


def register_configs() -> None:
    """Configs that YAML cannot express, for the defaults lists of the primary configs.

    `open_map` is a map users add keys to from the command line (`metadata.task_split=train`,
    no `+`): Hydra refuses new keys in any node unless the node itself is not in struct mode.
    """
    open_map = OmegaConf.create({})
    OmegaConf.set_struct(open_map, False)
    ConfigStore.instance().store(name="open_map", node=open_map)


def run_command(command: Command, argv: Sequence[str]) -> None:
    """Run `command` with Hydra on `argv` (overrides and Hydra flags), in this process."""
    register_configs()
    logging.raiseExceptions = False  # a reader that went away (`| head`) is not worth a traceback per line
    failed_jobs: list[int] = []
    app = hydra.main(version_base="1.3", config_path=str(default_dir("conf")),
                     config_name=command.name)(_task(command, failed_jobs))
    saved, full_error = sys.argv, os.environ.get("HYDRA_FULL_ERROR")
    sys.argv = [f"synthkit {command.name}", *argv]
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing, so its errors become one line
    try:
        app()
    except (HydraException, OmegaConfBaseException) as exc:  # an unknown key or group, a bad override
        _fail(command, _hydra_message(exc), 2, None)
    except OSError as exc:  # Hydra's own: the run directory cannot be made (a read-only folder, say)
        where = Path(exc.filename).absolute() if exc.filename else "the run directory"
        _fail(command, f"cannot write {where}: {exc.strerror or exc}", 2, None)
    finally:
        sys.argv = saved
        if full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = full_error
    if failed_jobs:
        print(f"synthkit {command.name}: error: {len(failed_jobs)} sweep job(s) failed; the manifest.json of "
              "each job says why", file=sys.stderr)
        raise SystemExit(max(failed_jobs))
