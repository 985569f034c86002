"""Face pictures the software writes — photos `gallery add` copies in, `identify --out` annotations,
the `camera-test` frame, a gallery folder it creates — are biometric data: their modes come from
the folder they land in, never from the umask, nobody outside the folder's group may read them, and
a symlink planted at the name they are written under is never written through. Each promise is
checked through the real command, as a user (with their own umask) runs it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from tests.conftest import REPO
from tests.test_daemon import write_replay


def se(*args: str, umask: int = 0o022, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``siamese-edge ARGS`` as a user whose umask is ``umask``, in the folder ``cwd``."""
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(umask), cwd=cwd)


def mode(path: Path) -> str:
    """Permission bits with set-group-ID, as ``ls -l`` users read them: ``0o2770``."""
    return oct(stat.S_IMODE(path.lstat().st_mode))


def test_gallery_add_under_umask_077_gives_the_installed_gallery_photos_its_group_can_read(faces, tmp_path):
    """The installer's gallery is 2770 (the service and the enrolling users share its group). A user
    whose umask is 077 used to add folders and photos only they could read: the service then never
    saw them. Now the person folder takes the gallery's group bits (2770) and the photo 0640."""
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    gallery.chmod(0o2770)
    photo = faces.obama[0]
    r = se("gallery", "add", "--gallery", str(gallery), "Barack Obama", str(photo), umask=0o077)
    assert r.returncode == 0, r.stderr
    added = gallery / "Barack Obama" / photo.name
    assert r.stdout == f"added {added}\n"
    assert added.read_bytes() == photo.read_bytes()
    assert (mode(gallery / "Barack Obama"), mode(added)) == ("0o2770", "0o640")
    assert [p.name for p in (gallery / "Barack Obama").iterdir()] == [photo.name]  # no temporary file left


def test_gallery_add_into_a_gallery_that_does_not_exist_makes_it_private(faces, tmp_path):
    """With the common umask 022 a new gallery used to be 0755 and its photos 0644: anyone on the
    machine could read the household's faces. A gallery the command creates is 0700, its photos 0600."""
    gallery = tmp_path / "new" / "gallery"
    r = se("gallery", "add", "--gallery", str(gallery), "Joe Biden", str(faces.biden), umask=0o022)
    assert r.returncode == 0, r.stderr
    added = gallery / "Joe Biden" / faces.biden.name
    assert (mode(tmp_path / "new"), mode(gallery), mode(gallery / "Joe Biden"), mode(added)) == \
        ("0o700", "0o700", "0o700", "0o600")


def test_gallery_add_never_writes_through_a_link_planted_in_a_shared_gallery(faces, tmp_path):
    """Anyone in a shared gallery's group can create files in it. Links planted at the temporary name
    and at the photo's own name, both pointing at a file of the enrolling user, leave that file as it
    was: the photo lands under the next free name, and the links are not followed."""
    gallery = tmp_path / "gallery"
    person = gallery / "Barack Obama"
    person.mkdir(parents=True)
    victim = tmp_path / "my-notes.txt"
    victim.write_text("mine\n")
    photo = faces.obama[0]
    for name in (photo.name, f"{photo.stem}-1{photo.suffix}"):  # what a copy is staged under
        (person / f".{name}.part").symlink_to(victim)
    (person / photo.name).symlink_to(victim)
    r = se("gallery", "add", "--gallery", str(gallery), "Barack Obama", str(photo))
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "mine\n"
    copy = person / f"{photo.stem}-1{photo.suffix}"
    assert r.stdout == f"added {copy}\n" and copy.read_bytes() == photo.read_bytes()
    assert (person / photo.name).is_symlink()  # the planted link itself is not the software's to remove


