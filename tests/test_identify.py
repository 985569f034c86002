"""``siamese-edge identify``: the JSON contract, annotated output, real names, and bad inputs."""

import json
import os
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge.cli import main
from tests.conftest import REPO
from tests.scenes import damaged_copy, doorbell_frames, frame_of, write_raw_h264, write_raw_mjpeg

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


# --------------------------------------------------------------------------- recordings


@pytest.fixture
def doorbell_clip(faces, tmp_path):
    """A 2 fps clip: Obama at 1.0–3.5 s (looking away at 2.5 s), nobody until 6.0 s, a stranger
    (Eileen Collins) at 6.0–7.0 s, Obama again at 7.5 s."""
    return _doorbell(faces, tmp_path / "door.avi", fps=2)


def _doorbell(faces, clip, fps: int):
    """The doorbell clip, in an MJPEG AVI."""
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    assert writer.isOpened()
    for frame in doorbell_frames(faces, fps):
        writer.write(frame)
    writer.release()
    return clip


def _empty_hall(path) -> None:
    """A 2 fps clip of four frames with nobody in them."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 2, (640, 480))
    for _ in range(4):
        writer.write(frame_of(None))
    writer.release()


def _identify(*args: str, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "edge.cli", "identify", *args], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:strict"}, timeout=300,
                       cwd=cwd)
    assert "Traceback" not in r.stderr, r.stderr[-1500:]
    return r


def test_a_recording_is_told_as_visits_with_their_times(gallery, doorbell_clip, tmp_path):
    """`identify clip.avi` says who was seen when: frames a person is named in become one visit
    (a single missed look bridged), a stranger is an unknown face with the closest person, and each
    visit's best frame is written annotated with `--out`."""
    out = tmp_path / "out"
    r = _identify("--gallery", str(gallery), "--out", str(out), str(doorbell_clip))
    _assert_doorbell_visits(r, doorbell_clip, last_at="7.5")
    written = sorted(p.name for p in out.iterdir())
    assert written == ["door_1.0s_annotated.jpg", "door_6.0s_annotated.jpg", "door_7.5s_annotated.jpg"]
    for name in written:
        picture = cv2.imread(str(out / name))
        assert picture.shape == (480, 640, 3)
        assert (out / name).stat().st_mode & 0o777 == 0o600  # face pictures: private


def test_stderr_holds_nothing_but_what_the_command_itself_says(gallery, faces):
    """LiteRT's native "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." used to open every
    command's output; it is held back, and the command's own lines are all that remain."""
    r = _identify("--gallery", str(gallery), str(faces.obama[2]))
    assert r.returncode == 0 and "Barack Obama" in r.stdout
    assert "TensorFlow Lite" not in r.stderr and "XNNPACK" not in r.stderr
    assert all(line.startswith("INFO gallery.sync:") for line in r.stderr.splitlines()), r.stderr


def test_frames_between_looks_are_passed_over_and_the_visits_are_the_same(faces, gallery, tmp_path):
    """The doorbell clip filmed at 10 fps: the frames between two looks are only grabbed, never
    decoded into pictures, and the visits, their times and the frames looked at are those of the
    2 fps clip (the recording's own clock decides which frame is looked at)."""
    clip = _doorbell(faces, tmp_path / "door10.avi", fps=10)
    _assert_doorbell_visits(_identify("--gallery", str(gallery), str(clip)), clip, last_at="7.9")


