"""The daemon end to end on a replayed camera with real faces: decisions, reconnects, systemd
notify, signals, and configuration errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from edge.camera import CameraError
from edge.camera.replay import ReplayCamera
from edge.cli import main
from edge.config import parse_config
from edge.daemon import Daemon
from edge.events import Event
from edge.sdnotify import Notifier
from tests.conftest import REPO
from tests.scenes import damaged_copy, doorbell_frames, frame_of, write_phone_heic, write_raw_h264


class ListSink:
    name = "list"

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.closed = False

    def handle(self, event: Event) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


def write_replay(folder: Path, visits: list[tuple[Path | None, int]]) -> None:
    folder.mkdir(parents=True)
    n = 0
    for photo, count in visits:
        img = frame_of(photo)
        for _ in range(count):
            cv2.imwrite(str(folder / f"{n:05d}.png"), img)
            n += 1


@pytest.fixture
def scene(faces, tmp_path):
    """Gallery: Barack Obama and Joe Biden (one photo each). Replay: Obama, empty, a stranger
    (Grace Hopper), empty, Obama again (two other photos of him than the enrolled one)."""
    for person, photo in (("Barack Obama", faces.obama[0]), ("Joe Biden", faces.biden)):
        (tmp_path / "gallery" / person).mkdir(parents=True)
        shutil.copy(photo, tmp_path / "gallery" / person)
    write_replay(tmp_path / "replay", [(faces.obama[1], 12), (None, 8), (faces.hopper, 12), (None, 8),
                                       (faces.obama[2], 12)])
    return tmp_path


def config_text(base: Path, **overrides: str) -> str:
    """A daemon over ``base``'s replay at 20 fps. ``realtime`` (``false`` unless it loops): every frame
    analysed, and tracks and cooldowns on the video's own clock, so what is announced does not
    depend on how busy the machine is; a looping replay plays in real time, as a camera would."""
    loop = overrides.get("loop", "false")
    realtime = overrides.get("realtime", "true" if loop == "true" else "false")
    text = f"""
