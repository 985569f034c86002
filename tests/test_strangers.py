"""Grouping snapshots of unknown faces by who they show (edge.strangers): average linkage on the
device's own score, stopped at its decision threshold."""

from __future__ import annotations

import numpy as np

from edge.strangers import group_faces
from edge.vision.card import Decision
from edge.vision.matcher import Matcher


def cosine_matcher(threshold: float):
    return lambda names, emb: Matcher(names, emb, Decision("cosine", threshold, 0.0))


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def test_faces_of_one_person_share_a_group_numbered_by_first_appearance():
    rng = np.random.default_rng(3)
    centres = [unit(rng.normal(size=64)) for _ in range(3)]
    order = [2, 0, 2, 1, 0, 2]
    emb = np.stack([unit(centres[c] + rng.normal(scale=0.08, size=64)) for c in order])
    assert group_faces(emb, cosine_matcher(0.6)) == [1, 2, 1, 3, 2, 1]


def test_a_chain_of_look_alikes_does_not_join_two_people():
    """a ~ b ~ c pairwise above the threshold, a and c far apart: single linkage would make one
    group of the three; average linkage keeps a and c apart."""
    a, c = unit([1, 0, 0]), unit([0, 1, 0])
    b = unit([1, 1, 0])  # cos(a, b) = cos(b, c) = 0.707, cos(a, c) = 0
    groups = group_faces(np.stack([a, b, c]), cosine_matcher(0.7))
    assert groups[0] != groups[2]


def test_nobody_alike_means_one_group_each_and_none_means_none():
    assert group_faces(np.eye(4, dtype=np.float32), cosine_matcher(0.5)) == [1, 2, 3, 4]
    assert group_faces(np.zeros((0, 8), np.float32), cosine_matcher(0.5)) == []
