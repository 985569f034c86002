"""Demo material for ``make demo``, and the real faces the tests use on any clone.

Public portraits taken from pinned registry packages at setup (never committed, each checked by
sha256): the face_recognition 1.3.0 sdist's test photos (Barack Obama, Joe Biden), matplotlib's
sample photo of Grace Hopper and scikit-image's astronaut (Eileen Collins) and cat. They land in
``demo/portraits/<Person>/``; Obama and Biden become the demo's two-person gallery, other Obama
photos and Biden a replay "camera": each photo is shown for a few seconds' worth of frames (a
visit), with empty frames between visits, so the daemon's decisions (once per visit, cooldown)
are visible. Hopper and Collins are strangers to that gallery; the cat is a photo with no face.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

from edge.errors import ModelFileError
from edge.vision.assets import ANY_WHEEL, Asset, fetch_assets

_FR = "face_recognition==1.3.0"
_FR_DIR = "face_recognition-1.3.0/tests/test_images/"
_SKIMAGE_WHEEL = ("--platform", "manylinux_2_28_x86_64", *ANY_WHEEL[2:])
_PUBLIC = "public domain (US government photograph)"
PORTRAITS = (
    Asset("Barack Obama/obama.jpg", _FR, _FR_DIR + "obama.jpg",
          "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", _PUBLIC, source=True),
    Asset("Barack Obama/obama2.jpg", _FR, _FR_DIR + "obama2.jpg",
          "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6", _PUBLIC, source=True),
    Asset("Barack Obama/obama3.jpg", _FR, _FR_DIR + "obama3.jpg",
          "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3", _PUBLIC, source=True),
    Asset("Barack Obama/obama_partial_face.jpg", _FR, _FR_DIR + "obama_partial_face.jpg",
          "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117", _PUBLIC, source=True),
    Asset("Joe Biden/biden.jpg", _FR, _FR_DIR + "biden.jpg",
          "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", _PUBLIC, source=True),
    Asset("Grace Hopper/grace_hopper.jpg", "matplotlib==3.10.7", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
          "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130", _PUBLIC, ANY_WHEEL),
    Asset("Eileen Collins/astronaut.png", "scikit-image==0.26.0", "skimage/data/astronaut.png",
          "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", _PUBLIC, _SKIMAGE_WHEEL),
    Asset("no face/chelsea.png", "scikit-image==0.26.0", "skimage/data/chelsea.png",
          "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb", "CC0 (scikit-image data)",
          _SKIMAGE_WHEEL),
)
GALLERY = {"Barack Obama": ["obama.jpg"], "Joe Biden": ["biden.jpg"]}
PROBES = ["Barack Obama/obama2.jpg", "Barack Obama/obama3.jpg", "Barack Obama/obama_partial_face.jpg",
          "Joe Biden/biden.jpg"]
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
    """Create ``dest/portraits``, ``dest/gallery``, ``dest/probes``, ``dest/replay`` and
    ``dest/config.yaml``; idempotent."""
    done = dest / ".complete"
    if done.is_file() and done.read_text() == "portraits\n":
        return dest
    portraits = dest / "portraits"
    fetch_assets(list(PORTRAITS), portraits)
    for person, files in GALLERY.items():
        (dest / "gallery" / person).mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(portraits / person / f, dest / "gallery" / person / f)
    (dest / "probes").mkdir(parents=True, exist_ok=True)
    for f in PROBES:
        shutil.copyfile(portraits / f, dest / "probes" / Path(f).name)
    replay = dest / "replay"
    replay.mkdir(exist_ok=True)
    n = 0
    for visit in VISITS:
        photo = cv2.imread(str(dest / "probes" / visit)) if visit else None
        for i in range(20 if visit else 10):
            cv2.imwrite(str(replay / f"{n:05d}.jpg"), _frame(photo, i), [cv2.IMWRITE_JPEG_QUALITY, 90])
            n += 1
    (dest / "config.yaml").write_text(CONFIG)
    done.write_text("portraits\n")
    return dest


if __name__ == "__main__":
    import subprocess
    import sys

    try:
        print(fetch_demo(Path(sys.argv[1] if len(sys.argv) > 1 else "demo")))
    except (subprocess.CalledProcessError, ModelFileError, OSError) as e:
        sys.exit(f"the demo portraits could not be fetched: {e}")
