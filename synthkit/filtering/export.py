"""Filter and export in one pass: select sessions, build their examples, write SFT JSONL.

The kept sessions stream from the DB in chunks; every example is checked against the
fine-tuning format before it is written, so the file always validates. Files are written
under a temporary name and renamed at the end: a failed or interrupted run leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
from omegaconf import OmegaConf

from synthkit.errors import SynthkitError
from synthkit.filtering.examples import build_examples, in_format
from synthkit.filtering.select import BINS, Kept, Pick, Selected, select_sessions
from synthkit.filtering.spec import SEPARATE, FilterSpec, spec_from_config
from synthkit.filtering.tokens import count_tokens, estimator
from synthkit.filtering.validate import check_example
from synthkit.traces import codec
from synthkit.traces.scores import PRIMARY
from synthkit.traces.store import TraceStore

__all__ = ["FilterResult", "check_outputs", "filter_traces", "metadata_path", "output_path", "run_filter",
           "val_path"]

CHUNK = 200
_LOCATION = re.compile(r"^message \d+(?: \S+)?: ")  # grouped by problem, not by place


@attrs.frozen
class FilterResult:
    """What a filter run kept and wrote; `stats` is what `stats.json` holds."""

    kept: tuple[Kept, ...]  # from `filter_traces`; the command does not collect them
    stats: dict[str, Any]
    outputs: tuple[Path, ...]  # the example files
    notes: tuple[str, ...] = ()  # what happened to files that were there before
    metadata_files: tuple[Path, ...] = ()  # with filter.metadata=separate, one beside each output

    @property
    def examples(self) -> int:
        return self.stats["examples"]["written"]


def output_path(run_dir: Path, spec: FilterSpec) -> Path:
    """The SFT file of a filter run: `filter.output`, else sft.jsonl in its run directory."""
    return Path(spec.output) if spec.output else run_dir / "sft.jsonl"


def val_path(output: Path) -> Path:
    """Where the validation split goes: val.jsonl beside sft.jsonl, else <stem>.val.jsonl."""
    return output.with_name("val.jsonl" if output.name == "sft.jsonl" else f"{output.stem}.val.jsonl")


class _Sink:
    """One output file written under a temporary name (opened at the first line), renamed into
    place by `commit`."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.handle = None
        self.lines = 0
        self.tmp = None if path is None else path.with_name(f".{path.name}.{os.getpid()}.tmp")

    def write(self, line: str) -> None:
        self.lines += 1
        if self.tmp is None:
            return
        if self.handle is None:
            try:
                self.handle = self.tmp.open("w", encoding="utf-8", newline="\n")
            except OSError as exc:
                raise SynthkitError(f"filter.output: cannot write in {self.tmp.parent}: {exc.strerror}") from None
        self.handle.write(line)

    def commit(self) -> Path | None:
        if self.handle is None:
            return None
        self.handle.close()
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.tmp.unlink(missing_ok=True)


def metadata_path(output: Path) -> Path:
    """Where the metadata of an output's lines goes with filter.metadata=separate."""
    return output.with_name(f"{output.stem}.metadata.jsonl")


def _files(output: Path) -> dict[Path, str]:
    """Every file a filter run may write for `output`, and what it holds."""
    parts = {output: "training file", val_path(output): "validation split"}
    return {**parts, **{metadata_path(path): f"line metadata of the {what}" for path, what in parts.items()}}


def _example_files(spec: FilterSpec, output: Path | None) -> dict[str, Path]:
    if output is None:
        return {}
    return {"train": output, "val": val_path(output)} if spec.val_fraction else {"train": output}


def _planned(spec: FilterSpec, output: Path | None) -> list[Path]:
    """The files this run writes when it keeps something: example files, then metadata files."""
    examples = list(_example_files(spec, output).values())
    return examples + ([metadata_path(path) for path in examples] if spec.metadata == SEPARATE else [])


def check_outputs(db_path: str | Path, spec: FilterSpec, output: Path | None) -> list[Path]:
    """The files a filter run writes (the SFT file, the validation split with `val_fraction`,
    their metadata files with `metadata=separate`), refused before any work when they cannot
    be written as asked."""
    if output is not None and (output.is_dir() or not output.name):
        raise SynthkitError(f"filter.output: {output} is a directory")
    paths = _planned(spec, output)
    for path in paths:
        if path.resolve() == Path(db_path).resolve():
            raise SynthkitError(f"filter.output: {path} is the trace DB itself")
        if path.is_dir():
            raise SynthkitError(f"filter.output: {path} is a directory")
        if path.exists() and not spec.overwrite:
            raise SynthkitError(f"{path} exists; set filter.overwrite=true to replace it")
        if not path.parent.is_dir():
            raise SynthkitError(f"filter.output: the folder {path.parent} does not exist")
    others = {} if output is None else {path: what for path, what in _files(output).items() if path not in paths}
    for path, what in others.items():
        if path.is_file() and not spec.overwrite:
            raise SynthkitError(f"{path} exists beside filter.output, from an earlier run's {what}; "
                                "remove it or set filter.overwrite=true (which removes it)")
    return paths


