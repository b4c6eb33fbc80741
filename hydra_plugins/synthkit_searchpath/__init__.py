"""Lets a project's own `./conf` add to or override synthkit's packaged configs.

Hydra looks configs up in search-path order; `--config-dir` and `hydra.searchpath` both rank
after the primary config directory, so neither lets a project replace a packaged file. This
plugin puts `./conf` first, and only for synthkit's own apps.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.plugins.search_path_plugin import SearchPathPlugin


class SynthkitProjectConf(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from synthkit.resources import default_dir

        packaged = default_dir("conf")
        is_synthkit = any(e.provider == "main" and e.path is not None
                          and Path(e.path.removeprefix("file://")) == packaged
                          for e in search_path.get_path())
        project = Path.cwd() / "conf"
        if is_synthkit and project.is_dir() and project.resolve() != packaged:
            search_path.prepend("synthkit-project", f"file://{project.resolve()}",
                                anchor=SearchPathQuery(provider="main"))