device_name: test
camera: {{source: replay, path: {base / 'replay'}, fps: 20, loop: {loop}, realtime: {realtime}}}
detector: {{model: full}}
recognition: {{votes_needed: 3, votes_window: 5, cooldown_s: 60, unknown_after_frames: 5, track_timeout_s: 0.2}}
gallery: {{folder: {base / 'gallery'}, poll_interval_s: 0.5}}
logging: {{stats_interval_s: 0.5}}
state_dir: {base / 'state'}
"""
    return text


def test_replay_announces_each_visitor_once_and_respects_cooldown(scene):
    sink = ListSink()
    daemon = Daemon(parse_config(config_text(scene)), sinks=[sink])
    assert daemon.run() == 0
    kinds = [(e.type, e.name) for e in sink.events if e.type in ("recognized", "unknown")]
    # Obama once (his second visit falls inside the 60 s cooldown), the stranger once as unknown
    assert kinds == [("recognized", "Barack Obama"), ("unknown", None)]
    assert sink.events[0].type == "started" and sink.events[-1].type == "stopping" and sink.closed
    rec = next(e for e in sink.events if e.type == "recognized")
    assert rec.score >= daemon.recognizer.decision.threshold and len(rec.box) == 4 and rec.track_id


def test_without_cooldown_the_second_visit_is_announced(scene):
    sink = ListSink()
    cfg = parse_config(config_text(scene).replace("cooldown_s: 60", "cooldown_s: 0"))
    Daemon(cfg, sinks=[sink]).run()
    assert [e.name for e in sink.events if e.type == "recognized"] == ["Barack Obama", "Barack Obama"]


def counting(identify_faces, counts: list[int]):
    """Wrap ``Recognizer.identify_faces`` to record how many faces each call had to identify."""
    def wrapper(frame, faces, adaptive=False):
        counts.append(len(faces))
        return identify_faces(frame, faces, adaptive)
    return wrapper


def test_tracks_carry_names_over_and_announce_the_same_as_identifying_every_frame(scene):
    """With ``reidentify_every: 5`` most frames of a recognised visitor skip FaceMesh and the
    embedder, and the announcements are exactly those of identifying every face on every frame."""
    announced, seen, identified = {}, {}, {}
    for every in (1, 5):
        sink = ListSink()
        cfg = parse_config(config_text(scene).replace("track_timeout_s: 0.2",
                                                      f"track_timeout_s: 0.2, reidentify_every: {every}"))
        daemon = Daemon(cfg, sinks=[sink])
        counts: list[int] = []
        daemon.recognizer.identify_faces = counting(daemon.recognizer.identify_faces, counts)
        assert daemon.run() == 0
        announced[every] = [(e.type, e.name) for e in sink.events if e.type in ("recognized", "unknown")]
        identified[every] = sum(counts)
        seen[every] = daemon.faces_seen
        assert daemon.faces_carried == seen[every] - identified[every]
    assert announced[5] == announced[1] == [("recognized", "Barack Obama"), ("unknown", None)]
    assert identified[1] == seen[1] > 30
    # Obama's 24 frames: 3 to be recognised, then 4 of every 5 carried over; the stranger's all fresh
    assert identified[5] <= seen[5] - 10


def test_a_stranger_stepping_into_a_known_persons_place_is_announced(scene, faces):
    """Real faces, no gap between them: Obama is recognised, then Grace Hopper appears exactly
    where he stood. Her face is not his (embedding similarity far below 0.87), so she starts a new
    track and is announced as unknown instead of inheriting his visit."""
    write_replay(scene / "swap", [(faces.obama[1], 12), (faces.hopper, 12)])
    announced = {}
    for limit in ("0.87", "null"):
        sink = ListSink()
        text = config_text(scene).replace(f"path: {scene / 'replay'}", f"path: {scene / 'swap'}")
        text = text.replace("track_timeout_s: 0.2", f"track_timeout_s: 0.2, identity_change_below: {limit}")
        cfg = parse_config(text)
        Daemon(cfg, sinks=[sink]).run()
        announced[limit] = [(e.type, e.name) for e in sink.events if e.type in ("recognized", "unknown")]
    assert announced["0.87"] == [("recognized", "Barack Obama"), ("unknown", None)]
    assert announced["null"] == [("recognized", "Barack Obama")]  # what happened before the check


def test_replay_with_realtime_false_analyses_every_frame(scene):
    """A recorded clip (or a slow machine, such as the arm64 emulator) loses no frames."""
    cfg = parse_config(config_text(scene).replace("fps: 20", "fps: 1"))
    daemon = Daemon(cfg, sinks=[ListSink()])
    assert daemon.run() == 0
    assert daemon.frames.captured == 52 and daemon.frames.dropped == 0
    assert daemon.processed == 52


def test_a_recording_analysed_frame_by_frame_keeps_the_videos_own_time(scene, faces):
    """`siamese-edge run` over a recording with ``realtime: false``: tracks and cooldowns follow the
    video's clock, not how fast this machine reads it. At 2 fps Obama's two visits are 2 s apart
    in the video — longer than track_timeout_s (1 s) and the cooldown (1.5 s) — so both are
    announced, though the whole replay is analysed in far less than a second of those. (They were
    one visit when tracks ran on the wall clock; a slow machine split one visit in two instead.)"""
    write_replay(scene / "recording", [(faces.obama[1], 6), (None, 4), (faces.obama[2], 6)])
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene).replace(f"path: {scene / 'replay'}, fps: 20",
                                              f"path: {scene / 'recording'}, fps: 2")
                   .replace("cooldown_s: 60", "cooldown_s: 1.5").replace("track_timeout_s: 0.2", "track_timeout_s: 1"))
    r = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    announced = [(e["type"], e.get("name")) for e in events if e["type"] in ("recognized", "unknown")]
    assert announced == [("recognized", "Barack Obama"), ("recognized", "Barack Obama")]
    first, second = (e["track_id"] for e in events if e["type"] == "recognized")
    assert first != second  # two visits, two tracks


def test_events_from_a_recording_say_where_in_it_they_happened(scene):
    """The scene's frames replayed at 2 fps (Obama in frames 0-11, Grace Hopper in 20-31): each
    announcement and each change of who is present carries ``video_s``, the frame's place in the
    recording (its number in name order / fps), and so does the stranger's snapshot, so someone
    reviewing the clip can find the moment. Events not about a frame have none."""
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene).replace("fps: 20", "fps: 2")
                   .replace("track_timeout_s: 0.2", "track_timeout_s: 1"))
    r = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    (obama,) = (e for e in events if e["type"] == "recognized")
    (stranger,) = (e for e in events if e["type"] == "unknown")
    assert 1.0 <= obama["video_s"] <= 5.5 and 10.0 <= stranger["video_s"] <= 15.5  # within each visit
    assert all(e["video_s"] * 2 == int(e["video_s"] * 2) for e in (obama, stranger))  # on the 0.5 s grid
    present = [(e["names"], e["video_s"]) for e in events if e["type"] == "present"]
    assert present[0] == (["Barack Obama"], obama["video_s"])
    assert present[1][0] == [] and 6.0 <= present[1][1] <= 7.5  # gone: frames 12 on are empty
    sidecar = json.loads(Path(stranger["snapshot"]).with_suffix(".json").read_text())
    assert sidecar["video_s"] == stranger["video_s"]
    listed = subprocess.run([sys.executable, "-m", "edge.cli", "unknown", "list", "--config", str(cfg)],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert f"(at {stranger['video_s']:.1f} s of the recording)" in listed.stdout, listed
    assert all("video_s" not in e for e in events if e["type"] in ("started", "stopping"))


def _obamas_visits_from_a_raw_stream(scene: Path, faces, cooldown_s: float = 1.5) -> list[float]:
    """``video_s`` of the announcements of the daemon replaying ``scene/door.h264`` at 2 fps: six
    frames of Obama, four of nobody, six of him again (whatever timestamps file lies beside it)."""
    clip = write_raw_h264(scene / "door.h264", (frame_of(photo) for photo in
                                                [faces.obama[1]] * 6 + [None] * 4 + [faces.obama[2]] * 6), fps=2)
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene).replace(f"path: {scene / 'replay'}, fps: 20", f"path: {clip}, fps: 2")
                   .replace("cooldown_s: 60", f"cooldown_s: {cooldown_s}")
                   .replace("track_timeout_s: 0.2", "track_timeout_s: 1"))
    r = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return [e["video_s"] for e in events if e["type"] == "recognized"]


def test_events_from_a_raw_h264_stream_count_its_frames_for_video_s(scene, faces):
    """A clip as `rpicam-vid -o door.h264` records it — a raw stream, no timestamps — replayed with
    `fps: 2`: each announcement's ``video_s`` is the frame's place counted at that rate, within
    each of Obama's two visits. Before, OpenCV's 0 s for every frame made every event say 0.0."""
    first, second = _obamas_visits_from_a_raw_stream(scene, faces)
    assert 1.0 <= first <= 2.5 and 6.0 <= second <= 7.5  # the third vote of each visit at the earliest
    assert first * 2 == int(first * 2) and second * 2 == int(second * 2)  # on the 0.5 s grid


def test_events_from_a_raw_h264_stream_take_video_s_from_its_timestamps_file(scene, faces):
    """`rpicam-vid -o door.h264 --save-pts door.pts`, where the camera filmed nobody for a while at
    a slow rate (frames further apart than the nominal 0.5 s): the daemon replaying `door.h264`
    picks up `door.pts` beside it, and Obama's second visit is announced at its filmed time, past
    12 s — counted at `fps: 2` it would say under 7.5 s."""
    times = [500 * i for i in range(6)] + [3000, 6000, 9000, 12000] + [12500 + 500 * i for i in range(6)]
    (scene / "door.pts").write_text("# timecode format v2\n" + "".join(f"{t}.000\n" for t in times))
    first, second = _obamas_visits_from_a_raw_stream(scene, faces)
    assert 1.0 <= first <= 2.5 and 13.5 <= second <= 15.0  # the third vote of each visit at the earliest


def test_cooldowns_over_a_raw_stream_run_on_its_timestamps_files_clock(scene, faces):
    """The same stream and `door.pts`, read frame by frame, with a 10 s cooldown: Obama's visits
    were filmed about 12 s apart, so he is announced twice. Tracks and cooldowns used to count the
    frames at `fps` instead (the second visit 5 s after the first, inside the cooldown: announced
    once), while `video_s` already followed the file."""
    times = [500 * i for i in range(6)] + [3000, 6000, 9000, 12000] + [12500 + 500 * i for i in range(6)]
    (scene / "door.pts").write_text("# timecode format v2\n" + "".join(f"{t}.000\n" for t in times))
    announced = _obamas_visits_from_a_raw_stream(scene, faces, cooldown_s=10)
    assert len(announced) == 2 and announced[1] - announced[0] >= 10, announced


def test_a_damaged_raw_stream_is_replayed_past_its_damage(scene, faces):
    """The doorbell stream with bytes flipped in its middle (a bad copy, a failing card): FFmpeg
    gives up on one frame at about 3.6 s and goes on (the frames after the damage until the next
    key frame are smeared: the stranger at 6.0–7.0 s is lost in them). The replay goes on with it,
    so Obama's second visit at 7.5 s is announced; before, that one frame ended the "camera stream"
    and nothing after it was seen."""
    clip = damaged_copy(write_raw_h264(scene / "clean.h264", doorbell_frames(faces, 10), fps=10), scene / "door.h264")
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene).replace(f"path: {scene / 'replay'}, fps: 20", f"path: {clip}, fps: 10")
                   .replace("cooldown_s: 60", "cooldown_s: 1.5"))
    r = subprocess.run([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-1500:]
    events = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    announced = [(e["type"], e.get("name"), e["video_s"]) for e in events if e["type"] in ("recognized", "unknown")]
    assert [(kind, name) for kind, name, _ in announced] == [("recognized", "Barack Obama")] * 2, announced
    assert announced[0][2] <= 3.5 and announced[1][2] >= 7.5, announced


def test_a_realtime_replay_holds_each_frame_until_its_filmed_time(scene, monkeypatch):
    """`realtime: true` over a raw stream and its `door.pts`, the camera built from config.yaml as
    the daemon builds it, on a stand-in clock: each frame is handed over when its filmed time comes
    round — 3 s between the frames of nobody — where it used to come every 1/fps (0.5 s) whatever
    the file said; behind schedule (a slow frame), it catches up at most one period, then keeps
    the filmed spacing."""
    from edge.camera import make_camera, replay

    clip = write_raw_h264(scene / "door.h264", (frame_of(None) for _ in range(8)), fps=2)
    (scene / "door.pts").write_text("# timecode format v2\n0\n500\n1000\n4000\n7000\n7500\n8000\n8500\n")
    cfg = parse_config(config_text(scene, realtime="true").replace(f"path: {scene / 'replay'}, fps: 20",
                                                                   f"path: {clip}, fps: 2"))
    now = [1000.0]
    monkeypatch.setattr(replay.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(replay.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    camera = make_camera(cfg.camera)
    camera.open()
    handed = []
    for i in range(8):
        assert camera.read() is not None
        handed.append(round(now[0] - 1000.0, 3))
        if i == 4:
            now[0] += 2.0  # this frame took 2 s to analyse: 1.5 s later than the next is due
    camera.close()
    # 7.5 s came 1.5 s late: handed at once, and 8.0 s right after it (one period caught up); the
    # other second of debt is dropped, not raced through: 8.5 s comes half a second later
    assert handed == [0.0, 0.5, 1.0, 4.0, 7.0, 9.0, 9.0, 9.5]


def test_a_raw_h264_stream_with_loop_plays_again_and_again(scene, faces):
    """`loop: true` over rpicam-vid's raw stream: it has no index to seek back in, so the replay
    opens it again at its end — each pass is another visit on the video's clock, announced with
    its place in the clip. Before, the stream ended after one pass and the daemon with it."""
    clip = write_raw_h264(scene / "door.h264", (frame_of(photo) for photo in [faces.obama[1]] * 6 + [None] * 4),
                          fps=2)
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene, loop="true", realtime="false")
                   .replace(f"path: {scene / 'replay'}, fps: 20", f"path: {clip}, fps: 2")
                   .replace("cooldown_s: 60", "cooldown_s: 1.5").replace("track_timeout_s: 0.2", "track_timeout_s: 1"))
    with open(scene / "stderr.txt", "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)], text=True,
                                stdout=subprocess.PIPE, stderr=stderr, env={**os.environ, "PYTHONPATH": str(REPO)})
        deadline = threading.Timer(120, proc.kill)  # a daemon that never announces ends the wait
        deadline.start()
        try:
            announced: list[float] = []
            for line in proc.stdout:  # the daemon runs until killed: wait for the third pass's announcement
                if line.startswith("{") and json.loads(line)["type"] == "recognized":
                    announced.append(json.loads(line)["video_s"])
                    if len(announced) == 3:
                        break
        finally:
            deadline.cancel()
            proc.kill()
            proc.wait()
    assert len(announced) == 3, (scene / "stderr.txt").read_text()[-1500:]
    assert all(1.0 <= t <= 2.5 for t in announced), announced  # each pass's clock starts at 0


def test_enrollment_never_shares_an_interpreter_with_the_recognition_loop(scene):
    """The gallery thread embeds new photos while the loop runs: TFLite interpreters are not
    thread-safe, so enrollment builds its own detector, landmark and embedding interpreters (and
    drops them after the sync: enrollment is rare, memory on a Pi is not free)."""
    daemon = Daemon(parse_config(config_text(scene)), sinks=[ListSink()])
    loop = daemon.recognizer
    seen = []
    factory = daemon.gallery.worker_factory

    def spy():
        worker = factory()
        seen.append(worker)
        return worker

    daemon.gallery.worker_factory = spy
    matcher, report = daemon.gallery.sync()
    assert report.embedded == 2 and len(matcher) == 2 and len(seen) == 1  # one worker for the whole sync
    worker = seen[0]
    assert worker is not loop and worker.embedder.net is not loop.embedder.net
    assert worker.preprocessor.detector is not loop.preprocessor.detector
    assert daemon.gallery._worker is None  # released after the sync
    assert matcher.decision == loop.decision
    daemon.gallery.sync()
    assert len(seen) == 1  # nothing new to embed: no interpreters built
    daemon.shutdown()


class FlakyCamera(ReplayCamera):
    """A replay that fails for a while mid-run (a USB camera unplugged and plugged back)."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.reads = 0
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        if 1 < self.opens < 3:
            raise CameraError("device unplugged")
        i = self._in_pass
        super().open()
        self._in_pass = i  # carry on where it failed

    def read(self):
        self.reads += 1
        if self.reads == 10:
            raise CameraError("read failed")
        return super().read()


