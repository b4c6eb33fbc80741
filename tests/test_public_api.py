"""The names `synthkit` exports, loaded on first use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import synthkit


def test_every_exported_name_resolves_to_what_its_module_defines():
    for name in synthkit.__all__:
        value = getattr(synthkit, name)
        if name != "__version__":
            assert getattr(sys.modules[synthkit._MODULE_OF[name]], name) is value
    assert set(synthkit.__all__) <= set(dir(synthkit))
    from synthkit import LMCall, judge_traces  # noqa: F401  (from-imports go through the same path)


def test_type_checkers_see_the_same_names():
    tree = ast.parse(Path(synthkit.__file__).read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    seen = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert seen == synthkit._MODULE_OF


def test_subpackages_are_attributes_as_after_an_import():
    assert synthkit.traces.model.to_json is sys.modules["synthkit.traces.model"].to_json


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Judge'"):
        synthkit.Judge  # noqa: B018


def test_importing_synthkit_loads_none_of_its_parts():
    script = "import sys, synthkit; print(sorted(m for m in sys.modules if m.startswith('synthkit.')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
