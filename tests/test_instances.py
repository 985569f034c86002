"""Several cameras: one daemon per camera (what `siamese-edge@NAME` runs), one shared gallery folder,
one broker — each with its own topics and Home Assistant device, both enrolling a new photo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from tests.conftest import REPO
from tests.mqtt_broker import Subscriber, wait_until
from tests.test_daemon import write_replay
from tests.test_events import broker  # noqa: F401 - broker is a fixture


def test_two_cameras_share_a_gallery_and_a_broker_with_distinct_topics(broker, faces, tmp_path):  # noqa: F811
    gallery = tmp_path / "gallery"
    (gallery / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], gallery / "Barack Obama")
    write_replay(tmp_path / "replay", [(None, 2)])
    procs = {}
    sub = Subscriber(broker.port, ["homeassistant/#", "siamese-edge/#"]).wait_ready()
    try:
        for name in ("front", "back"):
            cfg = tmp_path / f"{name}.yaml"
            cfg.write_text(f"""
device_name: {name}
camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 5, loop: true}}
detector: {{model: full}}
gallery: {{folder: {gallery}, poll_interval_s: 0.5}}
state_dir: {tmp_path / name / 'state'}
events: {{mqtt: {{enabled: true, port: {broker.port}}}}}
""")
            procs[name] = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)],
                                           env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE, text=True)

        def sensors() -> dict[str, set[str]]:
            """Per device: the people Home Assistant has an occupancy sensor for."""
            out: dict[str, set[str]] = {}
            for _, payload, _ in sub.topics("homeassistant/binary_sensor/"):
                if payload and json.loads(payload).get("device_class") == "occupancy":
                    out.setdefault(json.loads(payload)["device"]["name"], set()).add(json.loads(payload)["name"])
            return out

        wait_until(lambda: sensors() == {"front": {"Barack Obama"}, "back": {"Barack Obama"}}, timeout=60)
        with sub.lock:
            ids = [json.loads(p)["unique_id"] for t, p, _ in sub.messages if t.startswith("homeassistant/") and p]
            topics = {t for t, _, _ in sub.messages}
        front_ids = {i for i in ids if i.startswith("front_")}
        back_ids = {i for i in ids if i.startswith("back_")}
        assert front_ids and back_ids and not front_ids & back_ids  # no discovery id shared between them
        assert {"siamese-edge/front/availability", "siamese-edge/back/availability"} <= topics

        # one photo dropped into the shared folder: both cameras enrol it
        (gallery / "Joe Biden").mkdir()
        shutil.copy(faces.biden, gallery / "Joe Biden")
        both = {"Barack Obama", "Joe Biden"}
        wait_until(lambda: sensors() == {"front": both, "back": both}, timeout=60)
    finally:
        sub.close()
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.communicate(timeout=30)
    assert all(p.returncode == 0 for p in procs.values())
    assert (tmp_path / "front" / "state" / "status.json").is_file() and (tmp_path / "back" / "state").is_dir()
