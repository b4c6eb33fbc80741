"""The README stays honest: every command and config key documented, every config composes,
the Quickstart works as written, and CI runs the README's own test command."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from synthkit.cli import COMMANDS
from synthkit.cli.app import register_configs
from synthkit.resources import default_dir

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / ".ci"))
from readme_command import quickstart  # noqa: E402


register_configs()


# Groups that several commands share are documented once, with the command they belong to.
OWNERS = {"judge.": "judge", "filter.": "filter", "validate.": "validate",
          "eval.": "eval", "task.": "eval", "policy.": "eval"}


def section(title: str) -> str:
    match = re.search(rf"^### `{re.escape(title)}`\n(.*?)(?=^##)", README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no section '### `{title}`'"
    return match.group(1)


def leaf_keys(node: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items():
        if isinstance(value, dict) and value:
            keys += leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def group_options() -> list[tuple[str, str]]:
    conf = default_dir("conf")
    return sorted((p.parent.name, p.stem) for p in conf.glob("*/*.yaml"))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_key_is_documented(name):
    text = section(f"synthkit {name}")
    assert COMMANDS[name].summary, name
    with initialize_config_dir(config_dir=str(default_dir("conf")), version_base="1.3"):
        cfg = compose(config_name=name)
    for key in leaf_keys(OmegaConf.to_container(cfg, resolve=False)):
        owner = next((command for prefix, command in OWNERS.items() if key.startswith(prefix)), name)
        where = README if key.startswith(("db.", "rubrics.")) else section(f"synthkit {owner}") + text
        assert f"`{key}`" in where, f"README does not document {name}'s key `{key}` (in synthkit {owner})"


@pytest.mark.parametrize(("group", "option"), group_options())
def test_every_config_group_option_is_documented_and_composes(group, option):
    assert f"`{group}`" in README and f"`{option}`" in README, (group, option)
    users = [name for name in COMMANDS
             if f"- {group}: " in (default_dir("conf") / f"{name}.yaml").read_text()]
    assert users, f"no command uses the config group {group}"
    for name in users:
        with initialize_config_dir(config_dir=str(default_dir("conf")), version_base="1.3"):
            compose(config_name=name, overrides=[f"{group}={option}"])


def test_ci_runs_the_readme_test_command():
    install, test = quickstart(ROOT / "README.md")
    assert test.startswith("pip install") and "[test]" in test and test.endswith("pytest")
    assert install.startswith("pip install .")
    assert "readme_command.py test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_the_quickstart_job_ends_with_a_valid_sft_file_from_an_empty_folder(tmp_path):
    install, _ = quickstart(ROOT / "README.md")
    job = install.split("&&", 1)[1].strip()  # the install step is what the test environment did
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(job, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (tmp_path / "experiments" / "pipeline").iterdir()
    stats = json.loads((run_dir / "stats.json").read_text())
    assert 0.1 <= stats["sessions"]["kept"] / stats["sessions"]["seen"] <= 0.9  # a meaningful share
    assert "episodes: 50 played (0 failed" in done.stdout and "(valid for fine-tuning" in done.stdout
    checked = subprocess.run(["synthkit", "validate", f"path={run_dir / 'sft.jsonl'}"], cwd=tmp_path, env=env,
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "0 errors" in checked.stdout, checked.stdout + checked.stderr
