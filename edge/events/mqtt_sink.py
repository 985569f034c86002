"""MQTT with Home Assistant discovery (paho-mqtt 2.x).

Topics under ``<prefix>/<device>/``: ``availability`` (``online``/``offline``, retained, and the
last will), ``event`` (every event as JSON with ``event_type``), ``last_person`` (retained), and
``person/<slug>`` (``ON`` when recognised; Home Assistant turns it off after ``off_delay``).
Discovery configs (retained) under ``<discovery_prefix>/``: a ``sensor`` with the last person, one
``binary_sensor`` per enrolled person, and an ``event`` entity. QoS 1 throughout. While the broker
is unreachable, messages wait in a bounded queue (oldest dropped and counted) and are sent when
the connection returns; paho reconnects with backoff. The password is never logged.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import deque
from dataclasses import dataclass

from edge.events import Event

log = logging.getLogger(__name__)


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return s or "person"


@dataclass(frozen=True)
class MqttSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None  # resolved from config, a file or the environment; never logged
    tls: bool = False
    ca_file: str | None = None
    prefix: str = "siamese-edge"
    discovery_prefix: str = "homeassistant"
    queue_size: int = 1000
    off_delay_s: int = 60
    keepalive_s: int = 30


class MqttSink:
    name = "mqtt"

    def __init__(self, settings: MqttSettings, device: str, people: list[str] | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.s = settings
        self.device = device
        self.base = f"{settings.prefix}/{device}"
        self.people = sorted(people or [])
        self.pending: deque[tuple[str, str, bool]] = deque()
        self.dropped = 0
        self.published = 0
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"siamese-edge-{device}",
                                  clean_session=True)
        self.client.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self.client.tls_set(ca_certs=settings.ca_file)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        self.client.loop_start()

    # ------------------------------------------------------------------ discovery

    def _device(self) -> dict:
        return {"identifiers": [f"siamese_edge_{slug(self.device)}"], "name": self.device,
                "manufacturer": "siamese-edge", "model": "face recognition"}

    def discovery(self) -> list[tuple[str, dict]]:
        """(topic, payload) of every Home Assistant discovery config for the current people."""
        avail = {"availability_topic": f"{self.base}/availability", "payload_available": "online",
                 "payload_not_available": "offline", "device": self._device()}
        d = slug(self.device)
        out = [
            (f"{self.s.discovery_prefix}/sensor/{d}/last_person/config",
             {"name": "Last person", "unique_id": f"{d}_last_person", "state_topic": f"{self.base}/last_person",
              "icon": "mdi:face-recognition", **avail}),
            (f"{self.s.discovery_prefix}/event/{d}/recognition/config",
             {"name": "Recognition", "unique_id": f"{d}_recognition", "state_topic": f"{self.base}/event",
              "event_types": ["recognized", "unknown"], **avail}),
        ]
        for person in self.people:
            out.append((f"{self.s.discovery_prefix}/binary_sensor/{d}/{slug(person)}/config",
                        {"name": person, "unique_id": f"{d}_{slug(person)}", "device_class": "occupancy",
                         "state_topic": f"{self.base}/person/{slug(person)}", "payload_on": "ON",
                         "payload_off": "OFF", "off_delay": self.s.off_delay_s, **avail}))
        return out

    # ------------------------------------------------------------------ connection

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("MQTT broker %s:%d refused the connection: %s", self.s.host, self.s.port, reason_code)
            return
        log.info("MQTT connected to %s:%d", self.s.host, self.s.port)
        client.publish(f"{self.base}/availability", "online", qos=1, retain=True)
        for topic, payload in self.discovery():
            client.publish(topic, json.dumps(payload), qos=1, retain=True)
        self.connected.set()
        self._flush()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected.clear()
        log.warning("MQTT disconnected from %s:%d (%s); events are queued", self.s.host, self.s.port, reason_code)

    def _flush(self) -> None:
        with self._lock:
            while self.pending and self.connected.is_set():
                topic, payload, retain = self.pending[0]
                info = self.client.publish(topic, payload, qos=1, retain=retain)
                if info.rc != 0:
                    break
                self.pending.popleft()
                self.published += 1

    def _send(self, topic: str, payload: str, retain: bool = False) -> None:
        with self._lock:
            if len(self.pending) >= self.s.queue_size:
                self.pending.popleft()
                self.dropped += 1
            self.pending.append((topic, payload, retain))
        if self.connected.is_set():
            self._flush()

    # ------------------------------------------------------------------ events

    def handle(self, event: Event) -> None:
        if event.type == "gallery_changed" and event.names is not None:
            self.people = sorted(event.names)
            if self.connected.is_set():
                for topic, payload in self.discovery():
                    self.client.publish(topic, json.dumps(payload), qos=1, retain=True)
        if event.type == "started" and event.names is not None:
            self.people = sorted(event.names)
        self._send(f"{self.base}/event", json.dumps({"event_type": event.type, **event.to_dict()}))
        if event.type == "recognized" and event.name:
            self._send(f"{self.base}/last_person", event.name, retain=True)
            self._send(f"{self.base}/person/{slug(event.name)}", "ON")

    def close(self) -> None:
        if self.connected.is_set():
            self._flush()
            self.client.publish(f"{self.base}/availability", "offline", qos=1, retain=True).wait_for_publish(1)
        self.client.disconnect()
        self.client.loop_stop()