def _rubric_versions(selected: Selected, keys: list[str]) -> dict[str, str]:
    versions = selected.index.versions
    if PRIMARY in keys and selected.index.rubric_ids:
        return {r: versions[r] for r in sorted(selected.index.rubric_ids)}
    return {r: versions[r] for r in sorted({k.split(".")[0] for k in keys} & set(versions))}


def _line_metadata(kept: Kept, selected: Selected, versions: dict[str, str]) -> dict[str, Any]:
    return {"session_id": kept.session_id, "scores": dict(kept.scores), "rubric_versions": versions,
            "judge_model": selected.index.judge_model, "task_id": kept.metadata.get("task_id"),
            "split": kept.metadata.get("task_split"), "seed": kept.metadata.get("seed"),
            "model": kept.metadata.get("model"), "total_reward": kept.total_reward,
            "mixed_in": kept.mixed_in}


class _Limit:
    """`filter.limit` shared between the parts: with a validation split, round(limit *
    val_fraction) examples (at least one, never all) go to val and the rest to train; a part
    whose sessions hold fewer leaves the rest unused (no look ahead to rebalance)."""

    def __init__(self, spec: FilterSpec, parts: set[str]) -> None:
        limit = spec.limit
        val = 0 if limit is None or "val" not in parts or limit < 2 else \
            min(max(round(limit * spec.val_fraction), 1), limit - 1)
        self.left: dict[str, float] = {"train": float("inf"), "val": float("inf")} if limit is None else \
            {"train": limit - val, "val": val}
        self.reached = False

    def full(self, part: str) -> bool:
        if self.left[part] <= 0:
            self.reached = True
            return True
        return False

    def done(self, parts: set[str]) -> bool:
        return all(self.full(part) for part in parts)

    def take(self, part: str) -> None:
        self.left[part] -= 1


def _examples(store: TraceStore, selected: Selected, spec: FilterSpec, limit: _Limit,
              read: list[Pick], kept: list[Kept] | None, left_out: Counter[str]) -> Iterator[tuple[Kept, dict[str, Any]]]:
    """The examples of the kept sessions in order, read chunk by chunk, until the limit is
    reached; the sessions read are appended to `read` (and their details to `kept`)."""
    conn, keys = store.conn, spec.score_keys()
    parts = {p.part for p in selected.picks}
    for start in range(0, len(selected.picks), CHUNK):
        if limit.done(parts):
            return
        picks = [p for p in selected.picks[start:start + CHUNK] if not limit.full(p.part)]
        chunk = selected.details(conn, picks, keys) if picks else []
        conversations = store.conversations([k.session_id for k in chunk])
        bare = [k.session_id for k in chunk if conversations[k.session_id] == ((), ())]
        fallback = _metadata(store, bare) if bare else {}
        for pick, item in zip(picks, chunk):
            if limit.full(item.part):
                continue
            read.append(pick)
            if kept is not None:
                kept.append(item)
            calls, messages = conversations[item.session_id]
            metadata = fallback.get(item.session_id, {})
            for example in build_examples(calls, messages, metadata, spec.granularity, left_out):
                yield item, example


