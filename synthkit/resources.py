"""Where synthkit's own defaults live: the `conf/` and `rubrics/` it ships, and bundled samples."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def default_dir(name: str) -> Path:
    """`conf` or `rubrics` as shipped: in the installed package (`synthkit/defaults/`), or at
    the top of a source checkout."""
    for candidate in (_HERE / "defaults" / name, _HERE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"synthkit's default {name}/ is missing from the installation")


def sample(name: str) -> Path:
    """A small data file bundled with synthkit (for the Quickstart and examples)."""
    return _HERE / "samples" / name
