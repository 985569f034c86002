"""Crash-safe cache of enrollment results in SQLite (WAL mode).

Keyed by the photo's content hash **and** the model id: an unchanged photo is never re-embedded,
and a new model re-embeds everything because nothing matches its id. Each result is written in one
transaction, so a process killed at any moment leaves either the old row or the new one — never a
half-written embedding. A database that does not open (corrupted by a disk fault) is moved aside
and rebuilt: it holds only derived data, never the user's photos.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    sha256 TEXT NOT NULL, model_id TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,
    warning TEXT NOT NULL, embedding BLOB, PRIMARY KEY (sha256, model_id));
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Result:
    state: str  # "enrolled" or "rejected"
    reason: str
    warning: str
    embedding: np.ndarray | None


class Store:
    """The cache database under the state directory (0700 directory, 0600 files)."""

    def __init__(self, state_dir: str | Path | None) -> None:
        if state_dir is None:
            self.path = None
            self.db = sqlite3.connect(":memory:", check_same_thread=False)
        else:
            d = Path(state_dir)
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(d, 0o700)
            self.path = d / "gallery.sqlite3"
            self.db = self._open(self.path)
        self.db.executescript(SCHEMA)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        old_umask = os.umask(0o077)
        try:
            try:
                db = sqlite3.connect(path, check_same_thread=False, timeout=10)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA quick_check").fetchone()
                return db
            except sqlite3.DatabaseError as exc:
                aside = path.with_suffix(".corrupt")
                log.warning("gallery cache %s unreadable (%s); moved to %s and rebuilding", path, exc, aside)
                os.replace(path, aside)
                for suffix in ("-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
                db = sqlite3.connect(path, check_same_thread=False, timeout=10)
                db.execute("PRAGMA journal_mode=WAL")
                return db
        finally:
            os.umask(old_umask)

    def cached_hash(self, path: Path, size: int, mtime_ns: int) -> str | None:
        row = self.db.execute("SELECT size, mtime_ns, sha256 FROM files WHERE path=?", (str(path),)).fetchone()
        return row[2] if row and row[0] == size and row[1] == mtime_ns else None

    def remember_hash(self, path: Path, size: int, mtime_ns: int, sha: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", (str(path), size, mtime_ns, sha))

    def forget_missing(self, present: set[str]) -> None:
        rows = [r[0] for r in self.db.execute("SELECT path FROM files")]
        gone = [(p,) for p in rows if p not in present]
        if gone:
            with self.db:
                self.db.executemany("DELETE FROM files WHERE path=?", gone)

    def get(self, sha: str, model_id: str) -> Result | None:
        row = self.db.execute("SELECT state, reason, warning, embedding FROM results WHERE sha256=? AND model_id=?",
                              (sha, model_id)).fetchone()
        if row is None:
            return None
        emb = np.frombuffer(row[3], dtype=np.float32).copy() if row[3] is not None else None
        if row[0] == "enrolled" and (emb is None or not np.all(np.isfinite(emb))):
            return None  # never trust a damaged row: recompute it
        return Result(row[0], row[1], row[2], emb)

    def put(self, sha: str, model_id: str, result: Result) -> None:
        blob = None if result.embedding is None else np.asarray(result.embedding, np.float32).tobytes()
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?)",
                            (sha, model_id, result.state, result.reason, result.warning, blob))

    def close(self) -> None:
        self.db.close()
