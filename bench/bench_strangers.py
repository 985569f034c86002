"""How well ``unknown list`` tells which snapshots show the same stranger, on a month at a door.

    .venv/bin/python bench/bench_strangers.py > docs/results/strangers.json

Faces: LFW people named in ``pairs.txt`` (identities the shipped head never saw in training) with
two or more photos, their first four, embedded once by the product's own ``gallery.sync.Gallery``.
A seeded "month" is ``REPEAT`` strangers who come 2–4 times (each visit a different photo) and
``ONE_OFF`` who come once, in random order; ``edge.strangers.group_faces`` groups them with the
shipped model's matcher and decision, as ``unknown list`` does. Reported over ``MONTHS`` months:
pairwise precision (snapshots put together that show one person), pairwise recall (one person's
snapshot pairs put together), the share of repeat strangers found whole and alone, and groups that
mix people. Single linkage (any pair above the threshold joins two groups) is measured beside it:
the design choice ``edge/strangers.py`` explains.

And what the daemon's ``unknown`` events say as each visit comes (``seen_before``): every visit of a
month is saved as a real snapshot in a fresh folder and counted by ``edge.strangers.StrangerMemory``,
the daemon's own code. Reported: how often a repeat stranger's second and later visits say "seen
before" (and with the exact number of earlier visits), and how often a first visit says it wrongly.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.snapshots import Snapshots  # noqa: E402
from edge.strangers import StrangerMemory, group_faces  # noqa: E402
from edge.vision.pipeline import Recognizer  # noqa: E402
from gallery.sync import Gallery  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "lfw"
LFW = SHARED / "lfw-deepfunneled"
REPEAT, ONE_OFF, MONTHS, SEED = 10, 20, 300, 0
MAX_PHOTOS = 4


def evaluation_people() -> list[str]:
    """Names in pairs.txt (View 2): the identities kept out of the head's training."""
    names: set[str] = set()
    for line in (SHARED / "pairs.txt").read_text().splitlines()[1:]:
        f = line.split()
        names.update([f[0]] if len(f) == 3 else [f[0], f[2]] if len(f) == 4 else [])
    return sorted(names)


def embed(recognizer: Recognizer, people: list[str], dest: Path) -> tuple[list[str], np.ndarray]:
    for person in people:
        photos = sorted((LFW / person).glob("*.jpg"))
        if len(photos) >= 2:
            (dest / person).mkdir(parents=True)
            for photo in photos[:MAX_PHOTOS]:
                shutil.copyfile(photo, dest / person / photo.name)
    matcher, _ = Gallery(recognizer, dest).sync(progress=True)
    return matcher.row_names, matcher.matrix


def single_linkage(scores: np.ndarray, threshold: float) -> list[int]:
    """Connected components of the pairs at or above ``threshold`` (for comparison only)."""
    n = len(scores)
    label = list(range(n))
    for i in range(n):
        for j in range(i + 1, n):
            if scores[i, j] >= threshold:
                old, new = label[j], label[i]
                label = [new if g == old else g for g in label]
    return label


def pair_counts(truth: list[str], groups: list[int]) -> tuple[int, int, int]:
    """(pairs put together, of which one person, pairs of one person)."""
    together = same_together = same = 0
    for i in range(len(truth)):
        for j in range(i + 1, len(truth)):
            t, g = truth[i] == truth[j], groups[i] == groups[j]
            together += g
            same_together += g and t
            same += t
    return together, same_together, same


def announced(recognizer: Recognizer, emb: np.ndarray, folder: Path) -> list[int]:
    """``seen_before`` of each visit in order, as the daemon's events would say it: each saved as a
    snapshot (a blank frame: only the sidecar's embedding is read) and counted by the memory."""
    snaps = Snapshots(folder, max_count=len(emb) + 1)
    memory = StrangerMemory(snaps, "bench", emb.shape[1], recognizer.make_matcher)
    frame = np.zeros((8, 8, 3), np.uint8)
    counts = []
    for k, e in enumerate(emb):
        path = snaps.save(frame, (2, 2, 4, 4), "unknown", k, {"embedding": [float(v) for v in e], "model": "bench"})
        memory.sync()
        counts.append(memory.seen_before(path.stem)[0])
    return counts


