"""The `synthkit` console script: one Hydra app per sub-command, run in this process.

Hydra has no sub-commands, so `main` pops the command name and hands the rest of the command
line to that command's own `@hydra.main` app (its primary config is `conf/<command>.yaml`).
Command modules are imported only when their command runs, so `synthkit --help` starts fast.
"""

from __future__ import annotations

import importlib
import re
import signal
import sys
from collections.abc import Sequence

import attrs

__all__ = ["COMMANDS", "Command", "arguments", "main"]


@attrs.frozen
class Command:
    name: str
    summary: str
    target: str  # "module:function"; the function takes the composed config
    writes_run_dir: bool
    output_key: str | None = None  # a read-only command that writes a run directory when this key is set

    def load(self):
        module, function = self.target.split(":")
        return getattr(importlib.import_module(module), function)


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("info", "show what a trace DB holds (counts, splits, models, task ids, schema)",
            "synthkit.cli.info:run", writes_run_dir=False),
    Command("import", "import traces from OpenAI chat JSONL or another trace DB",
            "synthkit.cli.import_traces:run", writes_run_dir=True),
    Command("eval", "play episodes of a task with a policy and record them into the trace DB (judged inline)",
            "synthkit.cli.eval:run", writes_run_dir=True),
    Command("rubrics", "list the rubrics collected and selected (like pytest --collect-only)",
            "synthkit.cli.list_rubrics:run", writes_run_dir=False),
    Command("judge", "grade the traces of a DB with rubrics and an LLM judge (cached, resumable)",
            "synthkit.cli.judge:run", writes_run_dir=True),
    Command("filter", "keep sessions by judge scores and other conditions; write SFT JSONL (sweeps: -m)",
            "synthkit.cli.filter:run", writes_run_dir=True),
    Command("validate", "check an SFT JSONL file against OpenAI's chat fine-tuning format",
            "synthkit.cli.validate:run", writes_run_dir=False),
    Command("pipeline", "eval, judge, filter and validate in one run directory (no key needed for the default)",
            "synthkit.cli.pipeline:run", writes_run_dir=True),
    Command("query", "show judge results: scores, sessions, high scorers, judge agreement, runs (CSV too)",
            "synthkit.cli.query:run", writes_run_dir=False, output_key="query.output"),
    Command("review", "print kept (or nearly kept) examples of a filter run with scores and judge reasoning",
            "synthkit.cli.review:run", writes_run_dir=False),
)}
RERUN_SUMMARY = "run a command again with the overrides a run directory saved: rerun <run dir> [key=value ...]"


def _usage() -> str:
    from synthkit import __version__

    width = max(len(name) for name in COMMANDS)
    lines = [
        f"synthkit {__version__}: judge-based filtering of LLM agent traces into fine-tuning data",
        "",
        "usage: synthkit <command> [key=value ...] [hydra options]",
        "",
        "commands:",
        *(f"  {c.name.ljust(width)}  {c.summary}" for c in COMMANDS.values()),
        f"  {'rerun'.ljust(width)}  {RERUN_SUMMARY}",
        "",
        "`synthkit <command> --help` shows a command's config keys and groups.",
    ]
    return "\n".join(lines)


def console() -> None:
    """The `synthkit` executable: `main` in a process of synthkit's own."""
    from synthkit.providers import own_process

    own_process()
    signal.signal(signal.SIGTERM, _terminated)
    main()


def _terminated(signum: int, frame: object) -> None:
    # As after Ctrl-C: temporary files are removed and the manifest says the run was interrupted
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        raise SystemExit(0 if args else 2)
    if args[0] == "--version":
        from synthkit import __version__

        print(f"synthkit {__version__}")
        return
    name, rest = args[0], args[1:]
    if name == "rerun":
        from synthkit.cli.rerun import rerun

        rerun(rest)
        return
    command = COMMANDS.get(name)
    if command is None:
        print(f"synthkit: unknown command {name!r} (commands: {', '.join([*COMMANDS, 'rerun'])})",
              file=sys.stderr)
        raise SystemExit(2)
    from synthkit.cli.app import run_command

    run_command(command, arguments(command, rest))


def arguments(command: Command, args: Sequence[str]) -> list[str]:
    """What Hydra gets of a command line: its sweep flag, then the overrides, each checked for
    secrets before Hydra writes them to disk; a command that writes always gets a run directory."""
    from synthkit.checks import override_secret

    def refuse(message: str) -> None:
        print(f"synthkit {command.name}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    # argparse (Hydra's) cannot take -m after an override: `filter=none -m a=1,2` works too
    flags = [a for a in args if a in ("-m", "--multirun")]
    overrides = [a for a in args if a not in flags]
    if flags and not command.writes_run_dir:
        refuse(f"{command.name} reads only and has no sweeps (-m)")
    for override in overrides:
        problem = override_secret(override)
        if problem:
            refuse(problem)
    if command.writes_run_dir and any(re.search(r"(^|\W)none($|\W)", value) for value in _values(overrides, "rundir")):
        refuse(f"rundir=none: {command.name} writes outputs, and a run that writes gets a run directory "
               f"(experiments/{command.name}/<time>/) with its manifest")
    if command.output_key and _sets(overrides, command.output_key) and not _sets(overrides, "rundir"):
        overrides.insert(0, "rundir=experiment")  # what it writes gets a run directory and a manifest
    return [*flags, *overrides]


def _values(overrides: Sequence[str], key: str) -> list[str]:
    """The values `overrides` give `key`."""
    return [a.split("=", 1)[1] for a in overrides if "=" in a and a.split("=", 1)[0].lstrip("+~") == key]


def _sets(overrides: Sequence[str], key: str) -> bool:
    return any(value != "null" for value in _values(overrides, key))
