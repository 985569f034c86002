"""Demo material for ``make demo``: public-domain portraits from the face_recognition 1.3.0 sdist.

Fetched with pip at setup (never committed): Obama and Biden portraits become a two-person
gallery, and other Obama photos (and a partial face) become the probes the demo identifies.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from edge.assets import extract_member, pip_download

PACKAGE = "face_recognition==1.3.0"
PREFIX = "face_recognition-1.3.0/tests/test_images/"
GALLERY = {"Barack Obama": ["obama.jpg"], "Joe Biden": ["biden.jpg"]}
PROBES = ["obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "biden.jpg"]


def fetch_demo(dest: Path) -> Path:
    """Create ``dest/gallery/<Name>/*.jpg`` and ``dest/probes/*.jpg``; idempotent."""
    done = dest / ".complete"
    if done.is_file():
        return dest
    with tempfile.TemporaryDirectory() as tmp:
        archive = pip_download(PACKAGE, Path(tmp), source=True)
        for person, files in GALLERY.items():
            (dest / "gallery" / person).mkdir(parents=True, exist_ok=True)
            for f in files:
                extract_member(archive, PREFIX + f, dest / "gallery" / person / f)
        (dest / "probes").mkdir(parents=True, exist_ok=True)
        for f in PROBES:
            extract_member(archive, PREFIX + f, dest / "probes" / f)
    done.write_text("ok\n")
    return dest


if __name__ == "__main__":
    import sys

    print(fetch_demo(Path(sys.argv[1] if len(sys.argv) > 1 else "demo")))
