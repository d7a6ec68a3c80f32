"""Checking that words from outside reach a model only as quoted, attributed data.

A text the server writes may hold words it did not write — TruthScan's, a file's metadata, a
file's name — and each must sit inside a quoted span (`"…"`, inner quotes and backslashes
escaped) that an attribution on the same line introduces (`TruthScan says: `, `the file says: `,
or, for a name, the phrase that names it). These helpers find every occurrence of a marker
planted in the outside words and hold each to that.
"""

from __future__ import annotations

import re

#: a quoted span as `sanitize.quoted` writes it: quotes and backslashes inside are escaped
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
TRUTHSCAN = "TruthScan says: "
THE_FILE = "the file says: "


def unquoted(text: str) -> str:
    """`text` with every quoted span emptied: what the server says in its own words."""
    return QUOTED.sub('""', text)


def assert_quoted_and_attributed(
    text: str, marker: str, *, by: tuple[str, ...], required: bool = True
) -> None:
    """`marker` appears in `text` (the outside words arrived, as data; unless not `required`),
    never outside a quoted span, and each span holding it follows one of the attributions `by`
    on its line."""
    assert marker in text or not required, f"{marker!r} never reached the text"
    assert marker not in unquoted(text), f"{marker!r} reads as our own words in:\n{text}"
    for line in text.splitlines():
        for span in QUOTED.finditer(line):
            if marker in span.group():
                before = line[: span.start()]
                assert any(who in before for who in by), f"{span.group()!r} is not attributed: {line!r}"


def assert_no_line_begins_with(text: str, *starts: str) -> None:
    """No line of `text` begins with words from outside (a forged `Next step:`, `SYSTEM:`)."""
    for line in text.splitlines():
        assert not line.lstrip().startswith(starts), f"a line from outside reads as ours: {line!r}"
