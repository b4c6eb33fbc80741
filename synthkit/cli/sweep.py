"""The summary a `synthkit filter -m ...` sweep leaves at its root, beside `multirun.yaml`.

One row per job: the swept values (read from each job's `.hydra/overrides.yaml`) and what the
job kept, from its `stats.json`. Written as CSV and Markdown, and plotted: each swept key
against kept sessions, examples, tokens and the mean outcome reward of the kept sessions.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("synthkit.filter")

COLUMNS = ("sessions_kept", "examples", "tokens", "mean_total_reward_kept", "status")
CSV_NAME, MARKDOWN_NAME, PLOT_NAME = "sweep_summary.csv", "sweep_summary.md", "sweep.png"


def _job_number(folder: Path) -> tuple[int, str]:
    return (int(folder.name), "") if folder.name.isdigit() else (1 << 30, folder.name)


def _overrides(job: Path) -> dict[str, Any]:
    values = {}
    for item in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text(encoding="utf-8")) or []:
        key, _, text = str(item).partition("=")
        values[key.lstrip("+~")] = yaml.safe_load(text) if text else None
    return values


def _row(job: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"job": job.name, **_overrides(job)}
    stats_path, manifest_path = job / "stats.json", job / "manifest.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.is_file() else None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    row["status"] = manifest.get("status", "no manifest")
    if stats is not None:
        row.update(sessions_kept=stats["sessions"]["kept"], examples=stats["examples"]["written"],
                   tokens=stats["examples"]["tokens"], mean_total_reward_kept=stats["mean_total_reward_kept"])
    return row


def summarise(root: Path) -> list[Path]:
    """Write the sweep summary files under `root`; returns the files written."""
    jobs = sorted((p for p in root.iterdir() if (p / ".hydra" / "overrides.yaml").is_file()), key=_job_number)
    if not jobs:
        return []
    rows = [_row(job) for job in jobs]
    swept = [key for key in dict.fromkeys(k for row in rows for k in row)
             if key not in ("job", *COLUMNS) and len({json.dumps(row.get(key)) for row in rows}) > 1]
    fixed = [key for key in dict.fromkeys(k for row in rows for k in row)
             if key not in ("job", *COLUMNS, *swept)]
    columns = ["job", *swept, *fixed, *COLUMNS]
    from synthkit.inspection.table import Table, write_tables  # at the end of a sweep only

    table, written = Table("sweep", tuple(columns), rows), []
    for name, fmt in ((CSV_NAME, "csv"), (MARKDOWN_NAME, "markdown")):
        with (root / name).open("w", encoding="utf-8", newline="") as handle:
            write_tables([table], handle, fmt)
        written.append(root / name)
    if swept:
        from synthkit.filtering import plotter

        plotted = plotter.draw("sweep", rows, swept, path=root / PLOT_NAME)
        written += [plotted] if plotted else []
    return written


class SweepSummary(Callback):
    """Hydra calls this at the end of a multirun; single runs are left alone."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        root = Path(str(config.hydra.sweep.dir))
        if not root.is_dir():
            return
        for path in summarise(root):
            log.info("sweep summary: %s", path)
