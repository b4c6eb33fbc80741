from __future__ import annotations

import sys

import pytest
from hydra import compose, initialize_config_dir

from synthkit.errors import SynthkitError
from synthkit.resources import default_dir
from synthkit.rubrics.discovery import PACKAGED, collect, keywords, select_rubrics
from tests.make_rubrics import simple


def ids(collection):
    return [r.id for r in collection.rubrics]


def test_files_classes_and_nested_folders_are_found_like_pytest(write, tmp_path, monkeypatch):
    write("rubrics/rubric_chat.py", simple("RubricChat"))
    write("rubrics/deep/er/tools_rubric.py", simple("RubricTools"))
    write("rubrics/helpers.py", simple("RubricIgnoredFile"))          # not a rubric file name
    write("rubrics/.hidden/rubric_h.py", simple("RubricHidden"))      # hidden folders are skipped
    write("rubrics/rubric_names.py", simple("RubricKept") + '''
    class RubricPlain:              # the class must subclass Rubric
        pass

    class Base(RubricKept):         # a base class says so
        __rubric__ = False
    ''')
    monkeypatch.chdir(tmp_path)
    collection = collect()
    assert sorted(ids(collection)) == ["RubricChat", "RubricKept", "RubricTools"]
    assert collection.errors == ()
    # pytest's order: the entries of a folder by name, folders and files alike
    assert [f.name for f in collection.files] == ["tools_rubric.py", "rubric_chat.py", "rubric_names.py"]


def test_opt_out_is_not_inherited_and_imports_are_not_collected_twice(write, tmp_path):
    write("rubrics/rubric_base.py", '''
        from synthkit import Rubric, criterion

        class RubricBase(Rubric):
            __rubric__ = False

            @criterion
            def shared(self, trace):
                return 1.0

        class RubricChild(RubricBase):
            pass
    ''')
    write("rubrics/rubric_reuse.py", '''
        from synthkit import Rubric
        from synthkit.rubrics.api import Rubric as RubricAlias   # an imported class
    ''')
    collection = collect([str(tmp_path / "rubrics")])
    assert ids(collection) == ["RubricChild"]
    assert [s.name for s in collection.rubrics[0].criteria()] == ["shared"]


def test_same_file_names_in_different_folders_both_load_without_touching_sys_path(write, tmp_path):
    write("a/rubric_x.py", simple("RubricFromA"))
    write("b/rubric_x.py", simple("RubricFromB"))
    before = list(sys.path)
    collection = collect([str(tmp_path / "a"), str(tmp_path / "b")])
    assert sys.path == before
    assert ids(collection) == ["RubricFromA", "RubricFromB"]
    assert {keywords(r).__contains__("rubric_x") for r in collection.rubrics} == {True}


@pytest.mark.parametrize(("source", "line", "message"), [
    ("import nothing_here\n", 1, "ModuleNotFoundError: No module named 'nothing_here'"),
    ("x = 1\ndef broken(:\n", 2, "SyntaxError"),
    ("from synthkit import Rubric, criterion\n\nclass RubricX(Rubric):\n    @criterion(weight=-1)\n"
     "    def c(self, trace):\n        return 1\n", 4, "weight of c must be a number >= 0, not -1"),
    ("from synthkit import Rubric, criterion\n\nclass RubricX(Rubric):\n    @criterion\n"
     "    def c(self):\n        return 1\n", 4, "criterion c must take (self, trace), not (self)"),
    ("from synthkit import Rubric, judge\n\nclass RubricX(Rubric):\n    @judge\n"
     "    def c(self):\n        pass\n", 4, "judge criterion c needs a docstring or prompt="),
    ("from synthkit import Rubric\n\n\nclass RubricEmpty(Rubric):\n    pass\n", 4,
     "RubricEmpty has no criteria"),
    ("from synthkit import Rubric, criterion\n\nclass CrafterRubric(Rubric):\n    @criterion\n"
     "    def c(self, trace):\n        return 1\n", 3,
     "CrafterRubric subclasses Rubric but its name does not start with 'Rubric'"),
    ("from synthkit import Rubric, criterion\n\nclass RubricX(Rubric):\n    threshold = 2\n"
     "    @criterion\n    def c(self, trace):\n        return 1\n", 3,
     "RubricX.threshold must be a number in [0, 1], not 2"),
])
def test_collection_errors_name_the_file_and_line(write, tmp_path, source, line, message):
    path = tmp_path / "rubric_bad.py"
    path.write_text(source)
    write("rubric_good.py", simple("RubricGood"))
    collection = collect([str(tmp_path)])
    assert ids(collection) == ["RubricGood"]
    (error,) = collection.errors
    assert (error.path, error.line) == (str(path), line)
    assert message in error.message
    assert str(error).startswith(f"{path}:{line}: ")


