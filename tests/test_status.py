"""Is it running, and how fast? `siamese-edge status` and the Prometheus textfile, read while the
real daemon runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO
from tests.mqtt_broker import wait_until
from tests.test_daemon import write_replay


def se(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=60)


def start_daemon(cfg) -> subprocess.Popen:
    """The real `siamese-edge run` on ``cfg``, in its own process."""
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def status_json(cfg) -> dict:
    """`siamese-edge status --json` as a dict ({} while there is no status yet)."""
    r = se("status", "--config", str(cfg), "--json")
    return json.loads(r.stdout) if r.returncode == 0 else {}


def samples(path) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_status_and_metrics_of_a_running_daemon(faces, tmp_path):
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    write_replay(tmp_path / "replay", [(faces.obama[1], 10), (None, 10)])
    prom = tmp_path / "textfile" / "siamese-edge.prom"
    prom.parent.mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
device_name: Front "Door"
camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 20, loop: true}}
detector: {{model: full}}
recognition: {{votes_needed: 2, cooldown_s: 3600}}
gallery: {{folder: {tmp_path / 'gallery'}}}
state_dir: {tmp_path / 'state'}
logging: {{stats_interval_s: 0.5}}
metrics: {{textfile: {prom}}}
""")
    proc = start_daemon(cfg)
    try:
        wait_until(lambda: status_json(cfg).get("totals", {}).get("announcements", {}).get("recognized"), timeout=60)
        st = status_json(cfg)
        assert st["alive"] and st["device"] == 'Front "Door"' and st["people"] == 1
        assert st["totals"]["frames"] > 0 and st["camera"]["connected"] and st["camera"]["fps"] > 0
        assert "fps=" in st["stats"]
        assert {o["name"] for o in st["outputs"]} == {"log"}
        assert any(e["type"] == "recognized" and e["name"] == "Barack Obama" for e in st["last_events"])
        human = se("status", "--config", str(cfg))
        assert human.returncode == 0 and 'Front "Door": running' in human.stdout and "recognized Barack" in human.stdout
        assert st["motion"] is None and "motion gate: off" in human.stdout  # a replay: the gate is off by default

        first = samples(prom)
        device = ("device", 'Front "Door"')
        frames = ("siamese_edge_frames_total", (device,))
        wait_until(lambda: samples(prom)[frames] > first[frames], timeout=10)  # counters go up between reads
        second = samples(prom)
        assert second[("siamese_edge_up", (device,))] == 1
        assert second[("siamese_edge_announcements_total", (device, ("kind", "recognized")))] == 1
        assert second[("siamese_edge_stage_seconds_count", (device, ("stage", "detect")))] > 0
        assert oct(prom.stat().st_mode & 0o777) == "0o644"
        assert oct((tmp_path / "state" / "status.json").stat().st_mode & 0o777) == "0o600"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    after = se("status", "--config", str(cfg))
    assert after.returncode == 1 and ": stopped" in after.stdout
    assert samples(prom)[("siamese_edge_up", (("device", 'Front "Door"'),))] == 0


def test_status_says_when_the_motion_gate_has_settled_on_an_empty_scene(tmp_path):
    """A still, empty doorway: after a few looks that find nobody, the gate settles and detection
    runs once every ``idle_interval_s``; `siamese-edge status` says so."""
    (tmp_path / "gallery").mkdir()
    write_replay(tmp_path / "replay", [(None, 20)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 20, loop: true}}
detector: {{model: full}}
motion: {{gate: true, max_interval_s: 0.2, idle_interval_s: 45}}
gallery: {{folder: {tmp_path / 'gallery'}}}
state_dir: {tmp_path / 'state'}
logging: {{stats_interval_s: 0.5}}
""")
    proc = start_daemon(cfg)
    try:
        wait_until(lambda: (status_json(cfg).get("motion") or {}).get("settled"), timeout=60)
        st = status_json(cfg)
        assert st["motion"]["look_every_s"] == 45 and st["motion"]["threshold"] >= 12 and st["totals"]["gated"] > 0
        human = se("status", "--config", str(cfg))
        assert human.returncode == 0
        assert "motion gate: scene settled, nobody in view — detection every 45 s until something moves" in human.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_status_without_a_daemon_says_so(tmp_path):
    r = se("status", "--state", str(tmp_path))
    assert r.returncode == 1 and "not running: no status in" in r.stdout
    (tmp_path / "status.json").write_text("{broken")
    r = se("status", "--state", str(tmp_path))
    assert r.returncode == 2 and "not a status file" in r.stderr and "Traceback" not in r.stderr
