"""One path for every judge call: litellm, bounded retries, parse, one repair, validate.

Cache lookups happen before a call is made (in the driver, which owns the DB); this module
turns one `JudgeRequest` into one `JudgeAnswer`, never raising: every failure comes back as an
answer with an `error`, so it is recorded as an error and never as a score.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from synthkit.providers import backoff_delay, completion_params, describe, load_litellm, response_cost, retryable

__all__ = ["JudgeAnswer", "JudgeRequest", "JudgeSettings", "call_judges", "first_calls_failing", "load_litellm",
           "parse_answer", "wants_schema"]

FAILING_SHARE = 0.8  # the first calls failing at least this often stop the run


@attrs.frozen
class JudgeSettings:
    """What decides how a judge is called; plain values, so they travel to worker processes."""

    model: str
    api_base: str | None = None
    temperature: float | None = 0.0
    max_tokens: int = 1024
    timeout_s: float = 60.0
    max_retries: int = 4
    concurrency: int = 16
    system_prompt: bool = True
    json_schema: bool | None = None  # None: where litellm says the model supports it
    api_key_env: str | None = None   # read the key from this variable instead of the provider's
    placeholder_key: bool = False    # local servers: send a placeholder when no key is set
    backoff_s: float = 1.0
    abort_after: int = 8             # stop when most of the first this-many calls fail (0: never)

    def decoding(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "max_tokens": self.max_tokens}


@attrs.frozen
class JudgeRequest:
    key: tuple[str, str]                 # (session id, rubric id)
    criteria: tuple[str, ...]
    messages: tuple[dict[str, str], ...]
    schema: dict[str, Any] | None  # the JSON schema the answer is held to, if the judge takes one
    cache_key: str


@attrs.frozen
class JudgeAnswer:
    key: tuple[str, str]
    cache_key: str
    scores: dict[str, tuple[float, str]] | None  # criterion -> (score, reasoning)
    raw: str | None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    priced: bool = True
    latency_ms: int = 0
    calls: int = 0
    sent: bool = True  # False: not sent because the run stopped early


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_answer(raw: str | None, criteria: Sequence[str]) -> tuple[dict[str, tuple[float, str]] | None, str | None]:
    """Scores and reasonings from a judge's text, tolerant of code fences and prose around the
    JSON; or why it cannot be read."""
    if not raw or not raw.strip():
        return None, "the answer is empty"
    text = _FENCE.sub("", raw.strip())
    try:
        data = json.loads(text)
    except ValueError:
        start, end = text.find("{"), text.rfind("}")
        try:
            data = json.loads(text[start:end + 1]) if 0 <= start < end else None
        except ValueError:
            data = None
        if data is None:
            return None, "the answer is not a JSON object"
    if isinstance(data, dict) and isinstance(data.get("criteria"), dict):
        data = data["criteria"]
    if not isinstance(data, dict):
        return None, "the answer is not a JSON object"
    scores = {}
    for name in criteria:
        item = data.get(name)
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = {"score": item}
        if not isinstance(item, dict) or "score" not in item:
            return None, f"criterion {name} has no score"
        score = item["score"]
        if isinstance(score, str):
            try:
                score = float(score)
            except ValueError:
                return None, f"criterion {name} has score {item['score']!r}, not a number"
        if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score) \
                or not 0 <= score <= 1:
            return None, f"criterion {name} has score {item['score']!r}, outside [0, 1]"
        scores[name] = (float(score), str(item.get("reasoning") or ""))
    return scores, None


class _Call:
    """The accounting of one request across its attempts."""

    def __init__(self) -> None:
        self.tokens_in = self.tokens_out = self.calls = 0
        self.cost = 0.0
        self.priced = True
        self.started = time.perf_counter()


async def _complete(settings: JudgeSettings, messages: list[dict[str, str]],
                    schema: dict[str, Any] | None, call: _Call) -> str:
    """One chat completion with retries on rate limits, server errors, timeouts and
    connection failures (exponential backoff with jitter; Retry-After honoured)."""
    litellm = load_litellm()

    params = completion_params(settings.model, messages, max_tokens=settings.max_tokens,
                               timeout_s=settings.timeout_s, temperature=settings.temperature,
                               api_base=settings.api_base, api_key_env=settings.api_key_env,
                               placeholder=settings.placeholder_key)
    if schema is not None:
        params["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "rubric_scores", "schema": schema, "strict": True}}
    attempt = 0
    while True:
        attempt += 1
        call.calls += 1
        try:
            response = await litellm.acompletion(**params)
        except Exception as exc:
            if attempt > settings.max_retries or not retryable(exc):
                raise
            await asyncio.sleep(backoff_delay(exc, attempt, settings.backoff_s))
            continue
        usage = getattr(response, "usage", None)
        call.tokens_in += getattr(usage, "prompt_tokens", 0) or 0
        call.tokens_out += getattr(usage, "completion_tokens", 0) or 0
        cost, priced = response_cost(response, settings.model)
        call.cost += cost
        call.priced = call.priced and priced
        return response.choices[0].message.content or ""


def first_calls_failing(done: int, failed: int, abort_after: int) -> bool:
    """Most of a run's first calls failed: a wrong key, model or server, so stop rather than
    send every call to fail (`abort_after` 0: never)."""
    return 0 < abort_after <= done <= 4 * abort_after and failed >= FAILING_SHARE * done


def wants_schema(settings: JudgeSettings) -> bool:
    """Whether to hold the judge's answer to a JSON schema: as configured, else when litellm
    knows the model supports one."""
    if settings.json_schema is not None:
        return settings.json_schema
    litellm = load_litellm()

    try:
        return bool(litellm.supports_response_schema(model=settings.model))
    except Exception:
        return False


async def _judge(request: JudgeRequest, settings: JudgeSettings) -> JudgeAnswer:
    call = _Call()
    messages = [dict(m) for m in request.messages]
    raw: str | None = None
    error: str | None = None
    scores = None
    try:
        raw = await _complete(settings, messages, request.schema, call)
        scores, problem = parse_answer(raw, request.criteria)
        if scores is None:
            repair = [*messages, {"role": "assistant", "content": raw},
                      {"role": "user", "content": (
                          f"Your answer could not be used: {problem}. Reply again with only the "
                          "JSON object: for each of " + ", ".join(request.criteria)
                          + ' a {"reasoning": "...", "score": <number from 0 to 1>}.')}]
            raw = await _complete(settings, repair, request.schema, call)
            scores, problem = parse_answer(raw, request.criteria)
            if scores is None:
                error = f"unusable judge answer after a repair request: {problem}"
    except Exception as exc:
        error = describe(exc)
    return JudgeAnswer(key=request.key, cache_key=request.cache_key, scores=scores, raw=raw,
                       error=error, tokens_in=call.tokens_in, tokens_out=call.tokens_out,
                       cost_usd=call.cost, priced=call.priced, calls=call.calls,
                       latency_ms=int((time.perf_counter() - call.started) * 1000))


_semaphores: dict[int, asyncio.Semaphore] = {}


def _slots(concurrency: int) -> asyncio.Semaphore:
    """The process's call slots: batches in flight together share `concurrency`, so the next
    batch's calls fill the slots the last one's stragglers leave free."""
    if concurrency not in _semaphores:
        _semaphores[concurrency] = asyncio.Semaphore(max(1, concurrency))
    return _semaphores[concurrency]


async def _judge_all(requests: Sequence[JudgeRequest], settings: JudgeSettings,
                     on_answer: Callable[[JudgeAnswer], None] | None) -> list[JudgeAnswer]:
    semaphore = _slots(settings.concurrency)
    failures = {"done": 0, "failed": 0, "aborted": False}

    async def one(request: JudgeRequest) -> JudgeAnswer:
        async with semaphore:
            if failures["aborted"]:
                return JudgeAnswer(key=request.key, cache_key=request.cache_key, scores=None,
                                   raw=None, error="not sent: the run stopped early", sent=False)
            answer = await _judge(request, settings)
            failures["done"] += 1
            failures["failed"] += answer.scores is None
            if first_calls_failing(failures["done"], failures["failed"], settings.abort_after):
                failures["aborted"] = True
            if on_answer is not None and answer.scores is not None:
                on_answer(answer)
            return answer

    return list(await asyncio.gather(*(one(r) for r in requests)))


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _shared_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a thread of its own: litellm's async machinery (its
    logging worker, its HTTP clients) binds to the first loop it sees and breaks on others."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            _semaphores.clear()  # they belong to the loop they were made on
            threading.Thread(target=_loop.run_forever, name="synthkit-judge-loop", daemon=True).start()
        return _loop


def call_judges(requests: Sequence[JudgeRequest], settings: JudgeSettings,
                on_answer: Callable[[JudgeAnswer], None] | None = None) -> list[JudgeAnswer]:
    """Answer `requests` at `settings.concurrency` on the process's event loop (litellm's async
    client costs less CPU per call than threads). If most of the first calls fail (a wrong key,
    a wrong model, a dead server), the rest are not sent. `on_answer` sees each usable answer
    as it arrives, before the batch is done."""
    if not requests:
        return []
    load_litellm()
    return asyncio.run_coroutine_threadsafe(_judge_all(requests, settings, on_answer),
                                            _shared_loop()).result()
