"""The program's own log lines (stderr → journald): plain or JSON, set at start and again on SIGHUP."""

from __future__ import annotations

import json
import logging
import sys

from edge.printable import printable


class PlainFormatter(logging.Formatter):
    """``LEVEL logger: message`` with control characters escaped: a person or file name holding a
    newline or a terminal escape can neither forge a journal line nor rewrite the operator's terminal."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = printable(record.message)
        return super().formatMessage(record)


PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per log line (``logging.format: json``)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"t": round(record.created, 3), "level": record.levelname.lower(),
                           "logger": record.name, "msg": record.getMessage()}, ensure_ascii=False)


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter(PLAIN_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
