"""Decoding an image within a pixel budget: the one way this package turns bytes into pixels.

Why a budget: an image's size in bytes says nothing about its size in pixels. A 500 KB PNG or a
2 KB lossless WebP of 13000×13000 decodes to 0.5–0.7 GB, and the conversions a thumbnail makes
multiply that: such files took the server to 1.3 and 2.6 GB, and under a memory limit the
`MemoryError` came after TruthScan had been paid. So the dimensions are read from the header
first — by Pillow, whose `open` reads only the header, except for WebP, whose decoder reserves
the whole canvas as soon as it is opened, so its header is read here — and an image over the
budget is never decoded. Within it, a JPEG is decoded at a reduced scale (`draft`: the DCT
scales by 1/2, 1/4 or 1/8 for free), and the thumbnail is made in place, before any copy.

Only the formats a thumbnail is made of are opened (Pillow knows forty; a file that is none of
ours gets no chance to reach an obscure decoder). Blocking: callers run it in a worker thread.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

logger = logging.getLogger(__name__)

#: The most pixels decoded at once (after a JPEG's reduced-scale decode): 32 MP is a 6500×4900
#: photo, 128 MB as RGBA; a larger image gets no thumbnail rather than gigabytes of memory.
MAX_DECODE_PIXELS = 32_000_000
_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "AVIF")


@dataclass(frozen=True)
class Decoded:
    """A small decoded image, or why there is none (a sentence for a person)."""

    image: Image | None
    note: str | None = None


def too_large(width: int, height: int) -> str:
    return (
        f"No preview: the image is {width}×{height} pixels, too large to decode here "
        f"(the limit is {MAX_DECODE_PIXELS // 1_000_000} megapixels)."
    )


def decode_small(data: bytes, max_side: int, *, budget: int = MAX_DECODE_PIXELS) -> Decoded:
    """`data` decoded to at most `max_side` px a side (aspect kept, EXIF orientation applied),
    never decoding more than `budget` pixels; never raises (an undecodable image is a note)."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        return Decoded(None, "No preview: no imaging library is installed.")
    webp = webp_size(data)
    if webp is not None and webp[0] * webp[1] > budget:
        return Decoded(None, too_large(*webp))
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as opened:
            opened.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
            width, height = opened.size  # the header's (or the draft's) size: nothing decoded yet
            if width * height > budget:
                return Decoded(None, too_large(*opened.size))
            opened.thumbnail((max_side, max_side))  # in place: the full size is never copied
            return Decoded(ImageOps.exif_transpose(opened))
    except Image.DecompressionBombError:
        return Decoded(None, "No preview: the image is too large to decode here.")
    except MemoryError:
        logger.warning("not enough memory to decode an image for a preview")
        return Decoded(None, "No preview: not enough memory to decode the image.")
    except Exception as exc:  # any undecodable bytes (Pillow raises many kinds): no preview
        logger.debug("no preview: %s: %s", type(exc).__name__, exc)
        return Decoded(None, "No preview: this image format cannot be shown here.")


def header_size(data: bytes) -> tuple[int, int] | None:
    """An image's size in pixels from its header alone (nothing decoded), or None if it is not
    one of the formats opened here; Pillow's `DecompressionBombError` when the header declares
    more than twice Pillow's own limit. Blocking (tiny): a header is a few hundred bytes."""
    webp = webp_size(data)
    if webp is not None:
        return webp
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            # Pillow warns of a "decompression bomb" over 89 MP: the caller is deciding just that
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=(*_FORMATS, "DIB")) as opened:
                return opened.size
    except Image.DecompressionBombError:  # over twice Pillow's limit: far beyond any budget
        raise
    except Exception:  # not an image Pillow opens here: no size to read
        return None


def over_budget(what: str, width: int, height: int, *, budget: int = MAX_DECODE_PIXELS) -> str | None:
    """A sentence refusing an image of `width`×`height` pixels over `budget`, or None within it."""
    if width * height <= budget:
        return None
    return (
        f"{what} is {width}×{height} pixels ({width * height / 1_000_000:.0f} megapixels), more than "
        f"the {budget // 1_000_000} megapixels this server decodes."
    )


def webp_size(data: bytes) -> tuple[int, int] | None:
    """A WebP's canvas size from its first chunk (VP8X, VP8 or VP8L), or None if not a WebP."""
    if len(data) < 30 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    fourcc, body = data[12:16], data[20:30]
    if fourcc == b"VP8X":
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if fourcc == b"VP8L" and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if fourcc == b"VP8 ":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    return None
