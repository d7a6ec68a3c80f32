"""The one place a secret is masked, in every form it may come back in.

Everything derived from the outside (error bodies, API documents, log lines, cache rows) passes
through `redact` before anyone sees it: services echo keys back raw, re-cased, percent-encoded
or JSON-escaped, and a mask that knows only one spelling leaks the others. Encoders do not agree
on what to escape (one leaves `-` alone, a proxy encodes every byte, a logger lowers the hex),
so the mask is not a list of whole spellings but a pattern built character by character: each
character of the key may come back as itself in any case, as its UTF-8 bytes percent-encoded
(once or twice, either hex case), as a JSON escape, or (a space) as `+`, in any mix.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable

MASK = "***"
#: Shorter strings are not masked: "abc" would blank out ordinary words, and no real key is that short.
MIN_SECRET_LENGTH = 4


def _character(char: str) -> str:
    """A pattern for one character of a secret in any of the spellings it may come back in."""
    # The escapes come before the character itself: alternatives are tried in order, and a raw
    # `%` must not win over `%25`, leaving the `25` unmasked.
    # Percent-encoded, once (%2D) or twice (%252D); the hex case is left to IGNORECASE.
    spellings = ["".join(f"%(?:25)?{byte:02X}" for byte in char.encode("utf-8"))]
    # JSON: \uXXXX (a surrogate pair beyond the BMP), or the short escape (\" \\ \n …)
    units = char.encode("utf-16-be")
    spellings.append("".join(rf"\\u{units[i]:02X}{units[i + 1]:02X}" for i in range(0, len(units), 2)))
    short = json.dumps(char)[1:-1]
    if short != char and not short.startswith("\\u"):
        spellings.append(re.escape(short))
    if char == " ":
        spellings.append(r"\+")  # form encoding
    spellings.append(re.escape(char))
    return "(?:" + "|".join(spellings) + ")"


@functools.lru_cache(maxsize=32)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled pattern for all `secrets`, longest first (cached: logging calls it per record)."""
    if not secrets:
        return None
    alternatives = ["".join(_character(c) for c in s) for s in sorted(secrets, key=len, reverse=True)]
    return re.compile("|".join(alternatives), flags=re.IGNORECASE)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every spelling of every secret replaced by ``***``, whatever its letter case.

    Case-insensitive because percent-encoding hex and some echoing services change case; the
    longest secrets first, so one secret inside another is never half-masked.
    """
    pattern = _pattern(tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH})))
    return text if pattern is None else pattern.sub(MASK, text)
