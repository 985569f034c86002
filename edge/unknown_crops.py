"""The aligned crops of unknown faces (``recognition.save_unknown_crops``), kept bounded.

A door camera runs for months: every stranger's crop would otherwise fill the SD card. The folder
keeps at most ``max_count`` crops and none older than ``max_age_s`` (the oldest go first). A full
disk or an unwritable folder never stops recognition: the failure is logged once, the event goes out
without a crop, and saving resumes — with one line saying so — at the first write that succeeds.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)


class UnknownCrops:
    def __init__(self, folder: str | Path, max_count: int = 500, max_age_s: float = 30 * 86400) -> None:
        self.folder = Path(folder)
        self.max_count = max_count
        self.max_age_s = max_age_s
        self.failing = False

    def save(self, crop_rgb: np.ndarray, track_id: int) -> str | None:
        """Write one crop (0600, in a 0700 folder); its path, or ``None`` when it could not be written."""
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-track{track_id}.jpg"
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            return None
        tmp = path.with_name(f".{path.name}.part")
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data.tobytes())
                os.replace(tmp, path)
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
        except OSError as exc:
            if not self.failing:
                log.warning("unknown-face crop not saved in %s (%s): recognition goes on; saving resumes "
                            "when it can", self.folder, exc.strerror or exc)
            self.failing = True
            return None
        if self.failing:
            log.warning("unknown-face crops are being saved again in %s", self.folder)
            self.failing = False
        self.prune()
        return str(path)

    def prune(self, now: float | None = None) -> None:
        """Delete crops beyond ``max_count`` (oldest first) and older than ``max_age_s``; only files
        this class names (``*-track*.jpg``), never anything else in the folder."""
        now = time.time() if now is None else now
        try:
            crops = []
            for entry in os.scandir(self.folder):
                if entry.name.endswith(".jpg") and "-track" in entry.name and entry.is_file(follow_symlinks=False):
                    crops.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
        except OSError:
            return
        crops.sort()
        excess = len(crops) - self.max_count
        for i, (mtime, path) in enumerate(crops):
            if i < excess or now - mtime > self.max_age_s:
                try:
                    os.unlink(path)
                except OSError:
                    pass