def main() -> None:
    if not LFW.is_dir():
        sys.exit(f"{LFW} not found (../shared is only in the team's checkout)")
    recognizer = Recognizer(detector_model="full")
    with tempfile.TemporaryDirectory() as tmp:
        names, matrix = embed(recognizer, evaluation_people(), Path(tmp) / "lfw")
    rows_of: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        rows_of.setdefault(n, []).append(i)
    repeaters = sorted(p for p, rows in rows_of.items() if len(rows) >= 2)
    everyone = sorted(rows_of)
    rng = np.random.default_rng(SEED)
    totals = {"average": np.zeros(5), "single": np.zeros(5)}  # together, same_together, same, whole, mixed
    later = later_said = later_exact = first = first_said = 0  # the events' seen_before, visit by visit
    work = Path(tempfile.mkdtemp())  # a folder of snapshots per month, removed at the end
    for month in range(MONTHS):
        repeat = list(rng.choice(repeaters, REPEAT, replace=False))
        others = [p for p in everyone if p not in repeat]
        once = list(rng.choice(others, ONE_OFF, replace=False))
        visits = [(p, r) for p in repeat
                  for r in rng.choice(rows_of[p], min(len(rows_of[p]), int(rng.integers(2, 5))), replace=False)]
        visits += [(p, int(rng.choice(rows_of[p]))) for p in once]
        order = rng.permutation(len(visits))
        truth = [visits[k][0] for k in order]
        emb = matrix[[visits[k][1] for k in order]]
        grouped = {"average": group_faces(emb, recognizer.make_matcher)}
        for k, count in enumerate(announced(recognizer, emb, work / f"month{month}")):
            earlier = truth[:k].count(truth[k])
            if earlier:
                later, later_said, later_exact = later + 1, later_said + (count > 0), later_exact + (count == earlier)
            else:
                first, first_said = first + 1, first_said + (count > 0)
        m = recognizer.make_matcher([f"{i:08d}" for i in range(len(emb))], emb)
        scores = np.stack([m.row_scores(e) for e in m.matrix])
        grouped["single"] = single_linkage(scores, recognizer.decision.threshold)
        for kind, groups in grouped.items():
            together, same_together, same = pair_counts(truth, groups)
            members: dict[int, set[str]] = {}
            for t, g in zip(truth, groups, strict=True):
                members.setdefault(g, set()).add(t)
            whole = sum(1 for p in repeat
                        if len({g for t, g in zip(truth, groups, strict=True) if t == p}) == 1
                        and members[groups[truth.index(p)]] == {p})
            mixed = sum(len(s) > 1 for s in members.values())
            totals[kind] += (together, same_together, same, whole, mixed)
    out = {"threshold": recognizer.decision.threshold, "scoring": recognizer.decision.scoring,
           "people": len(everyone), "photos": len(names), "months": MONTHS,
           "month": f"{REPEAT} strangers coming 2-4 times, {ONE_OFF} coming once", "seed": SEED}
    for kind, (together, same_together, same, whole, mixed) in totals.items():
        out[f"{kind} linkage"] = {
            "pairwise_precision": round(same_together / max(together, 1), 4),
            "pairwise_recall": round(same_together / max(same, 1), 4),
            "repeat_strangers_found_whole_and_alone": round(whole / (MONTHS * REPEAT), 4),
            "groups_mixing_people_per_month": round(mixed / MONTHS, 3)}
    shutil.rmtree(work)
    out["unknown events (seen_before)"] = {
        "later_visits_of_repeat_strangers": later,
        "said_seen_before": round(later_said / max(later, 1), 4),
        "with_the_exact_number_of_earlier_visits": round(later_exact / max(later, 1), 4),
        "first_visits": first,
        "first_visits_said_seen_before": round(first_said / max(first, 1), 4)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
