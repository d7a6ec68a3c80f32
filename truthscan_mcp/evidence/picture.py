"""The picture a report embeds: the exact bytes when small and browser-readable, else a bounded copy.

A report must show the image it is about without any network at view time, so the picture
travels inside the HTML as a data: URI. The original is embedded as it is when it is small
and a browser reads it (then the embedded bytes are the checked bytes, hash for hash); a large
photo or a format browsers cannot show gets a downscaled JPEG/PNG, and the report says so.

Decoding is bounded by the package's one decoder, `adapter.pixels.decode_small` (the pixel count
read from the header before anything is decoded, an image over the budget never decoded, JPEGs
at a reduced scale); a small original is embedded unchanged only within the same budget, since
the browser would decode it. Blocking (tens of milliseconds): callers run it in a worker thread.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from dataclasses import dataclass

from truthscan_mcp.adapter.pixels import MAX_DECODE_PIXELS, decode_small, webp_size

logger = logging.getLogger(__name__)

#: Sent as they are when small: every browser shows these.
BROWSER_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
#: The largest original embedded unchanged; above it a copy is made (a 10 MB photo as 13 MB of
#: base64 would make a report slow to open and to mail).
MAX_EMBEDDED_BYTES = 1_500_000
#: The longest side of a downscaled copy: enough to see detail on a printed page.
MAX_SIDE = 1600
#: Images with more pixels than this are not decoded here, nor embedded for a browser to decode
#: (the package's one decoding budget, `adapter.pixels`).
MAX_PIXELS = MAX_DECODE_PIXELS
#: The formats whose header is read for a picture's size (those `decode_small` opens).
_HEADER_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "AVIF", "GIF")


@dataclass(frozen=True)
class Picture:
    """What is embedded: its bytes as a data: URI, and what a reader must know about them."""

    data_uri: str
    media_type: str
    sha256: str
    width: int | None
    height: int | None
    original_width: int | None
    original_height: int | None
    #: False: these are the checked bytes themselves; True: a smaller copy made for the report
    downscaled: bool


def _uri(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def picture_of(data: bytes, media_type: str, *, max_side: int = MAX_SIDE) -> Picture | None:
    """The picture to embed for `data`, or None when it can be neither embedded nor decoded."""
    size = dimensions(data)
    if media_type in BROWSER_TYPES and len(data) <= MAX_EMBEDDED_BYTES:
        if size is not None and size[0] * size[1] > MAX_PIXELS:
            return None  # a browser would have to decode it: the same budget applies
        width, height = size or (None, None)
        return Picture(
            _uri(data, media_type),
            media_type,
            hashlib.sha256(data).hexdigest(),
            width,
            height,
            width,
            height,
            downscaled=False,
        )
    if size is None or size[0] * size[1] > MAX_PIXELS:
        return None
    return _downscaled(data, size, max_side)


def overlay_of(data: bytes, width: int | None, height: int | None) -> str | None:
    """TruthScan's heatmap as a JPEG data: URI sized to lie over the picture, or None.

    JPEG, not PNG: the page blends it over the picture with an opacity, so it needs no alpha,
    and a smooth colour map compresses several times smaller and faster as JPEG."""
    decoded = decode_small(data, MAX_SIDE, budget=MAX_PIXELS).image
    if decoded is None:
        return None
    try:
        image = decoded.convert("RGB")
        if width and height:
            image = image.resize((width, height))  # pyright: ignore[reportUnknownMemberType]
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
    except (OSError, ValueError, MemoryError) as exc:
        logger.debug("heatmap could not be prepared: %s", exc)
        return None
    return _uri(out.getvalue(), "image/jpeg")


def dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header alone: a WebP's read here (Pillow's WebP decoder reserves
    the whole canvas on open), the others by Pillow's `open`, which decodes no pixels."""
    webp = webp_size(data)
    if webp is not None:
        return webp
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data), formats=_HEADER_FORMATS) as opened:
            return opened.size
    except Exception as exc:  # DecompressionBombError, and what a hostile header may raise
        logger.debug("image header unreadable: %s", exc)
        return None


def _downscaled(data: bytes, size: tuple[int, int], max_side: int) -> Picture | None:
    decoded = decode_small(data, max_side, budget=MAX_PIXELS)
    if decoded.image is None:
        logger.debug("no embeddable copy: %s", decoded.note)
        return None
    image = decoded.image
    out = io.BytesIO()
    try:
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            image.convert("RGBA").save(out, "PNG", optimize=True)
            media_type = "image/png"
        else:
            image.convert("RGB").save(out, "JPEG", quality=85)
            media_type = "image/jpeg"
    except (OSError, ValueError, MemoryError) as exc:
        logger.debug("no embeddable copy: %s", exc)
        return None
    copy = out.getvalue()
    return Picture(
        _uri(copy, media_type),
        media_type,
        hashlib.sha256(copy).hexdigest(),
        image.width,
        image.height,
        size[0],
        size[1],
        downscaled=True,
    )
