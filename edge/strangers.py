"""Which snapshots of unknown faces show the same stranger (``siamese-edge unknown list``).

Why: a door camera snapshots a stranger at every visit, so the list of a month holds the postman
twenty times among a few one-off visitors. Grouping them tells the owner who keeps coming, and lets
them enrol all of one person's snapshots in one command (more photos, better recognition).

How: the daemon keeps each unknown face's embedding in the snapshot's sidecar, with the id of the
model that made it. Snapshots are joined by average linkage on the device's own score — two
groups merge while their mean pairwise score reaches the decision threshold, i.e. while the gallery
would, on average, name one as the other. Average rather than single linkage: at a public door a
chain of look-alikes would otherwise join different people into one group.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.vision.matcher import Matcher

MAX_GROUPED = 2000
"""Most recent unknown snapshots grouped: the pairwise scores take n² memory and time (2,000 is
32 MB); older ones are listed without a group, and the listing says so."""


def group_faces(embeddings: np.ndarray, make_matcher: Callable[[list[str], np.ndarray], Matcher]) -> list[int]:
    """A group number (1, 2, … in order of first appearance) for each row of ``embeddings``.
    ``make_matcher``: builds the device's matcher (model head and decision) over named rows."""
    n = len(embeddings)
    if n == 0:
        return []
    names = [f"{i:08d}" for i in range(n)]  # sorted as given: the matcher's rows are the input's rows
    matcher = make_matcher(names, np.asarray(embeddings, np.float32))
    scores = np.stack([matcher.row_scores(matcher.matrix[i]) for i in range(n)]).astype(np.float64)
    scores = (scores + scores.T) / 2  # both scorings are symmetric; this only evens out rounding
    np.fill_diagonal(scores, -np.inf)
    size = np.ones(n)
    alive = np.ones(n, bool)
    leader = np.arange(n)  # the group each row ended in (by the index of a row that survives)
    threshold = matcher.decision.threshold
    while alive.sum() > 1:
        live = np.where(alive[:, None] & alive[None, :], scores, -np.inf)
        i, j = np.unravel_index(int(np.argmax(live)), live.shape)
        if live[i, j] < threshold:
            break
        merged = (size[i] * scores[i] + size[j] * scores[j]) / (size[i] + size[j])  # average linkage
        scores[i], scores[:, i] = merged, merged
        scores[i, i] = -np.inf
        size[i] += size[j]
        alive[j] = False
        leader[leader == j] = i
    numbers: dict[int, int] = {}
    return [numbers.setdefault(int(g), len(numbers) + 1) for g in leader]
