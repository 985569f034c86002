"""The recognition daemon: camera → detect → align → embed → match → decisions → events.

Threads: the camera thread keeps only the newest frame (a slow loop drops frames instead of
queueing them, so memory never grows); the recognition loop runs on the main thread and is the one
that pets systemd's watchdog (a hung loop gets restarted); the gallery watcher and each event sink
have their own threads. Signals: SIGTERM/SIGINT stop within a second or two with every output
released; SIGHUP reloads config.yaml (an invalid one is reported and the old one kept) and re-syncs
the gallery.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from edge.camera import Camera, CameraError, is_recording, make_camera
from edge.camera.reconnect import ReconnectingCamera
from edge.config import Config, check_files, load_config, snapshots_folder
from edge.errors import ConfigError
from edge.events import Event, EventBus, RateLimited, Sink, settings_from
from edge.events.log_sink import LogSink
from edge.from_config import decision_from_config, gallery_from_config, recognizer_from_config
from edge.logs import setup_logging
from edge.private_files import make_folder, write_atomically
from edge.sdnotify import Notifier
from edge.snapshots import Snapshots
from edge.status import Stats, prometheus_text
from edge.strangers import StrangerMemory
from edge.tracking import Announcement, Tracker
from edge.vision.motion import MotionGate, MotionSettings
from edge.vision.runtime import interpreter_class, warn_if_unaccelerated, xnnpack_delegate_created
from gallery.sync import Gallery
from gallery.watch import GalleryWatcher

log = logging.getLogger(__name__)


class LatestFrame:
    """A one-slot mailbox: the camera thread overwrites, the loop takes; overwrites are drops.

    A live camera must never wait for the loop (stale frames are worse than dropped ones), but a
    recorded clip replayed with ``realtime: false`` should be analysed frame by frame: ``lossless``
    makes ``put`` wait until the loop has taken the previous frame. Each frame travels with the
    time it was filmed and, from a recording, its place in it (see :meth:`Daemon._capture`).
    """

    def __init__(self, lossless: bool = False) -> None:
        self.lossless = lossless
        self.closed = False
        self._cond = threading.Condition()
        self._frame: tuple[np.ndarray, float, float | None] | None = None
        self.ended = False
        self.captured = 0
        self.dropped = 0

    def put(self, frame: np.ndarray | None, filmed: float, position: float | None) -> None:
        """Offer ``frame`` (``None``: the source has ended), filmed at ``filmed`` (monotonic seconds),
        lying ``position`` seconds into its recording (``None`` from a live camera)."""
        with self._cond:
            if frame is None:
                self.ended = True
            else:
                while self.lossless and self._frame is not None and not self.closed:
                    self._cond.wait(0.5)
                if self._frame is not None:
                    self.dropped += 1
                self._frame = (frame, filmed, position)
                self.captured += 1
            self._cond.notify()

    def take(self, timeout: float) -> tuple[np.ndarray, float, float | None] | None:
        """The newest frame, its time and its place in a recording, or ``None`` when none came within
        ``timeout`` seconds."""
        with self._cond:
            if self._frame is None and not self.ended:
                self._cond.wait(timeout)
            taken, self._frame = self._frame, None
            self._cond.notify_all()
            return taken

    def close(self) -> None:
        """Release a producer waiting in a lossless ``put`` (the daemon is stopping)."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class Daemon:
    """Owns every part; :meth:`run` is the main loop. Construct, then ``run()``."""

    def __init__(self, cfg: Config, config_path: Path | None = None, camera: Camera | None = None,
                 sinks: list[Sink] | None = None, notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.stop_event = threading.Event()
        self._reload = threading.Event()
        self.notifier = notifier or Notifier()
        warn_if_unaccelerated()
        self.recognizer = recognizer_from_config(cfg)
        if xnnpack_delegate_created():  # LiteRT's own line about it is held back (it opened every command's output)
            log.info("models loaded: %s with its XNNPACK delegate", interpreter_class()[1].split(".")[0])
        self._capture_thread: threading.Thread | None = None
        self._apply_decision(cfg)
        self.tracker = Tracker(cfg.recognition)
        self.gate = self._new_gate(cfg)
        self.bus = EventBus(sinks if sinks is not None else self._default_sinks(cfg), cfg.events.queue_size)
        self.camera = ReconnectingCamera(camera or make_camera(cfg.camera), cfg.camera.reconnect_max_s,
                                         on_status=self._camera_status, stop=self.stop_event)
        make_folder(Path(cfg.gallery.folder), 0o700)  # face photos go in: private until the user says otherwise
        self.gallery = self._new_gallery(cfg)
        self.snapshots = self._new_snapshots(cfg)
        self.strangers = self._new_strangers()
        self.watcher = self._new_watcher(cfg)
        self.frames = LatestFrame(lossless=is_recording(cfg.camera) and not cfg.camera.realtime)
        self.totals = Stats()  # counts since start (the status file, the metrics) …
        self.interval_start = self.totals.mark()  # … and where the current stats interval began
        self.gallery_updates = 0
        self._reported_problems: set[tuple[str, str]] = set()
        self.present: frozenset[str] = frozenset()
        self.started = time.time()
        self.last_events: deque[dict] = deque(maxlen=10)
        self.last_line = ""
        self.last_fps = 0.0
        self._status_failing = False

    @property
    def processed(self) -> int:
        """Frames handled since start, analysed or passed over by the motion gate."""
        return self.totals.frames

    @property
    def faces_seen(self) -> int:
        return self.totals.faces

    @property
    def faces_carried(self) -> int:
        """Faces that kept their track's match instead of being identified again."""
        return self.totals.carried

    @staticmethod
    def _new_snapshots(cfg: Config) -> Snapshots:
        s = cfg.snapshots
        return Snapshots(snapshots_folder(cfg), s.max_count, s.max_age_days * 86400, s.margin)

    def _new_strangers(self) -> StrangerMemory | None:
        """Who has been here before, from the unknown snapshots kept (:mod:`edge.strangers`); none
        when unknown faces are not saved (``snapshots.announcements``): nothing is remembered then."""
        if "unknown" not in self.cfg.snapshots.announcements:
            return None
        card = self.recognizer.embedder.card
        memory = StrangerMemory(self.snapshots, self.recognizer.embedder.id, card.embedding_size,
                                self.recognizer.make_matcher)
        memory.sync()
        return memory

    def _seen_before(self, snapshot: Path | None) -> dict:
        """The ``seen_before`` and ``first_seen`` of an unknown announcement whose snapshot was saved."""
        if self.strangers is None or snapshot is None:
            return {}
        try:
            self.strangers.sync()
            count, first = self.strangers.seen_before(snapshot.stem)
        except Exception as exc:  # noqa: BLE001 - a note on the event; never worth stopping recognition for
            log.warning("seen_before not counted for %s: %s: %s", snapshot.name, type(exc).__name__, exc)
            return {}
        return {"seen_before": count, "first_seen": first}

    @staticmethod
    def _new_gate(cfg: Config) -> MotionGate | None:
        """The motion gate (``motion.gate``; by default on for live cameras, off for replays)."""
        m = cfg.motion
        on = cfg.camera.source != "replay" if m.gate is None else m.gate
        return MotionGate(settings_from(MotionSettings, m)) if on else None

    def _new_gallery(self, cfg: Config) -> Gallery:
        """Enrollment runs on the gallery thread with interpreters of its own (built only while photos
        need embedding): an interpreter must not be invoked from two threads, and one shared behind
        a lock would stall the loop for every enrolled photo."""
        return gallery_from_config(cfg, self.recognizer, worker_factory=lambda: recognizer_from_config(self.cfg),
                                   cancel=self.stop_event)

    def _new_watcher(self, cfg: Config) -> GalleryWatcher:
        """``gallery.watch: false``: read at start and on SIGHUP only (no inotify, no polling)."""
        return GalleryWatcher(self.gallery, self._gallery_changed, cfg.gallery.poll_interval_s, watch=cfg.gallery.watch)

    @staticmethod
    def _default_sinks(cfg: Config, people: list[str] | None = None) -> list[Sink]:
        """Every output configured under ``events`` (hardware libraries imported only when used)."""
        ev = cfg.events
        sinks: list[Sink] = [LogSink(ev.log_stdout, ev.log_file)]
        if ev.gpio:
            from edge.events.gpio_sink import GpioRule, GpioSink

            rules = [settings_from(GpioRule, r) for r in ev.gpio]
            sinks.append(RateLimited(GpioSink(rules), ev.gpio_cooldown_s))
        if ev.mqtt.enabled:
            from edge.config import mqtt_password
            from edge.events.mqtt_sink import MqttSettings, MqttSink

            m = ev.mqtt
            settings = settings_from(MqttSettings, m, password=mqtt_password(m),
                                     snapshot_kinds=cfg.snapshots.announcements)
            sinks.append(RateLimited(MqttSink(settings, cfg.device_name, people), m.cooldown_s))
        if ev.hook.command:
            from edge.events.hook_sink import HookSink

            hook = HookSink([ev.hook.command, *ev.hook.args], ev.hook.timeout_s, ev.hook.types)
            sinks.append(RateLimited(hook, ev.hook.cooldown_s))
        return sinks

    def _apply_decision(self, cfg: Config) -> None:
        self.recognizer.decision = decision_from_config(self.recognizer.embedder.card.decision, cfg.recognition)

    def _event(self, type_: str, **kw) -> Event:
        event = Event(type_, self.cfg.device_name, camera=self.camera.name, **kw)
        self.last_events.append(event.to_dict())
        return event

    def _camera_status(self, state: str, message: str) -> None:
        self.bus.publish(self._event("camera_lost" if state == "lost" else "camera_back", message=message))
        self.notifier.status(f"camera {state}: {message}")

    def _gallery_changed(self, matcher, report) -> None:
        self.recognizer.matcher = matcher  # one assignment: the loop sees the old or the new gallery
        self.tracker.reidentify_all()  # names carried over by tracks were decided on the old gallery
        self.gallery_updates += 1
        self._log_gallery_problems(report)
        if self.gallery_updates > 1:  # the first sync is part of starting up
            self.bus.publish(self._event("gallery_changed", people=len(matcher), names=tuple(matcher.people)))

    def _log_gallery_problems(self, report) -> None:
        """Say in the journal why a photo is not used, or why a person is weakly enrolled — once per
        problem, not at every sync: someone who just dropped photos in is watching the log."""
        current = {(f.path, f"not used: {f.reason}") for f in report.files if f.state == "rejected"}
        for person, summary in report.people().items():  # includes each photo's own warnings
            current.update((f"{person!r}", warning) for warning in summary["warnings"])
        for where, what in sorted(current - self._reported_problems):
            log.warning("%s: %s", where, what)
        self._reported_problems = current

    # ---------------------------------------------------------------- lifecycle

    def _capture(self) -> None:
        """The camera thread. A frame's time is the source's own where it keeps one (a recording
        read faster or slower than it was filmed) and its arrival otherwise: tracks, cooldowns and
        the motion gate then measure the scene's time, not how long the analysis took. A frame from a
        recording also carries its place in it, which its events report as ``video_s``."""
        while not self.stop_event.is_set():
            frame = self.camera.read()
            filmed = self.camera.frame_time()
            self.frames.put(frame, time.monotonic() if filmed is None else filmed, self.camera.position())
            if frame is None:
                return

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_event.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())

    RESTART_SECTIONS = ("camera", "model", "detector", "state_dir")  # what a running process cannot swap

    def reload(self) -> None:
        """SIGHUP: re-read config.yaml and apply every section that can change live — recognition,
        motion, logging, events (outputs rebuilt; the old ones deliver what they had queued first), gallery
        (folder, rules, polling) and device_name. A changed camera, model, detector or state_dir is
        named in one warning as needing a restart. An invalid file is refused as a whole."""
        if self.config_path is None:
            return
        try:
            new = load_config(self.config_path)
            check_files(new)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            self.notifier.status(f"config reload refused: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a reload must never take the daemon down
            log.error("reload refused, keeping the running configuration: %s: %s", type(exc).__name__, exc)
            return
        old = self.cfg
        changed = [f.name for f in dataclasses.fields(Config) if getattr(new, f.name) != getattr(old, f.name)]
        later = [name for name in changed if name in self.RESTART_SECTIONS]
        live = [name for name in changed if name not in self.RESTART_SECTIONS]
        self.cfg = dataclasses.replace(new, **{name: getattr(old, name) for name in self.RESTART_SECTIONS})
        if "logging" in live:
            setup_logging(new.logging.format, new.logging.level)
        if "motion" in live:
            self.gate = self._new_gate(self.cfg)
        if "snapshots" in live:
            self.snapshots = self._new_snapshots(self.cfg)
        if "recognition" in live:
            self._apply_decision(self.cfg)
            self.tracker.cfg = new.recognition
        if "snapshots" in live or "recognition" in live:
            self.strangers = self._new_strangers()  # another folder, or another threshold to group by
        if "events" in live or "device_name" in live:
            self._rebuild_outputs()
        if "gallery" in live:
            self._rebuild_gallery()
        else:
            self.watcher.request_sync()
        if later:
            log.warning("%s changed: not applied until the service restarts (systemctl restart siamese-edge)",
                        ", ".join(later))
        log.info("configuration reloaded from %s: %s", self.config_path,
                 f"applied {', '.join(live)}" if live else "no live setting changed")

    def _rebuild_outputs(self) -> None:
        """New sinks from the new ``events``; the old bus delivers its queue, then closes."""
        old_bus = self.bus
        self.bus = EventBus(self._default_sinks(self.cfg, list(self.recognizer.matcher.people)),
                            self.cfg.events.queue_size)
        old_bus.close(timeout=2.0)

    def _rebuild_gallery(self) -> None:
        self.watcher.stop()
        self.gallery.close()
        self.gallery = self._new_gallery(self.cfg)
        make_folder(Path(self.cfg.gallery.folder), 0o700)
        self.watcher = self._new_watcher(self.cfg)
        self.watcher.start(initial_sync=False)
        self.watcher.request_sync()  # on the watcher's thread: the loop keeps recognising meanwhile

    def run(self, max_frames: int | None = None) -> int:
        """Run until SIGTERM/SIGINT, the end of a replay, or ``max_frames``; returns an exit code."""
        self._install_signals()
        try:
            self.camera.open()
        except CameraError as exc:
            log.warning("camera not available at start (%s): retrying in the background", exc)
            self.camera.lost = True
            self.bus.publish(self._event("camera_lost", message=str(exc)))
        self.watcher.start(initial_sync=True)
        self._capture_thread = threading.Thread(target=self._capture, name="camera", daemon=True)
        self._capture_thread.start()
        people = len(self.recognizer.matcher)
        log.info("running: camera %s, %d people enrolled, model %s", self.camera.name, people,
                 self.recognizer.embedder.path.name)
        self.bus.publish(self._event("started", people=people, names=tuple(self.recognizer.matcher.people)))
        self.notifier.ready(f"running, {people} people enrolled")
        self.write_status()
        last_stats = last_pet = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                taken = self.frames.take(timeout=0.25)
                now = time.monotonic()
                if now - last_pet >= 0.5:
                    self.notifier.watchdog()
                    last_pet = now
                if taken is None:
                    if self.frames.ended:
                        log.info("camera stream ended")
                        break
                    continue
                self._process(*taken)
                if max_frames is not None and self.processed >= max_frames:
                    break
                if now - last_stats >= self.cfg.logging.stats_interval_s:
                    interval = self.totals.since_mark(self.interval_start)
                    self.last_line = interval.line(self.frames.dropped, len(self.recognizer.matcher))
                    self.last_fps = interval.fps()
                    log.info("stats %s", self.last_line)
                    self.notifier.status(self.last_line)
                    self.interval_start = self.totals.mark()
                    last_stats = now
                    self.write_status()
        finally:
            self.shutdown()
        return 0

    def _process(self, frame: np.ndarray, now: float, position: float | None) -> None:
        rec = self.recognizer
        if self.gate is not None and not self.gate.should_analyse(frame, now, tracking=bool(self.tracker.tracks)):
            self.totals.add_gated()
            return
        faces = rec.detect(frame, self.cfg.recognition.min_face_px)
        if self.gate is not None:
            self.gate.found(len(faces))
        carried = self.tracker.carried_over(faces, now)
        fresh = rec.identify_faces(frame, [f for f, c in zip(faces, carried, strict=True) if c is None], adaptive=True)
        # identify_faces returns the very Face objects it was given, minus any FaceMesh did not confirm
        by_face = {id(r.face): r for r in fresh}
        results = [r for f, c in zip(faces, carried, strict=True) if (r := c or by_face.get(id(f))) is not None]
        n_carried = sum(c is not None for c in carried)
        self.totals.add(rec.times, len(results), n_carried)
        for a in self.tracker.update(results, now):
            self.totals.announce(a.kind)
            snapshot = self._snapshot(frame, a, position) if a.kind in self.cfg.snapshots.announcements else None
            seen = self._seen_before(snapshot) if a.kind == "unknown" else {}
            self.bus.publish(self._event(a.kind, name=a.name, score=a.score, runner_up=a.runner_up,
                                         runner_up_score=a.runner_up_score, box=a.box, track_id=a.track_id,
                                         snapshot=str(snapshot) if snapshot else None, video_s=position, **seen))
            if a.kind == "recognized":
                log.info("recognized %s (score %.3f, track %d)", a.name, a.score, a.track_id)
                continue
            before = (f"; seen {seen['seen_before']} time(s) before, first at "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(seen['first_seen']))}"
                      if seen.get("seen_before") else "")
            if a.runner_up:
                log.info("unknown face (closest: %s, score %.3f, track %d)%s", a.runner_up, a.score, a.track_id,
                         before)
            else:
                log.info("unknown face (nobody enrolled to compare with, track %d)%s", a.track_id, before)
        present = self.tracker.present()
        if present != self.present:
            self.present = present
            self.bus.publish(self._event("present", names=tuple(sorted(present)), video_s=position))

    def _snapshot(self, frame: np.ndarray, a: Announcement, position: float | None) -> Path | None:
        """Save the announced face with context, from the camera's full-resolution image when it
        has one (picamera2's main stream) and the analysed frame otherwise."""
        full = self.camera.full_resolution()
        box = a.box
        if full is not None:
            scale = full.shape[1] / frame.shape[1]
            frame, box = full, tuple(v * scale for v in a.box)
        closest = a.identified.match.best
        meta = {"name": a.name, "closest": closest, "score": round(float(a.score), 4),
                "camera": self.camera.name, "device": self.cfg.device_name}
        if position is not None:
            meta["video_s"] = round(position, 3)
        if a.kind == "unknown":  # to tell which snapshots show the same stranger (edge.strangers)
            meta["embedding"] = [round(float(v), 6) for v in a.identified.embedding]
            meta["model"] = self.recognizer.embedder.id
        return self.snapshots.save(frame, box, a.kind, a.track_id, meta)

    def status(self, stopped: bool = False) -> dict:
        """What ``siamese-edge status`` shows and the metrics file counts (see :mod:`edge.status`)."""
        now = time.time()
        outputs = [{"name": w.sink.name, "delivered": w.delivered, "dropped": w.dropped, "failed": w.failed}
                   for w in self.bus.workers]
        return {
            "device": self.cfg.device_name, "pid": os.getpid(), "started": round(self.started, 3),
            "updated": round(now, 3), "uptime_s": round(now - self.started, 1), "stopped": stopped,
            "interval_s": self.cfg.logging.stats_interval_s, "stats": self.last_line,
            "camera": {"name": self.camera.name, "connected": not self.camera.lost, "fps": round(self.last_fps, 2),
                       "reconnects": self.camera.reconnects, "dropped": self.frames.dropped,
                       "captured": self.frames.captured},
            "totals": self.totals.as_totals(),
            "motion": self.gate.state() if self.gate is not None else None,
            "people": len(self.recognizer.matcher),
            "gallery_problems": [{"where": w, "what": p} for w, p in sorted(self._reported_problems)][:50],
            "outputs": outputs,
            "last_events": list(self.last_events),
        }

    def write_status(self, stopped: bool = False) -> None:
        """Rewrite ``<state_dir>/status.json`` (0600: the state is private) and, when configured, the
        Prometheus textfile (0644: node_exporter reads it); a failure is logged once, never fatal."""
        try:
            status = self.status(stopped)
            # ASCII escapes: a gallery file name that is not UTF-8 stays readable JSON
            write_atomically(Path(self.cfg.state_dir) / "status.json", json.dumps(status).encode(), 0o600)
            if self.cfg.metrics.textfile:
                # a person's name that is not UTF-8 (a surrogate escape) is written as \udcxx, never an error
                text = prometheus_text(status).encode("utf-8", "backslashreplace")
                write_atomically(Path(self.cfg.metrics.textfile), text, 0o644)
        except Exception as exc:  # noqa: BLE001 - a status file must never take recognition down
            if not self._status_failing:
                log.warning("status/metrics not written (%s): recognition goes on",
                            getattr(exc, "strerror", None) or exc)
            self._status_failing = True
            return
        self._status_failing = False

    def shutdown(self) -> None:
        self.stop_event.set()
        self.frames.close()
        self.notifier.stopping()
        self.bus.publish(self._event("stopping"))
        self.watcher.stop()
        # let the camera thread leave its read before the camera (and, at exit, native libraries)
        # goes away under it: tearing down with a thread inside OpenCV or LiteRT can abort the process
        if self._capture_thread is not None:
            self._capture_thread.join(timeout=2.0)
        self.camera.close()
        self.bus.close(timeout=1.0)
        self.write_status(stopped=True)
        self.gallery.close()
        self.notifier.close()
        log.info("stopped")
