"""`synthkit pipeline`: eval, judge, filter and validate in one run directory.

Each step is the command of the same name, run on the same config: the episodes go into
`db.path` (by default a fresh DB in the run directory), the judge grades every session there,
the filter writes `sft.jsonl` and `stats.json` beside it, and validate checks that file.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from synthkit import checks
from synthkit.cli.eval import evaluate, prepare
from synthkit.cli.filter import NOTHING_KEPT_EXIT, filter_into, nothing_kept
from synthkit.cli.judge import options_from
from synthkit.cli.progress import Progress
from synthkit.cli.validate import not_ready, report_lines
from synthkit.cli.validate import options_from as validate_options
from synthkit.errors import RunFinishedWithErrors, SynthkitError
from synthkit.filtering.export import check_outputs, output_path
from synthkit.filtering.select import check_filter_keys
from synthkit.filtering.spec import FilterSpec, spec_from_config
from synthkit.filtering.validate import validate_file
from synthkit.judging.runner import run_judging
from synthkit.rubrics.api import Rubric
from synthkit.traces.scores import NO_JUDGE, PRIMARY, score_index
from synthkit.traces.store import TraceStore

log = logging.getLogger("synthkit.pipeline")


def run(cfg: DictConfig) -> dict[str, Any]:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    db_path = Path(checks.text(cfg.db, "path"))
    spec = spec_from_config(cfg.filter)  # every step's config is checked before the first runs
    options = options_from(cfg)
    options.missing_key()  # with judge.strict, an error before the first episode
    validation = validate_options(cfg.validate)
    if validation.strict and spec.metadata is True:
        raise SynthkitError("validate.strict=true fails every example that carries its metadata "
                            "(filter.metadata=true): set filter.metadata=separate (or false)")
    check_outputs(db_path, spec, output_path(run_dir, spec))
    plan = prepare(cfg)
    rubrics = plan.rubrics
    _check_judge_choice(spec, options.model, db_path, rubrics)
    problems: list[str] = []

    log.info("1/4 eval")
    try:
        played = evaluate(cfg, db_path, plan, inline_judge=False)
    except RunFinishedWithErrors as exc:
        played = exc.result
        problems.append(str(exc))

    log.info("2/4 judge")
    progress = Progress(log, every=10)
    selection = attrs.evolve(options.selection, include_failed=spec.include_failed)  # as the filter will
    graded = run_judging(db_path, rubrics, attrs.evolve(options, selection=selection), progress=progress)
    progress.end()
    for line in graded.lines():
        log.info(line)
    if graded.stopped:
        problems.append(f"the judge stopped early: {graded.stopped}")
    elif graded.errors:
        problems.append(f"{graded.errors} criterion results ended in error")

    log.info("3/4 filter")
    try:
        filtered, outcome = filter_into(run_dir, db_path, spec)
    except SynthkitError as exc:  # the episodes and grades are kept, and the run directory says so
        raise RunFinishedWithErrors(f"{exc} (the traces and judge results are kept in {db_path}: "
                                    "run `synthkit filter` on it)", {"db": str(db_path)}) from None

    log.info("4/4 validate")
    reports = [validate_file(path, max_tokens=validation.max_tokens) for path in filtered.outputs]
    for report in reports:
        failed = report.failed(validation.strict)
        for line in report_lines(report, validation.show)[0 if failed else -1:]:  # problems only when it fails
            log.info(line)
        if failed:
            problems.append(not_ready(report))

    result = {"episodes": played["episodes"], "failed_episodes": played["failed"],
              "skipped_existing": played["skipped_existing"], "mean_reward": played["mean_reward"],
              "judged_sessions": graded.sessions, "judge_calls": graded.calls, "judge_errors": graded.errors,
              "judge_cost_usd": graded.cost_usd, "skipped_no_key": graded.skipped_no_key,
              **{k: v for k, v in outcome.items() if k not in ("judge_models", "rubric_versions")},
              "valid": None if not reports else not any(r.failed(validation.strict) for r in reports),
              "validation_warnings": None if not reports else sum(len(r.warnings) for r in reports),
              "rubric_versions": {r.id: r.version for r in rubrics}, "judge_models": [options.model],
              "db": str(db_path), "sft": str(filtered.outputs[0]) if filtered.outputs else None,
              "val": str(filtered.outputs[1]) if len(filtered.outputs) > 1 else None}
    for line in _summary(result, metadata_on_lines=spec.metadata is True):
        log.info(line)
    if not filtered.examples:
        raise RunFinishedWithErrors(nothing_kept(filtered.stats), result, exit_code=NOTHING_KEPT_EXIT)
    if problems:
        raise RunFinishedWithErrors("; ".join(problems), result)
    return result


def _check_judge_choice(spec: FilterSpec, model: str, db_path: Path, rubrics: tuple[Rubric, ...]) -> None:
    """What the filter step will ask of the judge results, checked before the first episode:
    a typo found after the episodes and the judge calls would waste them."""
    keys = {PRIMARY, *(r.id for r in rubrics), *(f"{r.id}.{c.name}" for r in rubrics for c in r.criteria())}
    models = {model} - {NO_JUDGE}
    if db_path.exists():
        with TraceStore.open(db_path) as store:
            index = score_index(store.conn)
            keys.update(index.known_keys())
            models.update(index.judge_models)
    if spec.judge_model is not None and spec.judge_model not in models:
        raise SynthkitError(f"filter.judge_model: {spec.judge_model!r} is neither this run's judge ({model}) nor "
                            f"one that graded the DB (known: {', '.join(sorted(models)) or 'none'})")
    check_filter_keys(spec, keys, missing="neither this run's rubrics nor the DB give")


def _summary(result: dict[str, Any], metadata_on_lines: bool) -> list[str]:
    mean = "-" if result["mean_reward"] is None else f"{result['mean_reward']:.4g}"
    lines = ["summary:",
             f"  episodes: {result['episodes']} played ({result['failed_episodes']} failed, "
             f"{result['skipped_existing']} already recorded), mean reward {mean}",
             f"  judged: {result['judged_sessions']} sessions, {result['judge_calls']} judge calls, "
             f"{result['judge_errors']} errors, ${result['judge_cost_usd']:.4f}"]
    if result["skipped_no_key"]:
        lines.append(f"  judge criteria skipped ({result['skipped_no_key']} to grade them)")
    lines.append(f"  kept: {result['sessions_kept']} of {result['sessions_seen']} sessions, "
                 f"{result['examples']} examples, {result['tokens']} tokens")
    if result["sft"]:
        valid = "valid" if result["valid"] else "NOT valid"
        why = ", e.g. the metadata on each line" if result["validation_warnings"] and metadata_on_lines else ""
        split = f" and its validation split {result['val']}" if result["val"] else ""
        lines.append(f"  SFT JSONL: {result['sft']}{split} ({valid} for fine-tuning; "
                     f"{result['validation_warnings']} warnings{why})")
    return lines
