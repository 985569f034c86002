"""Gallery matching: vectorised Siamese head, best-of-several per person, threshold and margin."""

import numpy as np
import pytest

from edge.vision.card import Decision
from edge.vision.embedder import l2_normalize
from edge.vision.matcher import Matcher


def unit(*v):
    return l2_normalize(np.array(v, np.float32))


@pytest.fixture
def gallery():
    names = ["Bob", "Alice", "Alice"]
    emb = np.stack([unit(0, 1, 0), unit(1, 0, 0), unit(1, 1, 0)])
    return names, emb


def test_head_score_is_the_siamese_formula(gallery):
    names, emb = gallery
    w, b = np.array([-3.0, -2.0, -1.0], np.float32), 1.5
    m = Matcher(names, emb, Decision("head", 0.5, 0.0), w, b)
    probe = unit(0.9, 0.1, 0.2)
    expected = [1 / (1 + np.exp(-(np.abs(row - probe) @ w + b))) for row in m.matrix]
    assert np.allclose(m.row_scores(probe), expected, atol=1e-6)


def test_several_photos_per_person_take_the_best(gallery):
    names, emb = gallery
    m = Matcher(names, emb, Decision("cosine", 0.5, 0.0))
    probe = unit(1, 1, 0)  # identical to Alice's second photo
    scores = dict(zip(m.people, m.person_scores(probe), strict=True))
    assert scores["Alice"] == pytest.approx(1.0)
    r = m.match(probe)
    assert (r.name, r.runner_up) == ("Alice", "Bob")


def test_below_threshold_is_unknown_but_best_guess_is_kept(gallery):
    names, emb = gallery
    m = Matcher(names, emb, Decision("cosine", 0.99, 0.0))
    r = m.match(unit(1, 0.3, 0.6))
    assert r.name is None and r.best == "Alice" and r.score < 0.99


def test_margin_rejects_a_probe_between_two_people(gallery):
    names, emb = gallery
    probe = unit(1, 1.2, 0)  # close to both Alice's second photo and Bob
    loose = Matcher(names, emb, Decision("cosine", 0.5, 0.0)).match(probe)
    strict = Matcher(names, emb, Decision("cosine", 0.5, 0.5)).match(probe)
    assert loose.name == "Alice" and strict.name is None
    assert strict.score - strict.runner_up_score < 0.5


def test_empty_gallery_matches_nobody():
    m = Matcher([], np.zeros((0, 3), np.float32), Decision("cosine", 0.5, 0.0))
    assert len(m) == 0 and m.match(unit(1, 0, 0)).name is None


def test_single_person_gallery_has_no_runner_up():
    m = Matcher(["Solo"], unit(1, 0, 0)[None], Decision("cosine", 0.5, 0.1))
    r = m.match(unit(1, 0.1, 0))
    assert r.name == "Solo" and r.runner_up is None


def test_head_scoring_needs_head_weights(gallery):
    names, emb = gallery
    with pytest.raises(ValueError, match="head weights"):
        Matcher(names, emb, Decision("head", 0.5, 0.0))


def test_ten_thousand_rows_give_the_same_answer_as_a_loop():
    rng = np.random.default_rng(0)
    emb = l2_normalize(rng.normal(size=(10_000, 128)))
    names = [f"p{i % 2500}" for i in range(10_000)]
    w = -np.abs(rng.normal(size=128)).astype(np.float32)
    m = Matcher(names, emb, Decision("head", 0.0, 0.0), w, 2.0)
    probe = l2_normalize(rng.normal(size=128))
    best = {}
    for n, row in zip(names, emb, strict=True):
        s = 1 / (1 + np.exp(-(np.abs(row - probe) @ w + 2.0)))
        best[n] = max(best.get(n, 0), s)
    top = max(best, key=best.get)
    assert m.match(probe).best == top and m.match(probe).score == pytest.approx(best[top], rel=1e-5)


def test_head_scores_a_gallery_larger_than_one_block_exactly():
    """Blocked scoring (for cache) gives the same per-row and per-person scores as the formula."""
    from edge.vision.matcher import HEAD_BLOCK_ROWS

    rng = np.random.default_rng(3)
    rows = 2 * HEAD_BLOCK_ROWS + 77
    emb = l2_normalize(rng.normal(size=(rows, 16)).astype(np.float32))
    names = [f"p{i // 3:04d}" for i in range(rows)]
    w, b = rng.normal(size=16).astype(np.float32), 0.4
    m = Matcher(names, emb, Decision("head", 0.5, 0.0), w, b)
    probe = emb[1500] + 0.01
    expected = 1 / (1 + np.exp(-(np.abs(m.matrix - probe) @ w + b)))
    assert np.allclose(m.row_scores(probe), expected, atol=1e-6)
    best_per_person = [expected[[i for i, n in enumerate(m.row_names) if n == p]].max() for p in m.people]
    assert np.allclose(m.person_scores(probe), best_per_person, atol=1e-6)


@pytest.mark.parametrize("scoring", ["head", "cosine"])
def test_leave_one_out_scores_a_row_as_if_it_were_a_probe_against_the_others(gallery, scoring):
    """What the gallery's other photos make of one of its own: the same scores as that photo
    probing a gallery without it; a person left with no photo gets the lowest score there is."""
    names, emb = gallery
    w, b = np.array([-3.0, -2.0, -1.0], np.float32), 1.5
    m = Matcher(names, emb, Decision(scoring, 0.5, 0.0), w, b)
    for r in range(len(m.matrix)):
        keep = [i for i in range(len(names)) if i != m.source_rows[r]]
        without = Matcher([names[i] for i in keep], emb[keep], m.decision, w, b)
        expected = dict(zip(without.people, without.person_scores(m.matrix[r]), strict=True))
        got = dict(zip(m.people, m.leave_one_out_scores(r), strict=True))
        floor = -1.0 if scoring == "cosine" else 0.0
        assert got == pytest.approx({p: expected.get(p, floor) for p in m.people}, abs=1e-6)
        assert m.row_names[r] == names[m.source_rows[r]]
