"""Match a probe embedding against the whole gallery at once.

The gallery is one ``(rows, D)`` matrix of unit-length embeddings, rows grouped by person. Scores:

* ``head`` — the Siamese network's own head, ``sigmoid(w · |a − b| + b)``, vectorised over rows;
* ``cosine`` — ``a · b``.

Several photos per person are aggregated by the best score. A name is accepted only when the best
person's score reaches the threshold **and** beats the best other person by the margin; otherwise
the probe is unknown. The matcher is immutable: the gallery swaps in a new one atomically.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.vision.card import Decision, ModelCard
from edge.vision.scores import sigmoid

HEAD_BLOCK_ROWS = 1024
"""Rows scored per block by the Siamese head (1024 × 128 float32 = 512 KB, fits in L2)."""


@dataclass(frozen=True)
class Match:
    """Result for one probe. ``name`` is ``None`` when unknown; ``best`` is the top person anyway."""

    name: str | None
    score: float
    best: str | None
    runner_up: str | None
    runner_up_score: float


class Matcher:
    """Immutable gallery matrix + decision rule."""

    def __init__(self, names: list[str], embeddings: np.ndarray, decision: Decision,
                 head_weights: np.ndarray | None = None, head_bias: float = 0.0) -> None:
        order = np.argsort(np.asarray(names, dtype=object), kind="stable") if names else np.zeros(0, int)
        self.row_names = [names[i] for i in order]
        self.source_rows = np.asarray(order, np.intp)  # row r of the matrix is row source_rows[r] of the input
        dim = embeddings.shape[1] if embeddings.ndim == 2 else (len(head_weights) if head_weights is not None else 0)
        self.matrix = np.ascontiguousarray(embeddings[order], dtype=np.float32).reshape(len(order), dim)
        self.people, starts = np.unique(np.asarray(self.row_names, dtype=object), return_index=True) \
            if self.row_names else (np.array([], dtype=object), np.array([], int))
        self.people = [str(p) for p in self.people]
        self._starts = starts.astype(np.intp)
        self.decision = decision
        if decision.scoring == "head":
            if head_weights is None:
                raise ValueError("head scoring needs the model card's head weights")
            self.w = np.asarray(head_weights, np.float32)
            self.b = np.float32(head_bias)
        elif decision.scoring != "cosine":
            raise ValueError(f"scoring must be 'head' or 'cosine', got {decision.scoring!r}")

    @classmethod
    def for_card(cls, card: ModelCard, names: list[str], embeddings: np.ndarray,
                 decision: Decision | None = None) -> Matcher:
        """A matcher over ``embeddings`` with the model card's head and ``decision`` (the card's own
        by default)."""
        return cls(names, embeddings, decision or card.decision, np.asarray(card.head_weights, np.float32),
                   card.head_bias)

    def __len__(self) -> int:
        return len(self.people)

    def row_scores(self, probe: np.ndarray) -> np.ndarray:
        """Score of ``probe`` against every gallery row."""
        return self._squash(self._row_values(np.asarray(probe, np.float32)))

    def _row_values(self, probe: np.ndarray) -> np.ndarray:
        """Per-row values that order like the scores: cosine itself, or the head's logit."""
        return self.matrix @ probe if self.decision.scoring == "cosine" else self._head_logits(probe)

    def _squash(self, values: np.ndarray) -> np.ndarray:
        """Values from :meth:`_row_values` → scores (the head's sigmoid is monotonic, so it can be
        applied after taking maxima)."""
        return values if self.decision.scoring == "cosine" else sigmoid(values)

    def _head_logits(self, probe: np.ndarray) -> np.ndarray:
        """``w · |row − probe| + b`` for every row, a cache-sized block of rows at a time.

        Why blocks: the whole ``|G − p|`` temporary for 10,000 rows is 5 MB, so numpy would
        allocate it fresh (page faults) and stream it through memory three times; one 512 KB
        block stays in cache and is reused (the gain: README's performance table).
        """
        rows = len(self.matrix)
        z = np.empty(rows, np.float32)
        block = np.empty((min(rows, HEAD_BLOCK_ROWS), self.matrix.shape[1]), np.float32)
        for start in range(0, rows, HEAD_BLOCK_ROWS):
            stop = min(start + HEAD_BLOCK_ROWS, rows)
            diff = block[:stop - start]
            np.subtract(self.matrix[start:stop], probe, out=diff)
            np.abs(diff, out=diff)
            np.dot(diff, self.w, out=z[start:stop])
        z += self.b
        return z

    def person_scores(self, probe: np.ndarray) -> np.ndarray:
        """Best score per person (aligned with :attr:`people`)."""
        if not len(self.people):
            return np.zeros(0, np.float32)
        best = np.maximum.reduceat(self._row_values(np.asarray(probe, np.float32)), self._starts)
        return self._squash(best)  # only each person's best value is squashed

    def leave_one_out_scores(self, row: int) -> np.ndarray:
        """Best score per person for the gallery's own row ``row``, that row left out: what the other
        photos make of it (a person with no other photo gets the lowest score there is)."""
        values = self._row_values(self.matrix[row])
        values[row] = -np.inf
        scores = self._squash(np.maximum.reduceat(values, self._starts))
        return np.maximum(scores, -1.0) if self.decision.scoring == "cosine" else scores

    def match(self, probe: np.ndarray) -> Match:
        """Decide who ``probe`` is, or that it is unknown."""
        return self.decide(self.person_scores(probe))

    def decide(self, scores: np.ndarray) -> Match:
        """The decision rule on per-person scores (aligned with :attr:`people`)."""
        if not len(scores):
            return Match(None, 0.0, None, None, 0.0)
        if len(scores) == 1:
            best, second = 0, None
        else:
            top2 = np.argpartition(-scores, 1)[:2]
            best, second = (top2[0], top2[1]) if scores[top2[0]] >= scores[top2[1]] else (top2[1], top2[0])
        s1 = float(scores[best])
        s2 = float(scores[second]) if second is not None else (-1.0 if self.decision.scoring == "cosine" else 0.0)
        accepted = s1 >= self.decision.threshold and s1 - s2 >= self.decision.margin
        return Match(self.people[best] if accepted else None, s1, self.people[best],
                     self.people[second] if second is not None else None, s2)
