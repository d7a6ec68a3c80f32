"""A real, decodable PNG heatmap, written by hand with zlib and struct.

Clients attach the heatmap to what an assistant sees, so the simulator must serve an image a
viewer can open — and the package must not pull in an imaging library just to draw one.
The picture is deterministic (blobs placed from the image's hash) and hotter for higher
AI scores, which is enough to make it obviously a heatmap and stable across runs.
"""

from __future__ import annotations

import math
import struct
import zlib
from functools import lru_cache

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_BASE_WIDTH = 128


def encode_png_rgb(width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit RGB PNG of `pixels` (row-major, 3 bytes a pixel), no filtering."""
    if width <= 0 or height <= 0 or len(pixels) != width * height * 3:
        raise ValueError("pixels do not match the size")
    stride = width * 3
    raw = b"".join(b"\x00" + pixels[row * stride : (row + 1) * stride] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def heatmap_size(width: int | None, height: int | None) -> tuple[int, int]:
    """The heatmap keeps the image's aspect ratio (when known) at a small, fixed width."""
    if not width or not height:
        return _BASE_WIDTH, _BASE_WIDTH
    return _BASE_WIDTH, max(16, min(256, round(_BASE_WIDTH * height / width)))


@lru_cache(maxsize=64)
def render_heatmap(seed: bytes, score: float, width: int = _BASE_WIDTH, height: int = _BASE_WIDTH) -> bytes:
    """The heatmap PNG for an image whose hash is `seed` and whose AI score is `score`."""
    blobs = [
        (
            seed[i % len(seed)] / 255 * width if seed else width / 2,
            seed[(i + 1) % len(seed)] / 255 * height if seed else height / 2,
            (0.12 + seed[(i + 2) % len(seed)] / 255 * 0.25) * min(width, height) if seed else width / 4,
        )
        for i in range(0, 12, 3)
    ]
    heat_scale = max(0.15, min(1.0, score / 100))
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            heat = sum(math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * r * r)) for bx, by, r in blobs)
            pixels += _colour(min(1.0, heat * heat_scale))
    return encode_png_rgb(width, height, bytes(pixels))


def _colour(t: float) -> bytes:
    """A jet-like ramp: blue (cold) → cyan → yellow → red (hot)."""
    r = min(1.0, max(0.0, 1.5 - abs(4 * t - 3)))
    g = min(1.0, max(0.0, 1.5 - abs(4 * t - 2)))
    b = min(1.0, max(0.0, 1.5 - abs(4 * t - 1)))
    return bytes((round(r * 255), round(g * 255), round(b * 255)))
