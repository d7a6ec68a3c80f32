"""Cutting a line to a length without breaking the quotes around outside words.

Every text the model reads quotes outside words (TruthScan's, a file's, a page's); a cut that
fell inside a quote would leave it open and our own words after it would read as theirs.
"""

from __future__ import annotations

import re

from truthscan_mcp.sanitize import clean_line


def clip(text: str, limit: int) -> str:
    """`text` on one line, at most about `limit` characters; a cut inside a quoted span closes
    the quote (and never splits an escape), so outside words cut short stay inside their quote."""
    text = clean_line(text)
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 2)].rstrip()
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2 == 1:  # half an escape: drop the lone backslash
        cut = cut[:-1]
    inside = len(UNESCAPED_QUOTE.findall(cut)) % 2 == 1
    return cut + ('…"' if inside else "…")


#: a `"` not escaped by a backslash (an even run of backslashes before it, or none)
UNESCAPED_QUOTE = re.compile(r'(?<!\\)(?:\\\\)*"')
