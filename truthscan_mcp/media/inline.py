"""Inline image data: base64, or a ``data:`` URI, decoded strictly and checked like any image.

An assistant that has the bytes but no file to point at passes them here. Decoding is strict
(one alphabet, padding never wrong) because a payload garbled in transit must be refused, not
turned into a different image that is then paid for.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

from truthscan_mcp.errors import ImageSizeError, InvalidInputError
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES, human_size, sanitize_upload_name
from truthscan_mcp.media.image import ContentDigest, LoadedImage, check_content, too_large

#: The longest `data` string looked at: base64 of MAX_IMAGE_BYTES, 5 % for line breaks and
#: room for a ``data:`` header. Anything longer is refused before a byte is decoded.
MAX_DATA_CHARS = (MAX_IMAGE_BYTES + 2) // 3 * 4 * 21 // 20 + 4096
INLINE_NAME = "inline data"


def load_data(raw: str) -> LoadedImage:
    what = "The inline `data`"
    if len(raw) > MAX_DATA_CHARS:
        # Decoding would cost time and memory for nothing: base64 carries 3 bytes per 4 chars.
        raise ImageSizeError(
            f"{what} is {len(raw):,} characters long, so the decoded image would exceed "
            f"{human_size(MAX_IMAGE_BYTES)} ({MAX_IMAGE_BYTES:,} bytes), the most TruthScan accepts. "
            "Resize or re-compress the image and try again."
        )
    text = raw.strip()
    declared: str | None = None
    upload_name = "image"
    if text[:5].lower() == "data:":
        header, comma, payload = text[5:].partition(",")
        if not comma:
            raise InvalidInputError(
                "The data: URI has no ',' separating its header from the payload; expected "
                "data:image/png;base64,<base64 bytes>."
            )
        params = [part.strip() for part in header.split(";")]
        if "base64" not in (part.lower() for part in params[1:]):
            raise InvalidInputError(
                "Only base64 data: URIs are accepted (data:image/png;base64,<base64 bytes>); "
                "this one is not marked ;base64."
            )
        declared = params[0].lower() or None
        for part in params[1:]:
            key, eq, value = part.partition("=")
            if eq and key.strip().lower() in ("name", "filename") and value.strip():
                upload_name = urllib.parse.unquote(value.strip().strip('"'))
        text = payload
    elif text[:8].lower() in ("http://", "https://") or text[:5].lower() == "file:":
        raise InvalidInputError(
            "The `data` argument looks like a URL or file URI: pass it as `url` (http/https) or "
            "`path` (file://) instead. `data` takes base64 image bytes."
        )
    content = _decode_base64(text, what)
    digest = ContentDigest.of(content)
    fmt = check_content(digest, what, declared=_if_not_image(declared))
    return LoadedImage(
        kind="data",
        name=INLINE_NAME,
        upload_name=sanitize_upload_name(upload_name, fmt),
        format=fmt,
        size=len(content),
        sha256=digest.sha256,
        content=content,
    )


def _if_not_image(declared: str | None) -> str | None:
    # A declared image/* type is irrelevant when the bytes disagree: the sniffed format wins,
    # and saying "declared image/png" would only confuse. A declared non-image type explains
    # the refusal, so it is worth mentioning.
    if declared is None or declared.startswith("image/") or declared == "application/octet-stream":
        return None
    return declared


_WHITESPACE = re.compile(r"\s+")


def _decode_base64(text: str, what: str) -> bytes:
    """Strict base64: standard or URL-safe alphabet, padding optional but never wrong."""
    compact = _WHITESPACE.sub("", text)
    bad = InvalidInputError(
        f"{what} is not valid base64. Pass the image bytes base64-encoded (optionally as "
        "data:image/png;base64,<base64>), or pass the image as `path` or `url` instead."
    )
    if not compact:
        raise ImageSizeError(f"{what} is empty. Pass the image bytes base64-encoded.")
    if not compact.isascii():
        raise bad
    if "-" in compact or "_" in compact:
        if "+" in compact or "/" in compact:
            raise bad  # a mix of both alphabets is corruption, not a variant
        compact = compact.translate(_URLSAFE_TO_STANDARD)
    unpadded = compact.rstrip("=")
    padding = len(compact) - len(unpadded)
    if padding > 2 or (padding and len(compact) % 4) or len(unpadded) % 4 == 1:
        raise bad
    decoded_size = len(unpadded) * 3 // 4
    if decoded_size > MAX_IMAGE_BYTES:
        raise too_large(what, decoded_size, verb="would decode to")
    if not padding and len(unpadded) % 4:
        compact = unpadded + "=" * (-len(unpadded) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise bad from None


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")
