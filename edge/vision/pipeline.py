"""The whole device-side recognition path in one object: frame → faces → names.

``Recognizer`` owns a :class:`~edge.vision.preprocess.FacePreprocessor` (detect, refine, align), an
:class:`~edge.vision.embedder.Embedder` and a :class:`~edge.vision.matcher.Matcher`. Models load once in the
constructor; :meth:`identify` is the per-frame call (or :meth:`detect`, then :meth:`identify_faces`
for the faces that need it — the daemon skips faces it already knows from tracking). The matcher
can be swapped at any time (gallery changes) with a single attribute assignment, which is atomic in
Python.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.vision.card import Decision
from edge.vision.detector import Face
from edge.vision.embedder import Embedder
from edge.vision.matcher import Match, Matcher
from edge.vision.preprocess import AlignedFace, FacePreprocessor


@dataclass(frozen=True)
class Identified:
    """One face in a frame and who it is (``match.name`` is ``None`` when unknown)."""

    face: Face
    match: Match
    embedding: np.ndarray = field(repr=False)
    crop: np.ndarray = field(repr=False)
    carried: bool = False  # the match was carried over from this face's track, not computed on this frame


@dataclass
class StageTimes:
    """Milliseconds spent per stage in the last call (for stats and benchmarks)."""

    detect: float = 0.0
    align: float = 0.0
    embed: float = 0.0
    match: float = 0.0
    mirrored: int = 0  # faces whose mirror image was embedded too


class Recognizer:
    """Detect, align, embed and match — the device pipeline every command shares."""

    def __init__(self, model_path: str | Path | None = None, detector_model: str = "auto", num_threads: int = 1,
                 min_score: float = 0.5, decision: Decision | None = None, tile: int = 0) -> None:
        self.embedder = Embedder(model_path, num_threads=num_threads)
        card = self.embedder.card
        self.decision = decision or card.decision
        self.preprocessor = FacePreprocessor(card.alignment, card.colour, detector_model=detector_model,
                                             num_threads=num_threads, min_score=min_score, tile=tile)
        self.matcher = self.make_matcher([], np.zeros((0, card.embedding_size), np.float32))
        self.times = StageTimes()
        self.mirrored = 0  # faces whose mirror image was embedded too (every face, unless adaptive)

    def make_matcher(self, names: list[str], embeddings: np.ndarray) -> Matcher:
        """A matcher over ``embeddings`` using this model's head and decision rule."""
        return Matcher.for_card(self.embedder.card, names, embeddings, self.decision)

    def detect(self, image_bgr: np.ndarray, min_face_px: float = 0.0) -> list[Face]:
        """Faces in the frame (largest first) at least ``min_face_px`` wide; nothing else is run."""
        t0 = time.perf_counter()
        faces = [f for f in self.preprocessor.detect(image_bgr) if f.size >= min_face_px]
        self.times.detect = (time.perf_counter() - t0) * 1e3
        return faces

    def identify_faces(self, image_bgr: np.ndarray, faces: list[Face], adaptive: bool = False) -> list[Identified]:
        """Align, confirm (FaceMesh), embed and match the given detections of ``image_bgr``.
        ``adaptive``: embed the mirror image only for close calls (the decision's ``mirror_band``)."""
        if not faces:
            self.times.align = self.times.embed = self.times.match = 0.0
            self.times.mirrored = 0
            return []
        t0 = time.perf_counter()
        aligned = self.preprocessor.confirmed(image_bgr, [self.preprocessor.align(image_bgr, f) for f in faces])
        self.times.align = (time.perf_counter() - t0) * 1e3
        return self._matched(aligned, adaptive)

    def _matched(self, aligned: list[AlignedFace], adaptive: bool = False) -> list[Identified]:
        """Embed and match aligned faces (timing the two stages). With ``adaptive`` and a card that
        averages each face with its mirror image, the crop alone decides unless the decision is a
        close call (:meth:`Decision.close_call` within ``mirror_band``); only those pay the mirror pass."""
        if not aligned:
            self.times.embed = self.times.match = 0.0
            self.times.mirrored = 0
            return []
        matcher = self.matcher  # one read: a concurrent swap cannot split a frame across galleries
        crops = np.stack([a.crop for a in aligned])
        band = matcher.decision.mirror_band if adaptive and self.embedder.card.flip_average else None
        t0 = time.perf_counter()
        emb = self.embedder.embed(crops, mirror=None if band is None else False)
        t1 = time.perf_counter()
        matches = [matcher.match(e) for e in emb]
        t2 = time.perf_counter()
        embed_s, match_s = t1 - t0, t2 - t1
        close = [] if band is None else [i for i, m in enumerate(matches)
                                          if matcher.decision.close_call(m.score, m.runner_up_score, band)]
        if close:
            emb[close] = self.embedder.with_mirror(crops[close], emb[close])
            t3 = time.perf_counter()
            for i in close:
                matches[i] = matcher.match(emb[i])
            embed_s, match_s = embed_s + (t3 - t2), match_s + (time.perf_counter() - t3)
        self.times.embed = embed_s * 1e3
        self.times.match = match_s * 1e3
        self.times.mirrored = len(close) if band is not None else len(aligned) * self.embedder.card.flip_average
        self.mirrored += self.times.mirrored
        return [Identified(a.face, m, e, a.crop) for a, m, e in zip(aligned, matches, emb, strict=True)]

    def identify(self, image_bgr: np.ndarray, min_face_px: float = 0.0, photo: bool = False) -> list[Identified]:
        """Every face in ``image_bgr`` (largest first) with its match against the current gallery.
        ``photo``: faces found as :meth:`FacePreprocessor.faces` finds them in photos (a small photo
        with no face gets the border retry) — never a camera frame: the daemon passes its detections."""
        if not photo:
            return self.identify_faces(image_bgr, self.detect(image_bgr, min_face_px))
        return self._matched([a for a in self.preprocessor.faces(image_bgr) if a.face.size >= min_face_px])
