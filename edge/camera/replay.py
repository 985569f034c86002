"""Replay a folder of images (name order) or a video file at a fixed frame rate.

The embedded default for ``make demo``, tests and benchmarks: deterministic and needs no hardware.
A video file also plays through here when it is given as the ``opencv`` camera's device: at its own
frame rate, ending at its end (or looping), instead of racing through and "reconnecting" forever.
A frame that cannot be read is skipped with a warning: one bad file in a recording never stops or
restarts the replay.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from edge.camera import CameraError
from edge.errors import ImageError
from edge.printable import printable
from edge.vision.imageio import IMAGE_SUFFIXES, read_image

log = logging.getLogger(__name__)


DECODED_CACHE_BYTES = 32 * 2**20
"""Decoded frames a looping replay keeps (about 36 frames of 640×480)."""


class ReplayCamera:
    def __init__(self, path: str | Path, fps: float | None = 10.0, loop: bool = False, realtime: bool = True,
                 name: str | None = None, fallback_fps: float = 10.0) -> None:
        """``fps=None``: a video plays at the rate its file declares (``fallback_fps`` if none)."""
        self.path = Path(path)
        self.name = name or f"replay:{self.path.name}"
        self.fps = fps
        self.fallback_fps = fallback_fps
        self.period = 1.0 / (fps or fallback_fps)
        self.loop = loop
        self.realtime = realtime
        self._frames: list[Path] = []
        self._video: cv2.VideoCapture | None = None
        self._i = 0
        self._next_t = 0.0
        self._bad: set[Path] = set()
        self._decoded: dict[Path, np.ndarray] = {}  # see DECODED_CACHE_BYTES
        self._decoded_bytes = 0

    def open(self) -> None:
        if self.path.is_dir():
            self._frames = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._frames:
                raise CameraError(f"replay folder {self.path} has no images")
        elif self.path.is_file():
            self._video = cv2.VideoCapture(str(self.path))
            if not self._video.isOpened():
                raise CameraError(f"replay file {self.path} cannot be opened as a video")
            if self.fps is None:
                own = self._video.get(cv2.CAP_PROP_FPS)
                self.period = 1.0 / (own if 0.1 <= own <= 240 else self.fallback_fps)
        else:
            raise CameraError(f"replay source {self.path} does not exist")
        self._i = 0
        self._next_t = time.monotonic()

    def _pace(self) -> None:
        if not self.realtime:
            return
        delay = self._next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_t = max(self._next_t + self.period, time.monotonic() - self.period)

    def read(self) -> np.ndarray | None:
        self._pace()
        if self._video is not None:
            ok, frame = self._video.read()
            if not ok and self.loop:
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._video.read()
            return frame if ok else None
        for _ in range(len(self._frames) + 1):
            if self._i >= len(self._frames):
                if not self.loop:
                    return None
                self._i = 0
            path = self._frames[self._i]
            self._i += 1
            try:
                return self._frame(path)
            except ImageError as exc:
                if path not in self._bad:
                    self._bad.add(path)
                    log.warning("replay frame skipped: %s", printable(exc))
        raise CameraError(f"replay folder {self.path}: no frame can be read")

    def _frame(self, path: Path) -> np.ndarray:
        """The decoded frame, kept while the cache has room: a looped replay then costs no decoding,
        as a real camera's frames cost none (a 640×480 PNG takes a few milliseconds to decode —
        more than the motion gate's whole work on a frame)."""
        frame = self._decoded.get(path)
        if frame is None:
            frame = read_image(path)
            if self.loop and self._decoded_bytes + frame.nbytes <= DECODED_CACHE_BYTES:
                frame.setflags(write=False)  # shared by every pass over the loop
                self._decoded[path] = frame
                self._decoded_bytes += frame.nbytes
        return frame

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
