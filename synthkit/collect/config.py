"""The `task.*` and `policy.*` config groups as checked task and policy objects."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from synthkit import checks
from synthkit.collect.arithmetic import MathTask
from synthkit.collect.crafter import CrafterTask
from synthkit.collect.policies import LitellmPolicy, ScriptedPolicy
from synthkit.errors import SynthkitError

__all__ = ["POLICIES", "TASKS", "identity", "plain_config", "policy_from_config", "task_from_config"]

TASKS = ("crafter", "math", "taskapp")
POLICIES = ("scripted", "litellm")
TASK_KEYS = {"crafter": {"name", "task_id", "max_actions_per_call", "rubrics"},
             "math": {"name", "task_id", "rubrics"},
             "taskapp": {"name", "url", "env_name", "policy_name", "max_llm_calls", "timeout_s", "task_id",
                         "rubrics"}}
POLICY_KEYS = {"scripted": {"name", "epsilon", "error_rate"},
               "litellm": {"name", "model", "api_base", "api_key_env", "placeholder_key", "temperature",
                           "max_tokens", "system_prompt", "timeout_s", "max_retries", "inference_url"}}
_NOT_EPISODE = {"rubrics", "timeout_s", "max_retries", "api_key_env", "placeholder_key"}
# Left out of session metadata: anything named like a secret, and any *key (broader than the refusal)
_LEFT_OUT = re.compile(rf"{checks.SECRET_NAME.pattern}|(^|[_-])key$", re.IGNORECASE)


def task_from_config(node: DictConfig) -> Any:
    name = checks.choice(node, "name", TASKS)
    checks.only(node, TASK_KEYS[name])
    if name == "crafter":
        return CrafterTask(max_actions_per_call=checks.number(node, "max_actions_per_call", integer=True),
                           task_id=checks.nonempty(node, "task_id"))
    if name == "math":
        return MathTask(task_id=checks.nonempty(node, "task_id"))
    from synthkit.collect.taskapp import task_app_from_config

    return task_app_from_config(node)


def policy_from_config(node: DictConfig) -> Any:
    name = checks.choice(node, "name", POLICIES)
    checks.only(node, POLICY_KEYS[name])
    number = checks.number
    if name == "scripted":
        for key in ("epsilon", "error_rate"):
            if number(node, key, positive=False) > 1:
                raise SynthkitError(f"policy.{key} is a share between 0 and 1, not {node[key]!r}")
        return ScriptedPolicy(epsilon=float(node.epsilon), error_rate=float(node.error_rate))
    if node.system_prompt is not None:
        checks.text(node, "system_prompt")
    api_base, inference_url = checks.url(node, "api_base"), checks.url(node, "inference_url")
    model = checks.nonempty(node, "model")
    return LitellmPolicy(
        model=model, api_base=api_base, api_key_env=checks.variable_name(node, "api_key_env"),
        placeholder_key=checks.flag(node, "placeholder_key"),
        temperature=number(node, "temperature", positive=False, optional=True),
        max_tokens=number(node, "max_tokens", integer=True), system_prompt=node.system_prompt,
        timeout_s=float(number(node, "timeout_s")), max_retries=number(node, "max_retries", integer=True, positive=False),
        inference_url=inference_url)


def plain_config(node: DictConfig) -> dict[str, Any]:
    """A config section as plain values for session metadata, with anything named like a secret
    left out (config holds none by design; an `${oc.env:...}` could still bring one in)."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if not _LEFT_OUT.search(str(k))}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(OmegaConf.to_container(node, resolve=True))


def identity(task: DictConfig, policy: DictConfig, max_steps: int) -> str:
    """A short digest of what decides an episode besides its seed (task, policy, step limit): the
    same seed under the same settings is the same episode. Settings of how it is run or graded
    (timeouts, retries, where the key is read, the task's rubrics) do not count."""
    sections = [{k: v for k, v in plain_config(node).items() if k not in _NOT_EPISODE} for node in (task, policy)]
    text = json.dumps([*sections, max_steps], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
