"""The drawing process: plots drawn there are the plots drawn here, its failures come back as
errors, and it neither outlives the command nor dies of the command's Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from synthkit.filtering import plotter

STATS = {"histograms": {"primary": {"bins": 4, "counts": [1, 0, 3, 2], "missing": 1}},
         "thresholds": {"min_judge_scores": {"primary": 0.5}, "max_judge_scores": {}}}


@pytest.fixture
def fresh(monkeypatch):
    """A drawing process of this test's own, closed at its end."""
    monkeypatch.setattr(plotter, "_process", None)
    yield
    if plotter._process is not None:
        plotter._process.close()


def test_plots_are_drawn_in_another_process_and_match_those_drawn_here(fresh, tmp_path):
    plotter.start()
    assert plotter._process.popen.pid != os.getpid() and plotter._process.popen.poll() is None
    there = plotter.draw("scores", STATS, path=tmp_path / "there.png")
    here = plotter.PLOTS["scores"](STATS, tmp_path / "here.png")
    assert there == tmp_path / "there.png" and there.read_bytes()[:4] == b"\x89PNG"
    assert there.read_bytes() == here.read_bytes()
    rows = [{"filter.min_judge_scores.primary": t, "sessions_kept": k, "examples": 2 * k, "tokens": 9 * k,
             "mean_total_reward_kept": 0.5} for t, k in ((0.5, 8), (0.7, 3))]
    sweep = plotter.draw("sweep", rows, ["filter.min_judge_scores.primary"], path=tmp_path / "sweep.png")
    assert sweep.read_bytes()[:4] == b"\x89PNG"
    assert plotter.draw("scores", {**STATS, "histograms": {}}, path=tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_a_relative_path_is_the_callers_even_after_it_changed_folder(fresh, tmp_path, monkeypatch):
    plotter.start()  # before the command moves: the process never follows it
    monkeypatch.chdir(tmp_path)
    assert plotter.draw("scores", STATS, path=Path("rel.png")) == Path("rel.png")
    assert (tmp_path / "rel.png").read_bytes()[:4] == b"\x89PNG"


def test_a_plot_that_fails_there_is_raised_here_and_the_process_goes_on(fresh, tmp_path):
    broken = {**STATS, "histograms": {"primary": {"bins": 4}}}  # no counts
    with pytest.raises(RuntimeError, match=r"(?s)drawing .*bad.png failed in the plotting process:.*KeyError"):
        plotter.draw("scores", broken, path=tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
    assert plotter.draw("scores", STATS, path=tmp_path / "good.png").is_file()


def test_a_process_that_died_is_an_error_for_its_plot_and_replaced_for_the_next(fresh, tmp_path):
    plotter.start()
    dead = plotter._process
    dead.popen.kill()
    with pytest.raises(RuntimeError, match=r"the plotting process ended \(exit code -9\)"):
        dead.request("scores", [STATS], tmp_path / "lost.png")
    assert plotter.draw("scores", STATS, path=tmp_path / "next.png").is_file()
    assert plotter._process is not dead and plotter._process.popen.pid != dead.popen.pid


def test_a_file_the_machine_refuses_there_is_an_oserror_here(fresh, tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        plotter.draw("scores", STATS, path=tmp_path / "taken.png")
    assert raised.value.filename == str(tmp_path / "taken.png")


def test_what_else_prints_or_sits_in_its_folder_does_not_disturb_it(fresh, tmp_path, monkeypatch, capfd):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("print('a banner on stdout at every start')\n")
    monkeypatch.setenv("PYTHONPATH", str(site))
    (tmp_path / "json.py").write_text("raise ImportError('a json.py of the folder the command runs in')\n")
    monkeypatch.chdir(tmp_path)
    assert plotter.draw("scores", STATS, path=tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert "a banner on stdout at every start" in capfd.readouterr().err


def test_the_process_ignores_ctrl_c_and_leaves_when_its_input_closes(fresh, tmp_path):
    plotter.start()
    process = plotter._process
    assert process.request("scores", [STATS], tmp_path / "a.png").is_file()  # serving, so past its set-up
    os.kill(process.popen.pid, signal.SIGINT)
    assert process.request("scores", [STATS], tmp_path / "b.png").is_file()
    process.stdin.close()  # as when the command was killed
    assert process.popen.wait(timeout=10) == 0


def test_the_command_ending_stops_it_at_once(fresh):
    plotter.start()
    process = plotter._process
    process.close()  # still importing matplotlib: not waited for
    assert process.popen.returncode == -signal.SIGKILL


@pytest.mark.parametrize("where", ["no interpreter", "a frozen app"])
def test_where_no_process_can_start_plots_are_drawn_here(fresh, tmp_path, monkeypatch, where):
    if where == "no interpreter":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python-here"))
    else:
        monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert plotter.draw("scores", STATS, path=tmp_path / "here.png") == tmp_path / "here.png"
    assert plotter._process is None and Path(tmp_path / "here.png").read_bytes()[:4] == b"\x89PNG"


def test_a_sweep_is_plotted_against_its_first_numeric_key():
    from synthkit.filtering.plots import sweep_axis

    rows = [{"filter": preset, "filter.min_official_score": score, "db.path": "a.db"}
            for preset in ("initial", "high") for score in (0, 1)]
    assert sweep_axis(rows, ["filter", "filter.min_official_score"]) == ("filter.min_official_score", ["filter"])
    assert sweep_axis(rows, ["filter", "db.path"]) == ("filter", ["db.path"])
    rows[0]["filter.min_official_score"] = True  # a flag is not a number
    assert sweep_axis(rows, ["filter", "filter.min_official_score"]) == ("filter", ["filter.min_official_score"])