def test_camera_failure_mid_run_reconnects_and_keeps_going(scene):
    sink = ListSink()
    cfg = parse_config(config_text(scene))
    cam = FlakyCamera(scene / "replay", fps=20)
    daemon = Daemon(cfg, camera=cam, sinks=[sink])
    daemon.camera.first_backoff_s = 0.05
    daemon.run()
    types = [e.type for e in sink.events]
    assert "camera_lost" in types and "camera_back" in types
    assert types.index("camera_lost") < types.index("camera_back")
    assert daemon.camera.reconnects == 1 and cam.opens >= 3
    assert daemon.processed >= 45  # of 52 frames: recognition went on after the reconnect


class Unplugged:
    """A camera that is gone for good."""

    name = "unplugged"

    def open(self) -> None:
        raise CameraError("no such device")

    read = open

    def close(self) -> None:
        pass


class RecordedWaits(threading.Event):
    """The reconnect loop's stop event: records each wait instead of sleeping; set after ``n``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.waits = n, []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        if len(self.waits) >= self.n:
            self.set()
        return self.is_set()


def test_a_lost_camera_is_retried_ever_more_slowly_up_to_reconnect_max_s(scene):
    """``camera.reconnect_max_s`` from config.yaml: the waits between tries double from half a
    second and stop growing at the configured cap."""
    cfg = parse_config(config_text(scene).replace("fps: 20,", "fps: 20, reconnect_max_s: 3,"))
    daemon = Daemon(cfg, camera=Unplugged(), sinks=[ListSink()])
    try:
        daemon.camera.stop = RecordedWaits(7)
        assert daemon.camera.read() is None and daemon.camera.lost
        assert daemon.camera.stop.waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    finally:
        daemon.shutdown()


def test_systemd_notify_ready_watchdog_and_status(scene, tmp_path):
    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(0.1)
    try:
        cfg = parse_config(config_text(scene, realtime="true"))  # paced: the loop lives long enough to pet
        Daemon(cfg, sinks=[ListSink()], notifier=Notifier(str(path))).run()
        messages = []
        while True:
            try:
                messages.append(server.recv(4096).decode())
            except TimeoutError:
                break
    finally:
        server.close()
    lines = [line for m in messages for line in m.split("\n")]
    assert "READY=1" in lines
    assert lines.count("WATCHDOG=1") >= 2
    assert any(line.startswith("STATUS=fps=") for line in lines)
    assert "STOPPING=1" in lines
    assert lines.index("READY=1") < lines.index("WATCHDOG=1")


def _start(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc: subprocess.Popen, text: str, timeout: float = 30) -> list[str]:
    lines = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stderr.readline()
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} not seen: {lines[-5:]}")


@pytest.fixture
def running(scene):
    """``siamese-edge run`` in a subprocess on a looping replay, up and running; killed afterwards."""
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene, loop="true"))
    proc = _start(cfg)
    try:
        _wait_for(proc, "running:")
        yield proc, cfg
    finally:
        proc.kill()


def test_the_daemon_says_in_its_own_line_that_its_models_run_accelerated(scene):
    """LiteRT's native "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." is held back; the
    daemon says it in its own log line while the models load, before it is running (the service
    test reads that line as the proof that models loaded before READY)."""
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene, loop="true"))
    proc = _start(cfg)
    try:
        lines = _wait_for(proc, "running:")
        loaded = [line for line in lines if "models loaded: ai_edge_litert with its XNNPACK delegate" in line]
        assert len(loaded) == 1 and lines.index(loaded[0]) < len(lines) - 1, lines
        assert not any("Created TensorFlow Lite" in line for line in lines), lines
    finally:
        proc.kill()


def _unit_stop_timeout_s() -> float:
    """``TimeoutStopSec`` of the shipped unit: how long systemd waits after SIGTERM before SIGKILL."""
    unit = (REPO / "systemd" / "siamese-edge.service").read_text()
    return float(next(line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("TimeoutStopSec=")))


def test_sigterm_stops_cleanly_before_systemd_would_kill_it(running):
    """On a looping replay (frames never run out) SIGTERM ends the daemon with status 0 and its
    "stopping" event, before the shipped unit's stop timeout would have it SIGKILLed."""
    proc, _ = running
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=_unit_stop_timeout_s())  # TimeoutExpired: systemd would have killed it
    assert rc == 0
    out = proc.stdout.read()
    assert '"type": "stopping"' in out


