"""PNG plots of a filter run and of a threshold sweep (matplotlib, imported only here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["plot_scores", "plot_sweep", "sweep_axis"]


def _figure(**options: Any) -> Any:
    # A bare Figure draws on the Agg canvas: no pyplot (a third of the import), no display
    from matplotlib.figure import Figure

    return Figure(**options)


def plot_scores(stats: Mapping[str, Any], path: Path) -> Path | None:
    """One histogram per judge score key, with its min and max thresholds marked."""
    histograms = stats["histograms"]
    if not histograms:
        return None
    thresholds = stats["thresholds"]
    figure = _figure(figsize=(7, 2.6 * len(histograms)))
    axes = figure.subplots(len(histograms), 1, squeeze=False)
    for axis, (key, histogram) in zip(axes[:, 0], histograms.items()):
        bins = histogram["bins"]
        axis.bar([(i + 0.5) / bins for i in range(bins)], histogram["counts"], width=1 / bins,
                 color="#4c72b0", edgecolor="white")
        for name, style in (("min_judge_scores", "-"), ("max_judge_scores", "--")):
            value = thresholds[name].get(key)
            if value is not None:
                axis.axvline(value, color="#c44e52", linestyle=style, label=f"{name.split('_')[0]} {value:g}")
        missing = f", {histogram['missing']} without a score" if histogram["missing"] else ""
        axis.set_title(f"{key}{missing}", fontsize=10)
        axis.set_xlim(0, 1)
        axis.set_ylabel("sessions")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    axes[-1, 0].set_xlabel("score")
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    return path


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sweep_axis(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> tuple[str, list[str]]:
    """The swept key to plot against (the first whose values are all numbers, else the first) and
    the others."""
    numeric = [key for key in keys if all(_number(row.get(key)) for row in rows)]
    swept = (numeric or list(keys))[0]
    return swept, [key for key in keys if key != swept]


def plot_sweep(rows: Sequence[Mapping[str, Any]], keys: Sequence[str], path: Path) -> Path | None:
    """Kept sessions, examples, tokens and mean outcome reward against the first swept key
    whose values are all numbers (a threshold), else the first one (presets or DB paths, in
    the order of the jobs); one line per combination of the other swept keys (a cartesian sweep)."""
    swept, others = sweep_axis(rows, keys)
    values = [row.get(swept) for row in rows]
    labels = [] if all(_number(v) for v in values) else list(dict.fromkeys(str(v) for v in values))
    lines: dict[str, list[tuple[float, Mapping[str, Any]]]] = {}
    for row in rows:
        label = ", ".join(f"{key}={row.get(key)}" for key in others)
        x = labels.index(str(row.get(swept))) if labels else row[swept]
        lines.setdefault(label, []).append((x, row))
    if not lines:
        return None
    figure = _figure(figsize=(9, 6))
    axes = figure.subplots(2, 2, sharex=True)
    for axis, (column, title) in zip(axes.flat, (
            ("sessions_kept", "kept sessions"), ("examples", "examples"), ("tokens", "tokens"),
            ("mean_total_reward_kept", "mean outcome reward of the kept"))):
        for label, points in lines.items():
            points.sort(key=lambda point: point[0])
            ys = [row.get(column) for _, row in points]
            axis.plot([x for x, _ in points], [float("nan") if y is None else y for y in ys], marker="o",
                      label=label or None)
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
    if others:
        axes[0, 0].legend(fontsize=7)
    if labels:
        for axis in axes[1]:
            axis.set_xticks(range(len(labels)), labels, rotation=20, fontsize=7)
    figure.supxlabel(swept, fontsize=10)  # once: a key such as a criterion's is wider than one plot
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    return path
