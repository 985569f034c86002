"""``siamese-edge unknown list|enroll|forget``: from a stranger at the door to a person the daemon
knows, in one command.

The snapshots are those the daemon saves (``snapshots`` in config.yaml, :mod:`edge.snapshots`).
``list`` tells which unknown snapshots show the same stranger (:mod:`edge.strangers`).
``enroll ID [ID …] "Name"`` copies the snapshots' JPEGs into ``gallery/<Name>/`` with the same rules
as ``gallery add`` (a validated name, never overwriting); the running daemon picks it up within
seconds, so the next visit is recognised. The snapshot itself stays until ``forget`` or the
folder's own bounds remove it. Folders default to config.yaml's ``snapshots.folder`` and
``gallery.folder``; ``--snapshots`` and ``--gallery`` override them.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import ConfigError, ModelFileError
from edge.gallery_commands import _json, add_photos
from edge.printable import printable
from edge.snapshots import Snapshot, Snapshots

if TYPE_CHECKING:
    from edge.config import Config


def _config(args: argparse.Namespace) -> Config:
    """config.yaml, read once per command (the folders and the model and decision all come from it)."""
    from edge.config import load_config

    if getattr(args, "loaded_config", None) is None:
        args.loaded_config = load_config(args.config)
    return args.loaded_config


def _snapshots(args: argparse.Namespace) -> Path:
    """The snapshots folder: ``--snapshots``, else config.yaml's."""
    from edge.config import snapshots_folder

    return Path(args.snapshots) if args.snapshots else snapshots_folder(_config(args))


def _gallery(args: argparse.Namespace) -> Path:
    """The gallery folder: ``--gallery``, else config.yaml's."""
    return Path(args.gallery) if args.gallery else Path(_config(args).gallery.folder)


def cmd_list(args: argparse.Namespace) -> int:
    folder = _snapshots(args)
    snaps = Snapshots(folder).list()
    groups, note = _strangers(args, snaps)
    rows = [s.row() | ({"stranger": groups.get(s.id)} if s.meta.get("kind") == "unknown" else {}) for s in snaps]
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        print(_json(rows))
        return 0
    if not rows:
        print(f"no snapshots in {printable(folder)}")
    for r in rows:
        when = _local(r.get("time", 0))
        if "video_s" in r:  # from a recording: where in it to look
            when += f" (at {r['video_s']:.1f} s of the recording)"
        who = r.get("name") or "unknown"
        stranger = f"stranger {r['stranger']}  " if r.get("stranger") else ""
        closest = f"closest {printable(r['closest'])} {r['score']:.3f}" if r.get("closest") and "score" in r else ""
        print(f"{r['id']}  {when}  {who:10s} {stranger}{closest}  {printable(r['file'])}")
    where = "".join(f" --{flag} {shlex.quote(value)}" for flag, value in (("config", args.config),
                                                                         ("snapshots", args.snapshots)) if value)
    taken_at = {r["id"]: r["time"] for r in rows}  # every listed snapshot has a time (its file's, at least)
    for number in sorted(set(groups.values())):
        ids = [sid for sid, g in groups.items() if g == number]
        if len(ids) > 1:
            times = [taken_at[sid] for sid in ids]
            print(f"stranger {number}: {len(ids)} snapshots, first {_local(min(times))}, last {_local(max(times))}; "
                  f"to enrol them together: siamese-edge unknown enroll{where} {' '.join(ids)} NAME")
    return 0


def _local(seconds: float) -> str:
    """A snapshot's time as the listing shows it: local time to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _strangers(args: argparse.Namespace, snaps: list[Snapshot]) -> tuple[dict[str, int], str | None]:
    """Which unknown snapshots show the same stranger (:mod:`edge.strangers`): a group number per
    snapshot id, by the configured model and decision; and a note when some could not be grouped."""
    import numpy as np

    from edge.from_config import decision_from_config
    from edge.strangers import MAX_GROUPED, group_faces, usable_face
    from edge.vision.card import load_card
    from edge.vision.embedder import model_file, model_id
    from edge.vision.matcher import Matcher

    faces = [s for s in snaps if s.meta.get("kind") == "unknown" and "embedding" in s.meta]
    if not faces:
        return {}, None
    try:
        cfg = _config(args)
        path = model_file(cfg.model.path)
        card, model = load_card(path), model_id(path)
    except (ConfigError, ModelFileError, OSError) as exc:
        return {}, f"strangers not grouped ({printable(exc)})"

    usable = [s for s in faces if usable_face(s.meta, model, card.embedding_size)]
    notes = []
    if len(usable) < len(faces):
        notes.append(f"{len(faces) - len(usable)} snapshot(s) not grouped: taken with another model, or their "
                     "face data was changed")
    if len(usable) > MAX_GROUPED:
        notes.append(f"only the latest {MAX_GROUPED} of {len(usable)} snapshots are grouped")
        usable = usable[-MAX_GROUPED:]
    decision = decision_from_config(card.decision, cfg.recognition)
    numbers = group_faces(np.array([s.meta["embedding"] for s in usable], np.float32),
                          lambda names, emb: Matcher.for_card(card, names, emb, decision))
    return {s.id: n for s, n in zip(usable, numbers, strict=True)}, "; ".join(notes) or None


def cmd_enroll(args: argparse.Namespace) -> int:
    """Every ID is checked before anything is copied: a mistyped one enrols none of them."""
    snapshots_dir, gallery = _snapshots(args), _gallery(args)
    snapshots = Snapshots(snapshots_dir)
    paths = []
    for sid in args.ids:
        snap = snapshots.get(sid)
        if snap is None:
            raise ConfigError(f"no snapshot {printable(sid)!r} in {printable(snapshots_dir)} "
                              "(see `siamese-edge unknown list`); nothing was enrolled")
        paths.append(snap.path)
    if not gallery.is_dir():
        raise ConfigError(f"gallery folder {printable(gallery)} does not exist (create it, or pass --gallery DIR)")
    return 1 if add_photos(gallery, args.name, paths) else 0


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

    p = usub.add_parser("list", help="id, time, decision, stranger, closest person and score, file")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = usub.add_parser("enroll", help="copy snapshots (one or more IDs) into gallery/<Name>/ (as `gallery add` would)")
    common(p, gallery=True)
    p.add_argument("ids", nargs="+", metavar="ID", help="snapshot ids (`unknown list`), one stranger's")
    p.add_argument("name")
    p.set_defaults(func=cmd_enroll)

    p = usub.add_parser("forget", help="delete a snapshot (or --all)")
    common(p)
    p.add_argument("id", nargs="?")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_forget)
