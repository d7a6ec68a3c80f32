"""The one place a secret is masked, in every form it may come back in.

Everything derived from the outside (error bodies, API documents, log lines, cache rows) passes
through `redact` before anyone sees it: services echo keys back raw, re-cased, percent-encoded
or JSON-escaped, and a mask that knows only one spelling leaks the others.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: Shorter strings are not masked: "abc" would blank out ordinary words, and no real key is that short.
MIN_SECRET_LENGTH = 4


def _forms(secret: str) -> set[str]:
    """The spellings a secret takes on its way back: raw, percent-encoded (a query string, a
    form body) and JSON-escaped (a body that quotes the request)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), json.dumps(secret)[1:-1]}
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    return {form for form in forms if form}


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every form of every secret replaced by ``***``, whatever its letter case.

    Case-insensitive because percent-encoding hex and some echoing services change case; the
    longest forms first, so a raw secret inside its own encoded form is never half-masked.
    """
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            forms |= _forms(secret)
    if not forms:
        return text
    pattern = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, MASK, text, flags=re.IGNORECASE)
