"""The gallery's settings in config.yaml (quality gates, pixel limit, detector) decide every photo's
verdict, wherever it is computed: `gallery status --config` reports what the service decides, and
a changed setting applies to photos the cache already holds a verdict for."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.test_daemon import write_replay


def se(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "edge.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                       capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    return r


def config(tmp_path: Path, gallery: str) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 20, loop: false, realtime: false}}
detector: {{model: full}}
recognition: {{votes_needed: 3, votes_window: 5, track_timeout_s: 0.2}}
gallery: {{folder: {tmp_path / 'gallery'}, {gallery}}}
state_dir: {tmp_path / 'state'}
""")
    return cfg


def status(cfg: Path) -> dict:
    r = se("gallery", "status", "--config", str(cfg), "--json")
    assert r.returncode == 0, r.stderr
    return {Path(f["path"]).name: (f["state"], f["reason"]) for f in json.loads(r.stdout)}


def announced(cfg: Path) -> tuple[list[tuple[str, str | None]], str]:
    """``siamese-edge run`` to the end of its replay: (kind, name) of each announcement, and the log."""
    r = se("run", "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-1500:]
    events = map(json.loads, filter(None, r.stdout.splitlines()))
    return [(e["type"], e.get("name")) for e in events if e["type"] in ("recognized", "unknown")], r.stderr


def test_a_changed_quality_gate_applies_to_photos_already_judged(faces, tmp_path):
    """A user whose gallery photos are small sets `gallery.min_face_px` too high, sees them rejected,
    lowers it and runs the service again. Before, `gallery status` ignored the config's gates (it
    said "enrolled" while the service rejected the photo), and the service kept the rejection it had
    cached under the old setting: the person was never recognised."""
    photo = faces.obama[0]
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(photo, tmp_path / "gallery" / "Barack Obama")
    write_replay(tmp_path / "replay", [(faces.obama[1], 12), (None, 4), (faces.hopper, 12)])

    strict = config(tmp_path, "min_face_px: 1000")
    state, reason = status(strict)[photo.name]
    assert state == "rejected" and reason.startswith("face too small (") and "need at least 1000 px" in reason
    events, log = announced(strict)
    assert events and all(kind == "unknown" for kind, _ in events)  # nobody to recognise
    assert "INFO edge.daemon: unknown face (nobody enrolled to compare with, track 1)" in log

    usual = config(tmp_path, "min_face_px: 40")
    events, log = announced(usual)
    assert events == [("recognized", "Barack Obama"), ("unknown", None)]
    assert "INFO edge.daemon: unknown face (closest: Barack Obama, score 0." in log  # Grace Hopper
    assert status(usual)[photo.name] == ("enrolled", "")


def test_a_pixel_limit_below_a_photo_rejects_it_naming_the_limit(faces, tmp_path):
    """`gallery.max_pixels`, lowered below a photo's size: refused from its header, the reason names
    the limit as a readable number (it used to print "the limit of 0 megapixels" below 0.5 MP)."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    import cv2

    h, w = cv2.imread(str(faces.obama[0])).shape[:2]
    limit = w * h - 1
    state, reason = status(config(tmp_path, f"max_pixels: {max(limit, 10_000)}"))[faces.obama[0].name]
    assert state == "rejected", reason
    assert reason == (f"image is {w}×{h} = {w * h / 1e6:.1f} megapixels, above the limit of "
                      f"{limit / 1e6:.3g} megapixels (refused without decoding)")


def test_a_gate_lowered_by_reload_enrols_the_photo_it_rejected(faces, tmp_path):
    """The same through `systemctl reload` (SIGHUP) on the running service: the photo it rejected as
    too small is enrolled under the reloaded setting and the person in view is recognised."""
    from tests.test_daemon import _start, _wait_for

    photo = faces.obama[0]
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(photo, tmp_path / "gallery" / "Barack Obama")
    write_replay(tmp_path / "replay", [(faces.obama[1], 12)])
    cfg = config(tmp_path, "min_face_px: 1000")
    cfg.write_text(cfg.read_text().replace("loop: false, realtime: false", "loop: true"))
    proc = _start(cfg)
    try:
        lines = _wait_for(proc, "running:", timeout=60)
        assert any("face too small" in line for line in lines), lines[-5:]
        cfg.write_text(cfg.read_text().replace("min_face_px: 1000", "min_face_px: 40"))
        proc.send_signal(signal.SIGHUP)
        _wait_for(proc, "recognized Barack Obama", timeout=60)
    finally:
        proc.kill()
        proc.communicate()
