"""`synthkit import`: add sessions to the trace DB from chat JSONL or another trace DB."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from synthkit import checks
from synthkit.errors import SynthkitError
from synthkit.traces.importers import FORMATS, detect_format, import_chat_jsonl, import_trace_db

log = logging.getLogger("synthkit.import")


def run(cfg: DictConfig) -> dict[str, Any]:
    source = Path(checks.text(cfg, "source"))
    fmt = checks.choice(cfg, "format", ("auto", *FORMATS))
    skip_bad, skip_existing = checks.flag(cfg, "skip_bad"), checks.flag(cfg, "skip_existing")
    metadata = checks.mapping(cfg, "metadata")
    db_path = checks.text(cfg.db, "path")
    if not source.is_file():
        raise SynthkitError(f"source not found: {source}" if not source.exists()
                            else f"source is not a file: {source}")
    if fmt == "auto":
        fmt = detect_format(source)
    if fmt == "trace_db":
        if skip_bad:
            raise SynthkitError("skip_bad applies to chat JSONL sources, not to a trace DB")
        if metadata:
            raise SynthkitError("metadata applies to chat JSONL sources, not to a trace DB")
        report = import_trace_db(source, db_path, skip_existing=skip_existing)
    else:
        report = import_chat_jsonl(source, db_path, skip_bad=skip_bad,
                                   skip_existing=skip_existing, metadata=metadata)
    for line in report.lines():
        log.info(line)
    return {"source": str(source), "format": report.format, "imported": report.imported,
            "skipped_existing": report.skipped_existing,
            "skipped_bad": [{"line": n, "reason": r} for n, r in report.skipped_bad],
            "created_db": report.created_db}
