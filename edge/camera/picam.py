"""The Raspberry Pi camera through picamera2 (from apt on Pi OS; imported only when chosen).

Two streams: ``main`` at full resolution (for saved crops) and ``lores`` for analysis. The Pi 4's
ISP gives lores only as YUV420, so we take lores in YUV420 and convert it to BGR once per frame
(``COLOR_YUV2BGR_I420``); on a Pi 5 the same path works. No other colour conversion happens.
"""

from __future__ import annotations

import numpy as np

from edge.camera import CameraError

INSTALL_HINT = ("picamera2 is not importable: on Raspberry Pi OS run `sudo apt install python3-picamera2` and "
                "create the venv with --system-site-packages (systemd/install.sh does both), or set "
                "camera.source to opencv")


class PiCamera:
    def __init__(self, width: int, height: int, fps: float) -> None:
        self.name = "picamera2"
        self.size = (width - width % 2, height - height % 2)
        self.fps = fps
        self._cam = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # noqa: PLC0415 - lazy: only on a Pi
        except ImportError:
            raise CameraError(INSTALL_HINT) from None
        try:
            cam = Picamera2()
            config = cam.create_video_configuration(
                main={"size": (self.size[0] * 2, self.size[1] * 2), "format": "RGB888"},
                lores={"size": self.size, "format": "YUV420"},
                controls={"FrameRate": self.fps},
                buffer_count=4,
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:  # noqa: BLE001 - libcamera raises many kinds
            raise CameraError(f"Pi camera cannot be started: {exc}") from None
        self._cam = cam

    def read(self) -> np.ndarray | None:
        import cv2

        if self._cam is None:
            raise CameraError("Pi camera is not open")
        try:
            yuv = self._cam.capture_array("lores")
        except Exception as exc:  # noqa: BLE001
            raise CameraError(f"Pi camera stopped delivering frames: {exc}") from None
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)

    def full_resolution(self) -> np.ndarray | None:
        """The main stream's newest frame (twice the analysed size, BGR) for a snapshot; ``None`` when
        it cannot be had. It is one capture later than the analysed lores frame (≈ 1/fps)."""
        if self._cam is None:
            return None
        try:
            return self._cam.capture_array("main")  # "RGB888" is B, G, R in memory: OpenCV's order
        except Exception:  # noqa: BLE001 - a snapshot falls back to the analysed frame
            return None

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None
