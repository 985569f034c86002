"""Which snapshots of unknown faces show the same stranger (``siamese-edge unknown list``).

Why: a door camera snapshots a stranger at every visit, so the list of a month holds the postman
twenty times among a few one-off visitors. Grouping them tells the owner who keeps coming, and lets
them enrol all of one person's snapshots in one command (more photos, better recognition).

How: the daemon keeps each unknown face's embedding in the snapshot's sidecar, with the id of the
model that made it. Snapshots are joined by average linkage on the device's own score — two
groups merge while their mean pairwise score reaches the decision threshold, i.e. while the gallery
would, on average, name one as the other. Average rather than single linkage: at a public door a
chain of look-alikes would otherwise join different people into one group.

The daemon uses the same grouping as each stranger is announced (:class:`StrangerMemory`): the
``unknown`` event says how many earlier snapshots are of this stranger, and since when.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.snapshots import Snapshots
from edge.vision.matcher import Matcher

MAX_GROUPED = 1000
"""Most recent unknown snapshots grouped. The pairwise scores take n² memory (1,000: 8 MB), and
grouping one stranger's n snapshots costs n² steps; older snapshots are listed without a group, and
the listing says so."""


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
    seen = np.zeros(len(edges), bool)
    parts = []
    for start in range(len(edges)):
        if not seen[start]:
            parts.append(_component(edges, start, seen))
    return parts


def _component(edges: np.ndarray, start: int, seen: np.ndarray | None = None) -> np.ndarray:
    """The sorted rows connected to ``start`` (marked in ``seen``, when given)."""
    seen = np.zeros(len(edges), bool) if seen is None else seen
    seen[start] = True
    part, frontier = [start], [start]
    while frontier:
        new = np.flatnonzero(edges[frontier].any(axis=0) & ~seen)
        seen[new] = True
        part += new.tolist()
        frontier = new.tolist()
    return np.array(sorted(part))


def _average_linkage(scores: np.ndarray, threshold: float) -> np.ndarray:
    """For each row of a square score table (diagonal −inf; modified), the row its group ended in.

    Groups merge, best mean score first, while that mean reaches ``threshold``. Found by the
    nearest-neighbour chain (Murtagh's algorithm): follow each group to the group it scores best
    with until two groups pick each other, and merge those. Why not "merge the best pair in the
    table" as the definition reads: that searches the whole table at every merge (n³ for one
    stranger's n snapshots, all in the recognition thread at an announcement); the chain searches
    one row per step (n²) and, since average linkage never raises a merged group's mean above the
    score it merged at, ends in the same groups. A group whose best is below the threshold is
    finished, and so is every group in the chain behind it (the chain's scores rise towards its end).
    """
    n = len(scores)
    size = np.ones(n)
    parent = np.arange(n)  # the group a row (or a merged group) went into
    finished = np.zeros(n, bool)
    chain: list[int] = []
    left = n
    while left > 1:
        if not chain:
            chain.append(int(np.argmin(finished)))
        a = chain[-1]
        b = int(np.argmax(scores[a]))
        if scores[a, b] < threshold:
            for c in chain:
                scores[c], scores[:, c] = -np.inf, -np.inf
            finished[chain] = True
            left -= len(chain)
            chain.clear()
        elif len(chain) > 1 and scores[a, chain[-2]] >= scores[a, b]:  # a tie goes back: no endless chain
            b = chain[-2]
            del chain[-2:]
            merged = (size[a] * scores[a] + size[b] * scores[b]) / (size[a] + size[b])
            scores[a], scores[:, a] = merged, merged
            scores[:, b] = -np.inf  # b is gone (its row is never read again)
            scores[a, a] = -np.inf
            size[a] += size[b]
            parent[b] = a
            finished[b] = True
            left -= 1
        else:
            chain.append(b)
    leader = parent.copy()
    while not np.array_equal(leader, parent[leader]):
        leader = parent[leader]
    return leader


def usable_face(meta: dict, model: str, embedding_size: int) -> bool:
    """Whether a snapshot's sidecar holds a face to group: an unknown face's embedding made by this
    model, of its size and a unit vector as the model makes them (not edited by hand)."""
    e = meta.get("embedding")
    return (meta.get("kind") == "unknown" and meta.get("model") == model and isinstance(e, list)
            and len(e) == embedding_size and abs(float(np.linalg.norm(e)) - 1) < 1e-3)


class StrangerMemory:
    """The strangers in the snapshots folder, as the daemon announces another: how many earlier
    snapshots show this one — those ``unknown list`` would put in its group — and when the first was
    taken. A Home Assistant automation or a hook can then tell a first visit from the fifth.

    Why in memory: grouping the folder afresh (every sidecar read, n² scores) at each announcement
    would hold up recognition on a Pi; here an announcement lists the folder, reads the new sidecar
    and scores one face against the others. The folder stays the truth: what left it (``unknown
    forget``, pruned by age or count) is forgotten here at the next announcement,
    so a stranger forgotten by the user is a first-time visitor again. Scores are kept for one
    direction of each pair (the head is symmetric; ``unknown list`` averages both, which differs
    only by rounding). The latest :data:`MAX_GROUPED` faces are kept, as ``unknown list`` groups.
    """

    def __init__(self, snapshots: Snapshots, model: str, embedding_size: int,
                 make_matcher: Callable[[list[str], np.ndarray], Matcher]) -> None:
        self.snapshots = snapshots
        self.model = model
        self.embedding_size = embedding_size
        self.make_matcher = make_matcher
        self.threshold = make_matcher([], np.zeros((0, embedding_size), np.float32)).decision.threshold
        self.ids: list[str] = []
        self.times = np.zeros(0)
        self.faces = np.zeros((0, embedding_size), np.float32)
        self.scores = np.zeros((0, 0))
        self.passed_over: set[str] = set()  # snapshots read once and found not to hold a usable face

    def sync(self) -> None:
        """Forget the faces whose snapshots left the folder; learn those that came, oldest first."""
        present = {sid: (path, mtime) for sid, path, mtime in self.snapshots.photos()}
        self._keep(np.array([sid in present for sid in self.ids], bool))
        self.passed_over &= present.keys()
        known = set(self.ids) | self.passed_over
        came = [self.snapshots.read(sid, *present[sid]) for sid in present
                if sid not in known and "-unknown-" in sid]
        came = sorted(came, key=lambda s: (s.meta.get("time", 0), s.id))
        usable = [s for s in came if usable_face(s.meta, self.model, self.embedding_size)]
        self.passed_over.update({s.id for s in came} - {s.id for s in usable})
        if usable:
            self._add([s.id for s in usable], [float(s.meta["time"]) for s in usable],
                      np.array([s.meta["embedding"] for s in usable], np.float32))
        if len(self.ids) > MAX_GROUPED:
            self._keep(np.arange(len(self.ids)) >= len(self.ids) - MAX_GROUPED)

    def seen_before(self, sid: str) -> tuple[int, float | None]:
        """(how many other snapshots in the folder are of the stranger in snapshot ``sid``, the time
        of the first of them): (0, None) for a first visit or a snapshot not known here."""
        if sid not in self.ids:
            return 0, None
        row = self.ids.index(sid)
        part = _component(self.scores >= self.threshold, row)
        if len(part) == 1:
            return 0, None
        leader = _average_linkage(self.scores[np.ix_(part, part)].copy(), self.threshold)
        mine = part[leader == leader[int(np.searchsorted(part, row))]]
        others = mine[mine != row]
        return len(others), (float(self.times[others].min()) if len(others) else None)

    def _add(self, ids: list[str], times: list[float], faces: np.ndarray) -> None:
        """New rows, scored against every row with one matcher (a whole folder at start, one face
        at an announcement); pairs of new rows get the mean of both directions, as ``group_faces``."""
        n, k = len(self.ids), len(ids)
        every = np.vstack([self.faces, faces])
        matcher = self.make_matcher([f"{i:08d}" for i in range(n + k)], every)
        new = np.stack([matcher.row_scores(f) for f in faces]).astype(np.float64)  # (k, n + k)
        scores = np.empty((n + k, n + k))
        scores[:n, :n] = self.scores
        scores[n:, :n], scores[:n, n:] = new[:, :n], new[:, :n].T
        scores[n:, n:] = (new[:, n:] + new[:, n:].T) / 2
        np.fill_diagonal(scores, -np.inf)
        self.ids += ids
        self.times = np.append(self.times, times)
        self.faces, self.scores = every, scores

    def _keep(self, keep: np.ndarray) -> None:
        if keep.all():
            return
        self.ids = [sid for sid, k in zip(self.ids, keep, strict=True) if k]
        self.times, self.faces = self.times[keep], self.faces[keep]
        self.scores = self.scores[np.ix_(keep, keep)]
