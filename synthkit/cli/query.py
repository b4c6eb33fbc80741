"""`synthkit query`: the judge results of a trace DB, read-only, as tables or files."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from synthkit import checks
from synthkit.errors import SynthkitError
from synthkit.inspection import options_from_config, run_view
from synthkit.inspection.table import FORMATS, write_atomically, write_tables
from synthkit.traces.store import TraceStore

log = logging.getLogger("synthkit.query")


def run(cfg: DictConfig) -> dict[str, Any] | None:
    q = cfg.query
    view = checks.text(q, "view")
    fmt = checks.choice(q, "format", FORMATS)
    overwrite = checks.flag(q, "overwrite")
    output = None if q.output is None else Path(checks.text(q, "output"))
    if output is not None and HydraConfig.get().output_subdir is None:
        raise SynthkitError("query.output needs a run directory: leave rundir at its default")
    options, limit = options_from_config(q)
    db_path = Path(checks.text(cfg.db, "path"))
    if output is not None and output.resolve() == db_path.resolve():
        raise SynthkitError(f"query.output is the trace DB itself ({db_path})")
    with TraceStore.open(db_path) as store:
        tables = run_view(store, view, options, limit)
        if output is None:
            write_tables(tables, sys.stdout, fmt)
            return None
        rows = write_atomically(output, overwrite, lambda handle: write_tables(tables, handle, fmt))
    log.info("wrote %d rows to %s", rows, output)
    return {"view": view, "format": fmt, "rows": rows, "outputs": [str(output)]}