def test_sighup_with_a_broken_config_keeps_running(running, scene):
    proc, cfg = running
    cfg.write_text("recognition: {votes_needed: many}\n")
    proc.send_signal(signal.SIGHUP)
    lines = _wait_for(proc, "reload refused")
    assert any("recognition -> votes_needed" in line for line in lines)
    time.sleep(0.5)
    assert proc.poll() is None  # still running with the old configuration
    cfg.write_text(config_text(scene, loop="true").replace("cooldown_s: 60", "cooldown_s: 5"))
    proc.send_signal(signal.SIGHUP)
    _wait_for(proc, "configuration reloaded")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0



def test_sighup_reloads_the_config_named_by_the_environment(scene):
    """`SIAMESE_EDGE_CONFIG=… siamese-edge run` (no --config): SIGHUP re-reads that file too (it
    used to be ignored: only a --config file was reloaded)."""
    cfg = scene / "config.yaml"
    cfg.write_text(config_text(scene, loop="true"))
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO), "SIAMESE_EDGE_CONFIG": str(cfg)})
    try:
        _wait_for(proc, "running:")
        cfg.write_text(config_text(scene, loop="true").replace("cooldown_s: 60", "cooldown_s: 5"))
        proc.send_signal(signal.SIGHUP)
        lines = _wait_for(proc, "configuration reloaded")
        assert f"configuration reloaded from {cfg}: applied recognition" in lines[-1]
    finally:
        proc.kill()
        proc.communicate()

