"""``siamese-edge gallery sync|status|list|add|remove``.

Every subcommand takes ``--gallery DIR`` and ``--state DIR`` so it can be pointed at any folder;
the defaults come from ``config.yaml`` (``gallery.folder``, ``state_dir``). ``sync`` and ``status``
share the cache, so ``status`` after ``sync`` re-embeds nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import sys
from pathlib import Path

from edge.cli_args import count
from edge.errors import ConfigError
from edge.printable import printable


def _json(data: object) -> str:
    """JSON for stdout: readable Unicode, but an undecodable file name (a surrogate escape) is
    written as a ``\\udcxx`` escape instead of crashing a strict UTF-8 stdout."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, indent=2)


def _defaults(args: argparse.Namespace) -> tuple[Path, Path]:
    gallery, state = args.gallery, args.state
    if gallery is None or state is None:
        from edge.config import load_config

        cfg = load_config(args.config)
        gallery = gallery or cfg.gallery.folder
        state = state or cfg.state_dir
    return Path(gallery), Path(state)


def _open(args: argparse.Namespace):
    """The gallery as the service enrols it (``--config``'s model, detector, quality gates and
    limits; ``--gallery``, ``--state``, ``--model``, ``--detector``, ``--threads`` override), so that
    ``status`` reports what the daemon decides and ``sync`` fills the cache the daemon reads."""
    from dataclasses import replace

    from edge.config import load_config
    from edge.from_config import gallery_from_config, recognizer_from_config

    cfg = load_config(args.config)
    folder = Path(args.gallery or cfg.gallery.folder)
    if not folder.is_dir():
        raise ConfigError(f"gallery folder {printable(folder)} does not exist (create it, or pass --gallery DIR)")
    model = replace(cfg.model, path=args.model or cfg.model.path, threads=args.threads or cfg.model.threads)
    cfg = replace(cfg, gallery=replace(cfg.gallery, folder=str(folder)), state_dir=args.state or cfg.state_dir,
                  model=model, detector=replace(cfg.detector, model=args.detector or cfg.detector.model))
    return gallery_from_config(cfg, recognizer_from_config(cfg))


