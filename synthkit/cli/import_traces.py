"""`synthkit import`: add sessions to the trace DB from chat JSONL or another trace DB."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from synthkit.errors import SynthkitError
from synthkit.traces.importers import FORMATS, detect_format, import_chat_jsonl, import_trace_db

log = logging.getLogger("synthkit.import")


def run(cfg: DictConfig) -> dict[str, Any]:
    source = Path(cfg.source)
    if cfg.format not in ("auto", *FORMATS):
        raise SynthkitError(f"format must be auto, {' or '.join(FORMATS)}, not {cfg.format!r}")
    if not source.is_file():
        raise SynthkitError(f"source not found: {source}" if not source.exists()
                            else f"source is not a file: {source}")
    fmt = detect_format(source) if cfg.format == "auto" else cfg.format
    if fmt == "trace_db":
        if cfg.skip_bad:
            raise SynthkitError("skip_bad applies to chat JSONL sources, not to a trace DB")
        if cfg.metadata:
            raise SynthkitError("metadata applies to chat JSONL sources, not to a trace DB")
        report = import_trace_db(source, cfg.db.path, skip_existing=cfg.skip_existing)
    else:
        metadata = OmegaConf.to_container(cfg.metadata, resolve=True)
        report = import_chat_jsonl(source, cfg.db.path, skip_bad=cfg.skip_bad,
                                   skip_existing=cfg.skip_existing, metadata=metadata)
    for line in report.lines():
        log.info(line)
    return {"source": str(source), "format": report.format, "imported": report.imported,
            "skipped_existing": report.skipped_existing,
            "skipped_bad": [{"line": n, "reason": r} for n, r in report.skipped_bad],
            "created_db": report.created_db}
