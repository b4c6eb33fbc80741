"""`synthkit review`: a few kept (or nearly kept) examples of a filter run, for a person."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from synthkit import checks
from synthkit.errors import SynthkitError
from synthkit.inspection.review import latest_filter_run, load_filter_run, render, review_kept, review_rejected

EXPERIMENTS = Path("experiments")


def run(cfg: DictConfig) -> None:
    options = cfg.review
    checks.only(options, {"run", "n", "seed", "rejected", "max_chars"})
    n = checks.number(options, "n", integer=True)
    seed = checks.number(options, "seed", integer=True, positive=False)
    rejected = checks.flag(options, "rejected")
    max_chars = checks.number(options, "max_chars", integer=True, minimum=20, positive=False)
    folder = latest_filter_run(EXPERIMENTS) if options.run is None else Path(checks.text(options, "run"))
    filter_run = load_filter_run(folder)
    if rejected:
        if not filter_run.spec.min_judge_scores and not filter_run.spec.max_judge_scores:
            raise SynthkitError(f"{folder} tested no judge score threshold: nothing was rejected near one")
        shown, total = review_rejected(filter_run, n)
        heading = f"{len(shown)} of the {total} sessions rejected by the judge score thresholds, nearest first"
    else:
        shown, total = review_kept(filter_run, n, seed)
        heading = f"{len(shown)} of {total} kept examples, drawn with seed {seed}"
    print("\n".join(render(filter_run, shown, heading, max_chars)))