INVALID = [
    ("camera: {source: webcam}", "camera -> source"),
    ("camera: {fps: 0}", "camera -> fps"),
    ("camera: {fps: fast}", "camera -> fps"),
    ("camera: {width: 10}", "camera -> width"),
    ("camera: {loop: maybe}", "camera -> loop"),
    ("camera: {resolution: 4k}", "camera -> resolution"),
    ("detector: {model: medium}", "detector -> model"),
    ("detector: {min_score: 1.5}", "detector -> min_score"),
    ("model: {threads: 0}", "model -> threads"),
    ("model: {path: /nonexistent/model.tflite}", "model -> path"),
    ("recognition: {threshold: 2}", "recognition -> threshold"),
    ("recognition: {votes_needed: 6, votes_window: 5}", "recognition -> votes_needed"),
    ("recognition: {cooldown_s: -1}", "recognition -> cooldown_s"),
    ("recognition: {min_face_px: [40]}", "recognition -> min_face_px"),
    ("gallery: {multiple_faces: all}", "gallery -> multiple_faces"),
    ("gallery: {poll_interval_s: 0}", "gallery -> poll_interval_s"),
    ("logging: {format: xml}", "logging -> format"),
    ("events: {queue_size: 0}", "events -> queue_size"),
    ("colour: red", "colour"),
    ("camera: 5", "camera"),
    ("camera: {source: replay, path: /nonexistent/frames}", "camera -> path"),
    ("recognition: {votes_needed: 3\n", "not valid YAML"),
]


