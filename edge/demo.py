"""Demo material for ``make demo``: public-domain portraits from the face_recognition 1.3.0 sdist.

Fetched with pip at setup (never committed): Obama and Biden portraits become a two-person
gallery; other Obama photos, Biden, and a stranger-free empty scene become a replay "camera":
each photo is shown for a few seconds' worth of frames (a visit), with empty frames between
visits, so the daemon's decisions (once per visit, cooldown) are visible.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from edge.vision.assets import extract_member, pip_download

PACKAGE = "face_recognition==1.3.0"
PREFIX = "face_recognition-1.3.0/tests/test_images/"
GALLERY = {"Barack Obama": ["obama.jpg"], "Joe Biden": ["biden.jpg"]}
PROBES = ["obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "biden.jpg"]
VISITS = ["obama2.jpg", None, "biden.jpg", None, "obama3.jpg", None]  # None: nobody in front of the camera

CONFIG = """# written by `python -m edge.demo`: the daemon on a replayed "camera" with a two-person gallery
device_name: demo
camera: {source: replay, path: replay, fps: 10}
detector: {model: full}
recognition: {votes_needed: 3, votes_window: 5, cooldown_s: 60}
gallery: {folder: gallery, watch: true}
logging: {stats_interval_s: 2}
events: {log_stdout: true}
state_dir: state
"""


def _frame(photo: np.ndarray | None, frame_no: int) -> np.ndarray:
    canvas = np.full((480, 640, 3), 60, np.uint8)
    if photo is not None:
        h, w = photo.shape[:2]
        s = min(440 / h, 600 / w)
        small = cv2.resize(photo, (int(w * s), int(h * s)), interpolation=cv2.INTER_AREA)
        dx = (frame_no % 5) * 2  # a little movement, as a real visitor would
        y0, x0 = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2 + dx - 4
        canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return canvas


def fetch_demo(dest: Path) -> Path:
    """Create ``dest/gallery``, ``dest/probes``, ``dest/replay`` and ``dest/config.yaml``; idempotent."""
    done = dest / ".complete"
    if done.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        archive = pip_download(PACKAGE, Path(tmp), source=True)
        for person, files in GALLERY.items():
            (dest / "gallery" / person).mkdir(parents=True, exist_ok=True)
            for f in files:
                extract_member(archive, PREFIX + f, dest / "gallery" / person / f)
        (dest / "probes").mkdir(parents=True, exist_ok=True)
        for f in PROBES:
            extract_member(archive, PREFIX + f, dest / "probes" / f)
    replay = dest / "replay"
    replay.mkdir(exist_ok=True)
    n = 0
    for visit in VISITS:
        photo = cv2.imread(str(dest / "probes" / visit)) if visit else None
        for i in range(20 if visit else 10):
            cv2.imwrite(str(replay / f"{n:05d}.jpg"), _frame(photo, i), [cv2.IMWRITE_JPEG_QUALITY, 90])
            n += 1
    (dest / "config.yaml").write_text(CONFIG)
    done.write_text("ok\n")
    return dest


if __name__ == "__main__":
    import sys

    print(fetch_demo(Path(sys.argv[1] if len(sys.argv) > 1 else "demo")))
