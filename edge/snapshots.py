"""Snapshots of announced faces (``snapshots`` in config.yaml): who was that stranger at the door?

Each snapshot is a JPEG of the face with context around it (the box grown by ``margin`` of its side
on every side, cut from the best-resolution frame the camera offers) and a JSON sidecar with what
the daemon decided (time, kind, name, the closest person and score, track, camera; for an unknown
face also its embedding and the model's id, to group snapshots of one stranger). They live in a
folder of their own, readable by the gallery's writers (0640 files; the installer gives the folder
the gallery's group) — not in the private state folder — so that ``siamese-edge unknown enroll``
can turn a stranger into a gallery photo.

A door camera runs for months: the folder keeps at most ``max_count`` snapshots and none older
than ``max_age_s`` (oldest first); only files this module names are ever deleted. A full disk or
an unwritable folder never stops recognition: the failure is logged once, the event goes out
without a snapshot, and saving resumes — with one line saying so — at the first write that
succeeds.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.private_files import erase, make_folder, read_regular, write_atomically

log = logging.getLogger(__name__)

SNAPSHOT_MODE = 0o640
"""The service writes them; the gallery's group (who may enrol a stranger) reads them; nobody else."""

ID_PATTERN = re.compile(r"^\d{8}-\d{6}-\d{3}-(unknown|recognized)-t\d+$")
"""A snapshot's id (its file stem): local time to the millisecond, kind, track."""


@dataclass(frozen=True)
class Snapshot:
    id: str
    path: Path  # the JPEG
    meta: dict

    def row(self) -> dict:
        """What ``unknown list --json`` shows: the sidecar without the embedding (numbers for the
        grouping, not for reading)."""
        return {"id": self.id, "file": str(self.path), **{k: v for k, v in self.meta.items() if k != "embedding"}}


def context_crop(frame: np.ndarray, box: tuple[float, float, float, float], margin: float) -> np.ndarray:
    """The face box grown by ``margin`` × its size on every side, clipped to the frame."""
    x, y, w, h = box
    h_img, w_img = frame.shape[:2]
    x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    x1, y1 = min(w_img, int(round(x + w + margin * w))), min(h_img, int(round(y + h + margin * h)))
    if x1 <= x0 or y1 <= y0:
        return frame
    return frame[y0:y1, x0:x1]


SIDECAR_TYPES: dict[str, type | tuple[type, ...]] = {
    "time": (int, float), "score": (int, float), "video_s": (int, float), "track": int,
    "kind": str, "name": str, "closest": str, "camera": str, "device": str, "model": str, "embedding": list,
}

MAX_EMBEDDING = 4096  # numbers in a sidecar's embedding; a longer list is not one this software wrote

MAX_TIME = 2.5e11  # seconds since 1970: about the year 9900, within what time.localtime can show


