"""Camera sources behind one small interface, chosen in config.yaml (``camera.source``).

A source yields BGR uint8 frames. ``read()`` returns the next frame, ``None`` when a finite source
(a replay) has ended, and raises :class:`CameraError` when the device is lost — the
:class:`~edge.camera.reconnect.ReconnectingCamera` wrapper turns that into a capped exponential
backoff while the daemon keeps running.

A source may also offer ``frame_time()``: when the frame last read was filmed, on the
:func:`time.monotonic` scale, where that is not the moment it arrived (a recording read faster or
slower than it was filmed). Without it, or when it returns ``None``, the arrival time serves.
And it may offer ``position()``: where in the recording that frame lies, in seconds from its start
(a video's own timestamps; a folder's frame number over its rate), so an event from a recording
says where to look in it (``video_s``). Live cameras have no position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from edge.config import CameraConfig
from edge.errors import SiameseEdgeError


class CameraError(SiameseEdgeError, OSError):
    """The camera could not be opened or stopped delivering frames."""


class Camera(Protocol):
    name: str

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


def is_recording(cfg: CameraConfig) -> bool:
    """Whether the source is a recording (a replay, or a video file given as the opencv device),
    which ``realtime: false`` then reads frame by frame on its own clock; a live camera ignores it."""
    return cfg.source == "replay" or (cfg.source == "opencv" and Path(cfg.device).is_file())


def make_camera(cfg: CameraConfig) -> Camera:
    """The configured source (hardware libraries are imported only when chosen)."""
    if cfg.source == "replay":
        from edge.camera.replay import ReplayCamera, timecodes_for

        return ReplayCamera(cfg.path, fps=cfg.fps, loop=cfg.loop, realtime=cfg.realtime,
                            timecodes=timecodes_for(Path(cfg.path), cfg.timestamps))
    if cfg.source == "opencv":
        from edge.camera.opencv import OpenCVCamera
        from edge.camera.replay import ReplayCamera, timecodes_for

        if is_recording(cfg):  # a video file: play it at its own rate and end, like a replay
            return ReplayCamera(cfg.device, fps=None, loop=cfg.loop, realtime=cfg.realtime,
                                name=f"opencv:{cfg.device}", fallback_fps=cfg.fps,
                                timecodes=timecodes_for(Path(cfg.device), cfg.timestamps))

        return OpenCVCamera(cfg.device, cfg.width, cfg.height, cfg.fps)
    from edge.camera.picam import PiCamera

    return PiCamera(cfg.width, cfg.height, cfg.fps)
