"""Structured JSON logs (one object a line) for the API."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

LOGGER = "credgraph.api"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(log_file: Path | None = None, level: int = logging.INFO) -> None:
    """JSON lines to stderr (and to ``log_file`` when given); idempotent."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    logger.propagate = True
    for h in list(logger.handlers):
        if getattr(h, "_credgraph", False):
            logger.removeHandler(h)
            h.close()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for h in handlers:
        h.setFormatter(JsonFormatter())
        h._credgraph = True  # type: ignore[attr-defined]
        logger.addHandler(h)


def log(level: int, message: str, exc_info: bool = False, **fields: Any) -> None:
    logging.getLogger(LOGGER).log(level, message, exc_info=exc_info, extra={"fields": fields})
