"""`synthkit judge`: grade a trace DB with rubrics and an LLM judge."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from synthkit.errors import RunFinishedWithErrors, SynthkitError
from synthkit.judging.llm import JudgeSettings
from synthkit.judging.runner import JudgeOptions, judge_traces
from synthkit.rubrics.discovery import select_rubrics
from synthkit.traces.store import Selection, TraceStore

log = logging.getLogger("synthkit.judge")
BACKENDS = ("threading", "loky", "dask")


def _positive(cfg: DictConfig, key: str, allow_none: bool = False) -> None:
    value = cfg.judge[key]
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SynthkitError(f"judge.{key} must be a positive number, not {value!r}")


def options_from(cfg: DictConfig) -> JudgeOptions:
    j = cfg.judge
    for key in ("concurrency", "batch_size", "workers", "max_tokens", "timeout_s", "max_trace_tokens"):
        _positive(cfg, key)
    for key in ("sample", "limit", "max_cost_usd"):
        _positive(cfg, key, allow_none=True)
    if j.backend not in BACKENDS:
        raise SynthkitError(f"judge.backend must be one of {', '.join(BACKENDS)}, not {j.backend!r}")
    if isinstance(j.max_retries, bool) or not isinstance(j.max_retries, int) or j.max_retries < 0:
        raise SynthkitError(f"judge.max_retries must be a whole number >= 0, not {j.max_retries!r}")
    settings = None if j.model is None else JudgeSettings(
        model=str(j.model), api_base=j.api_base, temperature=j.temperature, max_tokens=int(j.max_tokens),
        timeout_s=float(j.timeout_s), max_retries=int(j.max_retries), concurrency=int(j.concurrency),
        system_prompt=bool(j.system_prompt), json_schema=j.json_schema, api_key_env=j.api_key_env,
        placeholder_key=bool(j.placeholder_key))
    config = OmegaConf.to_container(cfg, resolve=True)
    return JudgeOptions(
        settings=settings, batch_size=int(j.batch_size), workers=int(j.workers), backend=j.backend,
        dask_address=j.dask.address, refresh=bool(j.refresh), dry_run=bool(j.dry_run),
        strict=bool(j.strict), max_cost_usd=j.max_cost_usd, max_trace_tokens=int(j.max_trace_tokens),
        selection=Selection(splits=list(j.splits), task_ids=list(j.task_ids), models=list(j.policy_models)),
        sample=j.sample, seed=int(j.seed), limit=j.limit, config=config)


def _progress(line: str) -> None:
    if sys.stderr.isatty():
        print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)
    else:
        log.info(line)


def run(cfg: DictConfig) -> dict[str, Any]:
    options = options_from(cfg)
    with TraceStore.open(cfg.db.path):
        pass  # the DB must exist and be a trace DB before anything else
    r = cfg.rubrics
    _, rubrics = select_rubrics(list(r.paths), list(r.patterns), r.select,
                                continue_on_collection_errors=r.continue_on_collection_errors)
    log.info("judging with %s: %s", options.model or "no judge (code criteria only)",
             ", ".join(rubric.id for rubric in rubrics))
    summary = judge_traces(Path(cfg.db.path), rubrics, options, progress=_progress)
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
