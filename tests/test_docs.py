"""The README stays honest: every command and config key documented, every config composes,
the Quickstart works as written, and CI runs the README's own test command."""

from __future__ import annotations

import os
import re
import shutil
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
        where = README if key.startswith(("db.", "rubrics.")) else text
        assert f"`{key}`" in where, f"README does not document {name}'s key `{key}`"


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


def test_the_quickstart_job_runs_twice_on_a_fresh_checkout(tmp_path):
    install, _ = quickstart(ROOT / "README.md")
    job = install.split("&&", 1)[1].strip()  # the install step is what the test environment did
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "synthkit" / "samples", checkout / "synthkit" / "samples")
    env = {k: v for k, v in os.environ.items() if k != "SQLD_DB_PATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    for _ in range(2):
        done = subprocess.run(job, shell=True, cwd=checkout, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "sessions          4" in done.stdout
    assert "skipped 4 sessions already in" in done.stdout
