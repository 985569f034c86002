"""Events in the world: GPIO on gpiozero's MockFactory, a command hook, MQTT through a real
mosquitto on 127.0.0.1 with Home Assistant discovery, and sinks that can never stall recognition."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.events import Event, EventBus, RateLimited
from edge.events.gpio_sink import GpioRule, GpioSink
from edge.events.hook_sink import HookSink
from tests.conftest import REPO
from tests.mqtt_broker import Broker, Subscriber, _free_port, wait_until


def recognized(name="Alice", **kw):
    return Event("recognized", "test", name=name, score=0.97, box=(1.0, 2.0, 30.0, 30.0), track_id=1, **kw)


# ---------------------------------------------------------------------------- GPIO


@pytest.fixture
def mock_factory():
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    yield factory
    factory.reset()


def level(factory, pin: int) -> bool:
    return bool(factory.pin(pin).state)


class HandClock:
    """The sink's clock, moved only by the test: a pin's state then depends on this time alone,
    never on how late a busy machine runs the sink's thread."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return HandClock()


def test_pulse_turns_the_pin_on_for_its_seconds(mock_factory, clock):
    sink = GpioSink([GpioRule("Alice", 17, "pulse", 0.3)], pin_factory=mock_factory, clock=clock)
    try:
        assert not level(mock_factory, 17)
        sink.handle(recognized("Bob"))
        assert not level(mock_factory, 17)  # another person: nothing
        sink.handle(recognized("Alice"))
        assert level(mock_factory, 17)
        clock.now += 0.15
        sink.handle(recognized("Alice"))  # does not stretch a pulse
        clock.now += 0.14
        time.sleep(0.05)  # the sink's thread looks several times: 0.29 s in, the pin stays on
        assert level(mock_factory, 17)
        clock.now += 0.02  # 0.31 s after the first event: over, though the second was 0.16 s ago
        wait_until(lambda: not level(mock_factory, 17))
    finally:
        sink.close()


def test_hold_stays_on_while_events_keep_coming(mock_factory, clock):
    sink = GpioSink([GpioRule("any_known", 18, "hold", 0.3)], pin_factory=mock_factory, clock=clock)
    try:
        for _ in range(4):
            sink.handle(recognized("Carol"))
            clock.now += 0.25
            time.sleep(0.03)
            assert level(mock_factory, 18)  # each event re-arms the hold: 1 s on in all
        clock.now += 0.06  # 0.31 s after the last event
        wait_until(lambda: not level(mock_factory, 18))
    finally:
        sink.close()


def test_active_low_pin_idles_high_and_pulses_low(mock_factory, clock):
    sink = GpioSink([GpioRule("unknown", 22, "pulse", 0.2, active_high=False)], pin_factory=mock_factory,
                    clock=clock)
    try:
        assert level(mock_factory, 22)  # off = high for an active-low relay
        sink.handle(Event("unknown", "test", score=0.5))
        assert not level(mock_factory, 22)
        clock.now += 0.21
        wait_until(lambda: level(mock_factory, 22))
    finally:
        sink.close()
    assert level(mock_factory, 22)  # released in its off state


def test_two_rules_on_one_pin_are_ored(mock_factory, clock):
    sink = GpioSink([GpioRule("Alice", 5, "pulse", 0.2), GpioRule("unknown", 5, "pulse", 0.6)],
                    pin_factory=mock_factory, clock=clock)
    try:
        sink.handle(recognized("Alice"))
        sink.handle(Event("unknown", "test"))
        clock.now += 0.35
        time.sleep(0.05)
        assert level(mock_factory, 5)  # Alice's pulse is over, the unknown one is not
        clock.now += 0.3
        wait_until(lambda: not level(mock_factory, 5))
    finally:
        sink.close()


def test_the_pulse_ends_on_the_real_clock_too(mock_factory):
    """Without a clock handed in, the sink times pulses on the system's monotonic clock."""
    sink = GpioSink([GpioRule("Alice", 6, "pulse", 0.2)], pin_factory=mock_factory)
    try:
        sink.handle(recognized("Alice"))
        assert level(mock_factory, 6)
        wait_until(lambda: not level(mock_factory, 6), timeout=10)
    finally:
        sink.close()


