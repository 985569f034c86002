"""Photos the gallery itself would put a wrong name on, or could not tell from somebody else's.

Each enrolled photo is matched, with the device's own decision rule (threshold and margin from the
model card or ``recognition:``), against every other photo in the gallery — what the camera would
answer if that very face walked in. Two things are worth a warning, because the user can act on
them before the device greets anyone wrongly:

* the other photos **name it as somebody else**: the wrong file in a folder, or two people the
  model takes for one (a parent and grown child, twins);
* somebody else's photos score **at or above the threshold** and the rule cannot choose between
  them and the person's own photos (the margin): that person will be "unknown" more often than not.

Cost: one score per pair of photos, every sync; the gallery skips the check above :data:`MAX_ROWS`
photos (a household has tens).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from edge.vision.matcher import Matcher

MAX_ROWS = 2000


@dataclass(frozen=True)
class Lookalike:
    """What the gallery's other photos make of one photo (``row`` indexes the matcher's input)."""

    row: int
    person: str
    other: str
    other_score: float
    own_score: float | None  # None: the person has no other photo to compare with
    named_other: bool  # the decision names ``other``; otherwise it cannot choose (margin)

    def warning(self) -> str:
        own = (f"{self.own_score:.2f} for {self.person}'s other photos" if self.own_score is not None
               else f"{self.person} has no other photo")
        if self.named_other:
            return (f"the gallery would take this face for {self.other} (score {self.other_score:.2f}; {own}): "
                    f"if it is not {self.person}, move it; if it is, add clearer photos of both")
        return (f"too like {self.other}'s photos to tell apart (score {self.other_score:.2f}; {own}): "
                f"{self.person} may be announced as unknown")


def lookalikes(matcher: Matcher) -> list[Lookalike]:
    """Every enrolled photo that the other photos name as somebody else, or cannot tell from
    somebody else's at the threshold (time grows with the square of the photos)."""
    rows = len(matcher.matrix)
    if len(matcher.people) < 2:
        return []
    index = {person: k for k, person in enumerate(matcher.people)}
    photos = Counter(matcher.row_names)
    found = []
    for r in range(rows):
        person = matcher.row_names[r]
        scores = matcher.leave_one_out_scores(r)
        m = matcher.decide(scores)
        if m.name == person:
            continue
        other = m.best if m.best != person else m.runner_up
        if other is None:
            continue
        other_score = float(scores[index[other]])
        if other_score < matcher.decision.threshold:
            continue
        own = float(scores[index[person]]) if photos[person] > 1 else None
        found.append(Lookalike(int(matcher.source_rows[r]), person, other, other_score, own, m.name == other))
    return found