@pytest.mark.parametrize("name, write", [("door.h264", write_raw_h264), ("door.mjpeg", write_raw_mjpeg)])
def test_a_raw_stream_as_rpicam_vid_records_is_timed_by_its_frame_rate(faces, gallery, tmp_path, name, write):
    """`rpicam-vid -o door.h264` (or `--codec mjpeg`) records a raw stream with no timestamps
    (OpenCV says 0 s for every H.264 frame; FFmpeg makes MJPEG's up at 25 a second). Its frames are
    counted at the rate given with `--fps`, so the doorbell clip filmed at 10 fps tells the same
    visits as the AVI; before, every H.264 frame lay at 0 s and one look was made, and MJPEG's
    times were 2.5 times too fast. Without `--fps` the times count 25 frames a second, and a note
    says so."""
    clip = write(tmp_path / name, doorbell_frames(faces, 10), fps=10)
    told = _identify("--gallery", str(gallery), "--fps", "10", str(clip))
    _assert_doorbell_visits(told, clip, last_at="7.9")
    assert "note:" not in told.stderr
    assumed = _identify("--gallery", str(gallery), str(clip))
    assert assumed.returncode == 0, assumed.stderr[-1500:]
    assert f"note: {clip} carries no timestamps (a raw stream, as rpicam-vid records): its times count 25 " \
           "frames a second" in assumed.stderr and "give --fps" in assumed.stderr
    # 80 frames counted at 25 a second: the last at 3.16 s; a look every 0.5 s of that clock falls on
    # frames 0, 13, 26, 38 …, and Obama's frames 10-24 and 30-39 are seen at 0.52 and 1.52 s
    assert assumed.stdout.splitlines()[-1] == f"{clip}: 7 frames looked at (one every 0.5 s, the last at 3.2 s)"
    assert f"{clip}: Barack Obama at 0.5 to 1.5 s  best score 0.9" in assumed.stdout, assumed.stdout


def test_a_damaged_recording_is_looked_through_and_said_to_be_damaged_in_one_note(faces, gallery, tmp_path):
    """A raw stream with bytes flipped in its middle (a card pulled out while recording, a bad
    copy): FFmpeg conceals what it cannot decode and the recording is still looked through, and
    instead of FFmpeg's own lines (``[h264 @ 0x55…] error while decoding MB 25 6, …``, one per
    damaged block and decoder thread) one note says the file is damaged and what the decoder met.
    The undamaged stream gets no such note."""
    clean = write_raw_h264(tmp_path / "door.h264", doorbell_frames(faces, 10), fps=10)
    damaged = damaged_copy(clean, tmp_path / "damaged.h264")
    told = _identify("--gallery", str(gallery), "--fps", "10", str(clean), str(damaged))
    assert told.returncode == 0, told.stderr[-1500:]
    assert f"{clean} is damaged" not in told.stderr and "@ 0x" not in told.stderr, told.stderr
    notes = [line for line in told.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, told.stderr
    assert re.fullmatch(rf"note: {re.escape(str(damaged))} is damaged: the decoder met \d+ errors? in it "
                        r"\('.+'( and \d+ more)?\); it showed what it could, and a face in a damaged part of a "
                        r"frame may be missed", notes[0]), notes[0]
    # the clean stream's visits as ever; the damaged one is looked at to its end (its decoder gives
    # up on a frame at about 3.6 s, which used to end the recording there: "8 frames looked at")
    assert told.stdout.splitlines()[3] == f"{clean}: 16 frames looked at (one every 0.5 s, the last at 7.9 s)"
    assert re.fullmatch(rf"{re.escape(str(damaged))}: 1[56] frames looked at \(one every 0.5 s, the last at 7.[89] s\)",
                        told.stdout.splitlines()[-1]), told.stdout


def test_a_recording_shows_its_progress_on_a_terminal(faces, gallery, tmp_path):
    """On a terminal, each recording gets a progress bar (frames read, their rate), drawn through
    the filter that takes FFmpeg's lines off stderr — whether stderr is a terminal is asked before
    that filter stands in for it — and cleared before the visits are told."""
    import pty
    import select

    clip = write_raw_h264(tmp_path / "door.h264", doorbell_frames(faces, 10), fps=10)
    master, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "identify", "--gallery", str(gallery), "--fps", "10",
                             str(clip)], stdin=terminal, stdout=terminal, stderr=terminal,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    os.close(terminal)
    shown = b""
    try:
        while select.select([master], [], [], 300)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other side closed: the command has ended
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        proc.kill()
        assert proc.wait(timeout=60) == 0
    text = shown.decode()
    assert re.search(r"\rdoor\.h264: \d+frame \[\d\d:\d\d, ", text), text
    assert f"{clip}: Barack Obama at 1.0 to 3.5 s" in text and "Traceback" not in text, text


