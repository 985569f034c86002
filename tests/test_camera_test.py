"""`siamese-edge camera-test`, the installation check, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2

from tests.conftest import REPO
from tests.test_daemon import write_replay


def camera_test(tmp_path, camera: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"camera: {camera}\ndetector: {{model: full}}\n")
    return subprocess.run([sys.executable, "-m", "edge.cli", "camera-test", "--config", str(cfg), "--seconds", "1",
                           "--out", str(tmp_path / "shot.jpg")], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=60)


def test_on_the_replay_source_it_reports_size_fps_and_the_face(faces, tmp_path):
    write_replay(tmp_path / "replay", [(faces.obama[1], 5)])
    r = camera_test(tmp_path, f"{{source: replay, path: {tmp_path / 'replay'}, fps: 10, loop: true}}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "camera replay:replay: 640×480, " in r.stdout and " fps over " in r.stdout
    assert "1 face(s) found in the last frame" in r.stdout
    shot = cv2.imread(str(tmp_path / "shot.jpg"))
    assert shot is not None and shot.shape == (480, 640, 3)


def test_a_missing_camera_fails_with_a_plain_reason(tmp_path):
    r = camera_test(tmp_path, "{source: opencv, device: '97'}")
    assert r.returncode == 1 and "camera-test failed: no camera at /dev/video97" in r.stdout
    assert "Traceback" not in r.stderr and not (tmp_path / "shot.jpg").exists()


def test_a_camera_that_cannot_be_opened_says_so(tmp_path):
    (tmp_path / "not-a-video.mp4").write_text("this is not a video")
    r = camera_test(tmp_path, f"{{source: opencv, device: {tmp_path / 'not-a-video.mp4'}}}")
    assert r.returncode == 1 and "camera-test failed:" in r.stdout and "cannot be opened" in r.stdout
    assert "Traceback" not in r.stderr
