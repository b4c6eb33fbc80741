"""A synth-ai style task app over HTTP as a task: the app plays each episode with its own
policy and answers with the trace, which synthkit stores as one of its sessions.

The rollout request carries what synth-ai's own eval sends; the answer is read with the quirks
real apps have: datetimes as Python reprs, events without `event_type`, and the policy's turns
as `policy_system_prompt` / `policy_user_prompt` / `policy_tool_call` messages, kept here as
system / user / assistant turns. The outcome reward comes from the answer's `metrics`. The
criteria the app advertises in `/task_info` become the judge criteria of a rubric built for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import defaultdict
from typing import Any

import attrs
import httpx
from omegaconf import DictConfig

from synthkit import checks
from synthkit.collect.episode import EpisodeRecorder
from synthkit.errors import SynthkitError
from synthkit.rubrics.api import Rubric, RubricDefinitionError, judge
from synthkit.traces import codec
from synthkit.traces.model import (
    Event,
    EventType,
    Message,
    OutcomeReward,
    Timestep,
    ToolCall,
)

__all__ = ["TaskApp", "TaskAppError", "TaskAppPolicy", "record_trace", "rubric_for", "task_app_from_config"]

log = logging.getLogger("synthkit.taskapp")
KEY_VARIABLE = "ENVIRONMENT_API_KEY"
_ROLES = {**codec.MESSAGE_TYPE_TO_ROLE, "observation": "user", "action": "assistant"}
_REWARD_KEYS = ("total_reward", "mean_return", "outcome_score")
_NOT_IDENTIFIER = re.compile(r"[^0-9A-Za-z_]+")


class TaskAppError(Exception):
    """The app answered something synthkit cannot store; the episode is recorded as failed."""


@attrs.frozen
class TaskAppPolicy:
    """What the app's own policy is told to be: it runs inside the app, so nothing is called here."""

    model: str
    config: dict[str, Any]
    name: str

    def check(self) -> None:
        """The app's policy holds its own keys; nothing to check on this side."""


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


class TaskApp:
    def __init__(self, url: str, *, env_name: str | None, policy_name: str | None, max_llm_calls: int,
                 timeout_s: float, task_id: str | None) -> None:
        self.url = url.rstrip("/")
        self.max_llm_calls = max_llm_calls
        self._env_name, self._policy_name, self._task_id = env_name, policy_name, task_id
        headers = {"X-API-Key": os.environ[KEY_VARIABLE]} if os.environ.get(KEY_VARIABLE) else {}
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self.info: dict[str, Any] = {}

    # -- talking to the app -------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TaskAppError(f"task app {self.url} did not answer {method} {path}: "
                               f"{type(exc).__name__}: {exc}") from None
        if response.status_code in (401, 403):
            raise TaskAppError(f"task app {self.url} refused {method} {path} ({response.status_code}): "
                               f"set {KEY_VARIABLE} to the app's key")
        if response.status_code != 200:
            raise TaskAppError(f"task app {self.url} answered {response.status_code} to {method} {path}: "
                               f"{_short(response.text)}")
        try:
            return response.json()
        except ValueError:
            raise TaskAppError(f"task app {self.url} answered {method} {path} with something that is not "
                               f"JSON: {_short(response.text)!r}") from None

    def connect(self) -> None:
        """`/health`, then `/task_info` for the task's id and rubric: a run starts only once the
        app answers (an app that is down is one line, not one failure per seed)."""
        try:
            self._call("GET", "/health")
        except TaskAppError as exc:
            raise SynthkitError(str(exc)) from None
        try:
            info = self._call("GET", "/task_info")
        except TaskAppError as exc:
            log.warning("%s; going on without the task's id and rubric from the app", exc)
            info = {}
        if isinstance(info, list):
            info = info[0] if info else {}
        if isinstance(info, dict) and isinstance(info.get("taskset"), dict) and "rubric" not in info:
            info = {**info["taskset"], **{k: v for k, v in info.items() if k != "taskset"}}
        self.info = info if isinstance(info, dict) else {}
        if not isinstance(self.info.get("rubric") or self.info.get("rubrics"), dict):
            log.warning("task app %s advertises no rubric in /task_info: choose rubrics with rubrics.select", self.url)

    @property
    def task_id(self) -> str:
        task = self.info.get("task")
        advertised = task.get("id") if isinstance(task, dict) else None
        return self._task_id or (advertised if isinstance(advertised, str) and advertised else None) \
            or self.env_name or "taskapp"

    @property
    def env_name(self) -> str | None:
        advertised = self.info.get("environment")
        return self._env_name or (advertised if isinstance(advertised, str) and advertised else None)

    def bind(self, policy: Any) -> TaskAppPolicy:
        """The app runs the policy itself; from `policy=litellm` it takes the model, the decoding
        settings and the chat-completions URL its policy calls."""
        model = getattr(policy, "model", None)
        if getattr(policy, "name", None) != "litellm":
            raise SynthkitError("task=taskapp plays with the app's own policy: use policy=litellm with "
                                "policy.model and policy.inference_url")
        inference_url = policy.inference_url or (
            f"{policy.api_base.rstrip('/')}/chat/completions" if policy.api_base else None)
        if not inference_url:
            raise SynthkitError("task=taskapp needs policy.inference_url, the chat-completions URL the app's "
                                "policy calls (or policy.api_base, to which /chat/completions is added)")
        self.connect()
        config = {"model": model, "inference_url": inference_url, "temperature": policy.temperature,
                  "max_tokens": policy.max_tokens, "max_llm_calls": self.max_llm_calls}
        return TaskAppPolicy(model=model, config=config, name=self._policy_name or model)

    def rubrics(self) -> tuple[Rubric, ...]:
        rubric = rubric_for(self.task_id, self.info, origin=f"{self.url}/task_info")
        return () if rubric is None else (rubric,)

    def request(self, seed: int, split: str, run_id: str, policy: TaskAppPolicy) -> dict[str, Any]:
        env: dict[str, Any] = {"config": {"split": split, "index": seed}, "seed": seed}
        if self.env_name:
            env["env_name"] = self.env_name
        return {"run_id": run_id, "env": env,
                "policy": {"policy_name": policy.name, "config": dict(policy.config)},
                "ops": ["agent", "env"] * self.max_llm_calls,
                "record": {"return_trace": True, "trace_format": "structured"}, "mode": "eval"}

    def play(self, seed: int, policy: TaskAppPolicy, recorder: EpisodeRecorder) -> None:
        split = recorder.metadata.get("task_split", "train")
        answer = self._call("POST", "/rollout", json=self.request(seed, split, recorder.session_id, policy))
        try:
            record_trace(answer, recorder)
        except TaskAppError as exc:
            raise TaskAppError(f"task app {self.url} rollout for seed {seed}: {exc}") from None


