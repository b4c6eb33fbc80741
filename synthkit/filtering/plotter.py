"""Plots drawn in a process of their own, so that matplotlib's import does not hold up the run.

Importing matplotlib takes about 0.45 s, longer than filtering a DB of a few thousand sessions.
`start` launches a drawing process that imports it at once, while the command goes on reading
the DB; `draw` then sends it one plot at a time (a JSON line each way). The process serves the
whole command (every job of a sweep, then the sweep's summary) and ends with it: it leaves
when its input closes, so it never outlives the command, even one that was killed. Where no
process can be started, plots are drawn here instead.
"""

from __future__ import annotations

import atexit
import json
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from synthkit.filtering.plots import plot_scores, plot_sweep

__all__ = ["PLOTS", "draw", "start"]

PLOTS: dict[str, Callable[..., Path | None]] = {"scores": plot_scores, "sweep": plot_sweep}

# Run by the drawing process: synthkit from the same place as this one, whatever sys.path made it importable
_SERVE = "import sys; sys.path.insert(0, sys.argv[1]); from synthkit.filtering.plotter import serve; serve()"


class _Process:
    def __init__(self) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(Path(__file__).resolve().parents[2])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self.stdin: IO[str] = self.popen.stdin  # type: ignore[assignment]
        self.stdout: IO[str] = self.popen.stdout  # type: ignore[assignment]

    def request(self, name: str, args: list[Any], path: Path) -> Path | None:
        try:
            # absolute: the process stays in the folder it started in, and the command may have moved
            self.stdin.write(json.dumps({"plot": name, "args": args, "path": str(path.absolute())},
                                        default=str) + "\n")
            self.stdin.flush()
            line = self.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise RuntimeError(f"drawing {path}: the plotting process ended (exit code {self.popen.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"drawing {path} failed in the plotting process:\n{reply['error']}")
        return path if reply["written"] else None

    def close(self) -> None:
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:  # the process is gone and took the pipe with it
                pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


_process: _Process | None = None


def start() -> None:
    """Have the drawing process ready (it begins importing matplotlib now)."""
    global _process
    if _process is not None and _process.popen.poll() is None:
        return
    try:
        _process = _Process()
    except OSError:  # no interpreter to start (an embedded Python): `draw` draws here
        _process = None
        return
    atexit.register(_process.close)


def draw(name: str, *args: Any, path: Path) -> Path | None:
    """Draw plot `name` of `PLOTS` into `path`; returns the file, or None when there was nothing
    to plot. Waits until it is written."""
    start()
    if _process is None:
        return PLOTS[name](*args, path)
    return _process.request(name, list(args), path)


def serve() -> None:
    """The drawing process: import matplotlib, then draw each request read from stdin."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command; it closes our input
    from matplotlib.figure import Figure  # noqa: F401  (the import this process is here for)

    for line in sys.stdin:
        request = json.loads(line)
        try:
            written = PLOTS[request["plot"]](*request["args"], Path(request["path"]))
            reply: dict[str, Any] = {"written": written is not None}
        except Exception:  # reported to the command, which raises it there
            reply = {"error": traceback.format_exc()}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
