"""The names `synthkit` exports, loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import synthkit


def test_every_exported_name_resolves_to_what_its_module_defines():
    for name in synthkit.__all__:
        value = getattr(synthkit, name)
        if name != "__version__":
            assert getattr(sys.modules[synthkit._MODULE_OF[name]], name) is value
    assert dir(synthkit) == synthkit.__all__
    from synthkit import LMCall, judge_traces  # noqa: F401  (from-imports go through the same path)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Judge'"):
        synthkit.Judge  # noqa: B018


def test_importing_synthkit_loads_none_of_its_parts():
    script = "import sys, synthkit; print(sorted(m for m in sys.modules if m.startswith('synthkit.')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
