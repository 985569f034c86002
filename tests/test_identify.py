"""``siamese-edge identify``: the JSON contract, annotated output, real names, and bad inputs."""

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.cli import main
from tests.conftest import REPO

KEYS = {"image", "box", "det_score", "name", "score", "runner_up"}


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def gallery(faces, tmp_path):
    """Barack Obama and Joe Biden, one photo each (neither is a photo identify is then given)."""
    g = tmp_path / "gallery"
    for person, photo in (("Barack Obama", faces.obama[0]), ("Joe Biden", faces.biden)):
        (g / person).mkdir(parents=True)
        shutil.copy(photo, g / person)
    return g


def test_json_contract_over_group_photos(faces, gallery, tmp_path, capsys):
    import cv2
    import numpy as np

    second = tmp_path / "two.jpg"  # Obama (another photo) beside a stranger
    cv2.imwrite(str(second), np.hstack([cv2.imread(str(faces.obama[2])), cv2.imread(str(faces.collins))]))
    samples = [str(faces.group), str(second)]
    out = tmp_path / "out"
    rc = main(["identify", "--gallery", str(gallery), "--out", str(out), "--json", *samples])
    rows = _lines(capsys.readouterr().out)
    assert rc == 0
    assert rows and all(KEYS <= set(r) for r in rows)
    assert {r["image"] for r in rows} == set(samples)
    for r in rows:
        assert len(r["box"]) == 4 and r["box"][2] > 0 and 0 < r["det_score"] <= 1
    # left to right: Obama, Biden, Hopper (a stranger) in the first; Obama, Collins in the second
    by_image = {s: [r["name"] for r in sorted((r for r in rows if r["image"] == s), key=lambda r: r["box"][0])]
                for s in samples}
    assert by_image == {samples[0]: ["Barack Obama", "Joe Biden", None], samples[1]: ["Barack Obama", None]}
    assert sorted(p.name for p in out.iterdir()) == ["group_annotated.jpg", "two_annotated.jpg"]


def test_names_enrolled_people_in_photos_it_has_not_seen(faces, gallery, capsys):
    """Other photos of Obama, as headshots and as the full-size portraits, and two strangers."""
    probes = [faces.obama[1], faces.obama[2], faces.original(faces.obama[1]), faces.original(faces.obama[2]),
              faces.hopper, faces.collins, faces.original(faces.hopper), faces.original(faces.collins)]
    rc = main(["identify", "--gallery", str(gallery), "--json", *map(str, probes)])
    rows = _lines(capsys.readouterr().out)
    assert rc == 0
    names = {r["image"]: r["name"] for r in rows}
    assert [names[str(p)] for p in probes] == ["Barack Obama"] * 4 + [None] * 4, rows


def test_stranger_is_unknown(faces, tmp_path, capsys):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    shutil.copy(faces.obama[0], gallery / "Barack Obama.jpg")  # the flat layout: one photo, named
    main(["identify", "--gallery", str(gallery), "--json", str(faces.hopper)])
    (row,) = _lines(capsys.readouterr().out)
    assert row["name"] is None and row["box"] is not None


