"""Make user-supplied text safe to print or log.

Person names and file names come from whoever can write the gallery folder. A name with a newline
would forge a log line in the journal, an ANSI escape would rewrite the operator's terminal, and a
file name that is not UTF-8 (kept by Python as surrogate escapes) would crash ``print`` under a
strict UTF-8 stdout. Everything shown to a person goes through :func:`printable` first.
"""

from __future__ import annotations

import unicodedata


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (C0, DEL, C1, or a line/paragraph separator)."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def printable(text: object) -> str:
    """``text`` with control characters and undecodable bytes written as visible escapes (``\\n``,
    ``\\x1b``, ``\\udcff`` → ``\\xff``); ordinary Unicode (accents, Cyrillic, Chinese) unchanged."""
    out = []
    for ch in str(text):
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by os.fsdecode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            escape = f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, escape))
        else:
            out.append(ch)
    return "".join(out)
