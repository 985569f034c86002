"""``siamese-edge unknown list|enroll|forget``: from a stranger at the door to a person the daemon
knows, in one command.

The snapshots are those the daemon saves (``snapshots`` in config.yaml, :mod:`edge.snapshots`).
``enroll ID "Name"`` copies the snapshot's JPEG into ``gallery/<Name>/`` with the same rules as
``gallery add`` (a validated name, never overwriting); the running daemon picks it up within
seconds, so the next visit is recognised. The snapshot itself stays until ``forget`` or the
folder's own bounds remove it. Folders default to config.yaml's ``snapshots.folder`` and
``gallery.folder``; ``--snapshots`` and ``--gallery`` override them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import ConfigError
from edge.gallery_commands import _json, add_photos
from edge.printable import printable
from edge.snapshots import Snapshots

if TYPE_CHECKING:
    from edge.config import Config


def _config(args: argparse.Namespace) -> Config:
    from edge.config import load_config

    return load_config(args.config)


def _snapshots(args: argparse.Namespace) -> Path:
    """The snapshots folder: ``--snapshots``, else config.yaml's."""
    from edge.config import snapshots_folder

    return Path(args.snapshots) if args.snapshots else snapshots_folder(_config(args))


def _gallery(args: argparse.Namespace) -> Path:
    """The gallery folder: ``--gallery``, else config.yaml's."""
    return Path(args.gallery) if args.gallery else Path(_config(args).gallery.folder)


def cmd_list(args: argparse.Namespace) -> int:
    folder = _snapshots(args)
    rows = [s.row() for s in Snapshots(folder).list()]
    if args.json:
        print(_json(rows))
        return 0
    if not rows:
        print(f"no snapshots in {printable(folder)}")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.get("time", 0)))
        if "video_s" in r:  # from a recording: where in it to look
            when += f" (at {r['video_s']:.1f} s of the recording)"
        who = r.get("name") or "unknown"
        closest = f"closest {printable(r['closest'])} {r['score']:.3f}" if r.get("closest") and "score" in r else ""
        print(f"{r['id']}  {when}  {who:10s} {closest}  {printable(r['file'])}")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    snapshots_dir, gallery = _snapshots(args), _gallery(args)
    snap = Snapshots(snapshots_dir).get(args.id)
    if snap is None:
        raise ConfigError(f"no snapshot {printable(args.id)!r} in {printable(snapshots_dir)} "
                          "(see `siamese-edge unknown list`)")
    if not gallery.is_dir():
        raise ConfigError(f"gallery folder {printable(gallery)} does not exist (create it, or pass --gallery DIR)")
    return 1 if add_photos(gallery, args.name, [snap.path]) else 0


def cmd_forget(args: argparse.Namespace) -> int:
    folder = _snapshots(args)
    snaps = Snapshots(folder)
    if args.all:
        ids = [s.id for s in snaps.list()]
    elif args.id:
        ids = [args.id]
    else:
        raise ConfigError("name a snapshot ID, or --all")
    missing = [i for i in ids if not snaps.forget(i)]
    for i in missing:
        print(f"error: no snapshot {printable(i)!r} in {printable(folder)}", file=sys.stderr)
    print(f"forgot {len(ids) - len(missing)} snapshot(s)")
    return 1 if missing else 0


def register(sub) -> None:
    u = sub.add_parser("unknown", help="snapshots of announced faces: list, enroll one as a person, forget")
    usub = u.add_subparsers(dest="unknown_command", required=True)

    def common(p: argparse.ArgumentParser, gallery: bool = False) -> None:
        p.add_argument("--snapshots", help="snapshots folder (default: config.yaml's, beside state_dir)")
        if gallery:
            p.add_argument("--gallery", help="gallery folder (default: config.yaml gallery.folder)")
        p.add_argument("--config", help="config.yaml to take defaults from")

    p = usub.add_parser("list", help="id, time, decision, closest person and score, file")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = usub.add_parser("enroll", help="copy a snapshot into gallery/<Name>/ (as `gallery add` would)")
    common(p, gallery=True)
    p.add_argument("id")
    p.add_argument("name")
    p.set_defaults(func=cmd_enroll)

    p = usub.add_parser("forget", help="delete a snapshot (or --all)")
    common(p)
    p.add_argument("id", nargs="?")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_forget)
