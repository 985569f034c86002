"""systemd's notify protocol: a few datagrams to ``$NOTIFY_SOCKET`` (no dependency needed).

``READY=1`` once model, camera and gallery are up; ``WATCHDOG=1`` from the recognition loop itself
(a hung loop stops sending it and systemd restarts the service); ``STATUS=…`` with live stats;
``STOPPING=1`` on the way out. Outside systemd (no ``NOTIFY_SOCKET``) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket

from edge.printable import printable

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self.address = None
        self._sock = None
        if address:
            self.address = "\0" + address[1:] if address.startswith("@") else address
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        self.watchdog_s = int(usec) / 1e6 if usec and (not pid or int(pid) == os.getpid()) else None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> None:
        if self._sock is None:
            return
        try:
            self._sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:  # systemd gone or socket full: never let this stop recognition
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={printable(status)}"] if status else []))

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        # one line: a newline inside a message (a camera error, a file name) would add fields of its own
        self.send(f"STATUS={printable(text)}")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
