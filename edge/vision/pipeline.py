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

    def make_matcher(self, names: list[str], embeddings: np.ndarray) -> Matcher:
        """A matcher over ``embeddings`` using this model's head and decision rule."""
        card = self.embedder.card
        return Matcher(names, embeddings, self.decision, np.asarray(card.head_weights, np.float32), card.head_bias)

    def detect(self, image_bgr: np.ndarray, min_face_px: float = 0.0) -> list[Face]:
        """Faces in the frame (largest first) at least ``min_face_px`` wide; nothing else is run."""
        t0 = time.perf_counter()
        faces = [f for f in self.preprocessor.detect(image_bgr) if f.size >= min_face_px]
        self.times.detect = (time.perf_counter() - t0) * 1e3
        return faces

    def identify_faces(self, image_bgr: np.ndarray, faces: list[Face]) -> list[Identified]:
        """Align, confirm (FaceMesh), embed and match the given detections of ``image_bgr``."""
        if not faces:
            self.times.align = self.times.embed = self.times.match = 0.0
            return []
        t0 = time.perf_counter()
        aligned = self.preprocessor.confirmed(image_bgr, [self.preprocessor.align(image_bgr, f) for f in faces])
        self.times.align = (time.perf_counter() - t0) * 1e3
        return self._matched(aligned)

    def _matched(self, aligned: list[AlignedFace]) -> list[Identified]:
        """Embed and match aligned faces (timing the two stages)."""
        if not aligned:
            self.times.embed = self.times.match = 0.0
            return []
        t1 = time.perf_counter()
        emb = self.embedder.embed(np.stack([a.crop for a in aligned]))
        t2 = time.perf_counter()
        matcher = self.matcher  # one read: a concurrent swap cannot split a frame across galleries
        out = [Identified(a.face, matcher.match(e), e, a.crop) for a, e in zip(aligned, emb, strict=True)]
        self.times.embed = (t2 - t1) * 1e3
        self.times.match = (time.perf_counter() - t2) * 1e3
        return out

    def identify(self, image_bgr: np.ndarray, min_face_px: float = 0.0, photo: bool = False) -> list[Identified]:
        """Every face in ``image_bgr`` (largest first) with its match against the current gallery.
        ``photo``: faces found as :meth:`FacePreprocessor.faces` finds them in photos (a small photo
        with no face gets the border retry) — never a camera frame: the daemon passes its detections."""
        if not photo:
            return self.identify_faces(image_bgr, self.detect(image_bgr, min_face_px))
        return self._matched([a for a in self.preprocessor.faces(image_bgr) if a.face.size >= min_face_px])
