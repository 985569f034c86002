"""False-colour photos (a greyscale picture saved through a matplotlib colormap, as the seed's
database is) are read back as the grey levels they were — and ordinary photos never are."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from edge.cli import main
from edge.vision.falsecolour import colormap_of, tables
from edge.vision.imageio import read_image, read_photo
from tests.conftest import REPO

DEMO_PHOTO = REPO / "demo" / "gallery" / "Barack Obama" / "obama.jpg"


@pytest.fixture(scope="module")
def grey_face() -> np.ndarray:
    if not DEMO_PHOTO.is_file():
        pytest.skip("the demo portraits are fetched by `make demo` (make test does it first)")
    return cv2.cvtColor(read_image(DEMO_PHOTO), cv2.COLOR_BGR2GRAY)


@pytest.mark.parametrize("colormap", ["viridis", "jet"])
def test_a_photo_rendered_through_a_colormap_reads_back_as_its_grey_levels(grey_face, tmp_path, colormap):
    matplotlib = pytest.importorskip("matplotlib")
    rgba = matplotlib.colormaps[colormap](grey_face, bytes=True)  # what plt.imsave writes
    path = tmp_path / f"{colormap}.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    image, note = read_photo(path)
    assert note == f"false-colour image ({colormap} colormap) read as the greyscale it was"
    # within one grey level; jet's 8-bit table repeats a colour up to four times in a row, and a
    # repeated colour can only be given the middle of its run
    assert np.abs(image[:, :, 0].astype(int) - grey_face).max() <= (1 if colormap == "viridis" else 2)
    assert (image[:, :, 0] == image[:, :, 1]).all() and (image[:, :, 1] == image[:, :, 2]).all()


def test_the_tables_are_matplotlibs_own(grey_face):
    matplotlib = pytest.importorskip("matplotlib")
    for name, lut in tables().items():
        assert (lut == matplotlib.colormaps[name](np.arange(256), bytes=True)[:, :3]).all(), name


def test_ordinary_colour_photos_are_never_taken_for_false_colour(shared_lfw):
    photos = sorted(shared_lfw.glob("*/*.jpg"))
    sample = random.Random(7).sample(photos, 400)  # bench/bench_falsecolour.py checks all 13,233
    flagged = [p for p in sample if colormap_of(read_image(p))]
    assert flagged == []


def test_identify_names_the_seed_databases_people_in_its_group_photos(seed_dir, capsys):
    """The seed's own material as it is: its false-colour database and its group photos."""
    samples = sorted(str(p) for p in (seed_dir / "sample").glob("*.jpg"))
    rc = main(["identify", "--json", "--gallery", str(seed_dir / "database"), *samples])
    out = capsys.readouterr()
    assert rc == 0
    import json

    named = {(r["image"].rsplit("/", 1)[1], r["name"]) for r in map(json.loads, out.out.splitlines()) if r["name"]}
    # Game of Thrones: Emilia Clarke and Kit Harington are in the database and in the photo; the
    # other two group photos hold none of the database's people, and nobody there may be named
    assert named == {("got.jpg", "Emilia Clarke"), ("got.jpg", "Kit Harrington")}


def test_gallery_status_says_a_photo_was_false_colour_once(seed_dir, tmp_path, capsys):
    rc = main(["gallery", "status", "--gallery", str(seed_dir / "database"), "--state", str(tmp_path / "st")])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and len(lines) == 6
    assert all(line.startswith("enrolled") and line.count("false-colour image (viridis colormap)") == 1
               for line in lines), lines
