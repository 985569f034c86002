"""JSON-lines event log: to stdout (journald) and/or a rotating file."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from edge.events import Event
from edge.private_files import make_folder

log = logging.getLogger(__name__)


class LogSink:
    name = "log"

    def __init__(self, stdout: bool = True, path: str | None = None, max_bytes: int = 5_000_000,
                 backups: int = 3) -> None:
        self.stdout = stdout
        self._file = None
        if path:
            make_folder(Path(path).parent, 0o700)  # who came and when: a new folder is private
            self._file = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                                              encoding="utf-8")
            self._file.setFormatter(logging.Formatter("%(message)s"))
            self._file.handleError = self._write_failed  # type: ignore[method-assign]
        self.failing = False
        self._failed_now = False

    def _write_failed(self, record: logging.LogRecord) -> None:
        """A full disk or a vanished folder: say so once (not a traceback per event) and go on."""
        if not self.failing:
            log.warning("event log %s cannot be written (%s): events still go to the other outputs",
                        self._file.baseFilename if self._file else "?", sys.exc_info()[1])
        self.failing = self._failed_now = True

    def handle(self, event: Event) -> None:
        line = event.to_json()
        if self.stdout:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        if self._file is not None:
            was_failing, self._failed_now = self.failing, False
            self._file.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))
            if was_failing and not self._failed_now:
                log.warning("event log %s is being written again", self._file.baseFilename)
                self.failing = False

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:  # the last buffered lines on a full disk: nothing more to do
                log.warning("event log %s: closing failed (%s)", self._file.baseFilename, exc)
