"""MQTT with Home Assistant discovery (paho-mqtt 2.x).

Topics under ``<prefix>/<device>/``: ``availability`` (``online``/``offline``, retained, and the
last will), ``event`` (every event as JSON with ``event_type``), ``last_person`` (retained),
``snapshot/<kind>`` (the last snapshot's JPEG bytes, retained, for an ``image`` entity),
``person/<id>`` (retained ``ON`` while the person is in view, ``OFF`` ``off_delay_s`` after they
left — the device owns the timer, so the retained state is the truth a restarted Home Assistant
reads back), and ``camera`` (retained ``ON`` while frames come, ``OFF`` from ``camera_lost`` to
``camera_back``: the daemon outlives its camera, so "online" alone does not say the door is
watched). Discovery configs (retained) under ``<discovery_prefix>/``: a ``sensor`` with the last
person, one ``binary_sensor`` per enrolled person, a diagnostic connectivity ``binary_sensor`` for
the camera, and an ``event`` entity that declares every event type it receives. Discovery is
published at connect, at start, after every gallery change (a removed person's config is cleared
with an empty retained message, which is how Home Assistant deletes an entity) and whenever Home
Assistant announces itself ``online`` on ``<discovery_prefix>/status``.

Ids (:func:`object_id`) are a readable slug plus a hash of the exact name, so any Unicode name gets
its own entity, stable across restarts, whoever else is enrolled. QoS 1 throughout. While the
broker is unreachable, messages wait in a bounded queue (oldest dropped and counted) and are sent
when the connection returns; paho reconnects with backoff. The password is never logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import socket
import ssl
import sys
import threading
import unicodedata
from collections import deque
from dataclasses import dataclass

from edge.events import EVENT_TYPES, Event

log = logging.getLogger(__name__)

ID_CHARS = re.compile(r"[^a-z0-9]+")


def object_id(name: str) -> str:
    """A discovery-safe id (``[a-z0-9_]``) for any name: accents folded for readability, plus 8 hex
    digits of the exact name's sha256 so "Anne-Marie" and "Anne Marie", or "Анна" and "李明", never
    share an entity. Depends on the name alone, so it is the same after every restart."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    readable = ID_CHARS.sub("_", folded.lower()).strip("_")[:40] or "person"
    return f"{readable}_{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


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
    off_delay_s: float = 60
    keepalive_s: int = 30
    snapshot_kinds: tuple[str, ...] = ()  # whose snapshot goes out as an image (config: snapshots.announcements)


SNAPSHOT_MAX_BYTES = 4 * 2**20
"""A snapshot larger than this is not published (a broker's default message limit is far above)."""


