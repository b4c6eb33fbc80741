"""Who acts: any LLM through litellm, or an offline scripted baseline per task.

A policy is set up once per run and gives each episode a fresh `decide` function. Both kinds
answer with an `LMCall`: the LLM's own call (input messages, completion, tool calls, tools
offered, usage, cost, latency), or the scripted policy's decision in the same shape, so every
trace reads the same whoever played it.
"""

from __future__ import annotations

import itertools
import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs

from synthkit.collect.arithmetic import Problem
from synthkit.collect.crafter import ACTIONS, CrafterState
from synthkit.errors import SynthkitError
from synthkit.providers import (
    backoff_delay,
    completion_params,
    describe,
    load_litellm,
    missing_key,
    response_cost,
    retryable,
)
from synthkit.traces.model import LMCall, Message, ToolCall

__all__ = ["Decide", "LitellmPolicy", "ScriptedPolicy"]

Decide = Callable[[Message, Message, tuple[dict[str, Any], ...], Any], LMCall]
SCRIPTED_MODEL = "scripted"


def _now() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class LitellmPolicy:
    """A model behind litellm: `openai/gpt-4o-mini`, `groq/...`, `anthropic/...`, or a local
    OpenAI-compatible server at `api_base`. Calls retry like the judge's."""

    model: str
    api_base: str | None = None
    temperature: float | None = 0.7
    max_tokens: int = 512
    system_prompt: str | None = None  # None: the task's (the rollout puts it in the trace)
    timeout_s: float = 60.0
    max_retries: int = 4
    api_key_env: str | None = None
    placeholder_key: bool = False
    backoff_s: float = 1.0
    inference_url: str | None = None  # for task apps, whose own policy calls this URL
    name: str = "litellm"

    def check(self) -> None:
        """A missing provider key is an error before any episode starts."""
        missing = missing_key(self.model, self.api_base, self.api_key_env, self.placeholder_key)
        if missing:
            local = "; a local server that takes no key: policy.placeholder_key=true" if self.api_base else ""
            raise SynthkitError(f"policy.model {self.model} needs {missing} in the environment (keys never go in "
                                f"config){local}")
        load_litellm()  # once, here, before episode threads use it

    def episode(self, seed: int) -> Decide:
        return self.decide

    def _params(self, messages: list[dict[str, Any]], tools: tuple[dict[str, Any], ...]) -> dict[str, Any]:
        params = completion_params(self.model, messages, max_tokens=self.max_tokens, timeout_s=self.timeout_s,
                                   temperature=self.temperature, api_base=self.api_base,
                                   api_key_env=self.api_key_env, placeholder=self.placeholder_key)
        if tools:
            params["tools"] = list(tools)
        return params

    def decide(self, system: Message, user: Message, tools: tuple[dict[str, Any], ...], state: Any) -> LMCall:
        messages = [{"role": "system", "content": system.content}, {"role": "user", "content": user.content}]
        params = self._params(messages, tools)
        litellm = load_litellm()
        started, clock = _now(), time.perf_counter()
        request_params = {k: params[k] for k in ("temperature", "max_tokens") if k in params}
        base = dict(model=self.model, provider=self.model.split("/")[0] if "/" in self.model else None,
                    input_messages=(system, user), tools=tools, started_at=started, request_params=request_params)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = litellm.completion(**params)
                break
            except Exception as exc:
                if attempt > self.max_retries or not retryable(exc):
                    return LMCall(**base, error=describe(exc), completed_at=_now(),
                                  latency_ms=int((time.perf_counter() - clock) * 1000))
                time.sleep(backoff_delay(exc, attempt, self.backoff_s))
        choice = response.choices[0]
        message = choice.message
        calls = tuple(ToolCall(name=c.function.name or "", arguments=c.function.arguments or "",
                               call_id=c.id or f"call_{uuid.uuid4().hex[:12]}")
                      for c in (getattr(message, "tool_calls", None) or ()))
        usage = getattr(response, "usage", None)
        cost, priced = response_cost(response, self.model)
        return LMCall(**base, output_messages=(Message("assistant", message.content or "", tool_calls=calls),),
                      tool_calls=calls, input_tokens=getattr(usage, "prompt_tokens", None),
                      output_tokens=getattr(usage, "completion_tokens", None), cost_usd=cost if priced else None,
                      latency_ms=int((time.perf_counter() - clock) * 1000), finish_reason=choice.finish_reason,
                      call_id=getattr(response, "id", None), completed_at=_now())


