"""Grouping snapshots of unknown faces by who they show (edge.strangers): average linkage on the
device's own score, stopped at its decision threshold."""

from __future__ import annotations

import time

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


def test_the_groups_are_textbook_average_linkage_cut_at_the_threshold():
    """The grouping agrees with SciPy's average-linkage hierarchy (an independent implementation)
    cut where the mean score falls below the decision threshold, on 300 random mixtures of people,
    some with a single large group: the case a neighbour passing the door all day makes."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    rng = np.random.default_rng(11)
    for case in range(300):
        n, people = int(rng.integers(2, 60)), int(rng.integers(1, 6))
        centres = rng.normal(size=(people, 16))
        emb = centres[rng.integers(0, people, n)] + rng.normal(scale=rng.uniform(0.1, 1.5), size=(n, 16))
        emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
        threshold = float(rng.uniform(-0.2, 0.9))
        cosine = emb.astype(np.float64) @ emb.T.astype(np.float64)
        tree = linkage(squareform(1 - cosine, checks=False), "average")
        numbers: dict[int, int] = {}
        expected = [numbers.setdefault(int(g), len(numbers) + 1) for g in fcluster(tree, 1 - threshold, "distance")]
        assert group_faces(emb, cosine_matcher(threshold)) == expected, f"case {case}: n={n}, threshold={threshold}"


def test_the_daemons_memory_of_strangers_counts_the_group_unknown_list_shows_and_follows_the_folder(tmp_path):
    """`StrangerMemory` (what the daemon's `unknown` events count) over a real snapshots folder: for
    every snapshot, the others in its group are exactly those `group_faces` puts with it; a snapshot
    forgotten while the daemon runs, a hand-edited one, one from another model or a recognised face
    are not counted; and a chain of look-alikes is not joined (average linkage, as listed)."""
    from edge.snapshots import Snapshots
    from edge.strangers import StrangerMemory

    rng = np.random.default_rng(5)
    centres = [unit(rng.normal(size=64)) for _ in range(3)]
    order = [0, 1, 0, 2, 0, 1]
    faces = [unit(centres[c] + rng.normal(scale=0.08, size=64)) for c in order]
    snaps = Snapshots(tmp_path / "snapshots")
    frame = np.full((120, 160, 3), 90, np.uint8)
    ids = []
    for i, face in enumerate(faces):
        meta = {"embedding": [float(v) for v in face], "model": "m1", "name": None}
        ids.append(snaps.save(frame, (40, 30, 50, 50), "unknown", i + 1, meta).stem)
        time.sleep(0.002)  # a snapshot's id is its time to the millisecond
    memory = StrangerMemory(snaps, "m1", 64, cosine_matcher(0.6))
    memory.sync()
    groups = group_faces(np.stack(faces), cosine_matcher(0.6))
    times = [snaps.read(sid, *next((p, m) for s, p, m in snaps.photos() if s == sid)).meta["time"] for sid in ids]
    for i, sid in enumerate(ids):
        mates = [j for j in range(len(ids)) if groups[j] == groups[i] and j != i]
        assert memory.seen_before(sid) == (len(mates), min(times[j] for j in mates) if mates else None)
    assert memory.seen_before(ids[4]) == (2, times[0])

    snaps.forget(ids[0])  # `unknown forget` while the daemon runs
    other = snaps.save(frame, (40, 30, 50, 50), "unknown", 9, {"embedding": [float(v) for v in faces[0]],
                                                                 "model": "another model"})
    edited = snaps.save(frame, (40, 30, 50, 50), "unknown", 11, {"embedding": [2 * float(v) for v in faces[0]],
                                                                  "model": "m1"})
    recognised = snaps.save(frame, (40, 30, 50, 50), "recognized", 10, {"name": "Ann"})
    memory.sync()
    assert memory.seen_before(ids[4]) == (1, times[2])
    assert [memory.seen_before(s.stem) for s in (other, edited, recognised)] == [(0, None)] * 3

    a, c = unit([1, 0, 0] + [0] * 61), unit([0, 1, 0] + [0] * 61)
    b = unit([1, 1, 0] + [0] * 61)  # cos(a, b) = cos(b, c) = 0.707, cos(a, c) = 0
    chain = Snapshots(tmp_path / "chain")
    chain_ids = [chain.save(frame, (40, 30, 50, 50), "unknown", i, {"embedding": [float(x) for x in v],
                                                                    "model": "m1"}).stem
                 for i, v in enumerate((a, b, c))]
    memory = StrangerMemory(chain, "m1", 64, cosine_matcher(0.7))
    memory.sync()
    assert [memory.seen_before(sid)[0] for sid in chain_ids] == [1, 1, 0]  # a with b; c alone, as listed
    assert group_faces(np.stack([a, b, c]), cosine_matcher(0.7)) == [1, 1, 2]
