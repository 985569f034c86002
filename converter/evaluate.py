"""``siamese-edge evaluate lfw``: the LFW 10-fold protocol from raw images through the device path.

Detection failures are never dropped: the pair is scored from the documented centre-crop fallback
and counted in ``n_detect_failed``, so ``n_pairs`` is always the file's full count (6,000).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from converter.crops import crop_images
from converter.embeddings import LoadedModel, load_model, pair_scores
from converter.lfw import Pair, read_pairs
from converter.metrics import auc, tar_at_far, ten_fold

log = logging.getLogger(__name__)


def embed_pairs(model: LoadedModel, pairs: list[Pair], detector: str = "auto"):
    """Unique images → crops (edge preprocessing) → embeddings; returns (A, B, detected_a, detected_b)."""
    images = sorted({p.a for p in pairs} | {p.b for p in pairs})
    crops, detected = crop_images(images, model.alignment, model.card.colour, detector)
    emb = model.embed(crops)
    index = {p: i for i, p in enumerate(images)}
    ia = np.array([index[p.a] for p in pairs])
    ib = np.array([index[p.b] for p in pairs])
    return emb[ia], emb[ib], detected[ia], detected[ib]


def pair_folds(pairs: list[Pair]) -> np.ndarray:
    """Each pair's fold for the 10-fold protocol: the file's own (View 2, ``pairs.txt``), or for a
    View 1 file (one fold: ``pairsDevTest.txt``) ten interleaved folds, so a threshold is always
    chosen on pairs other than those it is measured on."""
    folds = np.array([p.fold for p in pairs])
    return folds if len(np.unique(folds)) > 1 else np.arange(len(pairs)) % 10


def verification_report(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict:
    r = ten_fold(scores, same, folds)
    r["auc"] = auc(scores, same)
    r["tar_at_far"] = {"1e-2": tar_at_far(scores, same, 1e-2), "1e-3": tar_at_far(scores, same, 1e-3)}
    r["n_pairs"] = int(len(scores))
    return r


def evaluate_lfw(model_path: str | Path, images: str | Path, pairs_file: str | Path, scoring: str | None = None,
                 detector: str = "auto", plots: str | Path | None = None) -> dict:
    model = load_model(model_path)
    pairs = read_pairs(pairs_file, images)
    a, b, da, db = embed_pairs(model, pairs, detector)
    same = np.array([p.same for p in pairs])
    folds = pair_folds(pairs)
    scoring = scoring or model.card.decision.scoring
    scores = pair_scores(a, b, model.card, scoring)
    report = verification_report(scores, same, folds)
    report.update({"model": str(model_path), "kind": model.kind, "scoring": scoring, "pairs": str(pairs_file),
                   "n_detect_failed": int((~da | ~db).sum()), "detector": detector})
    if plots:
        from converter.plots import roc_plot, score_histogram

        out = Path(plots)
        out.mkdir(parents=True, exist_ok=True)
        title = f"{Path(model_path).name} on {Path(pairs_file).name} ({scoring})"
        roc_plot({title: (scores, same)}, out / "lfw_roc.png")
        score_histogram(scores, same, report["threshold"], out / "lfw_scores.png", title)
    return report


def write_json(report: dict, path: str | Path | None) -> None:
    text = json.dumps(report, indent=2)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    print(text)