def _metadata(store: TraceStore, session_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Session metadata, for the prompt / completion of sessions with no conversation."""
    marks = ", ".join("?" * len(session_ids))
    rows = store.conn.execute(
        f"SELECT session_id, metadata FROM session_traces WHERE session_id IN ({marks})", session_ids)
    return {session_id: value for session_id, text in rows
            if isinstance(value := codec.loads(text, {}), dict)}


def run_filter(db_path: str | Path, spec: FilterSpec, output: Path | None, *,
               collect: bool = False) -> FilterResult:
    """Select, build and write (no files when `output` is None); the result says what and why,
    and with `collect` lists every kept session with its scores (memory grows with them)."""
    outputs = check_outputs(db_path, spec, output)
    files = {} if output is None else _files(output)
    with TraceStore.open(db_path) as store, store.reading():
        selected = select_sessions(store, spec)
        keys = spec.score_keys()
        versions = _rubric_versions(selected, keys)
        examples = _example_files(spec, output)
        sinks = {part: _Sink(examples.get(part)) for part in ("train", "val")}
        separate = spec.metadata == SEPARATE
        beside = {part: _Sink(metadata_path(examples[part]) if separate and part in examples else None)
                  for part in ("train", "val")}
        everything = [*sinks.values(), *beside.values()]
        left_out: Counter[str] = Counter()
        written_by: Counter[str] = Counter()
        seen_digests: set[bytes] = set()
        kept: list[Kept] | None = [] if collect else None
        read: list[Pick] = []
        limit = _Limit(spec, {p.part for p in selected.picks})
        tokens = {"train": 0, "val": 0}
        longest = 0
        try:
            for item, example in _examples(store, selected, spec, limit, read, kept, left_out):
                if limit.full(item.part):
                    left_out["past filter.limit"] += 1
                    continue
                findings = check_example(example)
                if findings.errors:
                    left_out[f"not valid for fine-tuning: {_LOCATION.sub('', findings.errors[0])}"] += 1
                    continue
                count = count_tokens(example)
                if spec.max_tokens_per_example is not None and count > spec.max_tokens_per_example:
                    left_out["longer than max_tokens_per_example"] += 1
                    continue
                body = json.dumps(in_format(example, spec.format), ensure_ascii=False)  # in one key order
                if spec.dedup:
                    digest = hashlib.blake2b(body.encode(), digest_size=16).digest()
                    if digest in seen_digests:
                        left_out["duplicate"] += 1
                        continue
                    seen_digests.add(digest)
                if spec.metadata:
                    metadata = json.dumps(_line_metadata(item, selected, versions), ensure_ascii=False)
                    if separate:
                        beside[item.part].write(metadata + "\n")
                    else:
                        body = f'{body[:-1]}, "metadata": {metadata}}}'
                sinks[item.part].write(body + "\n")
                limit.take(item.part)
                written_by[item.session_id] += 1
                tokens[item.part] += count
                longest = max(longest, count)
            written = [p for p in (sink.commit() for sink in sinks.values()) if p is not None]
            metadata_written = [p for p in (sink.commit() for sink in beside.values()) if p is not None]
            new = {*written, *metadata_written}
            # an earlier run's file never stays beside this run's: a session could be in both
            removed = [path for path in files if written and path not in new and path.is_file()]
            for path in removed:
                path.unlink()  # allowed by filter.overwrite (checked before anything was written)
        except BaseException:
            for sink in everything:
                sink.discard()
            raise
    stats = _stats(spec, selected, read, sinks, tokens, longest, left_out, written_by, limit.reached, versions)
    notes = [f"removed {path}: an earlier run's {files[path]}; this run wrote none" for path in removed]
    notes += [f"nothing written: {path} is left as it was"
              for path in outputs if path.is_file() and path not in new]
    return FilterResult(tuple(kept or ()), stats, tuple(written), tuple(notes), tuple(metadata_written))


def _stats(spec: FilterSpec, selected: Selected, picks: list[Pick], sinks: dict[str, _Sink],
           tokens: dict[str, int], longest: int, left_out: Counter[str], written_by: Counter[str],
           limit_reached: bool, versions: dict[str, str]) -> dict[str, Any]:
    """`picks`: the kept sessions that were read; those past `filter.limit` count as rejected."""
    rejected = Counter(selected.rejected)
    if len(picks) < len(selected.picks):
        rejected["limit"] += len(selected.picks) - len(picks)
    rewards = [p.total_reward for p in picks if p.total_reward is not None]
    return {
        "judge_model": selected.index.judge_model,
        "rubric_versions": versions,
        "thresholds": {k: v for k, v in spec.to_config().items() if k in (
            "min_judge_scores", "max_judge_scores", "min_official_score", "max_official_score")},
        "sessions": {
            "seen": selected.seen, "kept": len(picks),
            "train": sum(p.part == "train" for p in picks), "val": sum(p.part == "val" for p in picks),
            "mixed_in": sum(p.mixed_in for p in picks),
            "without_examples": sum(1 for p in picks if not written_by[p.session_id]),
            "rejected": dict(sorted(rejected.items())),
        },
        "examples": {
            "written": sinks["train"].lines + sinks["val"].lines, "train": sinks["train"].lines,
            "val": sinks["val"].lines, "tokens": tokens["train"] + tokens["val"],
            "train_tokens": tokens["train"], "val_tokens": tokens["val"], "longest_tokens": longest,
            "left_out": dict(sorted(left_out.items())), "limit_reached": limit_reached,
            "token_estimate": estimator(),
        },
        "mean_total_reward_kept": sum(rewards) / len(rewards) if rewards else None,
        "mix": selected.mix,
        "stale": selected.stale_lines(),
        "histograms": {key: {"bins": BINS, "counts": counts[:BINS], "missing": counts[BINS]}
                       for key, counts in selected.histograms.items()},
    }


def filter_traces(db_path: str | Path, output: str | Path | None = None, **keys: Any) -> FilterResult:
    """Filter and export from Python with the `filter.*` keys of the command, e.g.
    `filter_traces("traces.db", "sft.jsonl", min_judge_scores={"primary": 0.8}, val_fraction=0.1)`.
    Without `output` nothing is written: the result says what would be kept."""
    values = FilterSpec().to_config()
    unknown = sorted(set(keys) - set(values))
    if unknown:
        raise SynthkitError(f"{unknown[0]} is not a filter key (keys: {', '.join(sorted(values))})")
    node = OmegaConf.create({"filter": {**values, **keys}})
    spec = spec_from_config(node.filter)
    return run_filter(db_path, spec, None if output is None else Path(output), collect=True)