def test_a_stderr_that_cannot_be_written_costs_nothing_on_stdout(faces, gallery, tmp_path):
    """`identify … 2>>log` with the disk full (here /dev/full): its notes and log lines are lost,
    its results are not. The damaged stream's note used to fail the whole recording (exit 1, no
    visits printed), and a closed stderr (`2>&-`) failed it the same way."""
    damaged = damaged_copy(write_raw_h264(tmp_path / "clean.h264", doorbell_frames(faces, 10), fps=10),
                           tmp_path / "door.h264")
    command = [sys.executable, "-m", "edge.cli", "identify", "--gallery", str(gallery), "--fps", "10", str(damaged)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with open("/dev/full", "w") as full:
        r = subprocess.run(command, stdout=subprocess.PIPE, stderr=full, text=True, env=env, timeout=300)
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == f"{damaged}: 16 frames looked at (one every 0.5 s, the last at 7.9 s)"
    r = subprocess.run(command, stdout=subprocess.PIPE, stderr=None, text=True, env=env, timeout=300,
                       preexec_fn=lambda: os.close(2))
    assert r.returncode == 0 and "note:" not in r.stdout, r.stdout  # Python's print would put notes there
    assert r.stdout.splitlines()[-1] == f"{damaged}: 16 frames looked at (one every 0.5 s, the last at 7.9 s)"


def test_ffmpegs_lines_are_told_apart_from_the_rest_coloured_or_not():
    """FFmpeg colours its lines when the first one it wrote went to a terminal; either way each
    distinct message is kept once (frame threads repeat them), and no other line is taken."""
    from edge.identify_video import DecoderErrors

    decoder = DecoderErrors()
    lines = [b"\x1b[0m[\x1b[0;33mh264 @ 0x55d0c8f5a600\x1b[0m] \x1b[0;31merror while decoding MB 25 6\x1b[0m",
             b"[h264 @ 0x55d0c8f5bf80] error while decoding MB 25 6", b"[h264 @ 0x55d0c8f5bf80] missing picture",
             b"INFO gallery.sync: enrolling", b"[not ffmpeg] a line of the user's", b""]
    assert [decoder.take(line) for line in lines] == [True, True, True, False, False, False]
    assert decoder.messages == ["error while decoding MB 25 6", "missing picture"]


def test_a_recording_that_cannot_be_opened_says_what_the_decoder_said(gallery, tmp_path):
    """A recording whose container is cut before its index: the error, and FFmpeg's reason in one note."""
    cut = tmp_path / "door.mp4"
    cut.write_bytes(b"\0\0\0\x18ftypmp42" + bytes(64))
    told = _identify("--gallery", str(gallery), str(cut))
    assert told.returncode == 1
    assert told.stderr.splitlines()[-2:] == [f"error: {cut}: cannot be opened as a video",
                                              f"note: {cut}: the decoder says: moov atom not found"], told.stderr


def _write_timecodes(path, times_ms) -> None:
    """A timestamps file as `rpicam-vid --save-pts` writes it."""
    path.write_text("# timecode format v2\n" + "".join(f"{t:.3f}\n" for t in times_ms))


def test_a_raw_stream_takes_its_frame_times_from_rpicam_vids_timestamps_file(faces, gallery, tmp_path):
    """`rpicam-vid -o door.h264 --save-pts door.pts`: when the Pi's encoder falls behind it drops
    frames, and counting the frames that are left at the nominal rate makes the visits too early.
    The doorbell clip filmed at 10 fps with two frames in every five dropped: with `door.pts` beside
    it, picked up by itself, the visits are the AVI's to the frame, and a note says where the times
    came from; the same file under another name is given with `--timestamps`. Counted at 10 fps
    instead, the clip would end at 4.7 s."""
    kept = [i for i in range(80) if i % 5 not in (2, 3)]
    frames = list(doorbell_frames(faces, 10))
    clip = write_raw_h264(tmp_path / "door.h264", (frames[i] for i in kept), fps=10)
    counted = _identify("--gallery", str(gallery), "--fps", "10", str(clip))
    assert counted.stdout.splitlines()[-1].endswith("the last at 4.7 s)"), counted.stdout

    _write_timecodes(tmp_path / "door.pts", [100 * i for i in kept])
    beside = _identify("--gallery", str(gallery), str(clip))
    _assert_doorbell_visits(beside, clip, last_at="7.9")
    assert beside.stderr.splitlines()[-1] == f"note: {clip}: frame times from {tmp_path / 'door.pts'}"

    (tmp_path / "door.pts").rename(tmp_path / "timestamps.txt")
    given = _identify("--gallery", str(gallery), "--timestamps", str(tmp_path / "timestamps.txt"), str(clip))
    _assert_doorbell_visits(given, clip, last_at="7.9")
    assert f"note: {clip}: frame times from {tmp_path / 'timestamps.txt'}" in given.stderr


def test_a_timestamps_file_that_cannot_be_used_is_named_with_its_line_and_the_rest_identified(
        faces, gallery, doorbell_clip, tmp_path):
    """A damaged `door.pts` (a line that is not a time, times going back, not the format at all)
    fails its recording with the file and line named, exit 1, and the other recordings are still
    told; `--timestamps` with two recordings is refused before anything is looked at (which would it
    belong to?), and so is one that does not exist."""
    clip = write_raw_h264(tmp_path / "door.h264", (frame_of(None) for _ in range(4)), fps=2)
    for text, reason in [("# timecode format v2\n0.000\n500.000\nabc\n", "line 4: 'abc' is not a time in milliseconds"),
                         ("# timecode format v2\n0\n500\n400\n", "line 4: 400 ms comes before the frame above it"),
                         ("0.000\n500.000\n", "its first line is not '# timecode format v2'")]:
        (tmp_path / "door.pts").write_text(text)
        r = _identify("--gallery", str(gallery), str(clip), str(doorbell_clip))
        assert r.returncode == 1
        assert f"error: {clip}: timestamps {tmp_path / 'door.pts'}: {reason}" in r.stderr, r.stderr
        assert f"{doorbell_clip}: Barack Obama at 1.0 to 3.5 s" in r.stdout

    two = _identify("--gallery", str(gallery), "--timestamps", str(tmp_path / "door.pts"), str(clip),
                    str(doorbell_clip))
    assert two.returncode == 1 and two.stdout == ""
    assert "it holds one recording's frame times, and 2 recordings were given" in two.stderr
    missing = _identify("--gallery", str(gallery), "--timestamps", str(tmp_path / "nope.pts"), str(clip))
    assert missing.returncode == 2 and f"--timestamps {tmp_path / 'nope.pts'}: no such file" in missing.stderr


def test_fps_for_a_recording_that_carries_its_own_timestamps_changes_nothing(gallery, doorbell_clip):
    r = _identify("--gallery", str(gallery), "--fps", "30", str(doorbell_clip))
    _assert_doorbell_visits(r, doorbell_clip, last_at="7.5")
    assert f"note: {doorbell_clip} carries its own timestamps: --fps is not used for it" in r.stderr


def _assert_doorbell_visits(r: subprocess.CompletedProcess, clip, last_at: str) -> None:
    """The doorbell clip's story: Obama, a stranger, Obama again, and 16 looks."""
    assert r.returncode == 0, r.stderr[-1500:]
    lines = r.stdout.splitlines()
    assert len(lines) == 4, r.stdout
    assert lines[0].startswith(f"{clip}: Barack Obama at 1.0 to 3.5 s  best score 0.9")
    assert lines[1].startswith(f"{clip}: unknown face at 6.0 to 7.0 s (closest: ")
    assert lines[2].startswith(f"{clip}: Barack Obama at 7.5 s  best score 0.9")
    assert lines[3] == f"{clip}: 16 frames looked at (one every 0.5 s, the last at {last_at} s)"


def test_a_recording_in_json_gives_every_face_of_every_frame_looked_at(gallery, doorbell_clip):
    r = _identify("--gallery", str(gallery), "--json", "--every", "1", str(doorbell_clip))
    assert r.returncode == 0, r.stderr[-1500:]
    rows = _lines(r.stdout)
    assert all(KEYS | {"video_s"} <= set(row) and row["image"] == str(doorbell_clip) for row in rows)
    # one frame a second: 0, 1, …, 7 s (the frame at 7.5 s is between two looks)
    assert [(row["video_s"], row["name"]) for row in rows] == [
        (1.0, "Barack Obama"), (2.0, "Barack Obama"), (3.0, "Barack Obama"), (6.0, None), (7.0, None)]


def test_a_recording_with_nobody_in_it_says_so(gallery, tmp_path):
    clip = tmp_path / "empty hall.avi"
    _empty_hall(clip)
    r = _identify("--gallery", str(gallery), str(clip))
    assert r.returncode == 0
    assert r.stdout == f"{clip}: no face in 4 frames looked at (one every 0.5 s, the last at 1.5 s)\n"
    (row,) = _lines(_identify("--gallery", str(gallery), "--json", str(clip)).stdout)
    assert row["box"] is None and row["video_s"] is None and row["reason"].startswith("no face in 4 frames")


def test_recordings_that_cannot_be_read_are_named_and_the_rest_identified(faces, gallery, doorbell_clip, tmp_path):
    """A text file named .mp4, a FIFO with a video's name, a missing file, frames over
    `--max-pixels` (refused from the header, nothing decoded): one line each, exit 1, no hang, and the
    photo after them is still identified."""
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # opening it would wait for a writer for ever
    r = _identify("--gallery", str(gallery), "--max-pixels", "200000", str(text), str(fifo),
                  str(tmp_path / "missing.mov"), str(doorbell_clip), str(faces.obama[2]))
    assert r.returncode == 1
    assert f"error: {text}: cannot be opened as a video" in r.stderr
    assert f"error: {fifo}: not a regular file" in r.stderr
    assert f"error: {tmp_path / 'missing.mov'}: no such file" in r.stderr
    assert f"error: {doorbell_clip}: frames of 640×480 pixels, more than --max-pixels 200000" in r.stderr
    assert r.stdout.startswith(f"{faces.obama[2]}: Barack Obama  score 0.9") and r.stdout.count("\n") == 1


def test_a_folder_is_identified_photo_by_photo_and_recording_by_recording(faces, gallery, doorbell_clip, tmp_path):
    """`identify FOLDER` (as face_recognition's command takes one): every photo and recording
    directly inside it, in name order; other files, hidden ones and partial downloads left alone.
    A folder with nothing to identify is named, exit 1."""
    party = tmp_path / "party"
    party.mkdir()
    shutil.copy(faces.obama[2], party / "b obama.jpg")
    shutil.copy(faces.collins, party / "a guest.png")
    shutil.copy(doorbell_clip, party / "c door.avi")
    (party / "notes.txt").write_text("not a photo")
    shutil.copy(faces.biden, party / ".hidden.jpg")
    shutil.copy(faces.biden, party / "d biden.jpg.part")
    (party / "nested").mkdir()
    shutil.copy(faces.biden, party / "nested" / "biden.jpg")
    r = _identify("--gallery", str(gallery), str(party))
    assert r.returncode == 0, r.stderr[-1500:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"{party / 'a guest.png'}: unknown (closest: ")
    assert lines[1].startswith(f"{party / 'b obama.jpg'}: Barack Obama  score 0.9")
    assert lines[2].startswith(f"{party / 'c door.avi'}: Barack Obama at 1.0 to 3.5 s")
    # the hidden photo, the partial download and the nested folder's are not looked at
    assert len(lines) == 6 and not any(line.split(": ")[1].startswith("Joe Biden") for line in lines)
    assert "notes.txt" not in r.stdout + r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a photo")
    r = _identify("--gallery", str(gallery), str(empty), str(faces.obama[2]))
    assert r.returncode == 1 and f"error: {empty}: no photos or recordings in this folder" in r.stderr
    assert r.stdout.startswith(f"{faces.obama[2]}: Barack Obama")


def test_a_recording_named_like_an_ffmpeg_protocol_is_read_as_the_file_it_is(gallery, doorbell_clip, tmp_path):
    """FFmpeg reads `concat:a|b`, `subfile:…` or `http:…` as a protocol: a file named
    `concat:door.avi` in the folder identified (`identify .` gives names without a leading ./) would
    have played door.avi instead of itself. It is opened by its absolute name."""
    assert doorbell_clip == tmp_path / "door.avi"  # Obama walks by in it
    _empty_hall(tmp_path / "concat:door.avi")
    r = _identify("--gallery", str(gallery), "concat:door.avi", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout == "concat:door.avi: no face in 4 frames looked at (one every 0.5 s, the last at 1.5 s)\n"
