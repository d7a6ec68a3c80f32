"""One sanitiser for every string that came from outside (API answers, file names, URLs).

Why one: such a string ends up in two places that obey control characters — the model's text
(where a forged newline can start a line of its own that reads like our "Next step:") and a
person's terminal (where ESC sequences change the title, clear the screen or plant hyperlinks).
Every way out of the package passes its outside strings through here, so the rule is written
once: no C0 control except a newline where the field is multi-line, no DEL, no C1 control, no
escape sequence (CSI, OSC, DCS, SOS, PM, APC — each with its payload), no bidirectional
override, and NFC normalisation so look-alike forms compare equal.

Then every such string reaches the text as quoted, attributed data — `TruthScan says: "…"`, `the
file says: "…"`, a name as `"…"` — on one line with its quotes escaped: an instruction inside a
verdict, a reasoning, an EXIF Make or a file name reads as what its author wrote, never as our
words, and cannot begin a line of its own. Structured fields keep the (cleaned) values as data.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# Escape sequences, 7-bit (ESC-introduced) and 8-bit (C1-introduced) forms. A string-type
# sequence (OSC, DCS, SOS, PM, APC) runs to its terminator (BEL or ST) — or to the end of the
# text when it has none, since its payload is never meant to be shown.
_STRING_TERMINATOR = r"(?:\x07|\x1b\\|\x9c|$)"
_ESCAPES = re.compile(
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[\s\S]*?"
    + _STRING_TERMINATOR  # OSC, DCS, SOS, PM, APC
    + r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"  # CSI: parameters, intermediates, final
    + r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"  # any other ESC sequence (charset, keypad, RIS...)
)
#: every line break Unicode knows, so a multi-line field keeps its lines and nothing else does
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# C0 (tab included: it becomes a space first), DEL, C1; bidi embeddings, overrides and isolates
# (the "Trojan Source" characters) that reorder what a reader sees.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_SPACES = re.compile(r"[ \t]+")


def clean_text(value: object, *, multiline: bool = False, max_length: int | None = None) -> str:
    """`value` as text that is safe to show: see the module docstring for what goes.

    A single-line field turns every line break into a space (a forged newline cannot start a
    line of its own); a multi-line one keeps them as `\\n`. Runs of spaces shrink to one and the
    ends are trimmed. `max_length` cuts the result (after cleaning) and marks the cut with `…`.
    """
    text = unicodedata.normalize("NFC", value if isinstance(value, str) else str(value))
    text = _ESCAPES.sub("", text)
    lines = _LINE_BREAKS.split(text) if multiline else [_LINE_BREAKS.sub(" ", text)]
    lines = [_SPACES.sub(" ", _CONTROLS.sub("", line.replace("\t", " "))).strip() for line in lines]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    if max_length is not None and len(text) > max_length:
        text = text[: max(0, max_length - 1)].rstrip() + "…"
    return text


def clean_line(value: object, *, max_length: int | None = None) -> str:
    """A single-line field (a verdict, a label, a file name): no line breaks at all."""
    return clean_text(value, multiline=False, max_length=max_length)


def clean_url(value: object) -> str:
    """A URL to show: cleaned like a line, then every space and non-ASCII character
    percent-encoded, so what is shown is one token that a terminal or a model cannot split."""
    return quote(clean_line(value), safe="!#$%&'()*+,-./:;=?@[]_~")


def quoted(value: object, *, max_length: int | None = None) -> str:
    """`value` as one quoted span of data: cleaned to a single line (`max_length` cuts it, marked
    with `…`), then `\\` and `"` escaped, in double quotes. Nothing inside can end the quote,
    break the line, or start a line of its own that reads like ours."""
    text = clean_line(value, max_length=max_length)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def truthscan_says(value: object, *, max_length: int | None = None) -> str:
    """TruthScan's words as quoted data, never as ours: `TruthScan says: "…"`, on one line."""
    return f"TruthScan says: {quoted(value, max_length=max_length)}"


def truthscan_says_all(values: list[str], *, max_length: int | None = None) -> str:
    """Several of TruthScan's phrases, each quoted, one attribution: `TruthScan says: "a"; "b"`."""
    return "TruthScan says: " + "; ".join(quoted(v, max_length=max_length) for v in values)


def file_says(value: object, *, max_length: int | None = None) -> str:
    """What an image file declares (its metadata, a name in it), as quoted data: `the file says:
    "…"`. Anyone can write anything into metadata, so it is shown, never followed."""
    return f"the file says: {quoted(value, max_length=max_length)}"


def named(value: object, *, max_length: int | None = None) -> str:
    """A name that came from outside (a file's name, a URL's last part), quoted: `"photo.jpg"`."""
    return quoted(value, max_length=max_length)


def page_says(value: object, *, max_length: int | None = None) -> str:
    """A web page's words (its title, an image's alt text) as quoted data, never as ours:
    `the page says: "…"` on one line, so an instruction inside reads as what the page wrote."""
    return f"the page says: {quoted(value, max_length=max_length)}"


def has_controls(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` still holds anything `clean_text` removes: for checks at the edges."""
    if multiline:
        text = text.replace("\n", "")
    return bool(_CONTROLS.search(text) or _LINE_BREAKS.search(text))


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`1 credit`, `2 credits`, `0 images`: a count with its noun in the right number, so no
    message reads "1 (1 credits)" or hedges with "image(s)"."""
    return f"{n} {noun if n == 1 else (plural or noun + 's')}"
