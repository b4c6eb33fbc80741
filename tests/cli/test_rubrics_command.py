"""`synthkit rubrics`: the collect-only listing."""

from __future__ import annotations

import json

from tests.cli.test_cli import assert_one_line_error
from tests.conftest import tree
from tests.make_rubrics import simple


def test_the_listing_from_an_empty_folder_shows_the_examples(run_cli, tmp_path):
    before = tree(tmp_path)
    result = run_cli("rubrics")
    assert result.exit_code == 0, result.err
    lines = result.out.splitlines()
    assert any(line.endswith("rubric_crafter.py") for line in lines)
    header = next(line for line in lines if line.startswith("  RubricCrafterOutcome "))
    assert "marks: crafter" in header and "3 examples" in header and "version " in header
    assert any(line.split()[:5] == ["achievement_progression", "code", "weight", "0.35", "line"]
               for line in lines)
    assert any(line.split()[:4] == ["failure_analysis", "judge", "weight", "0.15"] for line in lines)
    assert any(line.split()[:5] == ["has_final_answer", "code", "weight", "0.2", "required"]
               for line in lines)
    assert lines[-1] == "3 files, 7 rubrics, 19 criteria"
    assert tree(tmp_path) == before


def test_selection_and_json(run_cli, tmp_path, write):
    write("rubrics/rubric_mine.py", simple("RubricMine", mark="mine"))
    write("rubrics/rubric_other.py", simple("RubricOther", mark="other"))
    text = run_cli("rubrics", "rubrics.select=mine", "rubrics.include_defaults=false")
    assert text.out.splitlines()[-1] == "2 files, 1 rubric (1 deselected by 'mine'), 2 criteria"
    listed = json.loads(run_cli("rubrics", "format=json", "rubrics.select=not mine",
                                "rubrics.include_defaults=false").out)
    (rubric,) = listed["rubrics"]
    assert rubric["id"] == "RubricOther" and rubric["file"] == "rubrics/rubric_other.py"
    assert rubric["criteria"][0] == {"name": "facts", "kind": "code", "weight": 0.5, "required": False,
                                     "threshold": 0.5, "line": 7}
    assert listed["deselected"] == 1 and listed["errors"] == []


def test_collection_errors_are_listed_and_exit_non_zero(run_cli, write):
    write("rubrics/rubric_mine.py", simple("RubricMine"))
    write("rubrics/rubric_bad.py", "import nothing_here\n")
    result = run_cli("rubrics")
    assert result.exit_code == 2
    assert "RubricMine" in result.out
    assert result.err.splitlines() == [
        "ERROR rubrics/rubric_bad.py:1: ModuleNotFoundError: No module named 'nothing_here'",
        "synthkit rubrics: error: 1 collection error",
    ]


def test_mistakes_in_the_rubrics_config(run_cli, write):
    write("rubrics/rubric_mine.py", simple("RubricMine"))
    assert_one_line_error(run_cli("rubrics", 'rubrics.select="(mine"'),
                          "rubrics.select '(mine': expected ), found 'nothing' at the end")
    result = run_cli("rubrics", "rubrics.paths=[nowhere]")
    assert result.exit_code == 2 and "ERROR nowhere: rubrics path not found" in result.err
    assert_one_line_error(run_cli("rubrics", "rubrics.paths=rubrics"),
                          "rubrics.paths must be a list, e.g. rubrics.paths=[a,b], not 'rubrics'")
    assert_one_line_error(run_cli("rubrics", "rubrics.include_defaults=no"),
                          "rubrics.include_defaults must be true or false, not 'no'")