@pytest.mark.parametrize(("text", "where"), INVALID)
def test_invalid_config_exits_2_naming_the_key(tmp_path, capsys, text, where):
    path = tmp_path / "config.yaml"
    path.write_text(text + "\n")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert where in err and "Traceback" not in err
    assert main(["run", "--config", str(path)]) == 2  # before any camera or model is touched


def test_shipped_config_yaml_is_valid_and_documented(capsys):
    text = (REPO / "config.yaml").read_text()
    cfg = parse_config(text, base=REPO)
    assert cfg.camera.source == "replay" and cfg.recognition.threshold is None
    for line in text.splitlines():  # every key is commented
        if ":" in line and not line.lstrip().startswith("#") and not line.rstrip().endswith(":"):
            assert "#" in line, line
    # … and every key the program reads appears in it, showing its default value
    import dataclasses

    import yaml

    from edge.config import Config

    data = yaml.safe_load(text)

    def walk(default, node, path):
        for f in dataclasses.fields(default):
            assert f.name in node, f"config.yaml does not document {path}{f.name}"
            value = getattr(default, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, node[f.name], f"{path}{f.name}.")
            else:
                shown = node[f.name]
                assert shown == (list(value) if isinstance(value, tuple) else value), \
                    f"config.yaml shows {path}{f.name}: {shown!r}, the default is {value!r}"

    walk(Config(), data, "")


