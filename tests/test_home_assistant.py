"""Home Assistant through the real daemon and a real mosquitto (issue 13): what a freshly started
Home Assistant finds retained on the broker, live gallery changes, presence, and HA's own restart."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import pytest

from edge.events.mqtt_sink import object_id
from tests.conftest import REPO
from tests.mqtt_broker import Broker, Subscriber, _free_port, make_tls_files, wait_until
from tests.scenes import frame_of
from tests.test_events import REQUIRED, broker  # noqa: F401 - broker is a fixture

# Home Assistant's discovery topic rule (homeassistant/components/mqtt/discovery.py)
DISCOVERY_TOPIC = re.compile(r"^homeassistant/(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?"
                             r"(?P<object_id>[a-zA-Z0-9_-]+)/config$")

PEOPLE = {  # folder name → the portraits (tests/portraits.py) that stand in for them
    "Barack Obama": "Barack Obama",
    "José Martí": "Joe Biden",
    "Анна": "Grace Hopper",
    "李明": "Eileen Collins",
    "Anne-Marie": "Joe Biden",
    "Anne Marie": "Grace Hopper",
}


def start(config: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                            env={**os.environ, "PYTHONPATH": str(REPO), **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_line(proc: subprocess.Popen, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} not seen: {seen[-6:]}")


def retained(port: int, topics: tuple[str, ...] = ("homeassistant/#", "siamese-edge/#")) -> dict[str, str]:
    """Exactly what a Home Assistant connecting now would read: the retained messages, by topic.

    The broker queues them for this client when it subscribes; a QoS 1 marker the client publishes
    to itself after the subscriptions are acknowledged is queued behind them, so its arrival means
    every retained message has arrived (no sleep that a busy machine could outrun)."""
    marker = f"test-marker/{uuid.uuid4().hex}"
    sub = Subscriber(port, [*topics, marker]).wait_ready()
    try:
        sub.c.publish(marker, "end", qos=1)
        wait_until(lambda: any(t == marker for t, _, _ in sub.messages), timeout=10)
        with sub.lock:
            return {t: p for t, p, r in sub.messages if r}
    finally:
        sub.close()


def config_for(tmp_path: Path, port: int, **extra: str) -> str:
    return f"""
