"""Verification metrics in plain numpy: the LFW 10-fold protocol, ROC AUC, TAR at FAR.

Scores are "higher means same person" (cosine similarity or the Siamese head's probability).
"""

from __future__ import annotations

import numpy as np


def accuracy_at(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(((scores >= threshold) == same).mean())


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy; candidates are midpoints between sorted scores."""
    s = np.sort(np.unique(scores))
    candidates = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-6]])
    # vectorised accuracy for every candidate: sort once, count with searchsorted
    pos = np.sort(scores[same])
    neg = np.sort(scores[~same])
    tp = len(pos) - np.searchsorted(pos, candidates, side="left")
    tn = np.searchsorted(neg, candidates, side="left")
    acc = (tp + tn) / len(scores)
    return float(candidates[int(np.argmax(acc))])


def ten_fold(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict:
    """LFW View 2: for each fold, pick the threshold on the other nine and measure on it."""
    accs, thresholds = [], []
    for k in np.unique(folds):
        train = folds != k
        t = best_threshold(scores[train], same[train])
        accs.append(accuracy_at(scores[~train], same[~train], t))
        thresholds.append(t)
    return {"folds": accs, "accuracy_mean": float(np.mean(accs)), "accuracy_std": float(np.std(accs)),
            "threshold": float(np.mean(thresholds))}


def roc(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false accept rate, true accept rate) at every distinct threshold, FAR ascending."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[np.diff(s) != 0, True]  # keep the last index of each tied run
    tar = np.r_[0.0, tp[last] / max(y.sum(), 1)]
    far = np.r_[0.0, fp[last] / max((~y).sum(), 1)]
    return far, tar


def auc(scores: np.ndarray, same: np.ndarray) -> float:
    far, tar = roc(scores, same)
    return float(np.trapezoid(tar, far))


def tar_at_far(scores: np.ndarray, same: np.ndarray, far_target: float) -> float:
    """Highest TAR whose FAR does not exceed ``far_target``."""
    far, tar = roc(scores, same)
    ok = far <= far_target
    return float(tar[ok].max()) if ok.any() else 0.0
