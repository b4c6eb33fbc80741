"""What to keep and how to write it: the `filter.*` keys as one checked, frozen object.

Keys are named as in synth-ai's `filter.toml` where it has them, so a synth-ai config
translates one to one. The defaults here are the defaults of `conf/filter.yaml` (a test keeps
the two equal), and the Python API and the command go through the same checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from omegaconf import DictConfig, OmegaConf

from synthkit import checks
from synthkit.errors import SynthkitError

__all__ = ["FORMATS", "GRANULARITIES", "SEPARATE", "STRATA", "FilterSpec", "spec_from_config", "thresholds"]

FORMATS = ("openai", "prompt_completion")
GRANULARITIES = ("call", "session")
STRATA = ("task_id", "split")
SEPARATE = "separate"  # filter.metadata: each line's metadata in a file of its own, line for line


@attrs.frozen
class FilterSpec:
    min_judge_scores: Mapping[str, float] = attrs.field(factory=dict)
    max_judge_scores: Mapping[str, float] = attrs.field(factory=dict)
    min_official_score: float | None = None
    max_official_score: float | None = None
    splits: tuple[str, ...] = ()
    task_ids: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    min_created_at: datetime | None = None
    max_created_at: datetime | None = None
    judge_model: str | None = None  # None: the judge of the most recent judge run
    include_failed: bool = False
    limit: int | None = None  # examples written (train and val together)
    max_sessions: int | None = None
    offset: int = 0
    shuffle: bool = False
    shuffle_seed: int | None = None  # None: `seed`
    seed: int = 0
    mix_share: float = 0.0  # share of the kept sessions drawn from the lower band
    mix_min_judge_scores: Mapping[str, float] = attrs.field(factory=dict)  # the band's floor
    stratify_by: str | None = None
    val_fraction: float = 0.0
    dedup: bool = True
    max_tokens_per_example: int | None = None
    format: str = "openai"
    granularity: str = "call"
    metadata: bool | str = True  # on each line; False: nowhere; "separate": in <output stem>.metadata.jsonl
    output: str | None = None  # None: sft.jsonl in the run directory
    overwrite: bool = False
    plot: bool = True

    @property
    def order_seed(self) -> int:
        return self.seed if self.shuffle_seed is None else self.shuffle_seed

    def score_keys(self) -> list[str]:
        """Every judge score key a condition tests, in a stable order."""
        return list(dict.fromkeys([*self.min_judge_scores, *self.max_judge_scores,
                                   *self.mix_min_judge_scores]))

    def to_config(self) -> dict[str, Any]:
        """The spec as `filter.*` config values (what `conf/filter.yaml` holds)."""
        values = attrs.asdict(self, recurse=False)
        mix = {"share": values.pop("mix_share"),
               "min_judge_scores": dict(values.pop("mix_min_judge_scores"))}
        for key in ("min_created_at", "max_created_at"):
            values[key] = None if values[key] is None else values[key].isoformat()
        for key in ("splits", "task_ids", "models"):
            values[key] = list(values[key])
        for key in ("min_judge_scores", "max_judge_scores"):
            values[key] = dict(values[key])
        return {**values, "mix": mix}


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"RubricX": {"speed": 0.5}}` (what `min_judge_scores.RubricX.speed=0.5` makes) as
    `{"RubricX.speed": 0.5}`."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat


def thresholds(node: DictConfig, key: str) -> dict[str, float]:
    """A map of judge score keys to thresholds in [0, 1] (nested keys flattened)."""
    where = f"{checks.name(node, key)}"
    result = {}
    for name, value in _flatten(checks.mapping(node, key)).items():
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise SynthkitError(f"{where}.{name} must be a number between 0 and 1, not {value!r}")
        if not 0 <= value <= 1:
            raise SynthkitError(f"{where}.{name} is {value!r}: judge scores lie between 0 and 1")
        result[name] = float(value)
    return result


def _official(node: DictConfig, key: str) -> float | None:
    value = node[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SynthkitError(f"{checks.name(node, key)} must be a number, not {value!r}")
    return float(value)


def _moment(node: DictConfig, key: str) -> datetime | None:
    value = node[key]
    if value is None:
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            text = value.strip()
            if text.replace(".", "", 1).isdigit():
                return datetime.fromtimestamp(float(text), UTC)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise SynthkitError(f"{checks.name(node, key)} must be an ISO-8601 time (2026-05-01T12:00:00Z) "
                        f"or epoch seconds, not {value!r}")


def _count(node: DictConfig, key: str, *, zero: bool = False) -> int | None:
    return checks.number(node, key, integer=True, positive=not zero, optional=not zero)


def _share(node: DictConfig, key: str) -> float:
    value = checks.number(node, key, positive=False)
    if value >= 1:
        raise SynthkitError(f"{checks.name(node, key)} must be at least 0 and below 1, not {value!r}")
    return float(value)


KEYS = {a.name for a in attrs.fields(FilterSpec)} - {"mix_share", "mix_min_judge_scores"} | {"mix"}


def spec_from_config(node: DictConfig) -> FilterSpec:
    """Check every `filter.*` value; a wrong one is a `SynthkitError` naming the key."""
    unknown = sorted(set(node) - KEYS)
    if unknown:
        raise SynthkitError(f"{checks.name(node, unknown[0])} is not a filter key "
                            f"(keys: {', '.join(sorted(KEYS))})")
    mix = node.mix
    if not isinstance(mix, DictConfig) or set(mix) - {"share", "min_judge_scores"}:
        raise SynthkitError(f"{checks.name(node, 'mix')} takes share and min_judge_scores, "
                            f"not {OmegaConf.to_container(mix) if isinstance(mix, DictConfig) else mix!r}")
    spec = FilterSpec(
        min_judge_scores=thresholds(node, "min_judge_scores"),
        max_judge_scores=thresholds(node, "max_judge_scores"),
        min_official_score=_official(node, "min_official_score"),
        max_official_score=_official(node, "max_official_score"),
        splits=tuple(checks.strings(node, "splits")), task_ids=tuple(checks.strings(node, "task_ids")),
        models=tuple(checks.strings(node, "models")),
        min_created_at=_moment(node, "min_created_at"), max_created_at=_moment(node, "max_created_at"),
        judge_model=None if node.judge_model is None else checks.text(node, "judge_model"),
        include_failed=checks.flag(node, "include_failed"),
        limit=_count(node, "limit"), max_sessions=_count(node, "max_sessions"),
        offset=_count(node, "offset", zero=True), shuffle=checks.flag(node, "shuffle"),
        shuffle_seed=checks.number(node, "shuffle_seed", integer=True, positive=False, optional=True),
        seed=checks.number(node, "seed", integer=True, positive=False),
        mix_share=_share(mix, "share"), mix_min_judge_scores=thresholds(mix, "min_judge_scores"),
        stratify_by=None if node.stratify_by is None else checks.choice(node, "stratify_by", STRATA),
        val_fraction=_share(node, "val_fraction"), dedup=checks.flag(node, "dedup"),
        max_tokens_per_example=_count(node, "max_tokens_per_example"),
        format=checks.choice(node, "format", FORMATS),
        granularity=checks.choice(node, "granularity", GRANULARITIES),
        metadata=_metadata(node),
        output=None if node.output is None else checks.nonempty(
            node, "output", " (null writes sft.jsonl in the run directory)"),
        overwrite=checks.flag(node, "overwrite"), plot=checks.flag(node, "plot"))
    _check_ranges(spec)
    return spec


def _metadata(node: DictConfig) -> bool | str:
    value = node.metadata
    if not isinstance(value, bool) and value != SEPARATE:
        raise SynthkitError(f"filter.metadata must be true, false or {SEPARATE}, not {value!r}")
    return value


def _check_ranges(spec: FilterSpec) -> None:
    for key in sorted(set(spec.min_judge_scores) & set(spec.max_judge_scores)):
        if spec.min_judge_scores[key] > spec.max_judge_scores[key]:
            raise SynthkitError(f"filter.min_judge_scores.{key} ({spec.min_judge_scores[key]:g}) is above "
                                f"filter.max_judge_scores.{key} ({spec.max_judge_scores[key]:g}): nothing can pass")
    pairs = (("min_official_score", "max_official_score"), ("min_created_at", "max_created_at"))
    for low, high in pairs:
        if getattr(spec, low) is not None and getattr(spec, high) is not None \
                and getattr(spec, low) > getattr(spec, high):
            word = "after" if low.endswith("_at") else "above"
            raise SynthkitError(f"filter.{low} is {word} filter.{high}: nothing can pass")
    if spec.shuffle_seed is not None and not spec.shuffle:
        raise SynthkitError("filter.shuffle_seed is set but filter.shuffle is false")
    if spec.mix_share and not spec.min_judge_scores:
        raise SynthkitError("filter.mix.share needs filter.min_judge_scores: the mix draws from the "
                            "sessions below those thresholds")
    for key, floor in spec.mix_min_judge_scores.items():
        if key in spec.min_judge_scores and floor > spec.min_judge_scores[key]:
            raise SynthkitError(f"filter.mix.min_judge_scores.{key} ({floor:g}) is above "
                                f"filter.min_judge_scores.{key}: the lower band would be empty")
    if spec.format == "prompt_completion" and spec.granularity == "session":
        raise SynthkitError("filter.format=prompt_completion trains on one reply per example: it takes "
                            "filter.granularity=call, not session")
    if spec.stratify_by is not None and not spec.mix_share:
        raise SynthkitError("filter.stratify_by applies to the mix: set filter.mix.share too")