def test_bad_files_are_reported_and_the_rest_processed(faces, gallery, tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(faces.obama[1].read_bytes()[:500])
    rc = main(["identify", "--gallery", str(gallery), "--json",
               str(empty), str(text), str(faces.obama[2]), str(truncated), str(tmp_path / "missing.jpg")])
    captured = capsys.readouterr()
    rows = _lines(captured.out)
    assert rc == 1
    assert [r["name"] for r in rows] == ["Barack Obama"]
    for name in ("empty.jpg: empty file", "notes.png: not a supported image", "truncated.jpg",
                 "missing.jpg: cannot be read"):
        assert name in captured.err
    assert "Traceback" not in captured.err


def test_image_without_faces_prints_one_null_box(faces, gallery, capsys):
    assert main(["identify", "--gallery", str(gallery), "--json", str(faces.no_face)]) == 0
    (row,) = _lines(capsys.readouterr().out)
    assert KEYS <= set(row) and row["box"] is None and row["name"] is None
    assert row["reason"] == "no face found"


def test_missing_model_names_the_fix(faces, gallery, tmp_path, capsys):
    rc = main(["identify", "--gallery", str(gallery), "--model", str(tmp_path / "nope.tflite"), str(faces.obama[1])])
    assert rc == 3
    assert "nope.tflite" in capsys.readouterr().err


def test_human_readable_output(faces, gallery, capsys, tmp_path):
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160, 3), 30, np.uint8))
    assert main(["identify", "--gallery", str(gallery), str(faces.obama[1]), str(faces.no_face), str(blank)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{faces.obama[1]}: Barack Obama  score 0.9") and " at x=" in out[0]
    assert out[1] == f"{faces.no_face}: no face found"
    assert out[2] == f"{blank}: no face found: the picture is blank (one flat colour)"


def test_annotated_pictures_draw_names_in_their_own_letters(faces, tmp_path):
    """`identify --out`: a person enrolled as "Zoë Ünal" is labelled with her diaereses (the font
    fontconfig finds for her letters). OpenCV's ASCII font would draw "Zoe Unal" for her, pixel for
    pixel the label of a person enrolled as "Zoe Unal"; here the two pictures differ, and only in
    the label above her face — the face, its box and the rest of the photo are the same pixels."""
    from edge.annotate import font_file_for

    if font_file_for("Zoë Ünal") is None:
        pytest.skip("no fontconfig or no font with these letters on this machine (install.sh installs DejaVu)")
    pictures, boxes = {}, {}
    for name in ("Zoë Ünal", "Zoe Unal"):
        folder = tmp_path / name / "gallery" / name
        folder.mkdir(parents=True)
        shutil.copy(faces.obama[0], folder)
        out = tmp_path / name / "annotated"
        r = subprocess.run([sys.executable, "-m", "edge.cli", "identify", "--json", "--gallery", str(folder.parent),
                            "--out", str(out), str(faces.obama[1])], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
        assert r.returncode == 0, r.stderr[-1500:]
        (row,) = [json.loads(line) for line in r.stdout.splitlines()]
        assert row["name"] == name
        boxes[name] = [round(v) for v in row["box"]]
        (picture,) = out.iterdir()  # one photo in, one annotated picture out
        pictures[name] = cv2.imdecode(np.frombuffer(picture.read_bytes(), np.uint8), cv2.IMREAD_COLOR).astype(int)
    assert boxes["Zoë Ünal"] == boxes["Zoe Unal"]
    x, y, w, h = boxes["Zoe Unal"]
    differ = np.abs(pictures["Zoë Ünal"] - pictures["Zoe Unal"]).max(axis=2) > 40
    rows, cols = np.nonzero(differ)
    assert rows.size > 4  # the dots over ë and Ü …
    assert rows.max() < y and cols.min() >= x - 2  # … in the label band above the face, nowhere else


def test_a_name_that_needs_a_text_shaper_is_not_drawn_without_one(monkeypatch):
    """Right-to-left and Indic names need a shaper (libraqm): without one Pillow would draw "محمد"
    reversed and unjoined — a wrong name — so the label falls back to the ASCII font's marks."""
    from edge import annotate as drawing

    assert [drawing.needs_shaping(t) for t in ("Zoë", "Ёжиков", "王伟", "محمد", "דוד", "देवी")] == \
        [False, False, False, True, True, True]
    if drawing.font_file_for("محمد") is None:
        pytest.skip("no font with Arabic letters on this machine")
    def label(monkeypatch_to: dict) -> np.ndarray:
        with monkeypatch.context() as m:
            for name, value in monkeypatch_to.items():
                m.setattr(drawing, name, value)
            return drawing._draw_labels(np.full((120, 200, 3), 90, np.uint8),
                                        [drawing.Label("محمد", 10, 60, drawing.KNOWN)], 14)

    in_ascii_font = label({"font_file_for": lambda text: None})
    assert np.array_equal(label({"_can_shape": lambda: False}), in_ascii_font)
    if drawing._can_shape():
        assert not np.array_equal(label({}), in_ascii_font)  # with a shaper: drawn in the font


def test_annotation_labels_without_a_font_keep_latin_names_readable():
    """The fallback (no font with the name's letters): OpenCV's ASCII font, accents dropped, not letters."""
    from edge.annotate import drawable

    assert drawable("José Müller") == "Jose Muller"
    assert drawable("Łukasz Żółw") == "Lukasz Zolw"
    assert drawable("Søren Kierkegaard") == "Soren Kierkegaard"
    assert drawable("Zoë") == "Zoe"
    assert drawable("王伟") == "??"  # no Latin form: still one mark per character, never a crash


def test_photos_that_are_tight_face_crops_are_found_in_their_own_coordinates(faces, gallery, detector, tmp_path,
                                                                             capsys):
    """A photo that is itself a face crop (the face fills the picture), as the seed's eval/ photos
    are: found (a second look inside a border) and boxed in the small photo's own coordinates."""
    import cv2

    photos, missed_plainly = [], 0
    for src in (*faces.obama, faces.biden, faces.hopper, faces.collins):
        crop = cv2.resize(cv2.imread(str(src))[88:162, 88:162], (100, 100), interpolation=cv2.INTER_AREA)
        photos.append(str(tmp_path / f"tight_{src.stem}.jpg"))
        cv2.imwrite(photos[-1], crop)
        missed_plainly += not detector.detect(cv2.imread(photos[-1]))
    assert missed_plainly >= 2  # these crops need the second look
    rc = main(["identify", "--json", "--gallery", str(gallery), *photos])
    rows = _lines(capsys.readouterr().out)
    assert rc == 0 and {r["image"] for r in rows} == set(photos)
    assert all(r["box"] is not None for r in rows), [r["image"] for r in rows if r["box"] is None]
    for r in rows:  # the box is in the 100×100 photo's coordinates: it covers most of the picture
        x, y, w, h = r["box"]
        assert -50 < x < 60 and -50 < y < 60 and 40 < w < 200, r