def test_all_pins_off_after_close(mock_factory):
    sink = GpioSink([GpioRule("any_known", 23, "hold", 60), GpioRule("unknown", 24, "hold", 60, False)],
                    pin_factory=mock_factory)
    sink.handle(recognized())
    sink.handle(Event("unknown", "test"))
    assert level(mock_factory, 23) and not level(mock_factory, 24)
    sink.close()
    assert not level(mock_factory, 23) and level(mock_factory, 24)


# ---------------------------------------------------------------------------- hook


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_hook_receives_json_on_stdin_and_environment(tmp_path):
    out = tmp_path / "out"
    body = f'cat > {out}.json\necho "$SIAMESE_EDGE_NAME $SIAMESE_EDGE_TYPE" > {out}.env\n'
    script = _script(tmp_path / "hook.sh", body)
    HookSink([str(script)]).handle(recognized("Zoë; rm -rf /"))
    data = json.loads(Path(f"{out}.json").read_text())
    assert data["name"] == "Zoë; rm -rf /" and data["type"] == "recognized" and data["box"] == [1.0, 2.0, 30.0, 30.0]
    assert Path(f"{out}.env").read_text().strip() == "Zoë; rm -rf / recognized"  # no shell ran the name


def _gone(pid: int) -> bool:
    """The process has ended (absent, or a zombie nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_hanging_hook_is_killed_at_its_timeout_with_its_children(tmp_path):
    """A hook that would hang for 300 s, with a child of its own that would too: at the hook's
    timeout both are killed (not waited for) and the timeout is counted."""
    pids = tmp_path / "pids"
    script = _script(tmp_path / "hang.sh", f"echo $$ > {pids}\nsleep 300 &\necho $! >> {pids}\nsleep 300\n")
    hook = HookSink([str(script)], timeout_s=0.5)
    hook.handle(recognized())  # returns at the timeout; had it waited, the sleeps would have ended it
    assert hook.timeouts == 1 and hook.failures == 0
    hook_pid, child_pid = (int(p) for p in pids.read_text().split())
    wait_until(lambda: _gone(hook_pid) and _gone(child_pid), timeout=20)  # or: one of them survived


def test_failing_hook_is_counted(tmp_path):
    hook = HookSink([str(_script(tmp_path / "fail.sh", "echo oops >&2; exit 3\n"))])
    hook.handle(recognized())
    assert hook.failures == 1


# ---------------------------------------------------------------------------- bus, rate limits, floods


class SlowSink:
    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay, self.seen = delay, 0

    def handle(self, event):
        time.sleep(self.delay)
        self.seen += 1

    def close(self):
        pass


class StuckSink:
    """A sink whose first delivery never returns until the test lets it (a dead broker, a hung hook)."""

    name = "stuck"

    def __init__(self) -> None:
        self.entered, self.release, self.seen = threading.Event(), threading.Event(), 0

    def handle(self, event):
        self.seen += 1
        self.entered.set()
        self.release.wait()

    def close(self):
        pass


def test_a_flood_never_blocks_the_publisher_and_memory_is_bounded():
    """5,000 events into a bus whose only sink is stuck: every publish returns, the queue holds its
    50, the rest are dropped and counted."""
    stuck = StuckSink()
    bus = EventBus([stuck], maxsize=50)
    publisher = threading.Thread(target=lambda: [bus.publish(recognized(f"p{i}")) for i in range(5000)])
    try:
        publisher.start()
        publisher.join(timeout=60)  # a publish that blocked would wait for the stuck sink forever
        assert not publisher.is_alive(), "publish blocked on a stuck sink"
        assert stuck.entered.wait(timeout=20)  # the sink's thread took the oldest event and is stuck on it
        worker = bus.workers[0]
        assert worker.queue.qsize() == 50 and worker.dropped == 5000 - 50 - 1 and stuck.seen == 1
    finally:
        stuck.release.set()
        bus.close(timeout=5)


def test_rate_limit_passes_each_person_once_per_cooldown():
    class Count:
        name = "count"

        def __init__(self):
            self.names = []

        def handle(self, e):
            self.names.append(e.name)

        def close(self):
            pass

    inner = Count()
    limited = RateLimited(inner, cooldown_s=60)
    for name in ["A", "A", "B", "A", "B"]:
        limited.handle(recognized(name))
    assert inner.names == ["A", "B"] and limited.suppressed == 3


def test_slow_sink_does_not_slow_the_recognition_loop(faces, tmp_path):
    """A sink sleeping 5 s per event: the loop still processes every replayed frame; and a sink
    stuck for good does not keep the daemon from finishing."""
    from edge.config import parse_config
    from edge.daemon import Daemon
    from tests.test_daemon import ListSink, config_text, write_replay

    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    write_replay(tmp_path / "replay", [(faces.obama[1], 15), (None, 6)] * 4)
    text = config_text(tmp_path, realtime="true").replace("cooldown_s: 60", "cooldown_s: 0")  # a live pace
    counts = {}
    for label, sinks in (("fast", [ListSink()]), ("slow", [ListSink(), SlowSink(5.0)])):
        d = Daemon(parse_config(text), sinks=sinks)
        d.run()
        counts[label] = d.processed
    assert counts["slow"] >= 0.95 * counts["fast"], counts

    stuck = StuckSink()
    d = Daemon(parse_config(text), sinks=[ListSink(), stuck])
    run = threading.Thread(target=d.run)
    try:
        run.start()
        run.join(timeout=120)  # shutting down waited for the stuck sink if this runs out
        assert not run.is_alive(), "the daemon waited for a stuck sink"
        assert stuck.entered.is_set() and not stuck.release.is_set()  # it really was stuck, still is
        assert d.processed >= 0.95 * counts["fast"]
    finally:
        stuck.release.set()


# ---------------------------------------------------------------------------- MQTT


@pytest.fixture
def broker(tmp_path):
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.skip("mosquitto not installed (make test installs it with apt)")
    b = Broker(tmp_path).start()
    yield b
    b.stop()


REQUIRED = {  # what Home Assistant's MQTT discovery needs per component
    "sensor": {"state_topic", "unique_id", "name", "device"},
    "binary_sensor": {"state_topic", "unique_id", "name", "device", "payload_on", "payload_off"},
    "event": {"state_topic", "unique_id", "name", "device", "event_types"},
    "image": {"image_topic", "content_type", "unique_id", "name", "device"},
}


def test_mqtt_discovery_events_and_availability(broker):
    from edge.events.mqtt_sink import MqttSettings, MqttSink, object_id

    sub = Subscriber(broker.port, ["homeassistant/#", "siamese-edge/#"]).wait_ready()
    sink = MqttSink(MqttSettings(port=broker.port), "door")
    alice_state = f"siamese-edge/door/person/{object_id('Alice')}"
    try:
        sink.handle(Event("started", "door", names=("Alice", "Bob Smith")))
        sink.handle(recognized("Alice"))
        sink.handle(Event("present", "door", names=("Alice",)))
        # each condition waited for on its own: messages on different topics may arrive in any order
        wait_until(lambda: len({t for t, p, _ in sub.topics("homeassistant/") if p}) == 5)
        wait_until(lambda: any(p == "ON" for _, p, _ in sub.topics(alice_state)))
        wait_until(lambda: any(json.loads(p).get("name") == "Alice" for _, p, _ in
                               sub.topics("siamese-edge/door/event")))
        wait_until(lambda: any(p == "online" for _, p, _ in sub.topics("siamese-edge/door/availability")))
        configs = {t: json.loads(p) for t, p, _ in sub.topics("homeassistant/") if p}
        assert {t.split("/")[1] for t in configs} == {"sensor", "binary_sensor", "event"}
        for topic, payload in configs.items():
            component = topic.split("/")[1]
            assert REQUIRED[component] <= set(payload), (topic, payload)
            assert payload["availability_topic"] == "siamese-edge/door/availability"
            assert topic.endswith("/config")
        people = {p["name"] for t, p in configs.items() if p.get("device_class") == "occupancy"}
        assert people == {"Alice", "Bob Smith"}
        camera = configs[f"homeassistant/binary_sensor/{object_id('door')}/camera/config"]
        assert camera["device_class"] == "connectivity" and camera["entity_category"] == "diagnostic"
        wait_until(lambda: any(p == "ON" for _, p, _ in sub.topics("siamese-edge/door/camera")))  # started
        sink.handle(Event("camera_lost", "door", message="device unplugged"))
        wait_until(lambda: [p for _, p, _ in sub.topics("siamese-edge/door/camera")][-1:] == ["OFF"])
        sink.handle(Event("camera_back", "door"))
        wait_until(lambda: [p for _, p, _ in sub.topics("siamese-edge/door/camera")][-1:] == ["ON"])
    finally:
        sink.close()
        wait_until(lambda: any(p == "offline" for _, p, _ in sub.topics("siamese-edge/door/availability")))
        sub.close()


def test_mqtt_queues_while_the_broker_is_down_and_delivers_after(broker):
    from edge.events.mqtt_sink import MqttSettings, MqttSink

    sink = MqttSink(MqttSettings(port=broker.port, keepalive_s=5), "hall")
    try:
        assert sink.connected.wait(5)
        broker.stop()
        wait_until(lambda: not sink.connected.is_set(), timeout=10)
        for i in range(20):
            sink.handle(recognized(f"P{i}"))
        assert len(sink.pending) >= 20 and sink.dropped == 0
        broker.start()
        sub = Subscriber(broker.port, ["siamese-edge/hall/event"]).wait_ready()  # before the sink flushes
        wait_until(lambda: sink.connected.is_set(), timeout=40)
        wait_until(lambda: len({json.loads(p)["name"] for _, p, _ in sub.topics("siamese-edge/hall/event")
                                if "name" in json.loads(p)}) == 20, timeout=10)
        names = [json.loads(p)["name"] for _, p, _ in sub.topics("siamese-edge/hall/event")]
        assert sorted(set(names)) == sorted(f"P{i}" for i in range(20))
        assert len(names) <= 40  # QoS 1: at least once, duplicates bounded
        sub.close()
    finally:
        sink.close()


def test_mqtt_queue_is_bounded_oldest_dropped(tmp_path):
    from edge.events.mqtt_sink import MqttSettings, MqttSink

    sink = MqttSink(MqttSettings(port=_free_port(), queue_size=10), "nobroker")
    try:
        for i in range(25):
            sink.handle(Event("unknown", "nobroker", score=i / 100))
        assert len(sink.pending) == 10 and sink.dropped == 15
        assert json.loads(sink.pending[-1][1])["score"] == 0.24
    finally:
        sink.close()


@pytest.mark.parametrize("gpio_cooldown_s, pulses", [(0, 2), (3600, 1)])
def test_the_daemon_pulses_a_pin_per_visit_and_gpio_cooldown_s_holds_back_the_second(faces, tmp_path,
                                                                                   gpio_cooldown_s, pulses):
    """`siamese-edge run` with a door-strike rule (gpiozero's mock pins in the process): Barack Obama
    comes twice, and each visit is announced (recognition cooldown 0). The pin pulses once per visit
    — or once in all with `events.gpio_cooldown_s` — and the log says each time it switched."""
    from tests.test_daemon import config_text, write_replay

    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    write_replay(tmp_path / "replay", [(None, 3), (faces.obama[1], 15), (None, 10), (faces.obama[1], 15), (None, 10)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text(tmp_path, realtime="true").replace("cooldown_s: 60", "cooldown_s: 0") + f"""
events:
  gpio_cooldown_s: {gpio_cooldown_s}
  gpio: [{{pin: 17, on: Barack Obama, mode: pulse, seconds: 0.2}}]
""")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GPIOZERO_PIN_FACTORY": "mock"}
    r = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr[-1500:]
    announced = [json.loads(line) for line in r.stdout.splitlines() if '"recognized"' in line]
    assert [e["name"] for e in announced] == ["Barack Obama", "Barack Obama"]
    switches = [line.split("edge.events.gpio_sink: ", 1)[1] for line in r.stderr.splitlines()
                if "edge.events.gpio_sink: GPIO17" in line]
    assert switches == ["GPIO17 on (pulse 0.2 s: recognized Barack Obama)", "GPIO17 off"] * pulses, switches


def test_a_second_pulse_is_a_new_edge_even_if_the_pins_thread_is_late(mock_factory, clock):
    """A door strike needs an off→on edge per visit: when the next matching event comes after the
    first pulse ran out, the pin goes off and on again even if the sink's own thread (busy machine)
    has not yet switched it off."""
    sink = GpioSink([GpioRule("Alice", 12, "pulse", 0.2)], pin_factory=mock_factory, clock=clock, tick_s=3600)
    try:
        sink.handle(recognized("Alice"))
        clock.now += 0.5  # the thread, ticking hourly here, has not looked since
        sink.handle(recognized("Alice"))
        assert [s.state for s in mock_factory.pin(12).states] == [False, True, False, True]
    finally:
        sink.close()