def test_identify_out_writes_one_private_annotation_per_photo(faces, tmp_path):
    """Two photos with the same file name in different folders used to share one `_annotated.jpg`
    (the second overwrote the first). Each now gets its own, 0600 in a folder made 0700; a link
    planted at an annotation's name is neither written through nor replaced: the annotations take
    the next free names."""
    gallery = tmp_path / "gallery"
    (gallery / "Barack Obama").mkdir(parents=True)
    (gallery / "Barack Obama" / "1.jpg").write_bytes(faces.obama[0].read_bytes())
    for folder, photo in (("a", faces.obama[1]), ("b", faces.biden)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "door.jpg").write_bytes(photo.read_bytes())
    out = tmp_path / "annotated"
    out.mkdir(mode=0o700)
    victim = tmp_path / "my-notes.txt"
    victim.write_text("mine\n")
    (out / "door_annotated.jpg").symlink_to(victim)
    r = se("identify", "--gallery", str(gallery), "--state", str(tmp_path / "state"), "--out", str(out),
           str(tmp_path / "a" / "door.jpg"), str(tmp_path / "b" / "door.jpg"))
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "mine\n" and (out / "door_annotated.jpg").readlink() == victim
    written = sorted(out.iterdir())
    assert [p.name for p in written] == ["door_annotated-2.jpg", "door_annotated-3.jpg", "door_annotated.jpg"]
    assert all(p.read_bytes()[:2] == b"\xff\xd8" and mode(p) == "0o600" for p in written[:2])
    new_out = tmp_path / "fresh"
    r = se("identify", "--gallery", str(gallery), "--state", str(tmp_path / "state"), "--out", str(new_out),
           str(tmp_path / "a" / "door.jpg"))
    assert r.returncode == 0 and mode(new_out) == "0o700", r.stderr


def test_identify_out_in_the_users_own_folder_keeps_their_photos_and_replaces_only_its_own(faces, tmp_path):
    """`identify --out` pointed at the folder the photos came from, where the user keeps a photo that
    happens to be called `door_annotated.jpg`: it used to be replaced by the annotation. It is now
    left byte for byte, the annotation is `door_annotated-2.jpg` and stderr says why. Run again, the
    annotation of the first run is replaced (it carries siamese-edge's mark), not joined by a -3."""
    gallery = tmp_path / "gallery"
    (gallery / "Barack Obama").mkdir(parents=True)
    (gallery / "Barack Obama" / "1.jpg").write_bytes(faces.obama[0].read_bytes())
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "door.jpg").write_bytes(faces.obama[1].read_bytes())
    mine = photos / "door_annotated.jpg"
    mine.write_bytes(faces.biden.read_bytes())
    for _second_run in (False, True):
        r = se("identify", "--gallery", str(gallery), "--state", str(tmp_path / "state"), "--out", str(photos),
               str(photos / "door.jpg"))
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"{photos / 'door.jpg'}: Barack Obama  score "), r.stdout
        assert f"note: {mine} is not a picture siamese-edge wrote: left as it is; annotated as door_annotated-2.jpg" \
            in r.stderr
        assert mine.read_bytes() == faces.biden.read_bytes()
        assert sorted(p.name for p in photos.iterdir()) == ["door.jpg", "door_annotated-2.jpg", "door_annotated.jpg"]
        assert cv2.imread(str(photos / "door_annotated-2.jpg")).shape == cv2.imread(str(photos / "door.jpg")).shape


def test_the_camera_test_frame_is_private(faces, tmp_path):
    """`camera-test` saves whoever stood in front of the camera: 0600, in a folder made 0700."""
    write_replay(tmp_path / "replay", [(faces.obama[1], 3)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 10}}\n")
    shot = tmp_path / "checks" / "shot.jpg"
    r = se("camera-test", "--config", str(cfg), "--seconds", "1", "--out", str(shot))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (mode(shot.parent), mode(shot)) == ("0o700", "0o600")
    assert shot.read_bytes()[:2] == b"\xff\xd8"


