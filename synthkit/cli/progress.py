"""A status line for long commands: rewritten in place on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys

__all__ = ["Progress"]


class Progress:
    """Call with each new status; off a terminal only every `every`-th one is logged (and the
    last, by `end`), so a log of thousands of episodes stays readable."""

    def __init__(self, log: logging.Logger, every: int = 1) -> None:
        self.log, self.every = log, max(1, every)
        self.count, self.last = 0, ""
        self.terminal = sys.stderr.isatty()

    def __call__(self, line: str) -> None:
        self.count += 1
        self.last = line
        if self.terminal:
            print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)
        elif self.count % self.every == 0:
            self.log.info(line)
            self.last = ""

    def end(self) -> None:
        if self.terminal and self.count:
            print(file=sys.stderr)
        elif self.last:
            self.log.info(self.last)