device_name: Front Door
camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 10, loop: {extra.get('loop', 'true')}}}
detector: {{model: full}}
recognition: {{votes_needed: 2, votes_window: 5, track_timeout_s: 0.3, cooldown_s: 60}}
gallery: {{folder: {tmp_path / 'gallery'}, poll_interval_s: 0.5}}
state_dir: {tmp_path / 'state'}
events: {{mqtt: {{enabled: true, port: {port}, off_delay_s: {extra.get('off_delay_s', 60)}, cooldown_s: 30}}}}
"""


@pytest.fixture
def gallery_of(faces, tmp_path):
    def make(people: dict[str, str]) -> Path:
        for folder, person in people.items():
            (tmp_path / "gallery" / folder).mkdir(parents=True)
            for p in faces.photos(person, 2):
                shutil.copy(p, tmp_path / "gallery" / folder)
        return tmp_path / "gallery"
    return make


def test_a_fresh_home_assistant_finds_every_person_and_live_changes(broker, gallery_of, faces,  # noqa: F811
                                                                   tmp_path):
    gallery = gallery_of(PEOPLE)
    (tmp_path / "replay").mkdir()
    cv2.imwrite(str(tmp_path / "replay" / "0.png"), frame_of(None))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_for(tmp_path, broker.port))
    proc = start(cfg)
    try:
        wait_line(proc, "MQTT connected")
        wait_line(proc, "running:")
        wait_until(lambda: len([t for t in retained(broker.port) if "/binary_sensor/" in t]) == 7, timeout=20)
        found = retained(broker.port)
        configs = {t: json.loads(p) for t, p in found.items() if t.startswith("homeassistant/") and p}
        for topic, payload in configs.items():
            m = DISCOVERY_TOPIC.match(topic)
            assert m, topic
            assert REQUIRED[m["component"]] <= set(payload), (topic, payload)
            assert payload["availability_topic"] == "siamese-edge/Front Door/availability"
        sensors = {p["name"]: p for t, p in configs.items() if p.get("device_class") == "occupancy"}
        assert set(sensors) == set(PEOPLE)
        camera = configs[f"homeassistant/binary_sensor/{object_id('Front Door')}/camera/config"]
        assert camera["device_class"] == "connectivity" and camera["entity_category"] == "diagnostic"
        wait_until(lambda: retained(broker.port).get(camera["state_topic"]) == "ON", timeout=20)  # frames come
        assert len({p["unique_id"] for p in sensors.values()}) == len(PEOPLE)
        assert len({p["state_topic"] for p in sensors.values()}) == len(PEOPLE)
        assert {t.split("/")[1] for t in configs} == {"binary_sensor", "sensor", "event", "image"}
        event_types = next(p for t, p in configs.items() if "/event/" in t)["event_types"]
        assert {"started", "stopping", "gallery_changed", "camera_lost", "camera_back", "present",
                "recognized", "unknown"} <= set(event_types)
        assert found["siamese-edge/Front Door/availability"] == "online"
        assert all(found[p["state_topic"]] == "OFF" for p in sensors.values())  # nobody in view yet

        anna_topic = next(t for t, p in configs.items() if p.get("name") == "Анна")
        shutil.rmtree(gallery / "Анна")
        (gallery / "Eileen Collins").mkdir()
        for p in faces.photos("Eileen Collins", 4)[2:]:
            shutil.copy(p, gallery / "Eileen Collins")
        wait_until(lambda: anna_topic not in retained(broker.port), timeout=30)
        found = retained(broker.port)
        names = {json.loads(p)["name"] for t, p in found.items() if "/binary_sensor/" in t and p} - {"Camera"}
        assert names == (set(PEOPLE) - {"Анна"}) | {"Eileen Collins"}

        watcher = Subscriber(broker.port, ["homeassistant/binary_sensor/#"]).wait_ready()
        ha = Subscriber(broker.port, []).wait_ready()
        ha.c.publish("homeassistant/status", "online", qos=1).wait_for_publish(5)
        # published again, live (a retained copy replayed at subscription carries the retain flag)
        wait_until(lambda: len({t for t, p, r in watcher.topics("homeassistant/") if p and not r}) == 7,
                   timeout=10)
        watcher.close()
        ha.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err


def test_a_person_in_view_stays_on_and_turns_off_after_the_delay(broker, faces, tmp_path):  # noqa: F811
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    obama = faces.obama[1]
    (tmp_path / "replay").mkdir()
    frames = [None] * 5 + [obama] * 40 + [None] * 40  # 4 s in view, longer than off_delay_s
    for i, photo in enumerate(frames):
        cv2.imwrite(str(tmp_path / "replay" / f"{i:03d}.png"), frame_of(photo))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_for(tmp_path, broker.port, loop="false", off_delay_s=1))
    sub = Subscriber(broker.port, ["siamese-edge/Front Door/person/#"]).wait_ready()
    events, _ = run_to_the_end(cfg)
    present = [e for e in events if e["type"] == "present"]
    assert [e["names"] for e in present] == [["Barack Obama"], []]
    wait_until(lambda: [p for _, p, _ in sub.messages if p == "OFF"][1:], timeout=5)
    with sub.lock:
        states = [(p, t) for (_, p, _), t in zip(sub.messages, sub.times, strict=True)]
    sub.close()
    sequence = [p for p, _ in states]
    assert sequence[:3] == ["OFF", "ON", "OFF"], sequence  # OFF at start, ON in view, OFF after leaving
    on_at = next(t for p, t in states if p == "ON")
    off_at = [t for p, t in states if p == "OFF"][1]
    left_at, came_at = present[1]["timestamp"], present[0]["timestamp"]
    assert left_at - came_at > 1  # in view for longer than off_delay_s …
    assert on_at < left_at < off_at  # … and ON the whole time, OFF only after they left …
    assert off_at - left_at >= 1 - 0.05  # … by the delay


def test_device_name_with_a_wildcard_is_refused(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text('device_name: "cam+1"\n')
    r = subprocess.run([sys.executable, "-m", "edge.cli", "check-config", "--config", str(cfg)],
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True)
    assert r.returncode == 2 and "device_name: 'cam+1' cannot be used in MQTT topics" in r.stderr


def obama_walks_by(faces, tmp_path: Path) -> None:
    """A gallery with Barack Obama and a replay (not looping) in which he is in view for 2 s."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    (tmp_path / "replay").mkdir()
    for i, photo in enumerate([None] * 3 + [faces.obama[1]] * 20 + [None] * 3):
        cv2.imwrite(str(tmp_path / "replay" / f"{i:03d}.png"), frame_of(photo))


def run_to_the_end(config: Path, **env: str) -> tuple[list[dict], str]:
    """``siamese-edge run`` until its replay ends (exit 0 asserted): its JSON events and its log."""
    proc = start(config, **env)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-1500:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")], err