def test_duplicate_ids_and_missing_paths_are_errors(write, tmp_path):
    write("a/rubric_one.py", simple("RubricSame"))
    write("b/rubric_two.py", simple("RubricSame"))
    collection = collect([str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "nowhere")])
    assert ids(collection) == ["RubricSame"]
    missing, duplicate = collection.errors
    assert "rubric id RubricSame is already defined at" in duplicate.message
    assert duplicate.path == str(tmp_path / "b" / "rubric_two.py")
    assert (missing.path, missing.message) == (str(tmp_path / "nowhere"), "rubrics path not found")


def test_the_examples_are_added_to_and_overridden_by_a_projects_rubrics(tmp_path, monkeypatch, write):
    monkeypatch.chdir(tmp_path)
    assert [str(e) for e in collect().errors] == ["rubrics: rubrics path not found"]
    examples = collect(include_defaults=True)              # a project without rubrics/ of its own
    assert examples.errors == () and {"RubricCrafterOutcome", "RubricChatToolUse"} <= set(ids(examples))
    assert all(f.parent == default_dir("rubrics") for f in examples.files)
    write("rubrics/rubric_mine.py", simple("RubricMine") + simple("RubricChatToolUse", doc="Mine.")
          .replace("from synthkit import Rubric, criterion, judge, mark\n", ""))
    both = collect(include_defaults=True)
    assert both.errors == ()
    assert "RubricMine" in ids(both) and "RubricCrafterOutcome" in ids(both)
    (chat,) = [r for r in both.rubrics if r.id == "RubricChatToolUse"]
    assert chat.description == "Mine."                       # the project's replaces the example
    assert ids(collect()) == ["RubricMine", "RubricChatToolUse"]
    assert "RubricCrafterOutcome" in ids(collect(["rubrics", PACKAGED]))


@pytest.mark.parametrize(("expression", "expected"), [
    ("", ["RubricChat", "RubricCrafterOutcome", "RubricCrafterSpeed"]),
    ("crafter", ["RubricCrafterOutcome", "RubricCrafterSpeed"]),
    ("crafter and not slow", ["RubricCrafterOutcome"]),
    ("CHAT or speed", ["RubricChat", "RubricCrafterSpeed"]),
    ("not (chat or slow)", ["RubricCrafterOutcome"]),
    ("progress", ["RubricCrafterOutcome"]),              # a criterion name
    ("rubric_chat", ["RubricChat"]),                     # the module name
])
def test_selection_expressions_follow_pytest_k(write, tmp_path, expression, expected):
    write("rubric_chat.py", simple("RubricChat", mark="chat"))
    write("rubric_crafter.py", simple("RubricCrafterOutcome", "progress", mark="crafter") + """
    @mark.crafter
    @mark.slow
    class RubricCrafterSpeed(Rubric):
        @criterion
        def steps(self, trace):
            return 1.0
    """)
    assert [r.id for r in collect([str(tmp_path)]).select(expression)] == expected


def test_select_rubrics_stops_on_errors_and_empty_selections(write, tmp_path):
    write("rubric_good.py", simple("RubricGood"))
    write("rubric_bad.py", "import nothing_here\n")
    with pytest.raises(SynthkitError, match="1 collection error .*rubric_bad.py:1: ModuleNotFoundError"):
        select_rubrics([str(tmp_path)], ["rubric_*.py"], "")
    _, selected = select_rubrics([str(tmp_path)], ["rubric_*.py"], "", continue_on_collection_errors=True)
    assert [r.id for r in selected] == ["RubricGood"]
    with pytest.raises(SynthkitError, match="no rubric selected by 'crafter' among the 1 collected"):
        select_rubrics([str(tmp_path)], ["rubric_*.py"], "crafter", continue_on_collection_errors=True)
    with pytest.raises(SynthkitError, match="rubrics.select 'chat and': expected word"):
        select_rubrics([str(tmp_path)], ["rubric_*.py"], "chat and", continue_on_collection_errors=True)