def test_unusable_gallery_photos_are_explained_in_the_log_once(scene, faces, caplog):
    """Someone drops photos into the gallery and watches the journal: a photo that cannot be used
    is named with its reason, a person with a single usable photo gets advice — once, not at every
    sync."""
    import logging

    (scene / "gallery" / "Rex").mkdir()
    shutil.copy(faces.no_face, scene / "gallery" / "Rex" / "rex.jpg")
    daemon = Daemon(parse_config(config_text(scene)), sinks=[ListSink()])
    with caplog.at_level(logging.WARNING, logger="edge.daemon"):
        daemon.watcher.sync_now()
        daemon.watcher.sync_now()
    lines = [r.getMessage() for r in caplog.records]
    rex = [line for line in lines if "rex.jpg" in line]
    assert len(rex) == 1 and "not used: no face found" in rex[0]
    assert sum("'Rex': no usable photo" in line for line in lines) == 1
    daemon.shutdown()


def test_sighup_applies_logging_events_gallery_and_device_name_live_and_names_the_rest(running, scene, tmp_path):
    proc, cfg = running
    events_file = tmp_path / "events.jsonl"
    other_gallery = tmp_path / "gallery2" / "Barack Obama"
    other_gallery.mkdir(parents=True)
    for p in (scene / "gallery" / "Barack Obama").iterdir():
        shutil.copy(p, other_gallery)
    text = (config_text(scene, loop="true")
            .replace("device_name: test", "device_name: porch")
            .replace("fps: 20", "fps: 15")  # camera: needs a restart
            .replace("logging: {stats_interval_s: 0.5}", "logging: {stats_interval_s: 0.5, format: json}")
            .replace(f"folder: {scene / 'gallery'}", f"folder: {tmp_path / 'gallery2'}"))
    cfg.write_text(text + f"events: {{log_file: {events_file}}}\n")
    proc.send_signal(signal.SIGHUP)
    lines = _wait_for(proc, "configuration reloaded")
    reloaded = json.loads(lines[-1])  # the log is JSON from here on: logging applied
    assert reloaded["msg"].endswith("applied gallery, logging, events, device_name")
    restart = [json.loads(line) for line in lines if line.startswith("{") and "restart" in line]
    assert restart and restart[0]["msg"].startswith("camera changed: not applied until the service restarts")
    _wait_for(proc, "gallery changed")  # the new folder was synced on the watcher's thread
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    written = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert written[-1]["type"] == "stopping" and written[-1]["device"] == "porch"  # events + device_name


