"""Talking to LLM providers through litellm: what the judge and the policy share.

litellm is imported on first use (it takes seconds) and kept offline (prices from its bundled
map). Keys come from the environment only; a local server gets a placeholder. Failures worth
another attempt (rate limits, server errors, timeouts, lost connections) wait with exponential
backoff and jitter, or as long as the server's Retry-After says.
"""

from __future__ import annotations

import email.utils
import gc
import os
import random
import threading
from datetime import UTC, datetime
from typing import Any

__all__ = ["LOCAL_PLACEHOLDER_KEY", "api_key", "backoff_delay", "completion_params", "describe", "load_litellm", "is_own_process",
           "missing_key", "own_process", "priced", "response_cost", "retryable"]

LOCAL_PLACEHOLDER_KEY = "synthkit-local-no-key"
MAX_DELAY_S = 120.0


_owned = False
_litellm_frozen = False


def own_process() -> None:
    """Declare this process synthkit's own (the `synthkit` command, and the loky workers it
    starts), whose start-up objects live as long as it does: they are frozen out of the garbage
    collector's scans now, and litellm's when it is first loaded. Its millions of objects,
    scanned over and over, cost about a tenth of its CPU per call. Whatever else is alive at
    those two moments is frozen too, so a cycle among it is never freed: a bounded cost, paid
    once, which a caller's process (a notebook) is never asked to pay."""
    global _owned
    if not _owned:
        _owned = True
        gc.freeze()


def is_own_process() -> bool:
    return _owned


def load_litellm() -> Any:
    global _litellm_frozen
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    if _owned and not _litellm_frozen:
        _litellm_frozen = True
        gc.freeze()
    return litellm


def api_key(api_key_env: str | None, placeholder: bool) -> str | None:
    """The key to send, when not the provider's usual variable (which litellm reads itself):
    the value of `api_key_env`, else a placeholder for a local server; never a provider's key."""
    key = os.environ.get(api_key_env) if api_key_env else None
    if key:
        return key
    return LOCAL_PLACEHOLDER_KEY if placeholder else None


def completion_params(model: str, messages: list[dict[str, Any]], *, max_tokens: int, timeout_s: float,
                      temperature: float | None, api_base: str | None, api_key_env: str | None,
                      placeholder: bool) -> dict[str, Any]:
    """The arguments of one `litellm.completion` call; retries are the caller's (num_retries=0),
    and parameters a provider rejects (o1's temperature) are dropped."""
    priced(model)
    params: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens,
                              "timeout": timeout_s, "num_retries": 0, "drop_params": True}
    if temperature is not None:
        params["temperature"] = temperature
    if api_base:
        params["api_base"] = api_base
    key = api_key(api_key_env, placeholder)
    if key:
        params["api_key"] = key
    return params


def missing_key(model: str, api_base: str | None, api_key_env: str | None, placeholder: bool) -> str | None:
    """The environment variable a model needs but that is not set (names joined), if any."""
    if placeholder:
        return None
    if api_key_env:
        return None if os.environ.get(api_key_env) else api_key_env
    litellm = load_litellm()
    try:
        found = litellm.validate_environment(model=model, api_base=api_base)
    except Exception:  # a model litellm cannot place: the call itself will say what is wrong
        return None
    missing = found.get("missing_keys") or []
    return None if found.get("keys_in_environment") or not missing else ", ".join(missing)


def _retry_after(exc: Exception) -> float | None:
    """Seconds the server asked to wait: Retry-After in seconds or as an HTTP date."""
    headers = getattr(exc, "litellm_response_headers", None) or getattr(
        getattr(exc, "response", None), "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is in GMT
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def retryable(exc: Exception) -> bool:
    litellm = load_litellm()

    kinds = (litellm.RateLimitError, litellm.Timeout, litellm.APIConnectionError,
             litellm.InternalServerError, litellm.ServiceUnavailableError)
    if isinstance(exc, kinds):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def backoff_delay(exc: Exception, attempt: int, base_s: float) -> float:
    """Seconds to wait before attempt `attempt + 1`: Retry-After when the server sent one."""
    delay = _retry_after(exc)
    if delay is None:
        delay = base_s * 2 ** (attempt - 1) * (0.5 + random.random())
    return min(delay, MAX_DELAY_S)


def describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


_pricing: dict[str, bool] = {}
_pricing_lock = threading.Lock()


def priced(model: str) -> bool:
    """Whether litellm's bundled map has a price for `model`.

    A model it has none for (a local server's, say) is registered at zero cost, once per
    process: otherwise litellm hunts through its map for a price after every call, which is
    about a fifth of the CPU it spends per call."""
    with _pricing_lock:
        if model not in _pricing:
            litellm = load_litellm()
            try:
                litellm.cost_per_token(model=model, prompt_tokens=1, completion_tokens=1)
                _pricing[model] = True
            except Exception:  # litellm raises several kinds for a model it cannot price
                _pricing[model] = False
                if "/" in model:  # a bare name registered would tell litellm its provider
                    litellm.register_model({model: {
                        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
                        "cache_creation_input_token_cost": 0.0, "cache_read_input_token_cost": 0.0,
                        "litellm_provider": model.split("/")[0], "mode": "chat"}},
                        persist_across_reloads=False, add_to_provider_model_sets=False)
        return _pricing[model]


def response_cost(response: Any, model: str) -> tuple[float, bool]:
    """The USD cost litellm priced a response of `model` at (from its bundled map), and whether
    it could: a model without a price of its own may still be priced by the model the server
    says answered (a proxy's alias)."""
    cost = (getattr(response, "_hidden_params", None) or {}).get("response_cost")
    if cost is None or (not cost and not priced(model)):
        return 0.0, False
    return float(cost), True
