"""From per-frame matches to announcements: once per visit, not 30 times a second, not never.

Faces are tracked across frames by box overlap (IoU). A track announces a person when at least
``votes_needed`` of its last ``votes_window`` frames named that person; it announces ``unknown``
only after ``unknown_after_frames`` consecutive unrecognised frames with no known vote. The same
person is announced again only after ``cooldown_s`` (per identity, across tracks). A track not
seen for ``track_timeout_s`` ends — the visit is over. A recognised track also ends when someone
else steps into its place: a fresh look that is not its person and whose embedding is far from the
last look that was (cosine below ``identity_change_below``) starts a new track, so a stranger right
behind a known person is announced as ``unknown`` instead of inheriting the finished visit.

Tracks also save work: a face that sits where a track already recognised someone (IoU ≥
:data:`CARRY_MIN_IOU`) keeps that track's match for up to ``reidentify_every − 1`` frames instead of
going through FaceMesh, the embedder and the matcher again; every ``reidentify_every``-th frame it is
identified afresh, and as soon as a fresh identification disagrees, nothing is carried over until
one agrees again. A person standing in view then costs little more than detection per frame.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from edge.config import RecognitionConfig
from edge.vision.boxes import iou
from edge.vision.detector import Face
from edge.vision.pipeline import Identified

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
    fresh: Identified | None = None  # the last identification computed (not carried over) for this track
    since_fresh: int = 0  # frames since then
    recognised_look: np.ndarray | None = field(default=None, repr=False)  # embedding of the last fresh
    # look that matched the announced person


CARRY_MIN_IOU = 0.5
"""A face overlapping a recognised track at least this much may carry its match over (stricter than
the tracking IoU: carrying a name over is a bigger claim than continuing a track)."""


class Tracker:
    """Feed every frame's results with :meth:`update`; it returns what should be announced now."""

    def __init__(self, cfg: RecognitionConfig) -> None:
        self.cfg = cfg
        self.tracks: list[Track] = []
        self.last_announced: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._reidentify_all = False

    def reidentify_all(self) -> None:
        """Carry nothing over on the next frame (the gallery changed: old matches may be stale).
        Safe to call from another thread: it only sets a flag the next :meth:`carried_over` reads."""
        self._reidentify_all = True

    def carried_over(self, faces: list[Face], now: float) -> list[Identified | None]:
        """For each face, the match its track may carry over to this frame, or ``None`` when the face
        must be identified afresh. A track carries over at most one face per frame, and a track that
        has timed out (the camera was away, the visit is over) carries nothing."""
        out: list[Identified | None] = [None] * len(faces)
        if self._reidentify_all:
            self._reidentify_all = False
            return out
        if self.cfg.reidentify_every <= 1:
            return out
        free = [t for t in self.tracks if t.fresh is not None and t.announced not in (None, "unknown")
                and t.fresh.match.name == t.announced and t.since_fresh < self.cfg.reidentify_every - 1
                and now - t.last_seen <= self.cfg.track_timeout_s]
        for i, face in enumerate(faces):
            track = max(free, key=lambda t: iou(t.box, face.box), default=None)
            if track is not None and iou(track.box, face.box) >= CARRY_MIN_IOU:
                free.remove(track)
                out[i] = dataclasses.replace(track.fresh, face=face, carried=True)
        return out

    def update(self, results: list[Identified], now: float) -> list[Announcement]:
        self.tracks = [t for t in self.tracks if now - t.last_seen <= self.cfg.track_timeout_s]
        out = []
        free = list(self.tracks)
        for r in results:
            track = max(free, key=lambda t: iou(t.box, r.face.box), default=None)
            if track is not None and iou(track.box, r.face.box) >= self.cfg.track_iou:
                free.remove(track)
                if self._someone_else(track, r):
                    self.tracks.remove(track)  # that visit is over: its person has gone
                    track = None
            else:
                track = None
            if track is None:
                track = Track(next(self._ids), r.face.box, now, deque(maxlen=self.cfg.votes_window))
                self.tracks.append(track)
            track.box, track.last_seen = r.face.box, now
            if r.carried:
                track.since_fresh += 1
            else:
                track.fresh, track.since_fresh = r, 0
            track.votes.append(r.match.name)
            track.unknown_streak = track.unknown_streak + 1 if r.match.name is None else 0
            a = self._decide(track, r, now)
            if a is not None:
                out.append(a)
            if not r.carried and r.match.name is not None and r.match.name == track.announced:
                track.recognised_look = r.embedding
        return out

    def present(self) -> frozenset[str]:
        """The people recognised in a live track: in view now (a track ends ``track_timeout_s`` after
        its face was last seen). Includes people seen again within their cooldown."""
        return frozenset(t.announced for t in self.tracks if t.announced not in (None, "unknown"))

    def _someone_else(self, track: Track, r: Identified) -> bool:
        """Is this fresh look of a recognised track's face somebody other than its person?"""
        limit = self.cfg.identity_change_below
        if (limit is None or r.carried or track.recognised_look is None or track.announced in (None, "unknown")
                or r.match.name == track.announced):
            return False
        similarity = float(np.dot(track.recognised_look, r.embedding))
        if similarity >= limit:
            return False
        log.info("track %d: the face is no longer %s (similarity %.2f to the last look that was): a new track",
                 track.id, track.announced, similarity)
        return True

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