def inotify_watches(pid: int) -> int:
    """How many inotify instances the process holds open.

    The daemon opens and closes files all the time (status file, replay frames), so a descriptor
    listed a moment ago may be gone by the time it is read: such a one is not an inotify instance.
    """
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except FileNotFoundError:
            continue
    return count


def test_gallery_watch_false_reads_the_gallery_at_start_and_on_sighup_only(running, scene, faces):
    watched, _ = running  # the default, gallery.watch: true
    assert inotify_watches(watched.pid) == 1
    cfg = scene / "unwatched.yaml"
    unwatched = config_text(scene, loop="true").replace("poll_interval_s: 0.5", "poll_interval_s: 0.5, watch: false")
    cfg.write_text(unwatched)
    proc = _start(cfg)
    try:
        _wait_for(proc, "running: camera replay:replay, 2 people enrolled")
        assert inotify_watches(proc.pid) == 0  # nothing watches the folder (and nothing polls it)
        (scene / "gallery" / "Grace Hopper").mkdir()
        shutil.copy(faces.hopper, scene / "gallery" / "Grace Hopper")
        proc.send_signal(signal.SIGHUP)
        _wait_for(proc, "gallery changed: 3 people from 3 photos")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()


def test_a_heic_photo_from_a_phone_dropped_into_the_gallery_is_enrolled_and_greets_its_person(running, scene,
                                                                                             faces):
    """An iPhone's photo shared as the original stays HEIC (`IMG_0042.HEIC`). Dropped into the
    running daemon's gallery it is enrolled like a JPEG, and the replay's stranger, Grace Hopper, is
    greeted by name from then on. Before, it was passed over: ".HEIC is not a gallery format"."""
    proc, _ = running
    (scene / "gallery" / "Grace Hopper").mkdir()
    write_phone_heic(faces.hopper, scene / "gallery" / "Grace Hopper" / "IMG_0042.HEIC")
    _wait_for(proc, "gallery changed: 3 people from 3 photos", timeout=120)
    _wait_for(proc, "recognized Grace Hopper", timeout=120)


def test_the_mirror_pass_runs_only_for_close_calls_and_changes_no_announcement(scene):
    """The model card's ``mirror_band``: a face far from the decision rule is decided on its crop
    alone; the announcements equal those of mirroring every face."""
    results = {}
    for adaptive in ("true", "false"):
        sink = ListSink()
        cfg = parse_config(config_text(scene).replace("track_timeout_s: 0.2",
                                                      f"track_timeout_s: 0.2, adaptive_mirror: {adaptive}"))
        daemon = Daemon(cfg, sinks=[sink])
        assert daemon.run() == 0
        identified = daemon.faces_seen - daemon.faces_carried
        results[adaptive] = ([(e.type, e.name) for e in sink.events if e.type in ("recognized", "unknown")],
                             daemon.recognizer.mirrored, identified)
    assert results["true"][0] == results["false"][0] == [("recognized", "Barack Obama"), ("unknown", None)]
    assert results["false"][1] == results["false"][2] > 0  # every identified face mirrored
    assert results["true"][1] < results["true"][2] / 2  # most decided on the crop alone
