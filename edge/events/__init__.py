"""Events: what a recognition does in the world.

One frozen :class:`Event` type for everything the daemon reports (``recognized``, ``unknown``,
``present`` — who is in view now, sent when that changes —, ``gallery_changed``, ``started``,
``stopping``, ``camera_lost``, ``camera_back``). Sinks (log,
GPIO, MQTT, command hook) receive events on their own thread through :class:`EventBus`, each with a
bounded queue that drops the oldest event when full — a slow or broken sink can never stall the
camera loop or grow memory.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

EVENT_TYPES = ("recognized", "unknown", "present", "gallery_changed", "started", "stopping", "camera_lost",
               "camera_back")
RATE_LIMITED_TYPES = ("recognized", "unknown")  # announcements; state changes always go through


@dataclass(frozen=True)
class Event:
    """One thing that happened. ``box`` is ``[x, y, w, h]`` in frame pixels."""

    type: str
    device: str
    timestamp: float = field(default_factory=time.time)
    camera: str | None = None
    name: str | None = None
    score: float | None = None
    runner_up: str | None = None
    runner_up_score: float | None = None
    box: tuple[float, float, float, float] | None = None
    track_id: int | None = None
    snapshot: str | None = None  # the JPEG of the announced face with context (``snapshots``)
    seen_before: int | None = None  # unknown: earlier snapshots of this stranger still kept (edge.strangers)
    first_seen: float | None = None  # unknown: when the first of them was taken (absent on a first visit)
    video_s: float | None = None  # where in the recording the frame lies (replays and video files only)
    message: str | None = None
    people: int | None = None
    names: tuple[str, ...] | None = None  # enrolled people (started, gallery_changed); in view (present)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if v is not None}
        if self.box is not None:
            d["box"] = [round(v, 1) for v in self.box]
        if self.names is not None:
            d["names"] = list(self.names)
        for k in ("score", "runner_up_score"):
            if k in d:
                d[k] = round(d[k], 4)
        if "video_s" in d:
            d["video_s"] = round(d["video_s"], 3)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def settings_from(cls: type, config: Any, **overrides: Any) -> Any:
    """A sink's settings dataclass filled from its config section's same-named fields: one list of
    fields per output (the config), never copied by hand field by field."""
    from dataclasses import fields

    values = {f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)}
    return cls(**{**values, **overrides})


class Sink(Protocol):
    name: str

    def handle(self, event: Event) -> None: ...

    def close(self) -> None: ...


class RateLimited:
    """A sink that passes on the same announcement (type, name) at most once per ``cooldown_s``.

    Only announcements are limited: a gallery change, a presence change or a lifecycle event carries
    state an output must not miss (MQTT discovery is refreshed on ``gallery_changed``)."""

    def __init__(self, sink: Sink, cooldown_s: float) -> None:
        self.sink = sink
        self.name = sink.name
        self.cooldown_s = cooldown_s
        self._last: dict[tuple[str, str | None], float] = {}
        self.suppressed = 0

    def handle(self, event: Event) -> None:
        if event.type not in RATE_LIMITED_TYPES:
            self.sink.handle(event)
            return
        key = (event.type, event.name)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.cooldown_s:
            self.suppressed += 1
            log.debug("%s: %s %s within its %g s cooldown, not passed on", self.name, event.type, event.name or "",
                      self.cooldown_s)
            return
        self._last[key] = now
        self.sink.handle(event)

    def close(self) -> None:
        self.sink.close()


class SinkWorker:
    """One sink on its own thread behind a bounded queue (oldest dropped when full, counted)."""

    def __init__(self, sink: Sink, maxsize: int = 1000) -> None:
        self.sink = sink
        self.queue: queue.Queue[Event | None] = queue.Queue(maxsize)
        self.dropped = 0
        self.failed = 0
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _run(self) -> None:
        while True:
            event = self.queue.get()
            if event is None:
                return
            try:
                self.sink.handle(event)
                self.delivered += 1
            except Exception:  # noqa: BLE001 - a broken sink must not take the daemon down
                self.failed += 1
                log.exception("event sink %s failed on %s", self.sink.name, event.type)

    def close(self, timeout: float = 1.0) -> None:
        self.put(None)  # type: ignore[arg-type]
        self._thread.join(timeout)
        try:
            self.sink.close()
        except Exception:  # noqa: BLE001
            log.exception("closing event sink %s failed", self.sink.name)


class EventBus:
    """Fan events out to every sink without ever blocking the caller."""

    def __init__(self, sinks: list[Sink], maxsize: int = 1000) -> None:
        self.workers = [SinkWorker(s, maxsize) for s in sinks]

    def publish(self, event: Event) -> None:
        for w in self.workers:
            w.put(event)

    def close(self, timeout: float = 1.0) -> None:
        for w in self.workers:
            w.close(timeout)
