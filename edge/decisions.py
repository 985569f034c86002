"""From per-frame matches to announcements: once per visit, not 30 times a second, not never.

Faces are tracked across frames by box overlap (IoU). A track announces a person when at least
``votes_needed`` of its last ``votes_window`` frames named that person; it announces ``unknown``
only after ``unknown_after_frames`` consecutive unrecognised frames with no known vote. The same
person is announced again only after ``cooldown_s`` (per identity, across tracks). A track not
seen for ``track_timeout_s`` ends — the visit is over.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter, deque
from dataclasses import dataclass, field

from edge.config import RecognitionConfig
from edge.pipeline import Identified

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Announcement:
    kind: str  # "recognized" or "unknown"
    name: str | None
    score: float
    runner_up: str | None
    runner_up_score: float
    box: tuple[float, float, float, float]
    track_id: int
    identified: Identified = field(repr=False, compare=False)


@dataclass
class Track:
    id: int
    box: tuple[float, float, float, float]
    last_seen: float
    votes: deque = field(default_factory=deque)
    unknown_streak: int = 0
    announced: str | None = None  # the name (or "unknown") this track has announced


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


class DecisionMaker:
    """Feed every frame's results with :meth:`update`; it returns what should be announced now."""

    def __init__(self, cfg: RecognitionConfig) -> None:
        self.cfg = cfg
        self.tracks: list[Track] = []
        self.last_announced: dict[str, float] = {}
        self._ids = itertools.count(1)

    def update(self, results: list[Identified], now: float) -> list[Announcement]:
        self.tracks = [t for t in self.tracks if now - t.last_seen <= self.cfg.track_timeout_s]
        out = []
        free = list(self.tracks)
        for r in results:
            track = max(free, key=lambda t: iou(t.box, r.face.box), default=None)
            if track is None or iou(track.box, r.face.box) < self.cfg.track_iou:
                track = Track(next(self._ids), r.face.box, now, deque(maxlen=self.cfg.votes_window))
                self.tracks.append(track)
            else:
                free.remove(track)
            track.box, track.last_seen = r.face.box, now
            track.votes.append(r.match.name)
            track.unknown_streak = track.unknown_streak + 1 if r.match.name is None else 0
            a = self._decide(track, r, now)
            if a is not None:
                out.append(a)
        return out

    def _decide(self, track: Track, r: Identified, now: float) -> Announcement | None:
        counts = Counter(v for v in track.votes if v is not None)
        if counts:
            name, n = counts.most_common(1)[0]
            if n >= self.cfg.votes_needed and track.announced != name:
                last = self.last_announced.get(name)
                track.announced = name
                if last is not None and now - last < self.cfg.cooldown_s:
                    log.info("%s seen again %.0f s after the last announcement: within the %.0f s cooldown, "
                             "not announced", name, now - last, self.cfg.cooldown_s)
                    return None
                self.last_announced[name] = now
                return self._announce("recognized", name, track, r)
        elif track.unknown_streak >= self.cfg.unknown_after_frames and track.announced is None:
            track.announced = "unknown"
            return self._announce("unknown", None, track, r)
        return None

    @staticmethod
    def _announce(kind: str, name: str | None, track: Track, r: Identified) -> Announcement:
        m = r.match
        return Announcement(kind, name, m.score, m.runner_up if kind == "recognized" else m.best,
                            m.runner_up_score, r.face.box, track.id, r)