def test_parametrized_ids_are_config_keys(write, tmp_path):
    write("rubric_p.py", '''
        from synthkit import Rubric, criterion, mark

        @mark.parametrize("target, level", [("collect_wood", 1), ("make.iron pickaxe", 0.5)])
        class RubricReach(Rubric):
            @criterion
            def reached(self, trace):
                return self.level

        @mark.parametrize("n", [1, 2], ids=["one", "two"])
        class RubricNamed(Rubric):
            @criterion
            def c(self, trace):
                return self.n / 2
    ''')
    rubrics = collect([str(tmp_path)]).rubrics
    assert [r.id for r in rubrics] == ["RubricReach-collect_wood-1", "RubricReach-make_iron_pickaxe-0_5",
                                       "RubricNamed-one", "RubricNamed-two"]
    assert rubrics[1].target == "make.iron pickaxe" and rubrics[1].params == {"target": "make.iron pickaxe",
                                                                              "level": 0.5}
    assert len({r.version for r in rubrics}) == 4
    with initialize_config_dir(config_dir=str(default_dir("conf")), version_base="1.3"):
        from synthkit.cli.app import register_configs

        register_configs()
        cfg = compose(config_name="import", overrides=[f"metadata.{r.id}=0.5" for r in rubrics])
    assert sorted(cfg.metadata) == sorted(r.id for r in rubrics)


def test_the_version_covers_module_code_but_not_other_rubrics_or_comments(write, tmp_path):
    path = write("rubric_m.py", '''
        from synthkit import Rubric, criterion, example

        LIMIT = 5

        def capped(n):
            return min(n / LIMIT, 1.0)

        class RubricA(Rubric):
            @criterion
            def c(self, trace):
                return capped(trace.num_turns)

        class RubricB(Rubric):
            @criterion
            def c(self, trace):
                return 1.0

        RubricB.examples = []
    ''')

    def versions():
        return {r.id: r.version for r in collect([str(path)]).rubrics}

    first = versions()
    path.write_text(path.read_text().replace("LIMIT = 5", "LIMIT = 6"))
    constant = versions()
    assert constant["RubricA"] != first["RubricA"] and constant["RubricB"] != first["RubricB"]
    path.write_text(path.read_text().replace("return 1.0", "return 0.5"))
    other = versions()
    assert other["RubricA"] == constant["RubricA"] and other["RubricB"] != constant["RubricB"]
    path.write_text(path.read_text().replace("RubricB.examples = []", "RubricB.examples = []  # none yet")
                    .replace("return 0.5", "return 0.5  # half"))
    assert versions() == other


def test_parameter_versions_are_stable_across_runs(write, tmp_path):
    path = write("rubric_f.py", '''
        from synthkit import Rubric, criterion, mark

        def strict(x):
            return x

        @mark.parametrize("transform", [strict])
        class RubricF(Rubric):
            @criterion
            def c(self, trace):
                return 1.0
    ''')
    assert collect([str(path)]).rubrics[0].version == collect([str(path)]).rubrics[0].version


def test_an_example_for_an_unknown_parametrized_id_is_an_error(write, tmp_path):
    write("rubric_only.py", '''
        from synthkit import Rubric, criterion, example, mark

        @mark.parametrize("target", ["collect_wood"])
        class RubricReach(Rubric):
            @criterion
            def c(self, trace):
                return 1.0

        RubricReach.examples = [example("typo", messages=[{"role": "user", "content": "x"},
                                                          {"role": "assistant", "content": "y"}],
                                        only=["RubricReach-colect_wood"])]
    ''')
    (error,) = collect([str(tmp_path)]).errors
    assert "is only for RubricReach-colect_wood, which RubricReach does not make" in error.message


def test_collection_writes_no_bytecode_beside_rubrics(write, tmp_path):
    write("rubrics/rubric_x.py", simple("RubricX"))
    collect([str(tmp_path / "rubrics")])
    assert not (tmp_path / "rubrics" / "__pycache__").exists()


def test_the_version_changes_with_any_edit(write, tmp_path):
    path = write("rubric_v.py", simple("RubricV"))
    first = collect([str(path)]).rubrics[0].version
    assert collect([str(path)]).rubrics[0].version == first
    path.write_text(path.read_text().replace("return 1.0", "return 0.9"))
    assert collect([str(path)]).rubrics[0].version != first
    write("rubric_base.py", '''
        from synthkit import Rubric, criterion

        class RubricBase(Rubric):
            __rubric__ = False

            @criterion
            def c(self, trace):
                return 1.0

        class RubricChild(RubricBase):
            """Inherits its criterion."""
    ''')
    child = collect([str(tmp_path / "rubric_base.py")]).rubrics[0].version
    base = tmp_path / "rubric_base.py"
    base.write_text(base.read_text().replace("return 1.0", "return 0.5"))
    assert collect([str(base)]).rubrics[0].version != child     # an inherited criterion's edit counts
