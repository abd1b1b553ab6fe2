"""Structured logs on stderr: one JSON object per line (for collectors) or readable text.

Events carry their data as fields, not inside the message, e.g.
`log_event(logger, logging.INFO, "server started", model="iris", port=50052)`. A JSON line has the
same keys as the proxy's (ts, level in lower case, logger, message, then the fields), so one
pipeline reads both services.
"""

import datetime
import json
import logging
import sys
from typing import Any, TextIO

NO_REQUEST_ID = "-"


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in getattr(record, "fields", {}).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def configure_logging(level: str, log_format: str, stream: TextIO = sys.stderr) -> None:
    """Send every logger's records at `level` or above to `stream` as json or text lines."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def log_event(
    logger: logging.Logger, level: int, message: str, *, exc_info: bool = False, **fields: Any
) -> None:
    """Log `message` with `fields` as structured data; fields that are None are left out."""
    present = {key: value for key, value in fields.items() if value is not None}
    logger.log(level, message, extra={"fields": present}, exc_info=exc_info)
