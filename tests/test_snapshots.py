"""Who was that stranger? A snapshot of every unknown face, on the dashboard, and enrolled in one
command — through the real daemon, a real broker and the real `siamese-edge unknown` commands."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import REPO
from tests.mqtt_broker import Subscriber, wait_until
from tests.test_daemon import write_replay
from tests.test_events import REQUIRED, broker  # noqa: F401 - broker is a fixture


def se(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=180)


def events_of(r: subprocess.CompletedProcess) -> list[dict]:
    assert r.returncode == 0, r.stderr[-1500:]
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_a_stranger_is_snapshotted_shown_in_home_assistant_and_enrolled_in_one_command(broker, faces,  # noqa: F811
                                                                                       tmp_path):
    (tmp_path / "gallery" / "Barack Obama").mkdir(parents=True)
    shutil.copy(faces.obama[0], tmp_path / "gallery" / "Barack Obama")
    write_replay(tmp_path / "replay", [(None, 4), (faces.hopper, 14), (None, 4)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
device_name: door
camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 20, realtime: false}}
detector: {{model: full}}
recognition: {{votes_needed: 3, votes_window: 5, unknown_after_frames: 5}}
gallery: {{folder: {tmp_path / 'gallery'}}}
state_dir: {tmp_path / 'state'}
events: {{mqtt: {{enabled: true, port: {broker.port}}}}}
""")
    sub = Subscriber(broker.port, ["homeassistant/image/#", "siamese-edge/door/snapshot/#"]).wait_ready()
    unknown = [e for e in events_of(se("run", "--config", str(cfg))) if e["type"] == "unknown"]
    assert len(unknown) == 1 and unknown[0]["snapshot"]
    photo = unknown[0]["snapshot"]
    assert os.path.dirname(photo) == str(tmp_path / "snapshots")  # beside state_dir, not inside it
    image = cv2.imread(photo)
    assert image is not None and min(image.shape[:2]) > 100  # the face with context around it
    assert oct(os.stat(photo).st_mode & 0o777) == "0o640"  # readable by the gallery's group

    # Home Assistant: an image entity, and the very JPEG on its topic
    wait_until(lambda: any(t == "siamese-edge/door/snapshot/unknown" for t, _ in sub.raw), timeout=10)
    with sub.lock:
        configs = {t: json.loads(p) for t, p, _ in sub.messages if t.startswith("homeassistant/image/")}
        published = [b for t, b in sub.raw if t == "siamese-edge/door/snapshot/unknown"]
    sub.close()
    (config,) = configs.values()
    assert REQUIRED["image"] <= set(config) and config["image_topic"] == "siamese-edge/door/snapshot/unknown"
    assert published[-1] == open(photo, "rb").read()

    # the user's side: list, enroll, and the next visit is recognised
    listed = json.loads(se("unknown", "list", "--config", str(cfg), "--json").stdout)
    assert [r["file"] for r in listed] == [photo]
    assert listed[0]["kind"] == "unknown" and listed[0]["closest"] == "Barack Obama" and listed[0]["score"] < 0.95
    (line,) = se("unknown", "list", "--config", str(cfg)).stdout.splitlines()
    assert line.startswith(listed[0]["id"]) and "unknown" in line and "closest Barack Obama 0." in line
    r = se("unknown", "enroll", "--config", str(cfg), listed[0]["id"], "Grace Hopper")
    assert r.returncode == 0, r.stderr
    enrolled = list((tmp_path / "gallery" / "Grace Hopper").iterdir())
    assert [p.read_bytes() for p in enrolled] == [open(photo, "rb").read()]
    again = [(e["type"], e.get("name")) for e in events_of(se("run", "--config", str(cfg)))
             if e["type"] in ("recognized", "unknown")]
    assert again == [("recognized", "Grace Hopper")]

    with open(photo, "rb") as still_open:  # what `unknown forget` leaves in the file's blocks
        size = os.fstat(still_open.fileno()).st_size
        r = se("unknown", "forget", "--config", str(cfg), "--all")
        assert r.returncode == 0 and not list((tmp_path / "snapshots").iterdir())
        assert still_open.read() == bytes(size)  # the stranger's face overwritten, not just unlinked
    assert enrolled[0].is_file()  # forgetting a snapshot never touches the gallery