# -- reading the answer ---------------------------------------------------------------------------

def _session_trace(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise TaskAppError(f"the answer is a {type(answer).__name__}, not a rollout response object")
    trace = answer.get("trace")
    if not isinstance(trace, dict):
        raise TaskAppError("the answer holds no trace (the app must honour record.return_trace with "
                           "trace_format=structured)")
    session = trace.get("session_trace", trace)
    parts = ("session_time_steps", "event_history", "markov_blanket_message_history")
    if not isinstance(session, dict) or not any(isinstance(session.get(p), list) for p in parts):
        raise TaskAppError("the trace is not a structured session trace (no steps, events or messages)")
    return session


def _time(raw: dict[str, Any], key: str = "event_time") -> float | None:
    record = raw.get("time_record")
    value = record.get(key) if isinstance(record, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _tool_calls(items: Any) -> tuple[ToolCall, ...]:
    """OpenAI's shape or synth-ai's `{"tool_name", "arguments"}`."""
    calls = []
    for index, item in enumerate(items if isinstance(items, list) else [items]):
        if not isinstance(item, dict):
            raise TaskAppError(f"a tool call is not an object: {_short(json.dumps(item, default=str))}")
        function = item.get("function") if isinstance(item.get("function"), dict) else item
        name = function.get("name") or function.get("tool_name") or function.get("tool")
        if not isinstance(name, str) or not name:
            raise TaskAppError(f"a tool call has no name: {_short(json.dumps(item, default=str))}")
        arguments = function.get("arguments", function.get("args", {}))
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        calls.append(ToolCall(name=name, arguments=arguments,
                              call_id=item.get("id") or item.get("call_id") or f"call_{index}"))
    return tuple(calls)


def _message(raw: dict[str, Any], step_id: str | None) -> Message:
    kind = str(raw.get("message_type") or "")
    role = _ROLES.get(kind.lower(), "system")
    content = raw.get("content")
    metadata = dict(raw.get("metadata") or {}) if isinstance(raw.get("metadata"), dict) else {}
    metadata["original_message_type"] = kind
    if isinstance(content, dict):
        payload = content.get("json_payload")
        text = content.get("text")
        if isinstance(payload, dict):
            body = payload.get("content", payload.get("text", text))
        else:
            body = payload if payload is not None else text
    else:
        body = content
    tool_calls: tuple[ToolCall, ...] = ()
    if kind.lower() == "policy_tool_call":
        decoded = codec.loads(body) if isinstance(body, str) else body
        if isinstance(decoded, list | dict):
            tool_calls, body = _tool_calls(decoded), ""
    if body is None:
        body = ""
    elif not isinstance(body, str | list):
        body = json.dumps(body, ensure_ascii=False, default=str)
    return Message(role=role, content=body, tool_calls=tool_calls, step_id=step_id, time=_time(raw, "message_time")
                   or _time(raw), metadata=metadata)


def _event(raw: dict[str, Any], step_id: str | None) -> Event:
    """An event by what it carries when it names no `event_type`: LM call records, or a reward."""
    kind = raw.get("event_type")
    if kind is None:
        if "call_records" in raw or "model_name" in raw:
            kind = EventType.LM_CALL.value
        elif any(k in raw for k in ("reward", "terminated", "truncated")):
            kind = EventType.ENVIRONMENT.value
        else:
            kind = EventType.RUNTIME.value
    try:
        event_type = EventType(kind)
    except ValueError:
        raise TaskAppError(f"an event of unknown type {kind!r}") from None
    metadata = dict(raw.get("metadata") or {}) if isinstance(raw.get("metadata"), dict) else {}
    if raw.get("event_metadata") is not None:
        metadata["event_metadata"] = raw["event_metadata"]
    common = {"type": event_type, "step_id": step_id, "system_instance_id": raw.get("system_instance_id"),
              "time": _time(raw), "metadata": metadata}
    if event_type is EventType.LM_CALL:
        records = raw.get("call_records") or []
        if not isinstance(records, list):
            raise TaskAppError("an LM event's call_records is not a list of call records")
        try:
            calls = tuple(codec.from_records(records, codec.lm_call_from_record))
        except (ValueError, TypeError, KeyError) as exc:
            raise TaskAppError(f"an LM event's call records cannot be read: {exc}") from None
        return Event(**common, lm_calls=calls)
    if event_type is EventType.ENVIRONMENT:
        reward = raw.get("reward")
        if reward is not None and (isinstance(reward, bool) or not isinstance(reward, int | float)):
            raise TaskAppError(f"an environment event's reward is not a number: {reward!r}")
        return Event(**common, reward=reward, terminated=raw.get("terminated"), truncated=raw.get("truncated"),
                     state_before=raw.get("system_state_before"), state_after=raw.get("system_state_after"))
    return Event(**common)


def _by_step(steps: list[dict[str, Any]], history: Any, key: str) -> list[tuple[dict[str, Any], str | None]]:
    """The session's history in recording order, each item with the step that holds it (steps
    repeat the history's items; a history item no step holds has none)."""
    owners: dict[str, list[str]] = defaultdict(list)
    in_steps: list[tuple[dict[str, Any], str | None]] = []
    for step in steps:
        for item in step.get(key) or ():
            if isinstance(item, dict):
                owners[json.dumps(item, sort_keys=True, default=str)].append(step["step_id"])
                in_steps.append((item, step["step_id"]))
    if not isinstance(history, list) or not history:
        return in_steps
    ordered = []
    for item in history:
        if not isinstance(item, dict):
            raise TaskAppError(f"a history item is not an object: {_short(str(item))}")
        found = owners.get(json.dumps(item, sort_keys=True, default=str))
        ordered.append((item, found.pop(0) if found else None))
    # what only a step holds comes after the history, with its step
    for item, step_id in in_steps:
        left = owners.get(json.dumps(item, sort_keys=True, default=str))
        if left and left[0] == step_id:
            ordered.append((item, left.pop(0)))
    return ordered


def _outcome(answer: dict[str, Any], metadata: dict[str, Any], steps: int) -> OutcomeReward:
    metrics = answer.get("metrics")
    if not isinstance(metrics, dict):
        raise TaskAppError("the answer holds no metrics, so no outcome reward")
    reward = next((metrics[k] for k in _REWARD_KEYS if isinstance(metrics.get(k), int | float)
                   and not isinstance(metrics.get(k), bool)), None)
    returns = metrics.get("episode_returns")
    if reward is None and isinstance(returns, list) and returns and isinstance(returns[0], int | float):
        reward = returns[0]
    if reward is None:
        raise TaskAppError(f"the metrics hold no reward ({', '.join(_REWARD_KEYS)} or episode_returns): "
                           f"{_short(json.dumps(metrics, default=str))}")
    achievements = metadata.get("final_achievements") or metrics.get("achievements") or []
    if isinstance(achievements, dict):
        achievements = [name for name, done in achievements.items() if done]
    names = tuple(str(a) for a in achievements) if isinstance(achievements, list) else ()
    total_steps = metrics.get("num_steps")
    return OutcomeReward(total_reward=float(reward), achievements_count=len(names), achievements=names,
                         total_steps=total_steps if isinstance(total_steps, int) else steps,
                         metadata={"source": "task_app_metrics", "metrics": metrics})


def record_trace(answer: Any, recorder: EpisodeRecorder) -> None:
    """Fill `recorder` from a rollout answer: the trace's steps, events and messages, the
    outcome from its metrics, and what the app said of the session under `metadata.task_app`."""
    session = _session_trace(answer)
    steps = [s for s in session.get("session_time_steps") or () if isinstance(s, dict)]
    for index, step in enumerate(steps):
        step["step_id"] = str(step.get("step_id") or f"step_{index}")
    ids = [step["step_id"] for step in steps]
    if len(set(ids)) < len(ids):
        raise TaskAppError(f"the trace names step {next(i for i in ids if ids.count(i) > 1)!r} twice")
    for index, step in enumerate(steps):
        recorder.timesteps.append(Timestep(
            step_id=step["step_id"], index=int(step.get("step_index") or index), turn=step.get("turn_number"),
            started_at=_parse_time(step.get("timestamp")), completed_at=_parse_time(step.get("completed_at")),
            metadata=step.get("step_metadata") or {}))
    for raw, step_id in _by_step(steps, session.get("event_history"), "events"):
        recorder.events.append(_event(raw, step_id))
    for raw, step_id in _by_step(steps, session.get("markov_blanket_message_history"), "markov_blanket_messages"):
        recorder.messages.append(_message(raw, step_id))
    app_metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
    recorder.metadata["task_app"] = {"session_id": session.get("session_id"), "run_id": answer.get("run_id"),
                                     "metadata": app_metadata, "aborted": answer.get("aborted", False)}
    recorder.outcome = _outcome(answer, app_metadata, len(steps))
    if answer.get("aborted"):
        raise TaskAppError("the app aborted the rollout")


def _parse_time(value: Any) -> Any:
    try:
        return codec.parse_time(value)
    except ValueError as exc:
        raise TaskAppError(str(exc)) from None


# -- the rubric the app advertises ---------------------------------------------------------------

def _criterion(prompt: str, weight: float) -> Any:
    def graded_by_the_judge(self: Rubric, trace: Any) -> None:
        """A criterion of the task app's rubric; the judge grades it from its description."""

    return judge(graded_by_the_judge, prompt=prompt, weight=weight)


def rubric_for(task_id: str, info: dict[str, Any], origin: str = "task app") -> Rubric | None:
    """A rubric with one judge criterion per criterion of the app's outcome and event rubric
    (synth-ai's rubric JSON: `{"outcome": {"criteria": [{"id", "description", "weight"}]}, "events": ...}`),
    or None when the app advertises none."""
    sections = info.get("rubric") or info.get("rubrics")
    if not isinstance(sections, dict):
        return None
    namespace: dict[str, Any] = {"__module__": __name__, "criteria_json": json.dumps(sections, sort_keys=True)}
    scope = {"outcome": "the episode as a whole (its outcome)", "events": "the agent's individual decisions"}
    for section, what in scope.items():
        block = sections.get(section)
        items = block.get("criteria") if isinstance(block, dict) else None
        for item in items or ():
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item.get("description"):
                raise SynthkitError(f"the task app's {section} rubric has a criterion without id or description: "
                                    f"{_short(json.dumps(item, default=str))}")
            name = _NOT_IDENTIFIER.sub("_", f"{section}_{item['id']}").strip("_")
            if name in namespace:
                raise SynthkitError(f"the task app's rubric names the criterion {item['id']!r} twice in {section}")
            weight = 1.0 if item.get("weight") is None else item["weight"]
            try:
                namespace[name] = _criterion(f"{item['description']} (Grade {what}.)", weight)
            except RubricDefinitionError as exc:
                raise SynthkitError(f"the task app's rubric: {exc}") from None
    if len(namespace) == 2:
        return None
    task = info.get("task") if isinstance(info.get("task"), dict) else {}
    about = task.get("description") or task.get("name") or task_id
    namespace["__doc__"] = f"The rubric the task app advertises for {task_id}: {about}"
    namespace["__synthkit_origin__"] = origin
    words = [w for w in re.split(r"[^0-9A-Za-z]+", task_id) if w]
    cls = type("RubricTaskApp" + "".join(w[:1].upper() + w[1:] for w in words), (Rubric,), namespace)
    return cls()


def task_app_from_config(node: DictConfig) -> TaskApp:
    url = checks.url(node, "url", required=True, variable=KEY_VARIABLE)
    optional = {k: checks.nonempty(node, k) if node[k] is not None else None
                for k in ("env_name", "policy_name", "task_id")}
    return TaskApp(url, max_llm_calls=checks.number(node, "max_llm_calls", integer=True),
                   timeout_s=float(checks.number(node, "timeout_s")), **optional)
