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

MAX_GROUPED = 1000
"""Most recent unknown snapshots grouped. The pairwise scores take n² memory (1,000: 8 MB), and
one stranger with n snapshots costs n merges over an n² table; older snapshots are listed without
a group, and the listing says so."""


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
    threshold = matcher.decision.threshold
    leader = np.arange(n)  # the row whose group each row ended in
    # an average-linkage group never spans two groups of "any pair at the threshold" (a mean at the
    # threshold needs one pair at it), so each of those is grouped on its own: a few rows each
    for part in _linked(scores >= threshold):
        if len(part) > 1:
            leader[part] = part[_average_linkage(scores[np.ix_(part, part)], threshold)]
    numbers: dict[int, int] = {}
    return [numbers.setdefault(int(g), len(numbers) + 1) for g in leader]


def _linked(edges: np.ndarray) -> list[np.ndarray]:
    """Connected components of a boolean adjacency matrix, each as sorted row indices."""
    n = len(edges)
    seen = np.zeros(n, bool)
    parts = []
    for start in range(n):
        if seen[start]:
            continue
        seen[start] = True
        part, frontier = [start], [start]
        while frontier:
            new = np.flatnonzero(edges[frontier].any(axis=0) & ~seen)
            seen[new] = True
            part += new.tolist()
            frontier = new.tolist()
        parts.append(np.array(sorted(part)))
    return parts


def _average_linkage(scores: np.ndarray, threshold: float) -> np.ndarray:
    """For each row of a square score table (diagonal −inf; modified), the row its group ended in."""
    n = len(scores)
    size = np.ones(n)
    leader = np.arange(n)
    for _ in range(n - 1):
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        if scores[i, j] < threshold:
            break
        merged = (size[i] * scores[i] + size[j] * scores[j]) / (size[i] + size[j])
        scores[i], scores[:, i] = merged, merged
        scores[j], scores[:, j] = -np.inf, -np.inf  # j is gone
        scores[i, i] = -np.inf
        size[i] += size[j]
        leader[leader == j] = i
    return leader