def test_enroll_refuses_an_unknown_id_and_a_bad_name(faces, tmp_path):
    from edge.snapshots import Snapshots

    (tmp_path / "gallery").mkdir()
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[100:350, 200:450] = cv2.imread(str(faces.hopper))
    snap = Snapshots(tmp_path / "snaps").save(frame, (260, 150, 120, 120), "unknown", 7, {"name": None})
    args = ["--snapshots", str(tmp_path / "snaps"), "--gallery", str(tmp_path / "gallery")]
    r = se("unknown", "enroll", *args, "20990101-000000-000-unknown-t1", "Grace")
    assert r.returncode == 2 and "no snapshot" in r.stderr and "unknown list" in r.stderr
    r = se("unknown", "enroll", *args, snap.stem, "../outside")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "outside").exists() and list((tmp_path / "gallery").iterdir()) == []


def two_strangers_at_the_door(faces, tmp_path) -> Path:
    """config.yaml of a replay where, with Joe Biden alone enrolled, Obama comes (one photo), then
    Eileen Collins, then Obama again (another photo)."""
    (tmp_path / "gallery" / "Joe Biden").mkdir(parents=True)
    shutil.copy(faces.biden, tmp_path / "gallery" / "Joe Biden")
    # 20 fps; 2.5 s of nobody between visits: each visit is a track of its own (track_timeout_s 2)
    write_replay(tmp_path / "replay", [(None, 4), (faces.obama[1], 14), (None, 50), (faces.collins, 14),
                                       (None, 50), (faces.obama[2], 14), (None, 4)])
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"""
camera: {{source: replay, path: {tmp_path / 'replay'}, fps: 20, realtime: false}}
detector: {{model: full}}
recognition: {{votes_needed: 3, votes_window: 5, unknown_after_frames: 5}}
gallery: {{folder: {tmp_path / 'gallery'}}}
state_dir: {tmp_path / 'state'}
""")
    return cfg


def test_snapshots_of_one_stranger_are_grouped_and_enrolled_together(faces, tmp_path):
    """A stranger (Obama, in two different photos) comes twice and another (Eileen Collins) once
    between: `unknown list` tags both of his snapshots `stranger 1` and hers `stranger 2`, prints
    the command that enrols his together, and that command, run as printed, enrols both. An
    enrolment naming one snapshot that is not there enrols none."""
    cfg = two_strangers_at_the_door(faces, tmp_path)
    unknown = [e for e in events_of(se("run", "--config", str(cfg))) if e["type"] == "unknown"]
    assert len(unknown) == 3, unknown
    sidecar = json.loads(open(unknown[0]["snapshot"].removesuffix(".jpg") + ".json").read())
    assert len(sidecar["embedding"]) > 64 and sidecar["model"]  # what the grouping reads

    listed = json.loads(se("unknown", "list", "--config", str(cfg), "--json").stdout)
    assert [r["file"] for r in listed] == [e["snapshot"] for e in unknown]
    assert [r["stranger"] for r in listed] == [1, 2, 1]
    assert all("embedding" not in r for r in listed)  # numbers for the grouping, not for reading
    r = se("unknown", "list", "--config", str(cfg))
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    lines = r.stdout.splitlines()
    assert [re.search(r" stranger (\d+)  closest Joe Biden 0\.", line)[1] for line in lines[:3]] == ["1", "2", "1"]
    first, _, third = (row["id"] for row in listed)
    listed_at = [re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line)[0] for line in lines[:3]]
    span = f"first {listed_at[0]}, last {listed_at[2]}"  # his two snapshots' times as listed above
    assert lines[3:] == [f"stranger 1: 2 snapshots, {span}; to enrol them together: siamese-edge unknown enroll "
                         f"--config {cfg} {first} {third} NAME"]

    r = se("unknown", "enroll", "--config", str(cfg), first, "20990101-000000-000-unknown-t1", "Barack Obama")
    assert r.returncode == 2 and "nothing was enrolled" in r.stderr
    assert not (tmp_path / "gallery" / "Barack Obama").exists()
    command = shlex.split(lines[3].split(": ", 2)[2])
    assert command[:3] == ["siamese-edge", "unknown", "enroll"] and command[-1] == "NAME"
    r = se(*command[1:-1], "Barack Obama")
    assert r.returncode == 0, r.stderr
    enrolled = sorted(p.read_bytes() for p in (tmp_path / "gallery" / "Barack Obama").iterdir())
    assert enrolled == sorted(open(unknown[i]["snapshot"], "rb").read() for i in (0, 2))


