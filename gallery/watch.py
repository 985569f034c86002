"""Live gallery: notice added, changed, removed and renamed photos and swap in a new matcher.

Why this shape: the recognition loop must never wait for enrollment, so syncing runs on its own
thread and publishes a finished, immutable matcher with one assignment (atomic in Python). inotify
(through ``watchdog``) wakes the thread at once, and a rescan every ``RESCAN_WITH_INOTIFY_S`` is only
a safety net (an overflowed inotify queue); a cheap directory snapshot every ``poll_interval_s``
is the fallback for filesystems without inotify (network shares, some FUSE). An idle daemon's
threads sleep: a per-second rescan of a large gallery, or watchdog's own once-a-second wake-ups,
would be a large share of what an empty doorway costs. With ``watch=False`` (``gallery.watch:
false``) nothing watches: the gallery is read at start and on SIGHUP only.
A change is only read once the folder's snapshot (sizes and mtimes) has stayed the same for
``stable_s``, so a photo still being copied in is not read half-written.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from edge.printable import printable
from edge.vision.matcher import Matcher
from gallery.sync import Gallery, SyncInterrupted, SyncReport

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[int, int]]

RESCAN_WITH_INOTIFY_S = 60.0
"""Where inotify works, a full rescan this often anyway (events can be lost when its queue overflows)."""


def snapshot(folder: Path) -> Snapshot:
    """``{path: (size, mtime_ns)}`` for every entry one and two levels down (no symlinks followed)."""
    out: Snapshot = {}
    try:
        top = list(os.scandir(folder))
    except OSError:
        return out
    for entry in top:
        try:
            st = entry.stat(follow_symlinks=False)
            out[entry.path] = (st.st_size, st.st_mtime_ns)
            if entry.is_dir(follow_symlinks=False):
                for sub in os.scandir(entry.path):
                    s = sub.stat(follow_symlinks=False)
                    out[sub.path] = (s.st_size, s.st_mtime_ns)
        except OSError:  # vanished while we looked: the next snapshot will differ anyway
            continue
    return out


class GalleryWatcher:
    """Background thread that keeps ``on_update`` supplied with an up-to-date matcher."""

    def __init__(self, gallery: Gallery, on_update: Callable[[Matcher, SyncReport], None],
                 poll_interval_s: float = 1.0, stable_s: float = 0.5, use_inotify: bool = True,
                 watch: bool = True) -> None:
        self.gallery = gallery
        self.on_update = on_update
        self.stable_s = stable_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gallery-watch", daemon=True)
        self._observer = self._start_inotify(poll_interval_s) if watch and use_inotify else None
        self.rescan_s = self._rescan_interval(watch, poll_interval_s)
        self._synced: Snapshot | None = None
        self.syncs = 0

    def _rescan_interval(self, watch: bool, poll_interval_s: float) -> float | None:
        """How long the thread sleeps when nothing wakes it (``None``: until a sync is requested)."""
        if not watch:
            return None
        if self._observer is not None:
            return max(poll_interval_s, RESCAN_WITH_INOTIFY_S)
        return poll_interval_s

    def _start_inotify(self, poll_interval_s: float):
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            log.info("watchdog not installed: polling %s every %.1f s", self.gallery.folder, poll_interval_s)
            return None
        wake = self._wake

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event) -> None:  # noqa: ANN001 - watchdog's signature
                wake.set()

        observer = Observer(timeout=RESCAN_WITH_INOTIFY_S)  # its threads' idle wake-up (events come at once)
        try:
            observer.schedule(Handler(), str(self.gallery.folder), recursive=True)
            observer.start()
        except OSError as exc:  # e.g. inotify watch limit reached, or an unsupported filesystem
            log.warning("inotify unavailable for %s (%s): polling every %.1f s instead", self.gallery.folder, exc,
                        poll_interval_s)
            return None
        return observer

    def start(self, initial_sync: bool = True) -> GalleryWatcher:
        if initial_sync:
            self.sync_now()
        self._thread.start()
        return self

    def sync_now(self) -> SyncReport | None:
        """Sync immediately on the caller's thread and publish the result (``None`` if it failed)."""
        return self._sync(snapshot(self.gallery.folder))

    def _sync(self, snap: Snapshot) -> SyncReport | None:
        """One sync. Whatever a user dropped in, this returns: a failure is logged once and retried
        when the folder changes again (or on SIGHUP), never in a loop."""
        try:
            matcher, report = self.gallery.sync()
        except SyncInterrupted as exc:
            log.info("%s: stopping", exc)
            return None
        except (OSError, ValueError) as exc:  # e.g. the gallery folder itself made unreadable
            self._synced = snap
            log.error("gallery sync failed: %s (retrying when the folder changes)", printable(exc))
            return None
        self._synced = snap
        self.syncs += 1
        self.on_update(matcher, report)
        return report

    def request_sync(self) -> None:
        """Force a sync on the watcher thread (SIGHUP)."""
        self._synced = None
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.rescan_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                current = snapshot(self.gallery.folder)
                if current == self._synced:
                    continue
                # wait for the folder to settle: a file being copied changes size between looks
                while not self._stop.wait(self.stable_s):
                    later = snapshot(self.gallery.folder)
                    if later == current:
                        break
                    current = later
                if self._stop.is_set():
                    break
                report = self._sync(current)
                if report is not None:
                    log.info("gallery changed: %d people from %d photos", len({f.person for f in report.files
                             if f.state == "enrolled"}), sum(1 for f in report.files if f.state == "enrolled"))
            except Exception:  # noqa: BLE001 - the watcher must survive anything a user drops in
                self._synced = current
                log.exception("gallery sync failed; retrying when the folder changes")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=2)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
