"""Names that become file names.

Tag names, session names and glyphs end up in paths. Unicode is first-class (a glyph such
as "ʃ" or "🙂" stays as it is); what is removed is what breaks a file system or a shell:
path separators, control characters, reserved Windows names and characters, leading dots.
"""

from __future__ import annotations

import re
import unicodedata

_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_RESERVED = {
    "CON", "PRN", "AUX", "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
MAX_BYTES = 120  # well under the 255-byte limit, leaving room for suffixes


def safe_filename(name: str, fallback: str = "untitled") -> str:
    """Return `name` made safe as one path component, keeping unicode letters and glyphs."""
    text = unicodedata.normalize("NFC", str(name))
    text = _FORBIDDEN.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    if not text or text.upper().split(".")[0] in _RESERVED:
        text = f"_{text}" if text else fallback
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_BYTES:
        text = encoded[:MAX_BYTES].decode("utf-8", errors="ignore").rstrip(" .")
    return text or fallback
