"""``siamese-edge gallery sync|status|list|add|remove``.

Every subcommand takes ``--gallery DIR`` and ``--state DIR`` so it can be pointed at any folder;
the defaults come from ``config.yaml`` (``gallery.folder``, ``state_dir``). ``sync`` and ``status``
share the cache, so ``status`` after ``sync`` re-embeds nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from edge.errors import ConfigError


def _defaults(args: argparse.Namespace) -> tuple[Path, Path]:
    gallery, state = args.gallery, args.state
    if gallery is None or state is None:
        from edge.config import load_config

        cfg = load_config(args.config)
        gallery = gallery or cfg.gallery.folder
        state = state or cfg.state_dir
    return Path(gallery), Path(state)


def _open(args: argparse.Namespace):
    from edge.pipeline import Recognizer
    from gallery.sync import Gallery

    folder, state = _defaults(args)
    if not folder.is_dir():
        raise ConfigError(f"gallery folder {folder} does not exist (create it, or pass --gallery DIR)")
    rec = Recognizer(args.model, detector_model=args.detector, num_threads=args.threads)
    return Gallery(rec, folder, state)


def cmd_sync(args: argparse.Namespace) -> int:
    gallery = _open(args)
    matcher, report = gallery.sync(progress=not args.json and sys.stderr.isatty() or args.progress)
    people = report.people()
    if args.json:
        print(json.dumps({"people": people, "embedded": report.embedded,
                          "files": [f.__dict__ for f in report.files]}, ensure_ascii=False, indent=2))
    else:
        print(f"{len(matcher)} people enrolled from {sum(p['enrolled'] for p in people.values())} photos "
              f"({report.embedded} embedded now, the rest from cache)")
        for name, p in sorted(people.items()):
            print(f"  {name}: {p['enrolled']} usable, {len(p['rejected'])} rejected")
            for r in p["rejected"]:
                print(f"    ✗ {Path(r['file']).name}: {r['reason']}")
            for w in p["warnings"]:
                print(f"    ! {w}")
        for f in report.files:
            if f.person is None:
                print(f"  skipped {f.path}: {f.reason}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    gallery = _open(args)
    _, report = gallery.sync()
    if args.json:
        print(json.dumps([f.__dict__ for f in report.files], ensure_ascii=False, indent=2))
    else:
        for f in report.files:
            print(f"{f.state:9} {f.path}" + (f"  ({f.reason})" if f.reason else ""))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from gallery.layout import scan

    folder, _ = _defaults(args)
    files, _ = scan(folder)
    people: dict[str, int] = {}
    for f in files:
        people[f.person] = people.get(f.person, 0) + 1
    if args.json:
        print(json.dumps(people, ensure_ascii=False, indent=2))
    else:
        for name, n in sorted(people.items()):
            print(f"{name}\t{n} photo{'s' if n != 1 else ''}")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from edge.imageio import read_image
    from gallery.layout import GALLERY_SUFFIXES

    folder, _ = _defaults(args)
    if "/" in args.name or args.name.startswith(".") or not args.name.strip():
        raise ConfigError(f"person name {args.name!r} cannot contain '/' or start with '.'")
    target = folder / args.name.strip()
    target.mkdir(parents=True, exist_ok=True)
    failed = 0
    for image in args.images:
        src = Path(image)
        try:
            read_image(src)  # refuse non-images before copying them in
        except Exception as exc:  # noqa: BLE001 - reported per file
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        suffix = src.suffix.lower() if src.suffix.lower() in GALLERY_SUFFIXES else ".jpg"
        dest = target / (src.stem + suffix)
        n = 1
        while dest.exists():
            dest = target / f"{src.stem}-{n}{suffix}"
            n += 1
        tmp = target / f".{dest.name}.part"
        shutil.copyfile(src, tmp)
        tmp.replace(dest)
        print(f"added {dest}")
    return 1 if failed else 0


def cmd_remove(args: argparse.Namespace) -> int:
    folder, _ = _defaults(args)
    target = folder / args.name
    flat = [p for p in folder.glob(f"{args.name}.*") if p.is_file()]
    if not target.is_dir() and not flat:
        print(f"error: nobody called {args.name!r} in {folder}", file=sys.stderr)
        return 1
    if not args.yes:
        if not sys.stdin.isatty():
            print("error: refusing to delete photos without confirmation; pass --yes", file=sys.stderr)
            return 2
        answer = input(f"Delete {target} and every photo of {args.name}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    if target.is_dir():
        shutil.rmtree(target)
    for p in flat:
        p.unlink()
    print(f"removed {args.name}")
    return 0


def register(sub) -> None:
    g = sub.add_parser("gallery", help="enrollment folder: sync, status, list, add, remove")
    gsub = g.add_subparsers(dest="gallery_command", required=True)

    def common(p: argparse.ArgumentParser, model: bool = True) -> None:
        p.add_argument("--gallery", help="gallery folder (default: config.yaml gallery.folder)")
        p.add_argument("--state", help="state folder for the cache (default: config.yaml state_dir)")
        p.add_argument("--config", help="config.yaml to take defaults from")
        if model:
            p.add_argument("--model", help="embedding .tflite (default: the shipped int8 model)")
            p.add_argument("--detector", choices=["auto", "full", "short"], default="auto")
            p.add_argument("--threads", type=int, default=1)

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