def _well_typed(meta: object) -> dict:
    """The sidecar fields that have the type ``save`` writes; anything else (a damaged or hand-edited
    sidecar: a string for a time, NaN, a list) is left out, so listing never fails on it."""
    if not isinstance(meta, dict):
        return {}
    out = {}
    for key, kinds in SIDECAR_TYPES.items():
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, kinds):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if key == "time" and not 0 <= value <= MAX_TIME:
            continue
        if key == "embedding" and not (0 < len(value) <= MAX_EMBEDDING and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
            continue
        out[key] = value
    return out


MAX_SIDECAR = 1 << 20
"""Bytes in a sidecar: one this software wrote is a few KB (an embedding of up to MAX_EMBEDDING
numbers stays far below); anything larger is not read, so a planted file cannot fill memory. Nor
is a link or a pipe at a sidecar's name (the daemon reads sidecars in its recognition loop)."""


class Snapshots:
    """Save, list and forget the snapshots in one folder."""

    def __init__(self, folder: str | Path, max_count: int = 500, max_age_s: float = 30 * 86400,
                 margin: float = 0.5) -> None:
        self.folder = Path(folder)
        self.max_count = max_count
        self.max_age_s = max_age_s
        self.margin = margin
        self.failing = False

    # ------------------------------------------------------------------ the daemon's side

    def save(self, frame_bgr: np.ndarray, box: tuple[float, float, float, float], kind: str, track_id: int,
             meta: dict) -> Path | None:
        """Write one snapshot and its sidecar; the JPEG's path, or ``None`` when it could not be written."""
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        sid = f"{stamp}-{kind}-t{track_id}"
        ok, data = cv2.imencode(".jpg", context_crop(frame_bgr, box, self.margin), [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            return None
        path = self.folder / f"{sid}.jpg"
        sidecar = {"time": round(now, 3), "kind": kind, "track": track_id, **meta}
        try:
            make_folder(self.folder, 0o750)
            sidecar_text = json.dumps(sidecar, ensure_ascii=False).encode("utf-8", "backslashreplace")
            write_atomically(self.folder / f"{sid}.json", sidecar_text, SNAPSHOT_MODE)
            write_atomically(path, data.tobytes(), SNAPSHOT_MODE)
        except OSError as exc:
            if not self.failing:
                log.warning("snapshot not saved in %s (%s): recognition goes on; saving resumes when it can",
                            self.folder, exc.strerror or exc)
            self.failing = True
            self._remove(sid)  # no sidecar without its photo
            return None
        if self.failing:
            log.warning("snapshots are being saved again in %s", self.folder)
            self.failing = False
        self.prune(now)
        return path

    def prune(self, now: float | None = None) -> None:
        """Delete snapshots beyond ``max_count`` (oldest first) and older than ``max_age_s``. Runs on
        every save, in the recognition loop: it only lists the folder, never reads a sidecar."""
        now = time.time() if now is None else now
        snaps = sorted((mtime, sid) for sid, _, mtime in self.photos())
        excess = len(snaps) - self.max_count
        for i, (mtime, sid) in enumerate(snaps):
            if i < excess or now - mtime > self.max_age_s:
                self._remove(sid)

    def photos(self) -> list[tuple[str, Path, float]]:
        """(id, path, mtime) of every snapshot JPEG this module named; symlinks and others ignored."""
        out = []
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        for entry in entries:
            stem, _, ext = entry.name.rpartition(".")
            if ext == "jpg" and ID_PATTERN.match(stem) and entry.is_file(follow_symlinks=False):
                try:
                    out.append((stem, Path(entry.path), entry.stat(follow_symlinks=False).st_mtime))
                except OSError:
                    continue  # removed since the listing (`unknown forget` while the daemon prunes)
        return out

    # ------------------------------------------------------------------ the user's side

    def list(self) -> list[Snapshot]:
        """Every snapshot, oldest first (a JPEG without a readable sidecar is listed with its time)."""
        out = [self.read(sid, path, mtime) for sid, path, mtime in self.photos()]
        return sorted(out, key=lambda s: (s.meta.get("time", 0), s.id))

    def read(self, sid: str, path: Path, mtime: float) -> Snapshot:
        """One snapshot (as :meth:`photos` names it) with its sidecar's well-typed fields; the file's
        time stands in for a sidecar that is missing or cannot be read."""
        try:
            meta = json.loads(read_regular(self.folder / f"{sid}.json", MAX_SIDECAR, MAX_SIDECAR).decode("utf-8"))
        except (OSError, ValueError):
            meta = {}
        return Snapshot(sid, path, {"time": mtime} | _well_typed(meta))

    def get(self, sid: str) -> Snapshot | None:
        if not ID_PATTERN.match(sid):
            return None
        return next((s for s in self.list() if s.id == sid), None)

    def forget(self, sid: str) -> bool:
        if not ID_PATTERN.match(sid):
            return False
        return self._remove(sid)

    def _remove(self, sid: str) -> bool:
        removed = False
        for suffix in (".jpg", ".json"):
            path = self.folder / f"{sid}{suffix}"
            if not os.path.lexists(path):
                continue
            try:
                erase(path)  # a face picture: overwritten, then removed
                removed = True
            except OSError:
                pass
        return removed