def test_snapshots_whose_face_data_is_damaged_or_from_another_model_are_listed_ungrouped(faces, tmp_path):
    """Sidecars edited by hand or left by another model: listed, never grouped, one note; no traceback."""
    from edge.snapshots import Snapshots
    from edge.vision.embedder import DEFAULT_MODEL, model_id

    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[100:350, 200:450] = cv2.imread(str(faces.hopper))
    snaps = Snapshots(tmp_path / "snaps")
    face = np.random.default_rng(1).normal(size=128)
    face /= np.linalg.norm(face)
    ours = model_id(DEFAULT_MODEL)
    for track, (embedding, model) in enumerate(((face, ours), (face, ours), (face * 5, ours),
                                                (face, "0123456789abcdef"), (["x"] * 128, ours))):
        data = embedding.tolist() if isinstance(embedding, np.ndarray) else embedding
        snaps.save(frame, (260, 150, 120, 120), "unknown", track, {"name": None, "embedding": data, "model": model})
    r = se("unknown", "list", "--snapshots", str(tmp_path / "snaps"), "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert [row["stranger"] for row in json.loads(r.stdout)] == [1, 1, None, None, None]
    assert "note: 2 snapshot(s) not grouped: taken with another model, or their face data was changed" in r.stderr
    # the printed command names the folder the listing was given, so it enrols from the same one
    (line,) = [x for x in se("unknown", "list", "--snapshots", str(tmp_path / "snaps")).stdout.splitlines()
               if x.startswith("stranger ")]
    assert re.match(r"stranger 1: 2 snapshots, first [-\d]+ [:\d]+, last [-\d]+ [:\d]+; ", line), line
    assert line.split("; ", 1)[1].startswith("to enrol them together: siamese-edge unknown enroll "
                           f"--snapshots {tmp_path / 'snaps'} ")


def test_an_unknown_event_says_whether_this_stranger_has_been_here_before(faces, tmp_path):
    """Obama comes twice (two different photos) and Eileen Collins once between. The `unknown` event
    of his second visit says `seen_before: 1` with the time of his first snapshot (`first_seen`), as
    `unknown list` groups them; the first visits say 0. The memory is the snapshots folder: after a
    restart his first visit of the day is his third (`seen_before: 2`), and after `unknown forget
    --all` he is a first-time visitor again."""
    cfg = two_strangers_at_the_door(faces, tmp_path)

    def visits() -> tuple[list[dict], str]:
        r = se("run", "--config", str(cfg))
        unknown = [e for e in events_of(r) if e["type"] == "unknown"]
        assert len(unknown) == 3, unknown
        return unknown, r.stderr

    def taken(event: dict) -> float:
        return json.loads(open(event["snapshot"].removesuffix(".jpg") + ".json").read())["time"]

    first_day, log = visits()
    assert [e["seen_before"] for e in first_day] == [0, 0, 1]
    assert "first_seen" not in first_day[0] and first_day[2]["first_seen"] == taken(first_day[0])
    assert re.search(r"unknown face \(closest: Joe Biden, score 0\.\d+, track \d+\); seen 1 time\(s\) before, "
                     r"first at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", log), log[-2000:]
    listed = json.loads(se("unknown", "list", "--config", str(cfg), "--json").stdout)
    assert [r["stranger"] for r in listed] == [1, 2, 1]  # the grouping the counts follow

    second_day, _ = visits()
    assert [e["seen_before"] for e in second_day] == [2, 1, 3]
    assert {e["first_seen"] for e in (second_day[0], second_day[2])} == {taken(first_day[0])}
    assert second_day[1]["first_seen"] == taken(first_day[1])

    assert se("unknown", "forget", "--config", str(cfg), "--all").returncode == 0
    third_day, _ = visits()
    assert [e["seen_before"] for e in third_day] == [0, 0, 1]
