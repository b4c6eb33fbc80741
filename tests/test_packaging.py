"""A built wheel, installed without the checkout, finds its packaged conf/ and rubrics/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import SYNTH_AI_DB

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(ROOT)], check=True)
    (path,) = out.glob("synthkit-*.whl")
    return path


def test_the_wheel_carries_the_default_configs_and_rubrics(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for conf in (ROOT / "conf").rglob("*.yaml"):
        assert f"synthkit/defaults/conf/{conf.relative_to(ROOT / 'conf')}" in names
    for rubric in (ROOT / "rubrics").glob("rubric_*"):
        assert f"synthkit/defaults/rubrics/{rubric.name}" in names
    assert "hydra_plugins/synthkit_searchpath/__init__.py" in names
    assert "synthkit/samples/chat_sample.jsonl" in names


def test_an_installed_synthkit_runs_from_an_empty_folder(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(SYNTH_AI_DB, work / "traces.db")
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = [sys.executable, "-c", "from synthkit.cli import main; main()"]
    where = subprocess.run([sys.executable, "-c", "import synthkit.resources as r; "
                            "print(r.default_dir('conf')); print(r.default_dir('rubrics'))"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.split() == [str(site / "synthkit" / "defaults" / "conf"),
                                    str(site / "synthkit" / "defaults" / "rubrics")]
    info = subprocess.run([*run, "info", "db.path=traces.db", "format=json"], cwd=work, env=env,
                          capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["counts"]["sessions"] == 60
    imported = subprocess.run([*run, "import", "source=traces.db", "db.path=copy.db"], cwd=work,
                              env=env, capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    assert len(list((work / "experiments" / "import").iterdir())) == 1
    args = ["filter", "db.path=traces.db", "filter=none", "filter.min_judge_scores.quality=0.6"]
    filtered = subprocess.run([*run, *args], cwd=work, env=env, capture_output=True, text=True)
    assert filtered.returncode == 0, filtered.stderr
    (run_dir,) = (work / "experiments" / "filter").iterdir()
    assert (run_dir / "scores.png").read_bytes()[:4] == b"\x89PNG"  # drawn by a process that found this synthkit
