"""`synthkit judge`: grade a trace DB with rubrics and an LLM judge."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from synthkit.cli import checks, rubric_options
from synthkit.errors import RunFinishedWithErrors
from synthkit.judging.llm import JudgeSettings
from synthkit.judging.runner import JudgeOptions, run_judging
from synthkit.traces.store import Selection, TraceStore

log = logging.getLogger("synthkit.judge")
BACKENDS = ("threading", "loky", "dask")


def options_from(cfg: DictConfig) -> JudgeOptions:
    j = cfg.judge
    number, flag, strings = checks.number, checks.flag, checks.strings
    model = j.model if j.model is None else checks.text(j, "model")
    settings = None if model is None else JudgeSettings(
        model=model, api_base=j.api_base, temperature=number(j, "temperature", positive=False, optional=True),
        max_tokens=number(j, "max_tokens", integer=True), timeout_s=float(number(j, "timeout_s")),
        max_retries=number(j, "max_retries", integer=True, positive=False),
        concurrency=number(j, "concurrency", integer=True), system_prompt=flag(j, "system_prompt"),
        json_schema=None if j.json_schema is None else flag(j, "json_schema"),
        api_key_env=j.api_key_env, placeholder_key=flag(j, "placeholder_key"))
    return JudgeOptions(
        settings=settings, batch_size=number(j, "batch_size", integer=True),
        workers=number(j, "workers", integer=True), backend=checks.choice(j, "backend", BACKENDS),
        dask_address=j.dask.address, refresh=flag(j, "refresh"), dry_run=flag(j, "dry_run"),
        strict=flag(j, "strict"), max_cost_usd=number(j, "max_cost_usd", optional=True),
        max_trace_tokens=number(j, "max_trace_tokens", integer=True),
        selection=Selection(splits=strings(j, "splits"), task_ids=strings(j, "task_ids"),
                            models=strings(j, "policy_models")),
        sample=number(j, "sample", integer=True, optional=True),
        seed=number(j, "seed", integer=True, positive=False),
        limit=number(j, "limit", integer=True, optional=True),
        config=OmegaConf.to_container(cfg, resolve=True))


def _progress(line: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)
    else:
        log.info(line)


def run(cfg: DictConfig) -> dict[str, Any]:
    options = options_from(cfg)
    db_path = Path(checks.text(cfg.db, "path"))
    with TraceStore.open(db_path):
        pass  # the DB must exist and be a trace DB before anything else
    rubrics = rubric_options.selected(cfg.rubrics)
    log.info("judging with %s: %s", options.model or "no judge (code criteria only)",
             ", ".join(rubric.id for rubric in rubrics))
    summary = run_judging(db_path, rubrics, options, progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for line in summary.lines():
        log.info(line)
    result = {"run_id": summary.run_id, "sessions": summary.sessions, "results": summary.criteria,
              "reused": summary.reused, "calls": summary.calls, "cache_hits": summary.cache_hits,
              "errors": summary.errors, "tokens_in": summary.tokens_in, "tokens_out": summary.tokens_out,
              "cost_usd": summary.cost_usd, "stopped": summary.stopped}
    if summary.stopped:
        raise RunFinishedWithErrors(f"stopped early: {summary.stopped} (what was graded is kept; "
                                    "running the same command again goes on)", result, exit_code=3)
    if summary.errors:
        raise RunFinishedWithErrors(f"{summary.errors} criterion results ended in error (recorded; "
                                    "running the same command again retries them)", result)
    return result
