"""A photo in a person's folder that the model judges to be somebody else — the wrong file dragged
in, a sibling, a group photo's other face — is the gallery mistake no quality gate sees, and it
makes the device greet one person by another's name. Each usable photo is compared with the same
person's other usable photos through the model's Siamese head, whose output is the probability the
network gives to "the same person" (the same meaning for every model card that has a head, whatever
its decision rule). A photo is named when the median over its comparisons is below
:data:`UNLIKE_BELOW`; it needs at least two others, so one odd photo cannot accuse a good one.
It is a warning: the photo stays enrolled, and the user decides.

How often it names photos on LFW, and which: ``bench/bench_gallery_outliers.py`` (README)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.vision.scores import head_logits, sigmoid

UNLIKE_BELOW = 0.1
"""Median same-person probability below which a photo is named: the network is nine-to-one sure
that it shows somebody else than most of the person's other photos do."""

MIN_OTHERS = 2


def unlike_their_others(people: Sequence[str], embeddings: np.ndarray, weights: Sequence[float],
                        bias: float) -> dict[int, tuple[float, int]]:
    """``index → (median probability, comparisons)`` for every row of ``embeddings`` (whose person
    is ``people[index]``) that looks unlike the same person's other rows."""
    found: dict[int, tuple[float, int]] = {}
    rows: dict[str, list[int]] = {}
    for i, person in enumerate(people):
        rows.setdefault(person, []).append(i)
    w = np.asarray(weights, np.float32)
    embeddings = np.asarray(embeddings, np.float32)
    for members in rows.values():
        if len(members) < MIN_OTHERS + 1:
            continue
        own = embeddings[members]
        for k, i in enumerate(members):
            others = np.delete(own, k, axis=0)
            median = float(np.median(sigmoid(head_logits(own[k], others, w, bias))))
            if median < UNLIKE_BELOW:
                found[i] = (median, len(others))
    return found
