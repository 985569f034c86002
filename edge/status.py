"""Is it running, and how fast? The daemon's status, for people and for Prometheus — no port opened.

Every stats interval the daemon rewrites, atomically (a temporary file renamed over the old one, so
a reader never sees half a file):

* ``<state_dir>/status.json`` — read by ``siamese-edge status`` (uptime, camera, per-stage times,
  people and gallery problems, each output's counts, the last events);
* optionally (``metrics.textfile``) the same counters in Prometheus' text format for
  node_exporter's textfile collector, which serves them with the machine's own metrics.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the status command reads files only: no interpreter runtime to import
    from edge.vision.pipeline import StageTimes

STAGES = ("detect", "align", "embed", "match")


@dataclass
class Stats:
    """Counts and stage times since the daemon started, updated on every frame. The stats line covers
    one interval: the difference between now and a :meth:`mark` taken when the interval began."""

    frames: int = 0
    faces: int = 0
    carried: int = 0  # faces that kept their track's match instead of being identified again
    mirrored: int = 0  # faces that needed the mirror pass (a close call, or every face without adaptive_mirror)
    gated: int = 0  # frames the motion gate passed over without detection (nothing changed, nobody tracked)
    detect_ms: float = 0.0
    align_ms: float = 0.0
    embed_ms: float = 0.0
    match_ms: float = 0.0
    announcements: dict[str, int] = field(default_factory=lambda: {"recognized": 0, "unknown": 0})
    since: float = field(default_factory=time.monotonic)

    def add(self, times: StageTimes, faces: int, carried: int = 0) -> None:
        """One analysed frame, with the recognizer's stage times for it."""
        self.frames += 1
        self.faces += faces
        self.carried += carried
        self.detect_ms += times.detect
        self.align_ms += times.align
        self.embed_ms += times.embed
        self.match_ms += times.match
        self.mirrored += times.mirrored

    def add_gated(self) -> None:
        """One frame the motion gate passed over."""
        self.frames += 1
        self.gated += 1

    def announce(self, kind: str) -> None:
        self.announcements[kind] = self.announcements.get(kind, 0) + 1

    def mark(self) -> Stats:
        """A copy of the counts as they are now, starting an interval."""
        return replace(self, announcements=dict(self.announcements), since=time.monotonic())

    def since_mark(self, mark: Stats) -> Stats:
        """What happened between ``mark`` and now."""
        diff = {f.name: getattr(self, f.name) - getattr(mark, f.name) for f in fields(self)
                if f.name not in ("announcements", "since")}
        kinds = {k: n - mark.announcements.get(k, 0) for k, n in self.announcements.items()}
        return Stats(**diff, announcements=kinds, since=mark.since)

    def fps(self) -> float:
        """Frames per second seen (analysed or gated) since :attr:`since`."""
        return self.frames / max(time.monotonic() - self.since, 1e-9)

    def line(self, dropped: int, people: int) -> str:
        """Frames per second seen (analysed or gated); stage times averaged over analysed frames."""
        n = max(self.frames - self.gated, 1)
        return (f"fps={self.fps():.1f} detect={self.detect_ms / n:.1f}ms align={self.align_ms / n:.1f}ms "
                f"embed={self.embed_ms / n:.1f}ms match={self.match_ms / n:.2f}ms faces={self.faces} "
                f"carried={self.carried} mirrored={self.mirrored} gated={self.gated} dropped={dropped} "
                f"people={people}")

    def as_totals(self) -> dict:
        """The status file's ``totals``: counts, and seconds per stage over the analysed frames."""
        return {"frames": self.frames, "gated": self.gated, "analysed": self.frames - self.gated,
                "faces": self.faces, "carried": self.carried, "mirrored": self.mirrored,
                "announcements": dict(self.announcements),
                "stage_seconds": {stage: getattr(self, f"{stage}_ms") / 1e3 for stage in STAGES}}


def read_status(path: Path) -> dict:
    """The status the daemon last wrote (``OSError``/``ValueError`` when there is none to read)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a status object")
    return data


def is_fresh(status: dict, now: float | None = None) -> bool:
    """Written within three stats intervals (and at least 10 s): the daemon is alive."""
    now = time.time() if now is None else now
    return now - status.get("updated", 0) <= max(3 * status.get("interval_s", 10), 10) and not status.get("stopped")


# ---------------------------------------------------------------------------- Prometheus text format


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {float(value)!r}" if isinstance(value, float) else f"{name}{{{inner}}} {int(value)}"


def _metric(name: str, kind: str, help_: str, rows: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
    lines += [_series(name, labels, value) for labels, value in rows]
    return lines


def prometheus_text(status: dict) -> str:
    """The status's counters and gauges as a node_exporter textfile (names per Prometheus' conventions:
    ``_total`` counters, ``_seconds`` for times, a ``device`` label on every series)."""
    d = {"device": status["device"]}
    t = status["totals"]
    out: list[str] = []
    out += _metric("siamese_edge_up", "gauge", "1 while the daemon runs (0 once it stopped cleanly).",
                   [(d, 0 if status.get("stopped") else 1)])
    out += _metric("siamese_edge_start_time_seconds", "gauge", "When the daemon started (Unix time).",
                   [(d, float(status["started"]))])
    out += _metric("siamese_edge_frames_total", "counter", "Camera frames handled, analysed or passed over by "
                   "the motion gate.", [(d, t["frames"])])
    out += _metric("siamese_edge_frames_gated_total", "counter", "Frames the motion gate passed over without "
                   "detection.", [(d, t["gated"])])
    out += _metric("siamese_edge_faces_total", "counter", "Faces seen in analysed frames.", [(d, t["faces"])])
    out += _metric("siamese_edge_faces_mirrored_total", "counter", "Faces whose mirror image was embedded too.",
                   [(d, t["mirrored"])])
    out += _metric("siamese_edge_announcements_total", "counter", "Announcements by kind.",
                   [({**d, "kind": k}, v) for k, v in sorted(t["announcements"].items())])
    out += ["# HELP siamese_edge_stage_seconds Time spent per pipeline stage on analysed frames.",
            "# TYPE siamese_edge_stage_seconds summary"]
    for stage in STAGES:
        labels = {**d, "stage": stage}
        out.append(_series("siamese_edge_stage_seconds_sum", labels, float(t["stage_seconds"][stage])))
        out.append(_series("siamese_edge_stage_seconds_count", labels, t["analysed"]))
    cam = status["camera"]
    out += _metric("siamese_edge_camera_connected", "gauge", "1 while the camera delivers frames.",
                   [({**d, "camera": cam["name"]}, int(cam["connected"]))])
    out += _metric("siamese_edge_camera_reconnects_total", "counter", "Times the camera came back after a loss.",
                   [({**d, "camera": cam["name"]}, cam["reconnects"])])
    out += _metric("siamese_edge_frames_dropped_total", "counter", "Frames the loop was too busy to take.",
                   [({**d, "camera": cam["name"]}, cam["dropped"])])
    out += _metric("siamese_edge_people_enrolled", "gauge", "People in the gallery.", [(d, status["people"])])
    out += _metric("siamese_edge_gallery_problems", "gauge", "Gallery photos or people with a problem.",
                   [(d, len(status["gallery_problems"]))])
    rows = [({**d, "output": o["name"], "result": r}, o[r]) for o in status["outputs"]
            for r in ("delivered", "dropped", "failed")]
    out += _metric("siamese_edge_output_events_total", "counter", "Events per output: delivered, dropped "
                   "(queue full) or failed.", rows)
    return "\n".join(out) + "\n"
