"""`make demo` as a user runs it: the daemon on the demo's replayed visits names Obama, then Biden —
the same with the adaptive mirror and the motion gate as with every face mirrored and every frame
analysed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

DEMO = REPO / "demo"


def announcements(tmp_path, name: str, extra: str) -> tuple[list[tuple[str, str | None]], str]:
    folder = tmp_path / name
    folder.mkdir()
    for part in ("gallery", "replay"):
        shutil.copytree(DEMO / part, folder / part)
    text = (DEMO / "config.yaml").read_text().replace("fps: 10}", "fps: 10, realtime: false}")
    (folder / "config.yaml").write_text(text.replace("cooldown_s: 60}", f"cooldown_s: 60{extra}}}"))
    r = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(folder / "config.yaml")],
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-1500:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return [(e["type"], e.get("name")) for e in events if e["type"] in ("recognized", "unknown")], r.stderr


def test_the_demo_names_obama_then_biden_whatever_the_savings(tmp_path):
    if not (DEMO / ".complete").is_file():
        pytest.skip("the demo is built by `make demo` (make test does it first)")
    saving, _ = announcements(tmp_path, "saving", "}\nmotion: {gate: true")
    everything, _ = announcements(tmp_path, "everything", ", adaptive_mirror: false}\nmotion: {gate: false")
    # Obama's second visit falls inside the 60 s cooldown
    assert saving == everything == [("recognized", "Barack Obama"), ("recognized", "Joe Biden")]
