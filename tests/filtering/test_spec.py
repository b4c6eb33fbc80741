"""The filter keys: conf/filter.yaml and FilterSpec agree, and the presets say what they mean."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from synthkit.filtering.spec import FilterSpec, spec_from_config

CONF = Path(__file__).parents[2] / "conf"


def test_the_config_defaults_are_the_spec_defaults():
    yaml_defaults = OmegaConf.to_container(OmegaConf.load(CONF / "filter_settings.yaml"))  # @package filter
    assert yaml_defaults == FilterSpec().to_config()


@pytest.mark.parametrize(("preset", "threshold"), [("initial", 0.6), ("standard", 0.7), ("high", 0.8),
                                                   ("expert", 0.9), ("none", None)])
def test_presets_set_the_primary_threshold(preset, threshold):
    values = OmegaConf.to_container(OmegaConf.load(CONF / "filter" / f"{preset}.yaml"))
    assert values == ({} if threshold is None else {"min_judge_scores": {"primary": threshold}})


def test_nested_keys_become_dotted_and_times_are_utc():
    node = OmegaConf.create({"filter": {**FilterSpec().to_config(),
                                        "min_judge_scores": {"RubricX": {"speed": 0.5}, "primary": 1},
                                        "min_created_at": 1_700_000_000, "max_created_at": "2026-05-01"}})
    spec = spec_from_config(node.filter)
    assert spec.min_judge_scores == {"RubricX.speed": 0.5, "primary": 1.0}
    assert spec.min_created_at.isoformat() == "2023-11-14T22:13:20+00:00"
    assert spec.max_created_at.isoformat() == "2026-05-01T00:00:00+00:00"
