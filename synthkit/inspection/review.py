"""The spot check before training: a few examples of a filter run, with why they were kept.

`review_kept` samples examples (seeded) from the files a filter run wrote and shows each with
its session, the scores tested against the run's thresholds, and the judge's reasoning per
criterion. `review_rejected` shows the sessions the same filter rejected nearest to its
thresholds, the ones a threshold decision hinges on. Both read the run directory and its DB;
neither writes anything.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from synthkit.errors import SynthkitError
from synthkit.filtering.examples import as_chat, build_examples
from synthkit.filtering.export import metadata_path, output_path, val_path
from synthkit.filtering.select import candidates, score_failure
from synthkit.filtering.spec import SEPARATE, FilterSpec, spec_from_config
from synthkit.filtering.validate import check_example
from synthkit.inspection.views import QueryOptions, index_for, scores
from synthkit.traces.scores import CODE
from synthkit.traces.store import TraceStore

__all__ = ["FilterRun", "Shown", "latest_filter_run", "load_filter_run", "render", "review_kept",
           "review_rejected"]


@attrs.frozen
class FilterRun:
    """What review needs of a filter run directory."""

    path: Path
    db_path: Path
    spec: FilterSpec
    outputs: tuple[Path, ...]  # the JSONL files it wrote (train, then val)
    judge_model: str | None


@attrs.frozen
class Shown:
    """One example or session as review prints it."""

    session_id: str | None
    where: str  # "sft.jsonl line 17", or why it was rejected
    scores: Mapping[str, float | None]
    example: Mapping[str, Any] | None
    judged: tuple[Mapping[str, Any], ...]  # judge results of the session (latest versions)


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def latest_filter_run(experiments: Path) -> Path:
    """The most recently started filter run (a single run or a sweep job) under `experiments`."""
    found = []
    for manifest_path in [*experiments.glob("filter/*/manifest.json"), *experiments.glob("filter/*/*/manifest.json")]:
        manifest = _manifest(manifest_path.parent)
        if manifest and manifest.get("command") == "filter" and manifest.get("outputs"):
            found.append((str(manifest.get("started_at")), manifest_path.parent))
    if not found:
        raise SynthkitError(f"no filter run with outputs under {experiments / 'filter'}: run synthkit filter "
                            "first, or set review.run=<filter run directory>")
    return max(found)[1]


def load_filter_run(folder: Path) -> FilterRun:
    if (folder / "multirun.yaml").is_file():
        jobs = sorted(p.name for p in folder.iterdir() if (p / "manifest.json").is_file())
        raise SynthkitError(f"{folder} is a sweep: review one of its jobs ({', '.join(jobs) or 'none'})")
    manifest = _manifest(folder)
    if manifest is None or manifest.get("command") != "filter":
        raise SynthkitError(f"{folder} is not a filter run directory (no manifest.json of synthkit filter)")
    try:
        config = OmegaConf.load(folder / ".hydra" / "config.yaml")
        spec = spec_from_config(config.filter)
    except (OSError, OmegaConfBaseException) as exc:
        raise SynthkitError(f"{folder}/.hydra/config.yaml cannot be read: {exc}") from None
    cwd = Path(manifest.get("cwd") or ".")
    written = {(cwd / path).resolve() for path in manifest.get("outputs", {})}
    output = cwd / output_path(folder.resolve(), spec)
    outputs = tuple(path for path in (output, val_path(output)) if path.resolve() in written)
    try:
        stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stats = {}
    db = (manifest.get("db") or {}).get("path")
    if not db:
        raise SynthkitError(f"{folder}/manifest.json names no trace DB")
    return FilterRun(folder, Path(db), spec, outputs, stats.get("judge_model"))


def _read(path: Path, run: FilterRun) -> Iterator[tuple[int, Any]]:
    if not path.is_file():
        raise SynthkitError(f"{path}, written by {run.path}, is gone")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                yield number, json.loads(line)
            except ValueError:
                raise SynthkitError(f"{path}:{number}: not a JSON line (was the file edited?)") from None


def _with_metadata(path: Path, run: FilterRun) -> Iterator[tuple[int, Any]]:
    """The examples of `path`, each with its metadata (from the file beside it with
    filter.metadata=separate)."""
    if run.spec.metadata != SEPARATE:
        yield from _read(path, run)
        return
    beside = metadata_path(path)
    for line, metadata in itertools.zip_longest(_read(path, run), _read(beside, run)):
        if line is None or metadata is None:
            raise SynthkitError(f"{path} and {beside} do not have as many lines (was one of them edited?)")
        (number, example), (_, value) = line, metadata
        if not isinstance(value, dict):
            raise SynthkitError(f"{beside}:{number}: not the metadata the filter writes: not a JSON object "
                                "(edited, or written by an older synthkit?)")
        yield number, {**example, "metadata": value} if isinstance(example, dict) else example


def _lines(run: FilterRun) -> Iterator[tuple[str, int, dict[str, Any]]]:
    for path in run.outputs:
        for number, example in _with_metadata(path, run):
            problems = check_example(example).errors
            if not problems and not isinstance(example.get("metadata", {}), dict):
                problems = ["metadata is not an object"]
            if problems:
                raise SynthkitError(f"{path}:{number}: not an example the filter writes: {problems[0]} "
                                    "(edited, or written by an older synthkit?)")
            yield path.name, number, example


def _judged(store: TraceStore, run: FilterRun, session_id: str) -> tuple[Mapping[str, Any], ...]:
    """The session's results from the run's judge (and code criteria), latest versions only."""
    if not store.table_exists("judge_scores"):
        return ()
    table = scores(store, QueryOptions(session_ids=(session_id,)))
    return tuple(row for row in table.rows if not row["stale"]
                 and row["judge_model"] in (CODE, run.judge_model) and row["outcome"] != "skipped")


def review_kept(run: FilterRun, n: int, seed: int) -> tuple[list[Shown], int]:
    """`n` examples drawn by `seed` from what the run wrote (reservoir sampling, one pass), and
    how many examples there were."""
    rng = random.Random(seed)
    chosen: list[tuple[str, int, dict[str, Any]]] = []
    total = 0
    for total, line in enumerate(_lines(run), 1):
        if len(chosen) < n:
            chosen.append(line)
        elif (slot := rng.randrange(total)) < n:
            chosen[slot] = line
    chosen.sort(key=lambda item: (item[0] != run.outputs[0].name, item[1]))
    shown = []
    with TraceStore.open(run.db_path) as store:
        for name, number, example in chosen:
            metadata = example.get("metadata") if isinstance(example.get("metadata"), dict) else {}
            session_id = metadata.get("session_id")
            shown.append(Shown(session_id, f"{name} line {number}" + (", mixed in" if metadata.get("mixed_in") else ""),
                               metadata.get("scores") or {}, example,
                               _judged(store, run, session_id) if session_id else ()))
    return shown, total


def _gap(spec: FilterSpec, values: Mapping[str, float | None]) -> float | None:
    """How far a rejected session is from passing every judge score threshold (None: a score
    is missing, so no threshold change would keep it)."""
    gaps = []
    for bounds, above in ((spec.min_judge_scores, True), (spec.max_judge_scores, False)):
        for key, threshold in bounds.items():
            value = values.get(key)
            if value is None:
                return None
            gaps.append(max(threshold - value, 0.0) if above else max(value - threshold, 0.0))
    return max(gaps, default=None)


def review_rejected(run: FilterRun, n: int) -> tuple[list[Shown], int]:
    """The `n` sessions rejected by the run's judge score thresholds that came nearest to them,
    and how many sessions those thresholds rejected."""
    kept = {line[2].get("metadata", {}).get("session_id") for line in _lines(run)}
    nearest: list[tuple[float, int, Any]] = []
    rejected = 0
    with TraceStore.open(run.db_path) as store:
        index = index_for(store, run.spec.judge_model, "filter.judge_model")
        for candidate in candidates(store, run.spec, index, Counter()):
            failure = score_failure(run.spec, candidate.scores)
            if failure is None or candidate.session_id in kept:
                continue
            rejected += 1
            gap = _gap(run.spec, candidate.scores)
            if gap is not None:
                item = (-gap, -candidate.position, (candidate, failure, gap))
                (heapq.heappush if len(nearest) < n else heapq.heappushpop)(nearest, item)
        shown = []
        for _, _, (candidate, failure, gap) in sorted(nearest, reverse=True):
            calls, messages = store.conversations([candidate.session_id])[candidate.session_id]
            examples = build_examples(calls, messages, candidate.metadata, run.spec.granularity, Counter())
            shown.append(Shown(candidate.session_id, f"rejected by {failure}, {gap:.3g} short",
                               candidate.scores, examples[-1] if examples else None,
                               _judged(store, run, candidate.session_id)))
    return shown, rejected


def _cut(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _content(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(part.get("text", "") if isinstance(part, dict) and part.get("type") == "text"
                        else f"[{part.get('type', 'part')}]" if isinstance(part, dict) else str(part)
                        for part in content)
    return "" if content is None else str(content)


def _verdict(key: str, value: float | None, spec: FilterSpec) -> str:
    shown = "missing" if value is None else f"{value:.3g}"
    tests = [(">=", spec.min_judge_scores.get(key)), ("<=", spec.max_judge_scores.get(key))]
    marks = [f"{sign} {t:g} {'ok' if value is not None and (value >= t if sign == '>=' else value <= t) else 'FAILS'}"
             for sign, t in tests if t is not None]
    return f"{key} {shown}" + (f" ({', '.join(marks)})" if marks else "")


def render(run: FilterRun, shown: Sequence[Shown], heading: str, max_chars: int) -> list[str]:
    """Review as lines for a terminal."""
    thresholds = [f"{k} >= {v:g}" for k, v in run.spec.min_judge_scores.items()] + \
                 [f"{k} <= {v:g}" for k, v in run.spec.max_judge_scores.items()]
    lines = [f"filter run {run.path}", f"  db {run.db_path}; judge {run.judge_model or 'none (code criteria)'}; "
             f"thresholds: {', '.join(thresholds) or 'none'}", heading]
    for number, item in enumerate(shown, 1):
        session = item.session_id or "(session unknown: the run wrote no line metadata)"
        lines += ["", f"{number}. {session} · {item.where}"]
        if item.scores:
            lines.append("   scores: " + "; ".join(_verdict(k, v, run.spec) for k, v in item.scores.items()))
        if item.judged:
            lines.append("   judge:")
            for row in item.judged:
                score = "-" if row["score"] is None else f"{row['score']:.2f}"
                why = row["reasoning"] or row["error"] or ""
                lines.append("     " + _cut(f"{row['rubric_id']}.{row['criterion']} {score} {row['outcome']}"
                                            + (f": {why}" if why else ""), max_chars))
        if item.example is None:
            lines.append("   (no example could be built from this session)")
            continue
        messages = as_chat(item.example).get("messages") or []  # a prompt-completion line too
        lines.append(f"   example, {len(messages)} messages:")
        for message in messages:
            calls = " ".join(f"→ {c.get('function', {}).get('name')}({c.get('function', {}).get('arguments')})"
                             for c in message.get("tool_calls") or ())
            text = " ".join(part for part in (_content(message.get("content")), calls) if part)
            lines.append("     " + _cut(f"{message.get('role')}: {text}", max_chars))
    return lines