@attrs.frozen
class ScriptedPolicy:
    """An offline baseline: Crafter by simple rules (wood, table, pickaxe, stone; drink and eat
    when low; explore), math by working the problem out; with random slips (`epsilon` for
    Crafter's random actions, `error_rate` for wrong answers) seeded per episode, so episodes
    range from good to bad for judges to separate."""

    epsilon: float = 0.1
    error_rate: float = 0.2
    name: str = "scripted"
    model: str = SCRIPTED_MODEL

    def check(self) -> None:
        """Needs nothing."""

    def episode(self, seed: int) -> Decide:
        rng = random.Random(f"scripted:{seed}:{self.epsilon}:{self.error_rate}")
        crafter = _CrafterRules(rng, self.epsilon)
        counter = itertools.count()

        def decide(system: Message, user: Message, tools: tuple[dict[str, Any], ...], state: Any) -> LMCall:
            started = _now()
            if isinstance(state, CrafterState):
                text, call = "", ToolCall("interact", json.dumps({"actions": crafter.actions(state, _limit(tools))}))
            elif isinstance(state, Problem):
                text, call = _math_answer(state, rng, self.error_rate)
            else:
                raise SynthkitError(f"the scripted policy does not know how to play {type(state).__name__}")
            call = attrs.evolve(call, call_id=f"call_{seed}_{next(counter)}")
            return LMCall(model=self.model, provider="synthkit", input_messages=(system, user),
                          output_messages=(Message("assistant", text, tool_calls=(call,)),), tool_calls=(call,),
                          tools=tools, latency_ms=0, finish_reason="tool_calls", started_at=started,
                          completed_at=_now(), request_params={"epsilon": self.epsilon, "error_rate": self.error_rate})

        return decide


def _limit(tools: tuple[dict[str, Any], ...]) -> int:
    for tool in tools:
        schema = tool.get("function", {}).get("parameters", {}).get("properties", {}).get("actions", {})
        if "maxItems" in schema:
            return int(schema["maxItems"])
    return 1


def _math_answer(problem: Problem, rng: random.Random, error_rate: float) -> tuple[str, ToolCall]:
    value = problem.answer
    if rng.random() < error_rate:
        value += rng.choice([-1, 1]) * rng.randint(1, 10)  # a slip somewhere in the working
        text = f"{problem.working.rsplit('=', 1)[0]}= {value}."
    else:
        text = f"{problem.working}."
    return text, ToolCall("answer", json.dumps({"value": value}))


class _CrafterRules:
    """Rules of thumb for Crafter, from what the player sees (never the whole map)."""

    def __init__(self, rng: random.Random, epsilon: float) -> None:
        self.rng, self.epsilon = rng, epsilon
        self.heading = rng.choice(("move_left", "move_right", "move_up", "move_down"))

    def actions(self, state: CrafterState, limit: int) -> list[str]:
        if self.rng.random() < self.epsilon:
            return [self.rng.choice(ACTIONS)]
        plan = self._plan(state)
        return plan[:max(1, limit)]

    def _plan(self, state: CrafterState) -> list[str]:
        vitals, held, seen = state.vitals, state.inventory, state.seen
        if vitals["drink"] <= 5 and "water" in seen:
            return self._reach(state, "water", ["do"])
        if vitals["food"] <= 5 and "cow" in seen:
            return self._reach(state, "cow", ["do", "do"])
        if vitals["energy"] <= 2:
            return ["sleep"]
        near_table = any(max(abs(dx), abs(dy)) <= 1 for dx, dy in seen.get("table", ()))
        if not held.get("wood_pickaxe"):
            if near_table and held.get("wood", 0) >= 1:
                return ["make_wood_pickaxe"]
            if "table" in seen and held.get("wood", 0) >= 1:
                return self._reach(state, "table", [])
            if "table" not in seen and held.get("wood", 0) >= 2:
                return self._place(state, "place_table")
            return self._gather(state, "tree")
        if not held.get("wood_sword") and near_table and held.get("wood", 0) >= 1:
            return ["make_wood_sword"]
        if not held.get("stone_pickaxe"):
            if near_table and held.get("wood", 0) >= 1 and held.get("stone", 0) >= 1:
                return ["make_stone_pickaxe"]
            if held.get("stone", 0) < 1 and "stone" in seen:
                return self._reach(state, "stone", ["do"])
            if held.get("stone", 0) >= 1 and "table" in seen and held.get("wood", 0) >= 1:
                return self._reach(state, "table", [])
        if "sapling" not in held and self.rng.random() < 0.1:
            return ["do"] if state.facing_thing == "grass" else self._explore(state)
        return self._gather(state, "tree")

    def _gather(self, state: CrafterState, kind: str) -> list[str]:
        return self._reach(state, kind, ["do", "do"]) if kind in state.seen else self._explore(state)

    def _place(self, state: CrafterState, action: str) -> list[str]:
        if state.facing_thing in ("grass", "sand", "path"):
            return [action]
        return [self.rng.choice(("move_left", "move_right", "move_up", "move_down")), action]

    def _reach(self, state: CrafterState, kind: str, then: list[str]) -> list[str]:
        """Walk up to the nearest `kind` and face it (a move towards what cannot be entered only
        turns the player), then act; the next turn plans again from what is seen then."""
        dx, dy = state.seen[kind][0]
        horizontal = "move_right" if dx > 0 else "move_left"
        vertical = "move_down" if dy > 0 else "move_up"
        if abs(dx) + abs(dy) == 1:
            face = horizontal if dx else vertical
            return then if state.facing == (dx, dy) else [face, *then]
        if dy == 0:
            return [horizontal] * (abs(dx) - 1) + then
        if dx == 0:
            return [vertical] * (abs(dy) - 1) + then
        return [horizontal] * abs(dx) + [vertical] * max(abs(dy) - 1, 1) + then

    def _explore(self, state: CrafterState) -> list[str]:
        blocked = state.facing_thing not in ("grass", "sand", "path")
        if blocked or self.rng.random() < 0.15:
            self.heading = self.rng.choice(("move_left", "move_right", "move_up", "move_down"))
        return [self.heading] * 3
