"""Run a configured executable for each event: the event as JSON on stdin and as environment
variables (``SIAMESE_EDGE_TYPE``, ``_NAME``, ``_SCORE``, …). Never through a shell; killed at its
timeout; a non-zero exit is logged with the end of its stderr."""

from __future__ import annotations

import logging
import os
import signal
import subprocess

from edge.events import Event

log = logging.getLogger(__name__)


class HookSink:
    name = "hook"

    def __init__(self, command: list[str], timeout_s: float = 10.0, types: tuple[str, ...] = ("recognized", "unknown")):
        self.command = command
        self.timeout_s = timeout_s
        self.types = types
        self.failures = 0
        self.timeouts = 0

    def handle(self, event: Event) -> None:
        if event.type not in self.types:
            return
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TZ")}
        for key, value in event.to_dict().items():
            env[f"SIAMESE_EDGE_{key.upper()}"] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            # own process group, so a hook's children are killed with it at the timeout
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, env=env, shell=False, start_new_session=True)
        except OSError as exc:
            self.failures += 1
            log.warning("hook %s cannot run: %s", self.command[0], exc)
            return
        try:
            _, err = proc.communicate(event.to_json(), timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            self.timeouts += 1
            log.warning("hook %s killed after %.1f s on %s", self.command[0], self.timeout_s, event.type)
            return
        if proc.returncode != 0:
            self.failures += 1
            log.warning("hook %s exited %d: %s", self.command[0], proc.returncode, err.strip()[-300:])

    def close(self) -> None:
        pass
