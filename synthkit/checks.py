"""Checks on config values: a wrong type is one clear line, never a silent coercion.

Hydra passes what the command line says as it parses it: `skip_bad=no` is the string "no"
(which Python would take as true) and `rubrics.paths=rubrics` a string (whose letters would be
taken as paths). Commands read their values through these functions instead.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from synthkit.errors import SynthkitError


def name(node: DictConfig, key: str) -> str:
    parent = node._get_full_key(None) if hasattr(node, "_get_full_key") else ""
    return f"{parent}.{key}" if parent else key


def only(node: DictConfig, keys: set[str] | frozenset[str]) -> None:
    """A key the command does not know (a typo, most often) is an error listing the known ones."""
    unknown = sorted(set(node) - set(keys))
    if unknown:
        raise SynthkitError(f"{name(node, unknown[0])} is not a known key (keys: {', '.join(sorted(keys))})")


def no_credentials(node: DictConfig, key: str, variable: str | None = None) -> None:
    """A URL with credentials in it would be stored with the run's config and results: the key
    belongs in an environment variable (`variable`, or the one named by `api_key_env`)."""
    value = node[key]
    if value is None:
        return
    parts = urllib.parse.urlsplit(str(value))
    if parts.username or parts.password or re.search(r"key|token|secret|sig|auth", parts.query, re.IGNORECASE):
        where = variable or f"an environment variable named by {name(node, 'api_key_env')}"
        raise SynthkitError(f"{name(node, key)} carries credentials (user:password@ or a key in the query), which "
                            f"would be stored with the run: pass the key in {where}")


def flag(node: DictConfig, key: str) -> bool:
    value = node[key]
    if not isinstance(value, bool):
        raise SynthkitError(f"{name(node, key)} must be true or false, not {value!r}")
    return value


def choice(node: DictConfig, key: str, options: tuple[str, ...]) -> str:
    value = node[key]
    if value not in options:
        raise SynthkitError(f"{name(node, key)} must be one of {', '.join(options)}, not {value!r}")
    return value


def text(node: DictConfig, key: str) -> str:
    value = node[key]
    if not isinstance(value, str):
        raise SynthkitError(f"{name(node, key)} must be text, not {value!r}")
    return value


def strings(node: DictConfig, key: str) -> list[str]:
    value = node[key]
    if not isinstance(value, ListConfig) or not all(isinstance(v, str | int) for v in value):
        raise SynthkitError(f"{name(node, key)} must be a list, e.g. {name(node, key)}=[a,b], "
                            f"not {value!r}")
    return [str(v) for v in value]


def mapping(node: DictConfig, key: str) -> dict[str, Any]:
    value = node[key]
    if not isinstance(value, DictConfig):
        raise SynthkitError(f"{name(node, key)} must be a map of keys to values, not {value!r}")
    return OmegaConf.to_container(value, resolve=True)


def number(node: DictConfig, key: str, *, minimum: float = 0, integer: bool = False,
           positive: bool = True, optional: bool = False) -> Any:
    value = node[key]
    if value is None and optional:
        return None
    kind = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value) \
            or value < minimum or (positive and value <= 0):
        what = "a whole number" if integer else "a number"
        bound = "> 0" if positive else f">= {minimum:g}"
        raise SynthkitError(f"{name(node, key)} must be {what} {bound}, not {value!r}")
    return value
