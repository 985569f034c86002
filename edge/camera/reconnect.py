"""Keep a camera alive: reopen it with capped exponential backoff when it is lost."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from edge.camera import Camera, CameraError

log = logging.getLogger(__name__)


class ReconnectingCamera:
    """Wraps a :class:`Camera`; ``read`` never raises, it returns ``None`` only at a replay's end.

    ``on_status("lost"|"back", message)`` is called on each transition (events, sd_notify STATUS).
    """

    def __init__(self, camera: Camera, max_backoff_s: float = 30.0, first_backoff_s: float = 0.5,
                 on_status: Callable[[str, str], None] | None = None, stop: threading.Event | None = None) -> None:
        self.camera = camera
        self.name = camera.name
        self.max_backoff_s = max_backoff_s
        self.first_backoff_s = first_backoff_s
        self.on_status = on_status or (lambda state, msg: None)
        self.stop = stop or threading.Event()
        self.lost = False
        self.reconnects = 0
        self._open = False

    def open(self) -> None:
        self.camera.open()
        self._open = True

    def read(self) -> np.ndarray | None:
        backoff = self.first_backoff_s
        while not self.stop.is_set():
            try:
                if not self._open:
                    self.camera.open()
                    self._open = True
                frame = self.camera.read()
                if self.lost:
                    self.lost = False
                    self.reconnects += 1
                    log.info("camera %s is back", self.name)
                    self.on_status("back", f"camera {self.name} is back")
                return frame
            except CameraError as exc:
                if not self.lost:
                    self.lost = True
                    log.warning("camera %s lost: %s", self.name, exc)
                    self.on_status("lost", str(exc))
                else:
                    log.info("camera %s not back yet (%s); next try in %.1f s", self.name, exc, backoff)
            self._close_quietly()
            self._open = False
            if self.stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.max_backoff_s)
        return None

    def _close_quietly(self) -> None:
        try:
            self.camera.close()
        except Exception:  # noqa: BLE001 - closing a lost device may fail any way it likes
            log.debug("closing lost camera failed", exc_info=True)

    def full_resolution(self) -> np.ndarray | None:
        """The camera's full-resolution image for a snapshot, if it offers one (picamera2's main
        stream); ``None`` otherwise, and the analysed frame serves."""
        grab = getattr(self.camera, "full_resolution", None)
        return grab() if grab is not None and not self.lost else None

    def frame_time(self) -> float | None:
        """The wrapped source's own time for its last frame, if it keeps one (see :mod:`edge.camera`)."""
        own = getattr(self.camera, "frame_time", None)
        return own() if own is not None else None

    def position(self) -> float | None:
        """The wrapped source's place in its recording for its last frame (see :mod:`edge.camera`)."""
        own = getattr(self.camera, "position", None)
        return own() if own is not None else None

    def close(self) -> None:
        self._close_quietly()
