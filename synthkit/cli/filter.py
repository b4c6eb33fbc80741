"""`synthkit filter`: keep sessions by judge scores and other conditions, write SFT JSONL."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from synthkit import checks
from synthkit.errors import RunFinishedWithErrors
from synthkit.filtering import plotter
from synthkit.filtering.export import FilterResult, output_path, run_filter
from synthkit.filtering.spec import FilterSpec, spec_from_config

log = logging.getLogger("synthkit.filter")

STATS = "stats.json"
PLOT = "scores.png"
NOTHING_KEPT_EXIT = 4


def summary_lines(stats: dict[str, Any]) -> list[str]:
    sessions, examples = stats["sessions"], stats["examples"]
    lines = [f"sessions: {sessions['seen']} seen, {sessions['kept']} kept"
             + (f" ({sessions['train']} train, {sessions['val']} val)" if sessions["val"] else "")
             + (f", {sessions['mixed_in']} of them mixed in from the lower band" if sessions["mixed_in"] else "")]
    lines += [f"  rejected by {condition}: {count}" for condition, count in sessions["rejected"].items()]
    lines += [f"  mix{'' if group == 'all' else f' in {group}'}: {m['drawn']} drawn from the lower band "
              f"({m['wanted']} wanted, {m['available']} available) beside {m['high']} above the thresholds"
              for group, m in stats["mix"].items()]
    lines.append(f"examples: {examples['written']} written ({examples['tokens']} tokens, "
                 f"{examples['token_estimate']}; longest {examples['longest_tokens']})"
                 + (", stopped at filter.limit" if examples["limit_reached"] else ""))
    lines += [f"  left out, {reason}: {count}" for reason, count in examples["left_out"].items()]
    if stats["judge_model"]:
        lines.append(f"judge scores of {stats['judge_model']}")
    lines += [f"stale: {line}" for line in stats["stale"]]
    for key, histogram in stats["histograms"].items():
        missing = f"; {histogram['missing']} without a score" if histogram["missing"] else ""
        lines.append(f"{key}: sessions per 1/{histogram['bins']} of [0, 1]: "
                     f"{' '.join(map(str, histogram['counts']))}{missing}")
    if stats["mean_total_reward_kept"] is not None:
        lines.append(f"mean outcome reward of the kept sessions: {stats['mean_total_reward_kept']:.4g}")
    return lines


def filter_into(run_dir: Path, db_path: Path, spec: FilterSpec) -> tuple[FilterResult, dict[str, Any]]:
    """Filter `db_path` into `run_dir` (the SFT file, stats.json, the plot) and say what was
    written; the result part is what the manifest keeps."""
    output = output_path(run_dir, spec)
    if spec.plot:
        plotter.start()  # matplotlib loads in another process while this one filters
    result: FilterResult = run_filter(db_path, spec, output)
    stats = result.stats
    (run_dir / STATS).write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files = [*result.outputs, *result.metadata_files, run_dir / STATS]
    if spec.plot:
        plotted = plotter.draw("scores", stats, path=run_dir / PLOT)
        files += [plotted] if plotted else []
    for line in summary_lines(stats):
        log.info(line)
    for path in (*result.outputs, *result.metadata_files):
        log.info("wrote %s", path.resolve())
    for note in result.notes:
        log.warning(note)
    outcome = {"sessions_seen": stats["sessions"]["seen"], "sessions_kept": stats["sessions"]["kept"],
               "examples": stats["examples"]["written"], "tokens": stats["examples"]["tokens"],
               "judge_models": [stats["judge_model"]] if stats["judge_model"] else [],
               "rubric_versions": stats["rubric_versions"], "outputs": [str(p.resolve()) for p in files]}
    return result, outcome


def nothing_kept(stats: dict[str, Any]) -> str:
    """Why nothing was written, with the likeliest cause when the stats show it."""
    if stats["sessions"]["kept"]:
        left_out = ", ".join(f"{count} {why}" for why, count in stats["examples"]["left_out"].items())
        return "the kept sessions gave no example" + (f" (left out: {left_out})" if left_out else "")
    unscored = [key for key, counts in stats["histograms"].items() if counts["missing"] and not any(counts["counts"])]
    if not unscored:
        return "no session matched the filter"
    return (f"no session matched the filter: none of them has a {' or '.join(unscored)} score (a rubric's score is "
            "missing where a criterion ended in error or its judge criteria went ungraded, as with judge=none or "
            "no key; synthkit query shows why)")


def run(cfg: DictConfig) -> dict[str, Any]:
    spec = spec_from_config(cfg.filter)
    db_path = Path(checks.text(cfg.db, "path"))
    hydra = HydraConfig.get()
    run_dir = Path(hydra.runtime.output_dir)
    result, outcome = filter_into(run_dir, db_path, spec)
    if not result.examples:
        why = nothing_kept(result.stats)
        if hydra.mode == RunMode.MULTIRUN:
            log.warning("%s: this job keeps nothing; the sweep goes on", why)
            return outcome
        raise RunFinishedWithErrors(f"{why}; see {run_dir / STATS}", outcome, exit_code=NOTHING_KEPT_EXIT)
    return outcome
