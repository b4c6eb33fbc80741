"""Plots drawn in a process of their own, so that matplotlib's import does not hold up the run.

Importing matplotlib takes about 0.45 s, longer than filtering a DB of a few thousand sessions.
`start` launches a drawing process that imports it at once, while the command goes on reading
the DB; `draw` then sends it one plot at a time (a JSON line each way). The process serves the
whole command (every job of a sweep, then the sweep's summary) and is stopped when the command
ends; it also leaves by itself when its input closes, so it never outlives a command that was
killed. It runs in a session of its own, so Ctrl-C reaches the command alone. A frozen app, or
one whose interpreter cannot be started, draws in its own process instead.
"""

from __future__ import annotations

import atexit
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from synthkit.filtering.plots import plot_scores, plot_sweep

__all__ = ["PLOTS", "draw", "start"]

PLOTS: dict[str, Callable[..., Path | None]] = {"scores": plot_scores, "sweep": plot_sweep}

REPLY = "synthkit-plot-reply "  # marks the replies among whatever else the process may print
ROOT = str(Path(__file__).resolve().parents[2])  # where this synthkit is imported from
# -P: no folder but the path's own shadows a module; ROOT is added (first) only where the path lacks it
_SERVE = ("import sys; root = sys.argv[1]; sys.path[:0] = [] if root in sys.path else [root]; "
          "from synthkit.filtering.plotter import serve; serve()")


class _Process:
    def __init__(self) -> None:
        # It works in the file system's root (a folder nobody removes while it lives), in a session
        # of its own (a terminal's Ctrl-C is for the command)
        self.popen = subprocess.Popen(
            [sys.executable, "-P", "-c", _SERVE, ROOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, encoding="utf-8", cwd=Path(ROOT).anchor, start_new_session=True)
        self.stdin: IO[str] = self.popen.stdin  # type: ignore[assignment]
        self.stdout: IO[str] = self.popen.stdout  # type: ignore[assignment]
        self.lock = threading.Lock()

    def request(self, name: str, args: list[Any], path: Path) -> Path | None:
        with self.lock:
            try:
                # absolute: the process stays in its folder, and the command may have moved
                self.stdin.write(json.dumps({"plot": name, "args": args, "path": str(path.absolute())},
                                            default=str) + "\n")
                self.stdin.flush()
                reply = self._reply()
            except BrokenPipeError:
                reply = None
        if reply is None:
            raise RuntimeError(f"drawing {path}: the plotting process ended (exit code {self.popen.wait()})")
        if "oserror" in reply:  # the machine refused, as it would have here: the command says so in a line
            raise OSError(*reply["oserror"])
        if "error" in reply:
            raise RuntimeError(f"drawing {path} failed in the plotting process:\n{reply['error']}")
        return path if reply["written"] else None

    def _reply(self) -> dict[str, Any] | None:
        for line in self.stdout:
            stray, marker, body = line.partition(REPLY)
            sys.stderr.write(stray if marker else line)  # printed by something else there: shown, as here
            if marker:
                return json.loads(body)
        return None

    def close(self) -> None:
        """Stop the process at once: a plot still being drawn belongs to a command that is over."""
        self.popen.kill()
        self.popen.wait()
        for stream in (self.stdin, self.stdout):
            try:
                stream.close()
            except OSError:  # the pipe went with the process
                pass


_process: _Process | None = None


def start() -> None:
    """Have the drawing process ready (it begins importing matplotlib now)."""
    global _process
    if _process is not None and _process.popen.poll() is None:
        return
    _process = None
    if getattr(sys, "frozen", False) or not sys.executable:  # no interpreter to start: `draw` draws here
        return
    try:
        _process = _Process()
    except OSError:
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
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # in case it shares a terminal's process group after all
    replies, sys.stdout = sys.stdout, sys.stderr  # what else prints goes to stderr
    from matplotlib.figure import Figure  # noqa: F401  (the import this process is here for)

    for line in sys.stdin:
        request = json.loads(line)
        try:
            written = PLOTS[request["plot"]](*request["args"], Path(request["path"]))
            reply: dict[str, Any] = {"written": written is not None}
        except OSError as exc:
            reply = {"oserror": [exc.errno or errno.EIO, exc.strerror or str(exc), exc.filename]}
        except Exception:  # a bug: raised in the command with this traceback
            reply = {"error": traceback.format_exc()}
        try:
            replies.write(REPLY + json.dumps(reply) + "\n")
            replies.flush()
        except BrokenPipeError:  # the command is gone
            os._exit(0)