def test_a_broker_that_refuses_anonymous_clients_gets_events_with_the_password_file(faces, tmp_path):
    """The broker most Home Assistant users run (the Mosquitto add-on) only lets users in: the
    daemon logs in with ``username`` and ``password_file`` (its trailing newline ignored) or
    ``password_env``. With the wrong password it says the broker refused it, and recognition goes on."""
    if not shutil.which("mosquitto_passwd") and not Path("/usr/bin/mosquitto_passwd").exists():
        pytest.skip("mosquitto_passwd not installed (make test installs mosquitto with apt)")
    (tmp_path / "broker").mkdir()
    users = Broker(tmp_path / "broker", users={"edge": "s3cret pass", "homeassistant": "ha"}).start()
    try:
        obama_walks_by(faces, tmp_path)
        secret = tmp_path / "mqtt.secret"
        secret.write_text("s3cret pass\n")
        secret.chmod(0o600)
        cfg = tmp_path / "config.yaml"
        cfg.write_text(config_for(tmp_path, users.port, loop="false").replace(
            "mqtt: {enabled: true,", f"mqtt: {{enabled: true, username: edge, password_file: {secret},"))
        sub = Subscriber(users.port, ["siamese-edge/Front Door/person/#"], "homeassistant", "ha").wait_ready()
        _, err = run_to_the_end(cfg)
        assert "refused the connection" not in err, err[-1500:]
        wait_until(lambda: "ON" in [p for _, p, _ in sub.messages], timeout=10)
        sub.close()

        cfg.write_text(cfg.read_text().replace(f"password_file: {secret}", "password_env: SE_TEST_MQTT_PASSWORD"))
        _, err = run_to_the_end(cfg, SE_TEST_MQTT_PASSWORD="s3cret pass")  # the other way to keep it out of the file
        assert f"MQTT connected to 127.0.0.1:{users.port}" in err and "refused" not in err, err[-1500:]

        events, err = run_to_the_end(cfg, SE_TEST_MQTT_PASSWORD="wrong")
        assert f"MQTT broker 127.0.0.1:{users.port} refused the connection: Not authorized" in err
        assert any(e["type"] == "recognized" and e["name"] == "Barack Obama" for e in events)
    finally:
        users.stop()


