"""What `siamese-edge identify` spends on a recording, and what passing over frames saves.

A doorbell-like clip is written first (``--seconds`` long, 25 fps, 1280×720, MPEG-4 part 2 — the
encoder OpenCV's wheels carry): a textured wall with camera noise, the demo's Obama walking in
from the left for a few seconds, later Biden. Then, ``--rounds`` times, alternating so that machine
load hits all alike:

- ``decode every frame``: ``ReplayCamera.read()`` on every frame (what identify did before it
  grabbed the frames between looks);
- ``grab every frame, decode one per 0.5 s``: ``grab()`` on each, ``retrieve()`` only for the frames
  identify looks at (what it does now);
- ``identify, whole command``: the real ``siamese-edge identify --gallery demo/gallery --threads 1``
  as a subprocess, wall time from start to exit (start-up, gallery enrolment, every look).

    .venv/bin/python bench/bench_identify_video.py --json docs/results/bench_identify_video.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.camera.replay import ReplayCamera  # noqa: E402
from edge.identify_video import Looks  # noqa: E402

FPS = 25
SIZE = (1280, 720)
EVERY = 0.5


def portrait(path: Path) -> np.ndarray:
    """The top square of a portrait (where the face is), scaled to 480×480 without distortion."""
    image = cv2.imread(str(path))
    side = min(image.shape[:2])
    return cv2.resize(image[:side, :side], (480, 480), interpolation=cv2.INTER_AREA)


def doorbell(path: Path, seconds: float) -> Path:
    """The clip: a wall with noise; Obama crossing from 2 s to 8 s, Biden standing from 12 s to 16 s."""
    rng = np.random.default_rng(0)
    w, h = SIZE
    wall = cv2.GaussianBlur(rng.integers(60, 200, (h, w, 3), dtype=np.uint8), (0, 0), 6)
    portraits = REPO / "demo" / "portraits"
    obama = portrait(portraits / "Barack Obama" / "obama.jpg")
    biden = portrait(portraits / "Joe Biden" / "biden.jpg")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        raise SystemExit("this OpenCV cannot write an mp4v clip")
    for i in range(int(seconds * FPS)):
        t = i / FPS
        frame = wall.copy()
        if 2 <= t < 8:
            x = int((t - 2) / 6 * (w - 480))
            frame[120:600, x:x + 480] = obama
        elif 12 <= t < 16:
            frame[100:580, 700:1180] = biden
        noise = rng.integers(-3, 4, frame.shape, dtype=np.int16)
        writer.write(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    writer.release()
    return path


def decode_all(clip: Path) -> tuple[float, int]:
    """Seconds to read (decode into pictures) every frame, and how many were read."""
    camera = ReplayCamera(clip, fps=None, realtime=False)
    camera.open()
    start = time.perf_counter()
    n = 0
    while camera.read() is not None:
        n += 1
    elapsed = time.perf_counter() - start
    camera.close()
    return elapsed, n


def grab_and_look(clip: Path) -> tuple[float, int]:
    """Seconds to go through the frames as identify does (:class:`Looks`: every frame grabbed, only
    those a look falls on decoded), and how many were decoded."""
    camera = ReplayCamera(clip, fps=None, realtime=False)
    camera.open()
    start = time.perf_counter()
    decoded = sum(1 for _ in Looks(camera, EVERY))
    elapsed = time.perf_counter() - start
    camera.close()
    return elapsed, decoded


def identify(clip: Path) -> tuple[float, str]:
    """Wall seconds of the real command, and what it printed."""
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "edge.cli", "identify", "--gallery", str(REPO / "demo" / "gallery"),
                        "--threads", "1", str(clip)], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    return time.perf_counter() - start, r.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the clip")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        clip = doorbell(Path(tmp) / "door.mp4", args.seconds)
        runs: dict[str, list[float]] = {"decode every frame": [], "grab every frame, decode one per 0.5 s": [],
                                        "identify, whole command": []}
        frames = decoded = 0
        printed = ""
        for _ in range(args.rounds):
            elapsed, frames = decode_all(clip)
            runs["decode every frame"].append(elapsed)
            elapsed, decoded = grab_and_look(clip)
            runs["grab every frame, decode one per 0.5 s"].append(elapsed)
            elapsed, printed = identify(clip)
            printed = printed.replace(str(clip), clip.name)
            runs["identify, whole command"].append(elapsed)
    out = {
        "clip": {"seconds": args.seconds, "fps": FPS, "size": list(SIZE), "codec": "mp4v", "frames": frames},
        "frames decoded when grabbing": decoded,
        "median seconds": {k: round(statistics.median(v), 3) for k, v in runs.items()},
        "each round": {k: [round(x, 3) for x in v] for k, v in runs.items()},
        "identify printed": printed.splitlines(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, OpenCV {cv2.__version__}, cv2 threads 1",
    }
    med = out["median seconds"]
    out["decoding saved (s)"] = round(med["decode every frame"] - med["grab every frame, decode one per 0.5 s"], 3)
    text = json.dumps(out, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
