"""Workstation commands (``evaluate``, ``train``) given the wrong files or too little data: one line
naming the file (and line) or the folder and what it lacks, never a traceback; a crafted pairs list
cannot make an evaluation read files outside its images folder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.test_hostile_input import se


@pytest.mark.parametrize("content, says", [
    (b"root:x:0:0:root:/root:/bin/bash\n", "not an LFW pairs file (the first line must be 'N' or 'FOLDS N'"),
    (b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00", "not an LFW pairs file (not text)"),
    (b"", "not an LFW pairs file (the first line must be"),
    (b"1\n../../etc 1 2\nA 1 B 2\n", "line 2 is not 'name i j' or 'name1 i name2 j'"),  # leaves the images folder
    (b"1\nA 1 2\nB 1 /etc 2\n", "line 3 is not 'name i j' or 'name1 i name2 j'"),
    (b"1\nA 1 \xc2\xb2\nB 1 C 2\n", "line 2 is not"),  # a superscript two is a digit to str.isdigit, not to int()
    (b"10 300\nA 1 2\n", "expected 6000 pairs, found 1"),
])
def test_an_evaluation_given_a_file_that_is_no_pairs_list_names_it(tmp_path, content, says):
    """`evaluate lfw --pairs` with the wrong file, a truncated one, or one whose names would reach
    outside the images folder: one line naming the file (and line), no traceback, nothing read."""
    pairs = tmp_path / "pairs.txt"
    pairs.write_bytes(content)
    r = se("evaluate", "lfw", "--images", str(tmp_path / "images"), "--pairs", str(pairs), timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert f"error: {pairs}: {says}" in r.stderr


@pytest.mark.parametrize("name, content, says", [
    ("passwd", b"root:x:0:0\n", "not a model this command reads (a .tflite with its card, or a Siamese .keras)"),
    ("noise.keras", bytes(range(256)) * 8, "cannot be loaded as a Siamese .keras model"),
    ("missing.keras", None, "no such model file"),
])
def test_an_evaluation_given_a_file_that_is_no_model_names_it(tmp_path, name, content, says):
    model = tmp_path / name
    if content is not None:
        model.write_bytes(content)
    r = se("evaluate", "lfw", "--model", str(model), timeout=300)
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert f"error: {model}: {says}" in r.stderr


def test_open_set_calibration_on_a_folder_with_too_few_people_says_so(tmp_path):
    (tmp_path / "people" / "Only One").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "people" / "Only One" / "1.jpg"), np.full((8, 8, 3), 128, np.uint8))
    r = se("evaluate", "openset", "--images", str(tmp_path / "people"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert (f"error: {tmp_path / 'people'}: open-set calibration needs at least two people with more than 3 "
            f"photos each, and at least one more person as a stranger (found 0 and 1)") in r.stderr
    r = se("evaluate", "openset", "--images", str(tmp_path / "missing"))
    assert r.returncode == 1 and f"error: {tmp_path / 'missing'}: no such folder" in r.stderr


def test_training_on_a_folder_with_too_few_people_says_so(tmp_path):
    data = tmp_path / "people"
    for person, n in (("A", 2), ("B", 1)):
        (data / person).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(data / person / f"{i}.jpg"), np.full((8, 8, 3), 128, np.uint8))
    r = se("train", "--mode", "scratch", "--branch", "koch", "--data", str(data), "--out", str(tmp_path / "m.keras"),
           "--epochs", "1", "--steps", "1", timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert (f"error: {data}: training needs at least three people, two of them with two or more photos "
            f"(found 2 people, 1 with two or more)") in r.stderr
    assert not (tmp_path / "m.keras").exists()