def cmd_sync(args: argparse.Namespace) -> int:
    gallery = _open(args)
    matcher, report = gallery.sync(progress=not args.json and sys.stderr.isatty() or args.progress)
    people = report.people()
    if args.json:
        print(_json({"people": people, "embedded": report.embedded, "files": [f.__dict__ for f in report.files]}))
    else:
        print(f"{len(matcher)} people enrolled from {sum(p['enrolled'] for p in people.values())} photos "
              f"({report.embedded} embedded now, the rest from cache)")
        for name, p in sorted(people.items()):
            print(f"  {printable(name)}: {p['enrolled']} usable, {len(p['rejected'])} rejected")
            for r in p["rejected"]:
                print(f"    ✗ {printable(Path(r['file']).name)}: {r['reason']}")
            for w in p["warnings"]:
                print(f"    ! {printable(w)}")
        for f in report.files:
            if f.person is None:
                print(f"  skipped {printable(f.path)}: {f.reason}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    gallery = _open(args)
    _, report = gallery.sync()
    if args.json:
        print(_json([f.__dict__ for f in report.files]))
    else:
        for f in report.files:
            print(f"{f.state:9} {printable(f.path)}" + (f"  ({printable(f.reason)})" if f.reason else "")
                  + (f"  ! {printable(f.warning)}" if f.warning else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gallery.layout import scan

    folder, _ = _defaults(args)
    files, _ = scan(folder)
    people: dict[str, int] = {}
    for f in files:
        people[f.person] = people.get(f.person, 0) + 1
    if args.json:
        print(_json(people))
    else:
        for name, n in sorted(people.items()):
            print(f"{printable(name)}\t{n} photo{'s' if n != 1 else ''}")
    return 0


def add_photos(gallery: Path, name: str, images: list[Path]) -> int:
    """Copy photos into ``gallery/<name>/`` (a validated direct child; never overwriting: a taken
    name gets ``-1``, ``-2``…), refusing non-images; prints each result; returns the failures. A
    photo already in that folder (the same bytes under any name) is named and not copied again, so
    running the same command twice does not enrol each photo twice.

    Modes come from the gallery folder, not the umask: the installed gallery (2770) gets person
    folders its group may enrol into (2770) and photos the service can read (0640) even from a user
    whose umask is 077; a private gallery (0700) keeps them private (0700, 0600). Nobody outside the
    folder's group can read them either way. A gallery folder that does not exist yet is made 0700."""
    from edge.private_files import copy_new, make_folder, modes_inside
    from edge.vision.imageio import decode_image, read_bytes_limited
    from gallery.layout import person_folder

    target = person_folder(gallery, name)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ConfigError(f"{printable(target)} exists and is not a folder")
    usable: list[tuple[Path, str]] = []
    for src in images:
        try:
            data = read_bytes_limited(src)
            decode_image(data, str(src))  # refuse non-images before copying them in
        except Exception as exc:  # noqa: BLE001 - reported per file
            print(f"error: {printable(exc)}", file=sys.stderr)
            continue
        usable.append((src, hashlib.sha256(data).hexdigest()))
    if not usable:  # no empty person folder for a name whose every photo was refused
        return len(images)
    try:
        make_folder(gallery, 0o700)
        make_folder(target, modes_inside(gallery)[0])
        photo_mode = modes_inside(target)[1]
    except OSError as exc:
        print(f"error: {printable(target)}: the folder cannot be made ({printable(exc.strerror or exc)}); "
              f"nothing was copied", file=sys.stderr)
        return len(images)
    failed = len(images) - len(usable)
    present = _photos_by_hash(target)
    for src, sha in usable:
        if sha in present:
            print(f"already there: {printable(present[sha])} (the same photo as {printable(src)})")
            continue
        try:
            dest = copy_new(src, target / _enrolled_name(src), photo_mode)
        except OSError as exc:  # a full disk: this photo is named, nothing half-copied is left
            print(f"error: {printable(src)}: not copied into {printable(target)} ({printable(exc.strerror or exc)})",
                  file=sys.stderr)
            failed += 1
            continue
        present[sha] = dest
        print(f"added {printable(dest)}")
    return failed


def _enrolled_name(src: Path) -> str:
    """The name a copy of ``src`` gets in the gallery: its own, less what would make the gallery pass
    it over — hidden (``.selfie.jpg``), ``_``/``~`` in front (``_DSC1234.jpg``, a camera's Adobe RGB
    naming), an editor's trailing ``~``, bytes that are not UTF-8 — with a photo suffix."""
    from gallery.layout import GALLERY_SUFFIXES

    suffix = src.suffix.lower() if src.suffix.lower() in GALLERY_SUFFIXES else ".jpg"
    stem = src.stem.lstrip("._~").rstrip("~")
    try:
        stem.encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes of a non-UTF-8 name
        stem = ""
    return (stem or "photo") + suffix


def _photos_by_hash(folder: Path) -> dict[str, Path]:
    """sha256 → file, for the photos directly in ``folder`` (links and unreadable files left out)."""
    from edge.vision.assets import sha256_of
    from gallery.layout import GALLERY_SUFFIXES

    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in GALLERY_SUFFIXES or p.is_symlink() or not p.is_file():
            continue
        try:
            out.setdefault(sha256_of(p), p)
        except OSError:
            continue
    return out


def _mount_points() -> list[Path] | None:
    """Every mount point this process sees (``/proc/self/mountinfo``), or ``None`` where it cannot
    be read. Bind mounts of a folder on the same file system show only here, not as a change of
    device."""
    try:
        lines = Path("/proc/self/mountinfo").read_text(errors="surrogateescape").splitlines()
    except OSError:
        return None
    octal = re.compile(r"\\([0-7]{3})")  # the kernel writes space, tab, newline and backslash as \ooo
    return [Path(octal.sub(lambda m: chr(int(m.group(1), 8)), f[4])) for f in map(str.split, lines) if len(f) > 4]


def _mount_inside(top: Path) -> Path | None:
    """``top`` itself or the first folder under it that is a mount point (a bind mount, a USB stick,
    a backup drive), or None; without ``/proc``, a folder on another device is the sign.

    ``rmtree`` never follows symlinks but does descend into mounts: whatever is mounted in a person's
    folder would be emptied with it, so removal refuses instead."""
    mounts = _mount_points()
    if mounts is not None:
        real = top.resolve()
        return next((top / m.relative_to(real) for m in mounts if m == real or real in m.parents), None)
    device = top.lstat().st_dev
    for root, dirs, _ in os.walk(top, followlinks=False):
        for d in dirs:
            path = Path(root) / d
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode) and st.st_dev != device:
                return path
    return None


def cmd_add(args: argparse.Namespace) -> int:
    folder, _ = _defaults(args)
    return 1 if add_photos(folder, args.name, [Path(i) for i in args.images]) else 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Delete one person's folder (and their seed-layout photos) — only ever a real, direct child of
    the gallery, named exactly; a symlinked folder is refused rather than followed."""
    from gallery.layout import flat_photos, person_folder

    folder, _ = _defaults(args)
    if not folder.is_dir():
        raise ConfigError(f"gallery folder {printable(folder)} does not exist (pass --gallery DIR)")
    target = person_folder(folder, args.name)
    name = target.name
    if target.is_symlink():
        raise ConfigError(f"{printable(target)} is a symlink: remove it yourself, nothing was deleted")
    is_person = target.is_dir()
    if is_person and (mount := _mount_inside(target)) is not None:
        where = "is itself a mount point" if mount == target else \
            f"has another file system mounted inside it ({printable(mount)})"
        raise ConfigError(f"{printable(target)} {where}: unmount or move it first, nothing was deleted")
    flat = flat_photos(folder, name)
    if not is_person and not flat:
        print(f"error: nobody called {printable(name)!r} in {printable(folder)}", file=sys.stderr)
        return 1
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: refusing to delete photos without confirmation; pass --yes", file=sys.stderr)
            return 2
        answer = input(f"Delete {printable(target)} and every photo of {printable(name)}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    if is_person:
        shutil.rmtree(target)  # never follows symlinks inside: only the links themselves go
    for p in flat:
        p.unlink()
    print(f"removed {printable(name)}")
    return 0


def register(sub) -> None:
    g = sub.add_parser("gallery", help="enrollment folder: sync, status, list, add, remove")
    gsub = g.add_subparsers(dest="gallery_command", required=True)

    def common(p: argparse.ArgumentParser, model: bool = True) -> None:
        p.add_argument("--gallery", help="gallery folder (default: config.yaml gallery.folder)")
        p.add_argument("--state", help="state folder for the cache (default: config.yaml state_dir)")
        p.add_argument("--config", help="config.yaml to take defaults from")
        if model:
            p.add_argument("--model", help="embedding .tflite (default: config.yaml model.path)")
            p.add_argument("--detector", choices=["auto", "full", "short"],
                           help="BlazeFace model (default: config.yaml detector.model)")
            p.add_argument("--threads", type=count(1, 16),
                           help="interpreter threads (default: config.yaml model.threads)")

    p = gsub.add_parser("sync", help="enroll new and changed photos, forget removed ones")
    common(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--progress", action="store_true", help="progress bar even when not on a terminal")
    p.set_defaults(func=cmd_sync)
    p = gsub.add_parser("status", help="every file with its state (enrolled/rejected/pending) and reason")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = gsub.add_parser("list", help="people and their photo counts")
    common(p, model=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = gsub.add_parser("add", help="copy photos into a person's folder")
    common(p, model=False)
    p.add_argument("name")
    p.add_argument("images", nargs="+")
    p.set_defaults(func=cmd_add)
    p = gsub.add_parser("remove", help="delete a person's folder (asks first, or --yes)")
    common(p, model=False)
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_remove)