class MqttSink:
    name = "mqtt"

    def __init__(self, settings: MqttSettings, device: str, people: list[str] | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.s = settings
        self.device = device
        self.base = f"{settings.prefix}/{device}"
        self.people = sorted(people or [])
        self._announced: set[str] = set()  # people whose discovery config is on the broker
        self.present: set[str] = set()
        self.camera_ok: bool | None = None  # unknown until the daemon says (started, camera_lost/back)
        self._off_timers: dict[str, threading.Timer] = {}
        self.pending: deque[tuple[str, str | bytes, bool]] = deque()
        self.dropped = 0
        self.published = 0
        self._lock = threading.RLock()
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"siamese-edge-{object_id(device)}",
                                  clean_session=True)
        self.client.will_set(f"{self.base}/availability", "offline", qos=1, retain=True)
        if settings.username:
            self.client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            self.client.tls_set(ca_certs=settings.ca_file)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self._failure = ""  # the last connection failure logged (a repeat of it is not logged again)
        self._refused = False  # the broker's last answer to CONNECT was a refusal
        self._closing = False
        self.client.on_message = self._on_message
        self.client.connect_async(settings.host, settings.port, keepalive=settings.keepalive_s)
        self.client.loop_start()

    # ------------------------------------------------------------------ discovery

    def _device(self) -> dict:
        return {"identifiers": [f"siamese_edge_{object_id(self.device)}"], "name": self.device,
                "manufacturer": "siamese-edge", "model": "face recognition"}

    def _person_topic(self, person: str) -> str:
        return f"{self.s.discovery_prefix}/binary_sensor/{object_id(self.device)}/{object_id(person)}/config"

    def discovery(self) -> list[tuple[str, dict]]:
        """(topic, payload) of every Home Assistant discovery config for the current people."""
        avail = {"availability_topic": f"{self.base}/availability", "payload_available": "online",
                 "payload_not_available": "offline", "device": self._device()}
        d = object_id(self.device)
        out = [
            (f"{self.s.discovery_prefix}/sensor/{d}/last_person/config",
             {"name": "Last person", "unique_id": f"{d}_last_person", "state_topic": f"{self.base}/last_person",
              "icon": "mdi:face-recognition", **avail}),
            (f"{self.s.discovery_prefix}/binary_sensor/{d}/camera/config",  # a person's id always ends in a hash
             {"name": "Camera", "unique_id": f"{d}_camera", "device_class": "connectivity",
              "entity_category": "diagnostic", "state_topic": f"{self.base}/camera", "payload_on": "ON",
              "payload_off": "OFF", **avail}),
            (f"{self.s.discovery_prefix}/event/{d}/recognition/config",
             {"name": "Recognition", "unique_id": f"{d}_recognition", "state_topic": f"{self.base}/event",
              "event_types": list(EVENT_TYPES), **avail}),
        ]
        for kind in self.s.snapshot_kinds:  # Home Assistant's MQTT image entity: the JPEG bytes, retained
            out.append((f"{self.s.discovery_prefix}/image/{d}/last_{kind}/config",
                        {"name": f"Last {kind} face", "unique_id": f"{d}_last_{kind}",
                         "image_topic": f"{self.base}/snapshot/{kind}", "content_type": "image/jpeg", **avail}))
        for person in self.people:
            pid = object_id(person)
            out.append((self._person_topic(person),
                        {"name": person, "unique_id": f"{d}_{pid}", "device_class": "occupancy",
                         "state_topic": f"{self.base}/person/{pid}", "payload_on": "ON", "payload_off": "OFF",
                         **avail}))
        return out

    def _publish_discovery(self) -> None:
        """Every config (and each person's current state), and an empty config for each person who
        is no longer enrolled. Never rate-limited, queued like everything else while offline."""
        with self._lock:
            for person in sorted(self._announced - set(self.people)):
                self._send(self._person_topic(person), "", retain=True)  # HA deletes the entity
                self._send(f"{self.base}/person/{object_id(person)}", "", retain=True)
            for topic, payload in self.discovery():
                self._send(topic, json.dumps(payload, ensure_ascii=False), retain=True)
            for person in self.people:
                self._send(f"{self.base}/person/{object_id(person)}",
                           "ON" if person in self.present else "OFF", retain=True)
            self._send_camera()
            self._announced = set(self.people)

    def _send_camera(self) -> None:
        if self.camera_ok is not None:
            self._send(f"{self.base}/camera", "ON" if self.camera_ok else "OFF", retain=True)

    # ------------------------------------------------------------------ connection

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            self._refused = True  # the disconnect that follows is this refusal, not news
            self._report(f"refused the connection: {reason_code}")
            return
        self._refused = False
        self._failure = ""
        log.info("MQTT connected to %s:%d", self.s.host, self.s.port)
        client.subscribe(f"{self.s.discovery_prefix}/status", qos=1)
        client.publish(f"{self.base}/availability", "online", qos=1, retain=True)
        self.connected.set()
        self._publish_discovery()
        self._flush()

    def _on_message(self, client, userdata, message) -> None:  # noqa: ANN001
        if message.topic == f"{self.s.discovery_prefix}/status" and message.payload == b"online":
            log.info("Home Assistant is online: publishing discovery again")
            client.publish(f"{self.base}/availability", "online", qos=1, retain=True)
            self._publish_discovery()

    def _on_connect_fail(self, client, userdata) -> None:  # noqa: ANN001
        """The broker could not be reached at all (paho retries with backoff and says nothing):
        log why, once per cause — a wrong port, an untrusted certificate — so a user whose Home
        Assistant stays empty finds the reason in the log. paho calls this inside its ``except
        OSError`` block, so the exception being handled is the cause."""
        self._report("cannot be reached: " + connect_failure_reason(sys.exc_info()[1], self.s.tls))

    def _report(self, failure: str) -> None:
        """Log a failed connection once per cause (paho retries every 1–30 s)."""
        if failure != self._failure:
            self._failure = failure
            log.warning("MQTT broker %s:%d %s; retrying, events are queued", self.s.host, self.s.port, failure)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        was_connected = self.connected.is_set()
        self.connected.clear()
        if self._closing:
            log.info("MQTT disconnected from %s:%d", self.s.host, self.s.port)
        elif was_connected:
            log.warning("MQTT disconnected from %s:%d (%s); events are queued", self.s.host, self.s.port,
                        reason_code)
        elif not self._refused:  # the broker hung up before accepting us: a failed connection
            hint = "" if self.s.tls else ": does it expect TLS on this port (events.mqtt.tls: true)?"
            self._report(f"closed the connection before accepting it ({reason_code}){hint}")

    def _flush(self) -> None:
        with self._lock:
            while self.pending and self.connected.is_set():
                topic, payload, retain = self.pending[0]
                info = self.client.publish(topic, payload, qos=1, retain=retain)
                if info.rc != 0:
                    break
                self.pending.popleft()
                self.published += 1

    def _send(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        with self._lock:
            if len(self.pending) >= self.s.queue_size:
                self.pending.popleft()
                self.dropped += 1
            self.pending.append((topic, payload, retain))
        if self.connected.is_set():
            self._flush()

    # ------------------------------------------------------------------ events

    def handle(self, event: Event) -> None:
        if event.type in ("camera_lost", "camera_back") or (event.type == "started" and self.camera_ok is None):
            with self._lock:
                self.camera_ok = event.type != "camera_lost"  # started without a camera_lost: frames come
                self._send_camera()
        if event.type in ("started", "gallery_changed") and event.names is not None:
            with self._lock:
                self.people = sorted(event.names)
                self.present &= set(self.people)
            self._publish_discovery()
        if event.type == "present" and event.names is not None:
            self._presence(set(event.names))
        self._send(f"{self.base}/event", json.dumps({"event_type": event.type, **event.to_dict()},
                                                    ensure_ascii=False))
        if event.type == "recognized" and event.name:
            self._send(f"{self.base}/last_person", event.name, retain=True)
        if event.snapshot and event.type in self.s.snapshot_kinds:
            self._publish_snapshot(event.type, event.snapshot)

    def _publish_snapshot(self, kind: str, path: str) -> None:
        try:
            with open(path, "rb") as f:
                data = f.read(SNAPSHOT_MAX_BYTES + 1)
        except OSError as exc:
            log.warning("snapshot %s not published: %s", path, exc.strerror or exc)
            return
        if len(data) > SNAPSHOT_MAX_BYTES:
            log.warning("snapshot %s not published: larger than %d bytes", path, SNAPSHOT_MAX_BYTES)
            return
        self._send(f"{self.base}/snapshot/{kind}", data, retain=True)

    def _presence(self, now_present: set[str]) -> None:
        """ON (retained) the moment a person is in view; OFF ``off_delay_s`` after they left, unless
        they came back meanwhile."""
        with self._lock:
            for person in sorted(now_present):
                timer = self._off_timers.pop(person, None)
                if timer is not None:
                    timer.cancel()  # back before the delay ran out: the sensor never went off
                elif person not in self.present:
                    self._send(f"{self.base}/person/{object_id(person)}", "ON", retain=True)
            for person in sorted(self.present - now_present - set(self._off_timers)):
                timer = threading.Timer(self.s.off_delay_s, self._off, (person,))
                timer.daemon = True
                self._off_timers[person] = timer
                timer.start()
            self.present = now_present | set(self._off_timers)

    def _off(self, person: str) -> None:
        with self._lock:
            if self._off_timers.get(person) is None:
                return
            del self._off_timers[person]
            self.present.discard(person)
            self._send(f"{self.base}/person/{object_id(person)}", "OFF", retain=True)

    def close(self) -> None:
        with self._lock:
            for timer in self._off_timers.values():
                timer.cancel()
            self._off_timers.clear()
            for person in sorted(self.present):  # the device no longer sees anyone
                self._send(f"{self.base}/person/{object_id(person)}", "OFF", retain=True)
            self.present.clear()
        if self.connected.is_set():
            self._flush()
            self.client.publish(f"{self.base}/availability", "offline", qos=1, retain=True).wait_for_publish(1)
        self._closing = True
        self.client.disconnect()
        self.client.loop_stop()


def connect_failure_reason(exc: BaseException | None, tls: bool) -> str:
    """A user's words for why a connection to the broker failed, with what to check."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its TLS certificate is not trusted ({exc.verify_message}): check events.mqtt.ca_file"
    if isinstance(exc, ssl.SSLError) or (tls and isinstance(exc, (ConnectionResetError, EOFError))):
        # one wording whatever the handshake's exact error (it varies between tries): logged once
        log.debug("MQTT TLS handshake: %r", exc)
        return "the TLS handshake failed: does the broker speak TLS on this port?"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: is the broker running, and on this port?"
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc.strerror})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no answer (timed out)" + ("; does the broker speak TLS on this port?" if tls else "")
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return "unknown reason"
