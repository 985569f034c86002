"""Similarity alignment: exact on exact data, and templates land faces where dlib's chips put them."""

import numpy as np
import pytest

from edge.vision.alignment import make_template, similarity_transform, warp


def _apply(m, pts):
    return pts @ m[:, :2].T + m[:, 2]


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 200, (5, 2))
    angle, scale, t = np.deg2rad(17), 0.73, np.array([12.0, -40.0])
    r = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ r.T + t
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], r, atol=1e-9) and np.allclose(m[:, 2], t, atol=1e-9)


def test_similarity_never_reflects():
    src = np.array([[0, 0], [10, 0], [0, 10]], float)
    mirrored = src * [-1, 1]
    m = similarity_transform(src, mirrored)
    assert np.linalg.det(m[:, :2]) >= 0


def test_weights_pull_the_fit_toward_heavy_points():
    src = np.array([[0, 0], [10, 0], [5, 10]], float)
    dst = src.copy()
    dst[2] += [0, 6]  # one point disagrees
    light = similarity_transform(src, dst, np.array([1, 1, 0.01]))
    heavy = similarity_transform(src, dst, np.array([1, 1, 100]))
    assert np.abs(_apply(light, src[:2]) - dst[:2]).max() < np.abs(_apply(heavy, src[:2]) - dst[:2]).max()


def test_dlib5_template_matches_dlib_chip_coordinates():
    t = make_template("dlib5", 150, 0.25)
    # dlib: (padding + p) / (2·padding + 1) · size; the left-eye outer corner at x = 0.8596 → 121.1 px
    assert t.points[0] == pytest.approx([(0.25 + 0.8595674595992) / 1.5 * 150, (0.25 + 0.2134981538014) / 1.5 * 150])
    assert t.needs_facemesh


def test_blazeface4_template_reproduces_the_measured_chip_positions():
    t = make_template("blazeface4", 150, 0.25)
    assert t.points[0] == pytest.approx([46.05, 46.65])
    assert t.points[3] == pytest.approx([73.02, 107.12])


def test_warp_downscales_without_aliasing_artifacts():
    # a fine checkerboard shrunk 8×: an area filter gives mid-grey, naive sampling gives black/white
    board = ((np.indices((800, 800)).sum(0) % 2) * 255).astype(np.uint8)
    img = np.dstack([board] * 3)
    m = np.array([[1 / 8, 0, 0], [0, 1 / 8, 0]])
    crop = warp(img, m, 100)
    assert abs(float(crop[10:90, 10:90].mean()) - 127.5) < 10
    assert crop[10:90, 10:90].std() < 20
