"""Which files in a gallery folder are photos of whom.

Layouts: ``<gallery>/<Person Name>/*.{jpg,jpeg,png,webp,heic}`` (several photos per person) and the
seed's flat ``<gallery>/<Person Name>.jpg``. Hidden entries are ignored; editor backups, partial
downloads, ``_``-prefixed names and program files are skipped and listed with the reason, as are
symlinks that leave the gallery and folders nested deeper than one level (never followed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.errors import ConfigError
from edge.printable import has_control, printable
from edge.vision.imageio import IMAGE_SUFFIXES

GALLERY_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif")
TEMP_SUFFIXES = (".part", ".crdownload", ".tmp", ".swp", ".download")


@dataclass(frozen=True)
class GalleryFile:
    person: str
    path: Path


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def not_a_photo_reason(name: str) -> str | None:
    """Why an entry is passed over before it is even looked at (listed by ``gallery status``), or
    ``None``. Hidden entries are not here: they are skipped without a word (.DS_Store, .git)."""
    lower = name.lower()
    if lower.endswith(TEMP_SUFFIXES):
        return "a partial download or temporary file: it is enrolled once complete and renamed"
    if name.startswith("~") or name.endswith("~"):
        return "an editor's backup file"
    if name.startswith("_"):
        return "names starting with '_' are not enrolled (rename it to enrol)"
    if lower.endswith((".py", ".pyc")):
        return "not a photo (a program file)"
    return None


def _program_file(root: Path, name: str) -> bool:
    """The checkout's own ``gallery/`` package doubles as the default photo folder: its code is not
    a user's entry and is not listed."""
    return (root / "__init__.py").is_file() and (name.endswith((".py", ".pyc")) or name == "__pycache__")


def _display_name(raw: str) -> str:
    return raw.strip()


def check_person_name(name: str) -> str:
    """The name as a person folder may carry it, or :class:`ConfigError` saying why not.

    One rule for every command that takes a name (``add``, ``remove``): a name must denote a direct
    child of the gallery and nothing else — no ``..``, ``.``, empty name, path separator, hidden
    name, or control character (which would forge log lines). Names are never used as patterns."""
    clean = name.strip()
    if not clean or clean in (".", "..") or "/" in clean or "\0" in clean or clean.startswith("."):
        raise ConfigError(f"person name {printable(name)!r} is not allowed: it must be a plain folder name "
                          f"(no '/', not empty, not starting with '.')")
    if has_control(clean):
        raise ConfigError(f"person name {printable(name)!r} contains a control character")
    if not _name_ok(clean):
        raise ConfigError(f"person name {printable(name)!r} is not valid UTF-8")
    return clean


def person_folder(gallery: str | Path, name: str) -> Path:
    """``gallery/<name>`` after :func:`check_person_name`, proven to be a direct child of ``gallery``."""
    root = Path(gallery)
    target = root / check_person_name(name)
    if target.parent.resolve() != root.resolve():
        raise ConfigError(f"person name {printable(name)!r} does not name a folder inside {root}")
    return target


def flat_photos(gallery: str | Path, name: str) -> list[Path]:
    """The seed-layout photos ``gallery/<name>.<jpg|png|…>`` of exactly this name (no pattern matching)."""
    root = Path(gallery)
    out = []
    for entry in os.scandir(root):
        path = Path(entry.path)
        if (path.stem == name and path.suffix.lower() in GALLERY_SUFFIXES
                and entry.is_file(follow_symlinks=False)):
            out.append(path)
    return sorted(out)


def _unusable_entry(entry: os.DirEntry, path: Path, real_root: Path) -> str | None:
    """Why a directory entry cannot be used at all (before looking at what it is), or ``None``."""
    if not _name_ok(entry.name):
        return "file name is not valid UTF-8"
    if has_control(entry.name):
        return "name contains a control character (rename it)"
    if entry.is_symlink():
        try:
            os.stat(path)
        except OSError:
            return "broken symlink or a symlink loop (not followed)"
        if not _inside(path, real_root):
            return "symlink points outside the gallery (not followed)"
    return None


def scan(gallery: str | Path) -> tuple[list[GalleryFile], list[Skipped]]:
    """List gallery photos (sorted) and the entries skipped with a reason."""
    root = Path(gallery)
    files: list[GalleryFile] = []
    skipped: list[Skipped] = []
    real_root = root.resolve()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise FileNotFoundError(f"gallery folder {root} cannot be read: {exc.strerror}") from None
    for entry in entries:
        if entry.name.startswith(".") or _program_file(root, entry.name):
            continue
        path = Path(entry.path)
        problem = not_a_photo_reason(entry.name) or _unusable_entry(entry, path, real_root)
        if problem:
            skipped.append(Skipped(path, problem))
            continue
        if entry.is_dir(follow_symlinks=False):
            _scan_person(path, real_root, files, skipped)
        elif entry.is_file() and path.suffix.lower() in GALLERY_SUFFIXES:
            files.append(GalleryFile(_display_name(path.stem), path))
        elif entry.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            skipped.append(Skipped(path, f"{path.suffix} is not a gallery format (use jpg, png, webp or heic)"))
    return files, skipped


def _scan_person(folder: Path, real_root: Path, files: list[GalleryFile], skipped: list[Skipped]) -> None:
    person = _display_name(folder.name)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:  # e.g. copied in with umask 077: the service user may not list it
        skipped.append(Skipped(folder, f"folder cannot be read ({exc.strerror}): make it readable by the "
                                       f"service (chmod -R g+rX, or copy photos in as the gallery's group)"))
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        problem = not_a_photo_reason(entry.name) or _unusable_entry(entry, path, real_root)
        if problem:
            skipped.append(Skipped(path, problem))
        elif entry.is_dir(follow_symlinks=False):
            skipped.append(Skipped(path, "folders nested deeper than one level are ignored"))
        elif entry.is_file() and path.suffix.lower() in GALLERY_SUFFIXES:
            files.append(GalleryFile(person, path))
        elif entry.is_file():
            skipped.append(Skipped(path, f"not an image file ({path.suffix or 'no extension'})"))


def _name_ok(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # surrogate-escaped bytes from a non-UTF-8 file name
        return False


def _inside(path: Path, real_root: Path) -> bool:
    try:
        path.resolve().relative_to(real_root)
        return True
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python 3.11)
        return False
