"""USB webcams (``/dev/videoN``), RTSP/HTTP streams and video files through OpenCV."""

from __future__ import annotations

import cv2
import numpy as np

from edge.camera import CameraError


class OpenCVCamera:
    def __init__(self, device: str, width: int, height: int, fps: float) -> None:
        self.device = int(device) if device.isdigit() else device
        self.name = f"opencv:{device}"
        self.size = (width, height)
        self.fps = fps
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        cap = cv2.VideoCapture(self.device)
        if not cap.isOpened():
            raise CameraError(f"camera {self.device!r} cannot be opened (is it plugged in, and is the user in "
                              f"the 'video' group?)")
        if isinstance(self.device, int):
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a backlog
        self._cap = cap

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            raise CameraError(f"camera {self.device!r} is not open")
        ok, frame = self._cap.read()
        if not ok:
            raise CameraError(f"camera {self.device!r} stopped delivering frames")
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
