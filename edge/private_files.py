"""Writing files that hold faces or state. Three promises, kept in one place for every writer (the
status file, snapshots, annotated pictures, photos copied into the gallery):

- a crash at any moment leaves the old file or the new one, never half of one (a temporary file in
  the same folder, then a rename);
- a symlink planted at the temporary or final name is never written through (``O_NOFOLLOW`` and
  ``O_EXCL`` on the temporary file; a copy claims its name with ``O_EXCL`` before it lands there, so
  it never replaces a file);
- the mode is the one asked for, whatever the umask: face pictures are biometric data, readable by
  the owner and, where the folder grants it, its group — never by everyone;
- what the software deletes of its own (a snapshot forgotten, a damaged cache) is overwritten
  first (:func:`erase`). The user's photos are never erased: only ever unlinked, on request.

Imports nothing of the project (the base layer)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import cv2
import numpy as np

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _temporary(path: Path, mode: int) -> tuple[Path, int]:
    """A fresh temporary file beside ``path`` (``.NAME.part``, the name the gallery skips), opened for
    writing with ``mode``. A leftover of a crashed write is removed first (only ever that name)."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        fd = os.open(tmp, _CREATE, mode)
    except FileExistsError:
        tmp.unlink()  # a leftover, or a planted link: removing the link never touches its target
        fd = os.open(tmp, _CREATE, mode)
    os.fchmod(fd, mode)  # the umask narrowed it; the group may need to read (snapshots, gallery)
    return tmp, fd


def write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` (mode ``mode``) in one rename."""
    tmp, fd = _temporary(path, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_picture(path: Path, image_bgr: np.ndarray, mode: int) -> None:
    """``image_bgr`` as a PNG (for a ``.png`` name) or a JPEG (quality 90), written like any face
    picture here (:func:`write_atomically`); ``OSError`` when it cannot be encoded or written."""
    kind = ".png" if path.suffix.lower() == ".png" else ".jpg"
    ok, data = cv2.imencode(kind, image_bgr, [cv2.IMWRITE_JPEG_QUALITY, 90] if kind == ".jpg" else [])
    if not ok:
        raise OSError(f"the picture could not be encoded as {kind[1:].upper()}")
    write_atomically(path, data.tobytes(), mode)


def copy_new(src: Path, dest: Path, mode: int) -> Path:
    """Copy ``src`` to ``dest`` — or, when that name is taken, to ``STEM-1``, ``STEM-2``… — never
    replacing anything; returns the name it got. The copy is complete before it takes the name (a
    watcher never reads half a photo): the name is first claimed with an exclusive create, then the
    finished copy is renamed onto that claim. (A hard link would do it in one step, but FAT and exFAT
    — USB sticks — have none.)"""
    tmp, fd = _temporary(dest, mode)
    try:
        with os.fdopen(fd, "wb") as f, open(src, "rb") as source:
            shutil.copyfileobj(source, f)
        n = 0
        while True:
            target = dest if n == 0 else dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
            try:
                os.close(os.open(target, _CREATE, mode))
            except FileExistsError:  # a photo, or a planted link: neither is touched
                n += 1
                continue
            try:
                os.replace(tmp, target)
            except BaseException:
                target.unlink(missing_ok=True)  # the empty claim: no 0-byte "photo" is left behind
                raise
            return target
    finally:
        tmp.unlink(missing_ok=True)


def make_folder(path: Path, mode: int) -> None:
    """Create ``path`` and any missing parents, each with exactly ``mode``; folders that exist keep
    theirs (a folder of the user's own is theirs to set)."""
    missing = []
    p = path
    while not p.exists() and not p.is_symlink():
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by another process: it keeps its mode
        os.chmod(folder, mode)


def modes_inside(folder: Path) -> tuple[int, int]:
    """(folder mode, file mode) for what is created inside ``folder``: everything for the owner, what
    ``folder`` grants its group (read, and write for folders — the installed gallery lets everyone
    in its group enrol — with its set-group-ID bit), nothing for others."""
    st_mode = folder.stat().st_mode
    group = st_mode & 0o070
    folder_mode = 0o700 | group | (st_mode & stat.S_ISGID)
    file_mode = 0o600 | (group & 0o040)
    return folder_mode, file_mode


def erase(path: Path) -> None:
    """Remove a file this software wrote, overwriting it with zeros first, so the faces or embeddings
    in it do not linger in the freed blocks of a plain filesystem (best effort: a flash card's
    controller may keep old copies). A missing file is fine.

    Only a file whose sole name this is gets overwritten: with a second hard link (a snapshot a user
    linked into the gallery) the content is someone else's too, and only this name goes. A symbolic
    link is removed, never followed. Anything else (a folder, a pipe) raises ``OSError`` untouched,
    as does a name that cannot be removed; failing to overwrite does not stop the removal."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise OSError(f"{path}: not a regular file, left alone")
    if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
        try:
            _overwrite(path)
        except OSError:
            pass  # read-only, or swapped for something else meanwhile: removing it is what matters
    path.unlink(missing_ok=True)


def _overwrite(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return
        zeros = bytes(1 << 16)
        done = 0
        while done < info.st_size:
            done += os.write(fd, zeros[:min(len(zeros), info.st_size - done)])
        os.fsync(fd)
    finally:
        os.close(fd)
