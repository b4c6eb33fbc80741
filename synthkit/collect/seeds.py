"""Which seeds an eval runs: a list (`[0,1,2]`), one number, or ranges (`"0-99,200"`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from synthkit.errors import SynthkitError

__all__ = ["parse_seeds"]

MAX_SEEDS = 1_000_000


def _part(text: str) -> list[int]:
    low, dash, high = text.partition("-")
    try:
        if not dash:
            return [int(low)]
        first, last = int(low), int(high)
    except ValueError:
        raise SynthkitError(f"eval.seeds: {text!r} is not a seed or a range such as 0-99") from None
    if last < first:
        raise SynthkitError(f"eval.seeds: the range {text!r} runs backwards")
    if last - first >= MAX_SEEDS:
        raise SynthkitError(f"eval.seeds: the range {text!r} holds more than {MAX_SEEDS:,} seeds")
    return list(range(first, last + 1))


def parse_seeds(value: Any) -> list[int]:
    """The seeds in the order given; a seed named twice is an error, not a silent duplicate."""
    if isinstance(value, int) and not isinstance(value, bool):
        items: Iterable[Any] = [value]
    elif isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, Sequence):  # a list, from YAML or the command line
        items = list(value)
    else:
        raise SynthkitError(f"eval.seeds must be a list or ranges such as \"0-99,200\", not {value!r}")
    seeds: list[int] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise SynthkitError(f"eval.seeds: {item!r} is not a seed")
        if isinstance(item, int):
            seeds.append(item)
        elif item:
            seeds.extend(_part(item))
    if not seeds:
        raise SynthkitError("eval.seeds is empty")
    if any(seed < 0 for seed in seeds):
        raise SynthkitError(f"eval.seeds: seeds are 0 or more, not {min(seeds)}")
    repeated = sorted(seed for seed, n in Counter(seeds).items() if n > 1)
    if repeated:
        raise SynthkitError(f"eval.seeds names seed {repeated[0]} more than once")
    return seeds
