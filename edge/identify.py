"""``siamese-edge identify``: who is in these photos (the seed's main.py, done properly), or recordings."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from edge.annotate import annotate
from edge.camera.replay import VIDEO_SUFFIXES, timecodes_for, timecodes_misplaced
from edge.errors import ImageError
from edge.identify_video import Recording, Visit, look_through
from edge.printable import printable
from edge.private_files import make_folder, modes_inside, picture_name, write_picture
from edge.vision.imageio import IMAGE_SUFFIXES, read_photo
from edge.vision.pipeline import Identified, Recognizer
from edge.vision.preprocess import no_face_reason

log = logging.getLogger(__name__)


def face_record(image: str, r: Identified | None, no_face: str = "") -> dict:
    """One line of ``--json`` output (the contract other checks rely on); ``no_face``: why an image
    with no face has none (its ``reason``)."""
    if r is None:
        return {"image": image, "box": None, "det_score": None, "name": None, "score": None, "runner_up": None,
                "reason": no_face}
    m = r.match
    return {
        "image": image,
        "box": [round(v, 1) for v in r.face.box],
        "det_score": round(r.face.score, 4),
        "name": m.name,
        "score": round(m.score, 4),
        "runner_up": {"name": m.runner_up, "score": round(m.runner_up_score, 4)} if m.runner_up else None,
        "best": m.best,
    }


def run_identify(recognizer: Recognizer, images: list[str], out_dir: str | None, as_json: bool,
                 max_pixels: int, every: float = 0.5, fps: float | None = None,
                 timestamps: str | None = None) -> int:
    """Identify faces in each image or recording; print results; return the number of files that failed.

    ``out_dir`` gets ``<stem>_annotated.jpg`` per image (``<stem>_annotated-2.jpg``… when two inputs
    share a stem, so none hides another, or when a file of the user's has that name: only
    annotations of an earlier run are replaced), and per visit in a recording its best frame,
    ``<stem>_<seconds>s_annotated.jpg``; they show faces, so they are written like the gallery's
    photos: 0600, or 0640 in a folder that grants its group read (a new folder is made 0700).
    A recording (by its suffix, :data:`VIDEO_SUFFIXES`) is looked at every ``every`` seconds;
    ``fps`` is the rate a raw stream's frames are counted at (default: the rate it declares), unless
    a timestamps file gives their times: ``timestamps`` for the one recording given, or else the
    ``.pts`` file beside a raw stream (``rpicam-vid -o door.h264 --save-pts door.pts``)."""
    images, failures = inputs_of(images)  # a folder with nothing to identify counts as one failure
    recordings = [name for name in images if Path(name).suffix.lower() in VIDEO_SUFFIXES]
    if timestamps is not None and len(recordings) != 1:
        print(f"error: --timestamps {printable(timestamps)}: it holds one recording's frame times, and "
              f"{len(recordings)} recordings were given (save each as <name>.pts beside its recording "
              "instead: it is picked up by itself)", file=sys.stderr)
        return failures + 1
    out = Path(out_dir) if out_dir else None
    taken: set[Path] = set()
    if out:
        make_folder(out, 0o700)
    for name in images:
        if name in recordings:
            given = timestamps
            if given is not None and timecodes_misplaced(Path(name)):
                print(f"note: {printable(name)} carries its own timestamps: --timestamps is not used for it",
                      file=sys.stderr)
                given = None
            failures += not _identify_video(recognizer, name, out, as_json, max_pixels, every, fps,
                                            timecodes_for(Path(name), given), taken)
            continue
        try:
            image, note = read_photo(name, max_pixels=max_pixels)
        except ImageError as exc:
            print(f"error: {printable(exc)}", file=sys.stderr)
            failures += 1
            continue
        if note:
            print(f"note: {printable(name)}: {note}", file=sys.stderr)
        results = recognizer.identify(image, photo=True)
        if as_json:
            if not results:
                print(json.dumps(face_record(name, None, no_face_reason(image)), ensure_ascii=False))
            for r in results:
                print(json.dumps(face_record(name, r), ensure_ascii=False))
        else:
            if not results:
                print(f"{name}: {no_face_reason(image)}")
            for r in results:
                m = r.match
                who = m.name or f"unknown (closest: {m.best})"
                x, y, w, h = (round(v) for v in r.face.box)
                print(f"{name}: {who}  score {m.score:.3f}  at x={x} y={y} w={w} h={h}")
        if out:
            failures += not write_annotated(out, Path(name).stem + "_annotated", taken, image, results)
    return failures


def inputs_of(names: list[str]) -> tuple[list[str], int]:
    """The files to identify: each name as given, a folder replaced by the photos and recordings
    directly inside it (by suffix, name order; hidden files and partial downloads left out, as the
    gallery leaves them), and how many folders held none (each named on stderr)."""
    files: list[str] = []
    empty = 0
    for name in names:
        folder = Path(name)
        if not folder.is_dir():
            files.append(name)
            continue
        try:
            inside = sorted(str(p) for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()
                            and p.suffix.lower() in (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES))
        except OSError as exc:
            print(f"error: {printable(name)}: folder cannot be read ({printable(exc.strerror or exc)})",
                  file=sys.stderr)
            empty += 1
            continue
        if not inside:
            print(f"error: {printable(name)}: no photos or recordings in this folder "
                  f"({', '.join(sorted({*IMAGE_SUFFIXES, *VIDEO_SUFFIXES}))})", file=sys.stderr)
            empty += 1
        files += inside
    return files, empty


def _note_timing(name: str, found: Recording, fps: float | None) -> None:
    """Say on stderr where a recording's times came from, when it is not the recording itself: a
    timestamps file, or a count at an assumed rate (and how to give the right one)."""
    shown = printable(name)
    if found.timed_by is not None:
        times = printable(str(found.timed_by))
        print(f"note: {shown}: frame times from {times}", file=sys.stderr)
        if found.past_list:
            print(f"note: {shown}: {times} lists {found.listed} frames, the recording has {found.grabbed}: the last "
                  f"{found.past_list} were counted at {found.counted_at:g} frames a second", file=sys.stderr)
        elif found.grabbed < found.listed:
            print(f"note: {shown}: {times} lists {found.listed} frames, the recording has {found.grabbed}: if it "
                  "was made with rpicam-vid --circular (which keeps only the last frames but lists the times "
                  "of all), its times are off", file=sys.stderr)
        elif fps is not None:
            print(f"note: {shown}: --fps is not used for it", file=sys.stderr)
    elif found.counted_at is not None and fps is None:
        print(f"note: {shown} carries no timestamps (a raw stream, as rpicam-vid records): its times "
              f"count {found.counted_at:g} frames a second; if it was filmed at another rate (rpicam-vid's "
              f"default is 30), give --fps, or record its times with --save-pts {Path(name).stem}.pts "
              "beside it", file=sys.stderr)
    elif found.counted_at is None and fps is not None:
        print(f"note: {shown} carries its own timestamps: --fps is not used for it", file=sys.stderr)


def _identify_video(recognizer: Recognizer, name: str, out: Path | None, as_json: bool, max_pixels: int,
                    every: float, fps: float | None, timecodes: Path | None, taken: set[Path]) -> bool:
    """One recording (:mod:`edge.identify_video`): with ``as_json`` every face of every frame
    looked at (a photo's record plus ``video_s``), otherwise its visits and how much was looked at;
    with ``out``, each visit's best frame annotated (one file per frame, however many people's best
    look it was)."""
    written: set[float] = set()
    ok = True

    def write_best(visit: Visit) -> None:
        nonlocal ok
        if out is None or visit.frame is None or visit.at in written:
            return
        written.add(visit.at)
        ok &= write_annotated(out, f"{Path(name).stem}_{visit.at:.1f}s_annotated", taken, visit.frame, visit.results)

    def print_faces(t: float, results: list[Identified]) -> None:
        for r in results:
            print(json.dumps({**face_record(name, r), "video_s": round(t, 3)}, ensure_ascii=False))

    found = look_through(recognizer, name, every, max_pixels, print_faces if as_json else None,
                         write_best if out else None, fps=fps, timecodes=timecodes)
    if found is None:
        return False
    _note_timing(name, found, fps)
    if found.decoder_errors:
        more = len(found.decoder_errors) - 1
        print(f"note: {printable(name)} is damaged: the decoder met {len(found.decoder_errors)} "
              f"error{'s' if more else ''} in it ({found.decoder_errors[0]!r}{f' and {more} more' if more else ''}); "
              "it showed what it could, and a face in a damaged part of a frame may be missed", file=sys.stderr)
    frames = f"{found.looked} frame{'' if found.looked == 1 else 's'}"
    looked_at = f"{frames} looked at (one every {every:g} s, the last at {found.last_at:.1f} s)"
    if as_json:
        if not found.visits:
            print(json.dumps({**face_record(name, None, f"no face in {looked_at}"), "video_s": None},
                             ensure_ascii=False))
        return ok
    for v in found.visits:
        if v.who:
            print(f"{printable(name)}: {printable(v.who)} {v.when()}  best score {v.best:.3f}")
        else:
            closest = f" (closest: {printable(v.closest)})" if v.closest else ""
            print(f"{printable(name)}: unknown face {v.when()}{closest}")
    print(f"{printable(name)}: {'no face in ' if not found.visits else ''}{looked_at}")
    return ok


def write_annotated(out: Path, stem: str, taken: set[Path], image, results: list[Identified]) -> bool:
    """``out/<stem>.jpg`` — or ``<stem>-2.jpg``… when this run already wrote that name or a file not
    written by this software has it (said on stderr; that file is left as it is): the photo with its
    boxes and names. False (and the reason printed) when it cannot be written."""
    target = out / f"{stem}.jpg"
    try:
        target, foreign = picture_name(target, taken)
        if foreign:
            print(f"note: {printable(foreign)} is not a picture siamese-edge wrote: left as it is; "
                  f"annotated as {printable(target.name)}", file=sys.stderr)
        write_picture(target, annotate(image, results), modes_inside(out)[1])
    except OSError as exc:
        print(f"error: {printable(target)}: not written ({printable(exc.strerror or exc)})", file=sys.stderr)
        return False
    return True
