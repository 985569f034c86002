"""JSON-lines event log: to stdout (journald) and/or a rotating file."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from edge.events import Event


class LogSink:
    name = "log"

    def __init__(self, stdout: bool = True, path: str | None = None, max_bytes: int = 5_000_000,
                 backups: int = 3) -> None:
        self.stdout = stdout
        self._file = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                              encoding="utf-8")
            self._file.setFormatter(logging.Formatter("%(message)s"))

    def handle(self, event: Event) -> None:
        line = event.to_json()
        if self.stdout:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        if self._file is not None:
            self._file.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
