"""The recognizer and the gallery as a configuration describes them — built here once for the
daemon and for ``gallery sync`` / ``gallery status``, so that what the commands report about a
photo is what the service decides (the same model, detector, quality gates and limits)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from edge.config import Config, RecognitionConfig
from edge.vision.card import Decision
from edge.vision.pipeline import Recognizer
from gallery.quality import QualityPolicy
from gallery.sync import Gallery


def recognizer_from_config(cfg: Config) -> Recognizer:
    """``model`` and ``detector`` of ``cfg``: the embedding model, its threads, the detector, its
    score bar and tiling."""
    return Recognizer(cfg.model.path, detector_model=cfg.detector.model, num_threads=cfg.model.threads,
                      min_score=cfg.detector.min_score, tile=cfg.detector.tile)


def decision_from_config(card: Decision, r: RecognitionConfig) -> Decision:
    """The model card's decision rule with ``recognition``'s threshold and margin where set, and
    its mirror band only with ``adaptive_mirror`` — what the daemon decides by, and what groups
    strangers in ``unknown list``."""
    return Decision(card.scoring, card.threshold if r.threshold is None else r.threshold,
                    card.margin if r.margin is None else r.margin, card.mirror_band if r.adaptive_mirror else None)


def gallery_from_config(cfg: Config, recognizer: Recognizer,
                        worker_factory: Callable[[], Recognizer] | None = None,
                        cancel: threading.Event | None = None) -> Gallery:
    """``gallery`` of ``cfg`` (folder, quality gates, pixel and file-size limits) with its cache in
    ``state_dir``; ``worker_factory`` and ``cancel`` as :class:`Gallery` takes them."""
    g = cfg.gallery
    policy = QualityPolicy(g.min_face_px, g.min_sharpness, g.multiple_faces)
    return Gallery(recognizer, g.folder, cfg.state_dir, policy, g.max_pixels, worker_factory=worker_factory,
                   max_bytes=int(g.max_file_mb * 2**20), cancel=cancel)
