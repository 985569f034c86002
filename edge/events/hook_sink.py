"""Run a configured executable for each event: the event as JSON on stdin and as environment
variables (``SIAMESE_EDGE_TYPE``, ``_NAME``, ``_SCORE``, …). Never through a shell.

A hook is someone else's program, so nothing it does may hurt the daemon: it runs in its own
process group, which is killed at the timeout; only the last :data:`STDERR_KEEP` bytes of its stderr
are kept (a hook printing 400 MB costs nothing); and delivery waits for the hook's own process, not
for the pipe to close — a child that escapes with ``setsid`` and keeps stderr open is reported, not
waited for.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import time

from edge.events import Event
from edge.printable import printable

log = logging.getLogger(__name__)

STDERR_KEEP = 4096
AFTER_EXIT_S = 0.2  # how long stderr is still read once the hook itself has exited


class HookSink:
    name = "hook"

    def __init__(self, command: list[str], timeout_s: float = 10.0, types: tuple[str, ...] = ("recognized", "unknown")):
        self.command = command
        self.timeout_s = timeout_s
        self.types = types
        self.failures = 0
        self.timeouts = 0

    def _env(self, event: Event) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TZ")}
        for key, value in event.to_dict().items():
            env[f"SIAMESE_EDGE_{key.upper()}"] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        return env

    def handle(self, event: Event) -> None:
        if event.type not in self.types:
            return
        try:
            # own process group, so a hook's children are killed with it at the timeout
            proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=self._env(event), shell=False,
                                    start_new_session=True)
        except OSError as exc:
            self.failures += 1
            log.warning("hook %s cannot run: %s", self.command[0], exc)
            return
        try:
            self._deliver(proc, event)
        finally:
            for stream in (proc.stdin, proc.stderr):
                if stream is not None:
                    stream.close()

    def _deliver(self, proc: subprocess.Popen, event: Event) -> None:
        assert proc.stdin is not None and proc.stderr is not None
        try:
            proc.stdin.write(event.to_json().encode())  # far below a pipe's buffer: never blocks
            proc.stdin.close()
        except OSError:
            pass  # the hook does not read stdin: fine
        tail, held_open = self._read_stderr(proc)
        if proc.returncode is None:  # still running at the deadline
            self._kill_group(proc)
            self.timeouts += 1
            log.warning("hook %s killed after %.1f s on %s", self.command[0], self.timeout_s, event.type)
            return
        if held_open:
            self._kill_group(proc)  # what is left in its group goes; a setsid child is out of reach
            log.warning("hook %s exited but a process it started (outside its process group) still holds its "
                        "output open; not waited for", self.command[0])
        if proc.returncode != 0:
            self.failures += 1
            err = printable(tail.decode("utf-8", "replace").strip()[-300:])
            log.warning("hook %s exited %d: %s", self.command[0], proc.returncode, err)

    def _read_stderr(self, proc: subprocess.Popen) -> tuple[bytes, bool]:
        """Read stderr until the hook exits (plus a moment) or the timeout, keeping only its tail.
        Returns the tail and whether the pipe was still open when reading stopped."""
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        os.set_blocking(fd, False)
        tail = b""
        deadline = time.monotonic() + self.timeout_s
        exited_at: float | None = None
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                now = time.monotonic()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if now >= deadline or (exited_at is not None and now - exited_at >= AFTER_EXIT_S):
                    return tail, True
                if sel.select(timeout=min(0.05, deadline - now)):
                    try:
                        chunk = os.read(fd, 65536)
                    except BlockingIOError:
                        continue
                    if not chunk:  # every writer closed it: the normal end
                        if proc.poll() is None:
                            try:
                                proc.wait(max(0.0, deadline - time.monotonic()))
                            except subprocess.TimeoutExpired:
                                pass
                        return tail, False
                    tail = (tail + chunk)[-STDERR_KEEP:]

    @staticmethod
    def _kill_group(proc: subprocess.Popen) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def close(self) -> None:
        pass
