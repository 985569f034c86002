"""``siamese-edge identify``: the JSON contract, annotated output, real names, and bad inputs."""

import json
import shutil

import pytest

from edge.cli import main
from tests.conftest import LFW_IMAGES

KEYS = {"image", "box", "det_score", "name", "score", "runner_up"}


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_contract_over_seed_group_photos(seed_dir, tmp_path, capsys):
    samples = sorted(str(p) for p in (seed_dir / "sample").glob("*.jpg"))
    rc = main(["identify", "--gallery", str(seed_dir / "database"), "--out", str(tmp_path), "--json", *samples])
    rows = _lines(capsys.readouterr().out)
    assert rc == 0
    assert rows and all(KEYS <= set(r) for r in rows)
    assert {r["image"] for r in rows} == set(samples)
    for r in rows:
        if r["box"] is not None:
            assert len(r["box"]) == 4 and r["box"][2] > 0 and 0 < r["det_score"] <= 1
            assert r["name"] is None or isinstance(r["name"], str)
    # every sample is a group photo: several faces each
    assert all(sum(r["image"] == s for r in rows) >= 2 for s in samples)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{p.rsplit('/', 1)[1][:-4]}_annotated.jpg" for p in samples)


def test_names_enrolled_people_in_lfw_photos(shared_lfw, tmp_path, capsys):
    people = ["George_W_Bush", "Colin_Powell", "Tony_Blair", "Serena_Williams", "Gerhard_Schroeder"]
    gallery = tmp_path / "gallery"
    probes = []
    for p in people:
        photos = sorted((shared_lfw / p).glob("*.jpg"))
        (gallery / p.replace("_", " ")).mkdir(parents=True)
        for photo in photos[:3]:  # three photos per person, as the README advises
            shutil.copy(photo, gallery / p.replace("_", " ") / photo.name)
        probes += [str(photos[5]), str(photos[9])]
    rc = main(["identify", "--gallery", str(gallery), "--json", *probes])
    rows = _lines(capsys.readouterr().out)
    assert rc == 0
    # the subject of an LFW photo is the face nearest the centre
    central = {}
    for r in rows:
        x, y, w, h = r["box"]
        d = abs(x + w / 2 - 125) + abs(y + h / 2 - 125)
        if r["image"] not in central or d < central[r["image"]][0]:
            central[r["image"]] = (d, r["name"])
    truth = {p: p.split("/")[-2].replace("_", " ") for p in probes}
    correct = sum(central[p][1] == truth[p] for p in probes)
    wrong = [p for p in probes if central[p][1] not in (None, truth[p])]
    assert correct >= 9 and not wrong, central


def test_stranger_is_unknown(shared_lfw, tmp_path, capsys):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    shutil.copy(sorted((shared_lfw / "Colin_Powell").glob("*.jpg"))[0], gallery / "Colin Powell.jpg")
    stranger = sorted((shared_lfw / "Serena_Williams").glob("*.jpg"))[0]
    main(["identify", "--gallery", str(gallery), "--json", str(stranger)])
    (row,) = _lines(capsys.readouterr().out)
    assert row["name"] is None and row["box"] is not None


def test_bad_files_are_reported_and_the_rest_processed(seed_dir, tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((seed_dir / "sample" / "got.jpg").read_bytes()[:500])
    good = str(seed_dir / "database" / "Emilia Clarke.jpg")
    rc = main(["identify", "--gallery", str(seed_dir / "database"), "--json",
               str(empty), str(text), good, str(truncated), str(tmp_path / "missing.jpg")])
    captured = capsys.readouterr()
    rows = _lines(captured.out)
    assert rc == 1
    assert [r["name"] for r in rows] == ["Emilia Clarke"]
    for name in ("empty.jpg: empty file", "notes.png: not a supported image", "truncated.jpg",
                 "missing.jpg: cannot be read"):
        assert name in captured.err
    assert "Traceback" not in captured.err


def test_image_without_faces_prints_one_null_box(groups_dir, seed_dir, capsys):
    blank = groups_dir / "dogs.jpg"
    main(["identify", "--gallery", str(seed_dir / "database"), "--json", str(blank)])
    rows = _lines(capsys.readouterr().out)
    assert rows and all(KEYS <= set(r) for r in rows)
    if len(rows) == 1 and rows[0]["box"] is None:
        assert rows[0]["name"] is None


def test_missing_model_names_the_fix(tmp_path, seed_dir, capsys):
    rc = main(["identify", "--gallery", str(seed_dir / "database"), "--model", str(tmp_path / "nope.tflite"),
               str(seed_dir / "myself.jpg")])
    assert rc == 3
    assert "nope.tflite" in capsys.readouterr().err


@pytest.mark.skipif(not LFW_IMAGES.exists(), reason="needs ../shared")
def test_human_readable_output(seed_dir, capsys):
    main(["identify", "--gallery", str(seed_dir / "database"), str(seed_dir / "database" / "Maisie Williams.jpg")])
    assert "Maisie Williams" in capsys.readouterr().out


def test_annotation_labels_keep_latin_names_readable():
    """OpenCV's fonts draw only ASCII: accented names lose their accents, not their letters."""
    from edge.annotate import drawable

    assert drawable("José Müller") == "Jose Muller"
    assert drawable("Łukasz Żółw") == "Lukasz Zolw"
    assert drawable("Søren Kierkegaard") == "Soren Kierkegaard"
    assert drawable("Zoë") == "Zoe"
    assert drawable("王伟") == "??"  # no Latin form: still one mark per character, never a crash


# tight 100×100 face crops from the seed's eval/ that the detector missed until small photos got a
# second look inside a border (the three still missed: a blank grey square and two half faces)
TIGHT_CROPS = ["Abhishek Bachan/22.jpg", "Alex Rodriguez/17.jpg", "Alyssa Milano/16.jpg", "Alyssa Milano/20.jpg",
               "Alyssa Milano/21.jpg", "Alyssa Milano/39.jpg", "Alyssa Milano/43.jpg"]


def test_photos_that_are_tight_face_crops_are_found_in_their_own_coordinates(seed_dir, tmp_path, capsys):
    photos = [str(seed_dir / "eval" / name) for name in TIGHT_CROPS]
    gallery = tmp_path / "gallery" / "Alyssa Milano"
    gallery.mkdir(parents=True)
    shutil.copy(seed_dir / "eval" / "Alyssa Milano" / "1.jpg", gallery)
    rc = main(["identify", "--json", "--gallery", str(tmp_path / "gallery"), *photos])
    rows = _lines(capsys.readouterr().out)
    assert rc == 0 and {r["image"] for r in rows} == set(photos)
    assert all(r["box"] is not None for r in rows), [r["image"] for r in rows if r["box"] is None]
    for r in rows:  # the box is in the 100×100 photo's coordinates: it covers most of the picture
        x, y, w, h = r["box"]
        assert -50 < x < 60 and -50 < y < 60 and 40 < w < 200, r