def test_camera_test_keeps_a_users_own_camera_test_jpg(faces, tmp_path):
    """`camera-test` without `--out` writes `camera-test.jpg` in the current folder, where a user may
    already keep a picture of that name: it used to be replaced. It is now kept byte for byte and
    the snapshot goes to `camera-test-2.jpg` (said in the output); a second run replaces its own
    snapshot there. `--out` naming a folder puts `camera-test.jpg` inside it."""
    write_replay(tmp_path / "replay", [(faces.obama[1], 3)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 10}}\n")
    here = tmp_path / "here"
    here.mkdir()
    mine = here / "camera-test.jpg"
    mine.write_bytes(faces.biden.read_bytes())
    for _second_run in (False, True):
        r = se("camera-test", "--config", str(cfg), "--seconds", "1", cwd=here)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.splitlines()[-1] == ("1 face(s) found in the last frame; annotated: camera-test-2.jpg "
                                             "(camera-test.jpg is not a picture siamese-edge wrote: left as it is)")
        assert mine.read_bytes() == faces.biden.read_bytes()
        assert sorted(p.name for p in here.iterdir()) == ["camera-test-2.jpg", "camera-test.jpg"]
        assert cv2.imread(str(here / "camera-test-2.jpg")).shape == (480, 640, 3)
    (here / "checks").mkdir()
    r = se("camera-test", "--config", str(cfg), "--seconds", "1", "--out", str(here / "checks"), cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.endswith(f"annotated: {here / 'checks' / 'camera-test.jpg'}\n"), r.stdout


def test_the_mark_that_tells_its_own_pictures_from_a_users(faces, tmp_path):
    """The mark `identify --out` and `camera-test` put in their pictures costs nothing to viewers:
    OpenCV decodes the JPEG and the PNG (pixel for pixel) as before. The same picture saved again by
    another program, a link to one of ours, or a folder of that name is not ours, so it is never
    replaced."""
    from edge.private_files import own_picture, picture_name, write_picture

    image = cv2.imread(str(faces.obama[1]))
    for name in ("ours.jpg", "ours.png"):
        write_picture(tmp_path / name, image, 0o600)
        assert own_picture(tmp_path / name)
    assert (cv2.imread(str(tmp_path / "ours.png")) == image).all()
    assert cv2.imread(str(tmp_path / "ours.jpg")).shape == image.shape
    cv2.imwrite(str(tmp_path / "resaved.jpg"), cv2.imread(str(tmp_path / "ours.jpg")))
    (tmp_path / "link.jpg").symlink_to(tmp_path / "ours.jpg")
    (tmp_path / "folder.jpg").mkdir()
    for name in ("resaved.jpg", "link.jpg", "folder.jpg"):
        assert not own_picture(tmp_path / name)
        assert picture_name(tmp_path / name) == (tmp_path / name.replace(".jpg", "-2.jpg"), tmp_path / name)
        with pytest.raises(FileExistsError):
            write_picture(tmp_path / name, image, 0o600)
    assert picture_name(tmp_path / "ours.jpg") == (tmp_path / "ours.jpg", None)


def test_what_the_software_deletes_of_its_own_is_overwritten_first(tmp_path):
    """``erase`` (a forgotten snapshot, a damaged cache): the blocks are zeroed before the name goes,
    so the face is not left in them. A second hard link means the content is someone else's too (a
    snapshot a user linked into the gallery): only the name goes. A symbolic link is removed, not
    followed; a pipe or folder in its place is refused untouched (opening a pipe would hang)."""
    from edge.private_files import erase

    snap = tmp_path / "20261201-083000-000-unknown-t1.jpg"
    snap.write_bytes(b"a stranger's face " * 10_000)
    with open(snap, "rb") as still_open:  # the blocks stay reachable through this descriptor
        erase(snap)
        assert not snap.exists() and still_open.read() == bytes(180_000)
    snap.write_bytes(b"a stranger's face")
    (tmp_path / "gallery").mkdir()
    os.link(snap, tmp_path / "gallery" / "Visitor.jpg")
    erase(snap)
    assert not snap.exists() and (tmp_path / "gallery" / "Visitor.jpg").read_bytes() == b"a stranger's face"
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"the user's photo")
    os.symlink(photo, snap)
    erase(snap)
    assert not os.path.lexists(snap) and photo.read_bytes() == b"the user's photo"
    os.mkfifo(snap)
    with pytest.raises(OSError, match="not a regular file"):
        erase(snap)
    assert stat.S_ISFIFO(snap.lstat().st_mode)
    erase(tmp_path / "never-there.jpg")  # nothing to do