@pytest.mark.parametrize("content, says", [
    (None, "events -> mqtt -> password_file: '{f}' holds more than 65535 bytes, more than MQTT allows"),
    (b"\xff\xfe p\x00a\x00s\x00s\x00", "events -> mqtt -> password_file: '{f}' is not UTF-8 text"),
])
def test_a_password_file_that_is_no_password_is_refused_by_check_config(tmp_path, content, says):
    secret = Path("/dev/zero") if content is None else tmp_path / "secret"
    if content is not None:
        secret.write_bytes(content)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"events: {{mqtt: {{enabled: true, username: edge, password_file: {secret}}}}}\n")
    r = subprocess.run([sys.executable, "-m", "edge.cli", "check-config", "--config", str(cfg)],
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert says.format(f=secret) in r.stderr


def test_a_tls_broker_gets_events_and_an_untrusted_certificate_is_named(faces, tmp_path):
    """``tls: true`` with the broker's CA in ``ca_file``: events arrive over TLS. With a CA that did not
    sign the broker's certificate, TLS against a plain port, or a port nothing listens on, the daemon
    says why it cannot connect, once (paho alone retries in silence), and recognition goes on."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed (make test installs it with apt)")
    tls = make_tls_files(tmp_path / "tls")
    stranger = make_tls_files(tmp_path / "other", name="someone else's CA")
    (tmp_path / "broker").mkdir()
    secure = Broker(tmp_path / "broker", tls=tls).start()
    (tmp_path / "plain").mkdir()
    plain = Broker(tmp_path / "plain").start()
    try:
        obama_walks_by(faces, tmp_path)
        cfg = tmp_path / "config.yaml"

        def run_with(port: int, ca: Path) -> tuple[list[dict], str]:
            cfg.write_text(config_for(tmp_path, port, loop="false").replace(
                "mqtt: {enabled: true,", f"mqtt: {{enabled: true, tls: true, ca_file: {ca},"))
            return run_to_the_end(cfg)

        sub = Subscriber(secure.port, ["siamese-edge/Front Door/person/#"], ca_file=tls.ca).wait_ready()
        _, err = run_with(secure.port, tls.ca)
        assert "cannot be reached" not in err, err[-1500:]
        wait_until(lambda: "ON" in [p for _, p, _ in sub.messages], timeout=10)
        sub.close()

        for port, ca, says in (
                (secure.port, stranger.ca, "its TLS certificate is not trusted (self-signed certificate in "
                                           "certificate chain): check events.mqtt.ca_file"),
                (plain.port, tls.ca, "does the broker speak TLS on this port?"),
                (_free_port(), tls.ca, "connection refused: is the broker running, and on this port?")):
            events, err = run_with(port, ca)
            warnings = [line for line in err.splitlines() if "cannot be reached" in line]
            assert len(warnings) == 1 and f"MQTT broker 127.0.0.1:{port} cannot be reached: " in warnings[0], err
            assert says in warnings[0]
            assert any(e["type"] == "recognized" and e["name"] == "Barack Obama" for e in events)
    finally:
        secure.stop()
        plain.stop()


def test_a_ca_file_that_holds_no_certificate_is_refused_by_check_config(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not a certificate\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"events: {{mqtt: {{enabled: true, tls: true, ca_file: {ca}}}}}\n")
    r = subprocess.run([sys.executable, "-m", "edge.cli", "check-config", "--config", str(cfg)],
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert f"events -> mqtt -> ca_file: '{ca}' holds no certificate TLS can use" in r.stderr


def test_a_home_assistant_with_another_discovery_prefix_finds_its_people_there(broker, faces, tmp_path):  # noqa: F811
    """`discovery_prefix` (Home Assistant's own setting, when changed from `homeassistant`): the
    discovery configs are published under it, nothing under the default, and Home Assistant's
    `online` on `<prefix>/status` brings them again."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    (tmp_path / "replay").mkdir()
    cv2.imwrite(str(tmp_path / "replay" / "0.png"), frame_of(None))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_for(tmp_path, broker.port).replace("cooldown_s: 30}",
                                                             "cooldown_s: 30, discovery_prefix: ha-lab}"))
    default = Subscriber(broker.port, ["homeassistant/#"]).wait_ready()
    lab = Subscriber(broker.port, ["ha-lab/#"]).wait_ready()
    proc = start(cfg)
    try:
        wait_until(lambda: any(p and json.loads(p).get("device_class") == "occupancy"  # published (then retained)
                               for _, p, _ in lab.topics("ha-lab/binary_sensor/")), timeout=60)
        lab.close()
        configs = {t: json.loads(p) for t, p in retained(broker.port, ("ha-lab/#",)).items() if p}
        sensor = next(p for t, p in configs.items() if p.get("device_class") == "occupancy")
        assert sensor["name"] == "Barack Obama"
        assert sensor["availability_topic"] == "siamese-edge/Front Door/availability"
        watcher = Subscriber(broker.port, ["ha-lab/binary_sensor/#"]).wait_ready()
        ha = Subscriber(broker.port, []).wait_ready()
        ha.c.publish("ha-lab/status", "online", qos=1).wait_for_publish(5)
        wait_until(lambda: [t for t, p, r in watcher.topics("ha-lab/") if p and not r], timeout=10)
        watcher.close()
        ha.close()
        assert default.topics("homeassistant/") == []
        default.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err



def test_home_assistant_sees_the_camera_go_and_come_back(broker, faces, tmp_path):  # noqa: F811
    """The daemon outlives its camera, so "online" does not say the door is watched: the diagnostic
    `Camera` connectivity sensor is OFF while the camera is missing and ON once frames come, as a
    Home Assistant connecting at either moment reads it (retained)."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_for(tmp_path, broker.port).replace("loop: true}", "loop: true, reconnect_max_s: 1}"))
    state = "siamese-edge/Front Door/camera"
    (tmp_path / "replay").mkdir()
    proc = start(cfg)  # no frame in the replay yet: the camera cannot be opened
    try:
        wait_line(proc, "camera not available at start")
        wait_until(lambda: retained(broker.port).get(state) == "OFF", timeout=30)
        configs = {t: json.loads(p) for t, p in retained(broker.port).items() if t.startswith("homeassistant/") and p}
        camera = configs[f"homeassistant/binary_sensor/{object_id('Front Door')}/camera/config"]
        assert camera["state_topic"] == state and camera["device_class"] == "connectivity"
        cv2.imwrite(str(tmp_path / "replay" / "0.png"), frame_of(None))
        wait_line(proc, " is back")
        wait_until(lambda: retained(broker.port).get(state) == "ON", timeout=30)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
