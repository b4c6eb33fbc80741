"""`synthkit judge`: grade a trace DB with rubrics and an LLM judge."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from synthkit import checks
from synthkit.cli import rubric_options
from synthkit.cli.progress import Progress
from synthkit.errors import RunFinishedWithErrors, SynthkitError
from synthkit.judging.llm import JudgeSettings
from synthkit.judging.runner import JudgeOptions, run_judging
from synthkit.traces.store import Selection, TraceStore

log = logging.getLogger("synthkit.judge")
BACKENDS = ("threading", "loky", "dask")


KEYS = {"model", "api_base", "api_key_env", "placeholder_key", "json_schema", "system_prompt",
        "temperature", "max_tokens", "timeout_s", "max_retries", "concurrency", "batch_size", "workers",
        "backend", "dask", "splits", "task_ids", "policy_models", "sample", "seed", "limit",
        "max_trace_tokens", "refresh", "dry_run", "strict", "max_cost_usd"}


def options_from(cfg: DictConfig) -> JudgeOptions:
    j = cfg.judge
    unknown = sorted(set(j) - KEYS)
    if unknown:
        raise SynthkitError(f"judge.{unknown[0]} is not a judge key; provider keys come only from "
                            "environment variables (OPENAI_API_KEY, GROQ_API_KEY, ANTHROPIC_API_KEY, "
                            "or the one judge.api_key_env names)")
    number, flag, strings = checks.number, checks.flag, checks.strings
    model = None if j.model is None else checks.nonempty(j, "model", " (judge=none grades code criteria only)")
    api_base = checks.url(j, "api_base")
    api_key_env = checks.variable_name(j, "api_key_env")
    dask = checks.mapping(j, "dask")
    settings = None if model is None else JudgeSettings(
        model=model, api_base=api_base, temperature=number(j, "temperature", positive=False, optional=True),
        max_tokens=number(j, "max_tokens", integer=True), timeout_s=float(number(j, "timeout_s")),
        max_retries=number(j, "max_retries", integer=True, positive=False),
        concurrency=number(j, "concurrency", integer=True), system_prompt=flag(j, "system_prompt"),
        json_schema=None if j.json_schema is None else flag(j, "json_schema"),
        api_key_env=api_key_env, placeholder_key=flag(j, "placeholder_key"))
    return JudgeOptions(
        settings=settings, batch_size=number(j, "batch_size", integer=True, optional=True),
        workers=number(j, "workers", integer=True), backend=checks.choice(j, "backend", BACKENDS),
        dask_address=dask.get("address"), refresh=flag(j, "refresh"), dry_run=flag(j, "dry_run"),
        strict=flag(j, "strict"), max_cost_usd=number(j, "max_cost_usd", optional=True),
        max_trace_tokens=number(j, "max_trace_tokens", integer=True),
        selection=Selection(splits=strings(j, "splits"), task_ids=strings(j, "task_ids"),
                            models=strings(j, "policy_models")),
        sample=number(j, "sample", integer=True, optional=True),
        seed=number(j, "seed", integer=True, positive=False),
        limit=number(j, "limit", integer=True, optional=True),
        # unresolved: an ${oc.env:...} stays a reference, so no secret is stored with the run
        config=OmegaConf.to_container(cfg, resolve=False))


def run(cfg: DictConfig) -> dict[str, Any]:
    options = options_from(cfg)
    db_path = Path(checks.text(cfg.db, "path"))
    with TraceStore.open(db_path) as store:  # the DB must exist and be a trace DB before anything else
        store.check_selection(options.selection, {"splits": "judge.splits", "task_ids": "judge.task_ids",
                                                  "models": "judge.policy_models"})
    rubrics = rubric_options.for_task(cfg, rubric_options.named_task(cfg))
    log.info("judging with %s: %s", "no judge (code criteria only)" if options.settings is None else options.model,
             ", ".join(rubric.id for rubric in rubrics))
    progress = Progress(log)
    summary = run_judging(db_path, rubrics, options, progress=progress)
    progress.end()
    for line in summary.lines():
        log.info(line)
    result = {"run_id": summary.run_id, "sessions": summary.sessions, "results": summary.criteria,
              "reused": summary.reused, "calls": summary.calls, "cache_hits": summary.cache_hits,
              "errors": summary.errors, "tokens_in": summary.tokens_in, "tokens_out": summary.tokens_out,
              "cost_usd": summary.cost_usd, "stopped": summary.stopped,
              "rubric_versions": {rubric.id: rubric.version for rubric in rubrics},
              "judge_models": [options.model]}
    if summary.stopped:
        raise RunFinishedWithErrors(f"stopped early: {summary.stopped} (what was graded is kept, and the "
                                    "same command again does not grade it twice)", result, exit_code=3)
    if summary.errors:
        raise RunFinishedWithErrors(f"{summary.errors} criterion results ended in error (recorded; "
                                    "running the same command again retries them)", result)
    return result
