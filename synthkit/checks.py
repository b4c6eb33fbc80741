"""Checks on config values: a wrong type is one clear line, never a silent coercion.

Hydra passes what the command line says as it parses it: `skip_bad=no` is the string "no"
(which Python would take as true) and `rubrics.paths=rubrics` a string (whose letters would be
taken as paths). Commands read their values through these functions instead.
"""

from __future__ import annotations

import math
import os
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


def _has_credentials(value: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return bool(parts.username or parts.password
                or re.search(r"key|token|secret|sig|auth", parts.query, re.IGNORECASE))


def no_credentials(node: DictConfig, key: str, variable: str | None = None) -> None:
    """A URL with credentials in it would be stored with the run's config and results: the key
    belongs in an environment variable (`variable`, or the one named by `api_key_env`)."""
    value = node[key]
    if value is None:
        return
    if _has_credentials(str(value)):
        where = variable or f"an environment variable named by {name(node, 'api_key_env')}"
        raise SynthkitError(f"{name(node, key)} carries credentials (user:password@ or a key in the query), which "
                            f"would be stored with the run: pass the key in {where}")


def url(node: DictConfig, key: str, *, required: bool = False, variable: str | None = None) -> str | None:
    """An http(s) URL with a host and no credentials in it (None when unset and not `required`):
    an empty or mistyped server would otherwise send the calls, and the key, somewhere else."""
    if node[key] is None and not required:
        return None
    value = text(node, key)
    no_credentials(node, key, variable)
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SynthkitError(f"{name(node, key)} must be an http(s) URL, not {value!r}")
    return value


# A config key named like a secret (api_key, auth-key, token, client_secret, password, ...)
SECRET_NAME = re.compile(r"(^|[_-])((api|auth|access|secret|private|client)[_-]?key|token|secret|password|passwd"
                         r"|authorization|credentials?)$", re.IGNORECASE)
# Keys of OpenAI, Anthropic, Groq, xAI, Hugging Face, GitHub, Google and AWS by their prefixes; bearer tokens
_SECRET_VALUE = re.compile(r"\b(sk-[A-Za-z0-9_-]{16,}|gsk_[A-Za-z0-9]{16,}|xai-[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{16,}"
                           r"|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_\w{16,}|AIza[\w-]{30,}|AKIA[0-9A-Z]{16})"
                           r"|\bbearer\s+\S", re.IGNORECASE)
_MAP_ITEM = re.compile(r"[{,]\s*['\"]?([\w.-]+)['\"]?\s*:\s*([^,}]*)")  # key: value of a map given as {k: v}
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SWEEP = re.compile(r"^\w+\((.*)\)$")  # choice(a,b), range(...): Hydra's sweep functions
KEYS_FROM_ENVIRONMENT = ("keys come only from environment variables (OPENAI_API_KEY, GROQ_API_KEY, "
                         "ANTHROPIC_API_KEY, ENVIRONMENT_API_KEY for a task app, or the one api_key_env names)")


def _names_variable(value: str) -> bool:
    """An environment variable's name: upper case as such names are, or one that is set. A key
    pasted in its place (hf_..., ghp_..., most keys) is neither."""
    return bool(_VARIABLE.fullmatch(value)) and (value.upper() == value or value in os.environ)


def _items(value: str) -> list[str]:
    """The values an override gives, unquoted: one, or a sweep's (`a,b`, `choice(a,b)`)."""
    sweep = _SWEEP.match(value.strip())
    items = [item.strip() for item in (sweep.group(1) if sweep else value).split(",")]
    return [item[1:-1] if len(item) > 1 and item[0] == item[-1] and item[0] in "'\"" else item for item in items]


def _plain(item: str) -> bool:
    """A number, true, false or null: no secret, whatever the key's name (a criterion `token`)."""
    try:
        float(item)
    except ValueError:
        return item.lower() in ("true", "false", "null", "")
    return True


def override_secret(override: str) -> str | None:
    """What is wrong with a command-line override that would put a secret in the run's saved
    config (Hydra writes the overrides to disk before any command sees them), or None."""
    key, equals, value = override.partition("=")
    key = key.lstrip("+~")
    if not equals:
        return None
    items = _MAP_ITEM.findall(value) if value.lstrip().startswith("{") else []
    if (SECRET_NAME.search(key.rsplit(".", 1)[-1]) and not all(map(_plain, _items(value)))) \
            or any(SECRET_NAME.search(k) and not _plain(_items(v)[0]) for k, v in items):
        return f"{key}: a secret on the command line would be saved with the run; {KEYS_FROM_ENVIRONMENT}"
    if _SECRET_VALUE.search(value):
        return f"{key}: the value looks like an API key, which would be saved with the run; {KEYS_FROM_ENVIRONMENT}"
    if key.endswith("api_key_env"):
        if not all(item.lower() in ("", "null") or _names_variable(item) for item in _items(value)):
            return f"{key} names an environment variable, such as OPENAI_API_KEY: upper case, or one that is set; " \
                   "the value given is neither (a key would be saved with the run)"
    if _has_credentials(value):
        return f"{key} carries credentials (user:password@ or a key in the query), which would be saved " \
               f"with the run; {KEYS_FROM_ENVIRONMENT}"
    return None


def variable_name(node: DictConfig, key: str) -> str | None:
    """The name of an environment variable (`api_key_env`), never a key pasted in its place."""
    value = node[key]
    if value is None:
        return None
    if not isinstance(value, str) or not _names_variable(value):
        raise SynthkitError(f"{name(node, key)} names an environment variable, such as OPENAI_API_KEY: upper case, "
                            "or one that is set; the value given is neither")
    return value


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


def nonempty(node: DictConfig, key: str, hint: str = "") -> str:
    """Text with something in it: an empty name would be recorded as one."""
    value = text(node, key)
    if not value.strip():
        raise SynthkitError(f"{name(node, key)} is empty{hint}")
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
