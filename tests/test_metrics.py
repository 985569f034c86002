"""Evaluation math, checked against examples computed by hand."""

import numpy as np
import pytest

from converter.metrics import accuracy_at, auc, best_threshold, tar_at_far, ten_fold


def test_best_threshold_separates_a_separable_set():
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    same = np.array([True, True, True, False, False, False])
    t = best_threshold(scores, same)
    assert 0.3 < t < 0.7
    assert accuracy_at(scores, same, t) == 1.0


def test_auc_by_hand():
    # positives 0.9, 0.4; negatives 0.5, 0.1 → of 4 (pos, neg) pairs, 3 are ordered correctly
    scores = np.array([0.9, 0.4, 0.5, 0.1])
    same = np.array([True, True, False, False])
    assert auc(scores, same) == pytest.approx(0.75)


def test_tar_at_far_by_hand():
    # positives 0.95, 0.9, 0.7, 0.5; negatives 0.6, 0.3, 0.2, 0.1
    scores = np.array([0.95, 0.9, 0.7, 0.5, 0.6, 0.3, 0.2, 0.1])
    same = np.array([True, True, True, True, False, False, False, False])
    assert tar_at_far(scores, same, 0.0) == pytest.approx(0.75)  # threshold above 0.6: 3 of 4 positives
    assert tar_at_far(scores, same, 0.24) == pytest.approx(0.75)  # still no negative may pass
    assert tar_at_far(scores, same, 0.25) == pytest.approx(1.0)  # the 0.6 negative may pass: all positives


def test_ten_fold_picks_threshold_on_other_folds():
    # fold 0 has a pair that the threshold learnt on fold 1 gets wrong
    scores = np.array([0.9, 0.45, 0.2, 0.1, 0.9, 0.8, 0.3, 0.2])
    same = np.array([True, True, False, False, True, True, False, False])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    r = ten_fold(scores, same, folds)
    # fold 1's best threshold lies in (0.3, 0.8) → 0.45 on fold 0 is judged "different" when t > 0.45
    t1 = best_threshold(scores[folds == 1], same[folds == 1])
    expected0 = accuracy_at(scores[folds == 0], same[folds == 0], t1)
    assert r["folds"][0] == pytest.approx(expected0)
    assert r["folds"][1] == 1.0
    assert r["accuracy_mean"] == pytest.approx((expected0 + 1.0) / 2)
