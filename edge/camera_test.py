"""``siamese-edge camera-test``: the installation check — does the configured camera deliver, at
what size and rate, and does the detector find a face in what it sees?

Opens the camera exactly as the daemon would (``camera`` in config.yaml), reads frames for a few
seconds, runs the configured detector on the last one and writes it annotated (``--out``; a folder
gets ``camera-test.jpg`` inside; a file there that this software did not write is left as it is and
the picture takes the next free name, ``camera-test-2.jpg``…). Exit 0 when frames
came at the configured size; 1 with one plain sentence when they did not (no camera, no permission,
a camera that delivers nothing, a different size than asked for).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from edge.camera import CameraError, make_camera
from edge.config import Config
from edge.printable import printable
from edge.private_files import make_folder, modes_inside, picture_name, write_picture


def device_problem(cfg: Config) -> str | None:
    """A plain reason a V4L2 device cannot be used, found before OpenCV's generic failure."""
    if cfg.camera.source != "opencv":
        return None
    dev = cfg.camera.device
    path = f"/dev/video{dev}" if dev.isdigit() else dev
    if not path.startswith("/dev/"):
        return None  # a URL or a video file: OpenCV says what it can
    if not os.path.exists(path):
        return f"no camera at {path} (is it plugged in? `ls /dev/video*` lists the cameras)"
    if not os.access(path, os.R_OK | os.W_OK):
        return f"permission denied on {path}: add the user to the 'video' group (then log in again)"
    return None


def camera_test(cfg: Config, seconds: float, out: Path) -> tuple[int, list[str]]:
    """Run the check; (exit code, lines to print)."""
    reason = device_problem(cfg)
    if reason:
        return 1, [f"camera-test failed: {reason}"]
    camera = make_camera(cfg.camera)
    try:
        camera.open()
    except CameraError as exc:
        return 1, [f"camera-test failed: {printable(exc)}"]
    frames, last, t0 = 0, None, time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            frame = camera.read()
            if frame is None:
                break
            frames, last = frames + 1, frame
    except CameraError as exc:
        return 1, [f"camera-test failed after {frames} frames: {printable(exc)}"]
    finally:
        camera.close()
    elapsed = time.monotonic() - t0
    if last is None:
        return 1, [f"camera-test failed: {camera.name} opened but delivered no frame in {seconds:g} s"]
    h, w = last.shape[:2]
    lines = [f"camera {camera.name}: {w}×{h}, {frames / elapsed:.1f} fps over {frames} frames in {elapsed:.1f} s"]
    from edge.annotate import annotate_detections
    from edge.vision.detector import FaceDetector

    faces = FaceDetector(cfg.detector.model, cfg.detector.min_score, tile=cfg.detector.tile).detect(last)
    if out.is_dir():
        out = out / "camera-test.jpg"
    try:
        make_folder(out.parent, 0o700)  # a frame of the camera: whoever is in view, private like a snapshot
        target, foreign = picture_name(out)
        write_picture(target, annotate_detections(last, faces), modes_inside(out.parent)[1])
    except OSError as exc:
        return 1, [*lines, f"camera-test failed: the snapshot {printable(out)} cannot be written "
                           f"({printable(exc.strerror or exc)})"]
    left = f" ({printable(foreign)} is not a picture siamese-edge wrote: left as it is)" if foreign else ""
    lines.append(f"{len(faces)} face(s) found in the last frame; annotated: {printable(target)}{left}")
    asked = (cfg.camera.width, cfg.camera.height)
    if cfg.camera.source != "replay" and (w, h) != asked:
        return 1, [*lines, f"camera-test failed: asked for {asked[0]}×{asked[1]}, the camera delivers {w}×{h} "
                           f"(set camera.width/height to a size it supports)"]
    return 0, lines
