"""Draw boxes, names and scores on a copy of a frame (for ``identify --out`` and ``camera-test``).

Names are drawn in their own letters — "Zoë", "Łukasz", "Ёжиков", "王伟" — with a font that has a
glyph for each of them, found through fontconfig (``fc-list``), the way every Linux desktop finds
one; Pillow renders it. Without fontconfig or such a font (Pi OS Lite before ``install.sh``, or a
script no installed font covers) the label falls back to OpenCV's built-in ASCII font, accents
dropped (:func:`drawable`): never a crash, never a missing box.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np

from edge.vision.pipeline import Identified

KNOWN = (60, 200, 60)
UNKNOWN = (40, 40, 230)
WHITE = (255, 255, 255)

REGULAR_STYLES = ("Regular", "Book", "Normal", "Medium")


def drawable(text: str) -> str:
    """``text`` in the ASCII that OpenCV's Hershey fonts can draw: accents are dropped
    ("José Müller" → "Jose Muller", "Łukasz" → "Lukasz"), anything else becomes "?".

    Why: ``cv2.putText`` draws each non-ASCII character as "?", turning "Zoë" into "Zo??"; this is
    the fallback when no font with the name's letters is installed (see the module docstring).
    """
    special = {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d", "Đ": "D"}
    text = "".join(special.get(c, c) for c in text)
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return plain.encode("ascii", "replace").decode("ascii")


def font_file_for(text: str) -> str | None:
    """A scalable font file with a glyph for every character of ``text`` — a regular, sans-serif,
    proportional face where one is installed — or ``None`` (no fontconfig, or no font covers it)."""
    # the digits and point of a score always go in: one lookup per name, not per name and score
    return _font_covering(frozenset(ord(c) for c in text + "0123456789." if not c.isspace()))


@functools.lru_cache(maxsize=256)
def _font_covering(codepoints: frozenset[int]) -> str | None:
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    # only hexadecimal code points reach fontconfig's pattern, whatever the name holds
    charset = " ".join(f"{c:x}" for c in sorted(codepoints))
    try:
        listed = subprocess.run([fc_list, f":charset={charset}:scalable=true", "file", "family", "style"],
                                capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    fonts = []
    for line in listed.splitlines():
        path, _, rest = line.partition(": ")
        family, _, style = rest.partition(":style=")
        if path.lower().endswith((".ttf", ".otf", ".ttc")):
            fonts.append((path, family, style))
    if not fonts:
        return None

    def preference(font: tuple[str, str, str]) -> tuple:
        path, family, style = font
        styles = style.split(",")
        return (not any(s in REGULAR_STYLES for s in styles), any(w in family for w in ("Mono", "Serif", "Math")),
                "Sans" not in family, path)

    return min(fonts, key=preference)[0]


def needs_shaping(text: str) -> bool:
    """Whether ``text`` can only be drawn right by a text shaper: right-to-left letters (Arabic,
    Hebrew) or combining marks that do not compose into one character (most Indic scripts).

    Why: without one, Pillow lays glyphs out one by one, left to right — "محمد" would come out
    reversed and unjoined, a wrong name rather than no name."""
    return any(unicodedata.bidirectional(c) in ("R", "AL") or unicodedata.category(c) in ("Mn", "Mc")
               for c in unicodedata.normalize("NFC", text))


@functools.lru_cache(maxsize=1)
def _can_shape() -> bool:
    from PIL import features

    return bool(features.check("raqm") and features.check("fribidi"))


@functools.lru_cache(maxsize=32)
def _loaded_font(font_file: str, size: int):  # -> PIL.ImageFont.FreeTypeFont
    from PIL import ImageFont

    return ImageFont.truetype(font_file, size)


@dataclass(frozen=True)
class Label:
    """A text on a coloured band whose bottom edge is at ``y`` (moved down to fit the picture)."""

    text: str
    x: int
    y: int
    colour: tuple[int, int, int]  # BGR


def _font_for(text: str, height: int):  # -> PIL.ImageFont.FreeTypeFont | None
    """The font to draw ``text`` in, or ``None`` for OpenCV's ASCII font: no font has its letters,
    no Pillow, a script that needs a shaper this Pillow lacks, or a font file it cannot read."""
    font_file = font_file_for(text)
    if font_file is None:
        return None
    try:
        if needs_shaping(text) and not _can_shape():
            return None
        return _loaded_font(font_file, max(8, round(height * 0.8)))
    except (ImportError, OSError, ValueError):
        return None


def _draw_labels(out: np.ndarray, labels: list[Label], height: int) -> np.ndarray:
    """Each label in white on its band, ``height`` pixels tall; returns the picture (a new array
    when Pillow drew). Those a font covers are drawn by Pillow in one pass over the picture (one
    conversion there and back, however many faces), the rest in OpenCV's ASCII font."""
    labels = [Label(unicodedata.normalize("NFC", lb.text), lb.x, lb.y, lb.colour) for lb in labels]
    fonts = [_font_for(lb.text, height) for lb in labels]
    for lb, font in zip(labels, fonts, strict=True):
        if font is None:
            _draw_ascii(out, lb, height)
    if all(font is None for font in fonts):
        return out
    from PIL import Image, ImageDraw

    picture = Image.fromarray(np.ascontiguousarray(out[..., ::-1]))
    draw = ImageDraw.Draw(picture)
    for lb, font in zip(labels, fonts, strict=True):
        if font is not None:
            left, top, right, bottom = draw.textbbox((0, 0), lb.text, font=font)
            ty = max(lb.y, bottom - top + 4)
            draw.rectangle((lb.x, ty - (bottom - top) - 4, lb.x + right - left + 4, ty), fill=lb.colour[::-1])
            draw.text((lb.x + 2 - left, ty - (bottom - top) - 2 - top), lb.text, font=font, fill=WHITE)
    return np.asarray(picture)[..., ::-1].copy()


def _draw_ascii(out: np.ndarray, lb: Label, height: int) -> None:
    thickness = max(1, round(height / 14))
    scale = height / 30
    text = drawable(lb.text)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    ty = max(lb.y, th + base + 2)
    cv2.rectangle(out, (lb.x, ty - th - base - 2), (lb.x + tw + 2, ty), lb.colour, -1)
    cv2.putText(out, text, (lb.x + 1, ty - base - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, thickness,
                cv2.LINE_AA)


def annotate(image_bgr: np.ndarray, results: list[Identified]) -> np.ndarray:
    """Return an annotated copy; the input array is not modified."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    height = max(12, round(max(out.shape[:2]) / 47))  # label height: 14 px on a 640-px picture
    labels = []
    for r in results:
        x, y, w, h = (round(v) for v in r.face.box)
        colour = KNOWN if r.match.name else UNKNOWN
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        labels.append(Label(f"{r.match.name or 'unknown'} {r.match.score:.2f}", x, y, colour))
    return _draw_labels(out, labels, height)  # over every box, never under the next face's frame


def annotate_detections(image_bgr: np.ndarray, faces: list) -> np.ndarray:
    """An annotated copy showing detections only (``Face`` boxes with their detector scores)."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for f in faces:
        x, y, w, h = (round(v) for v in f.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), KNOWN, thickness)
        cv2.putText(out, f"face {f.score:.2f}", (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.4, max(out.shape[:2]) / 1400), KNOWN, thickness, cv2.LINE_AA)
    return out
