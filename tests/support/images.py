"""Small images made in memory, for tests that need bytes of a given format and size."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path


def png_bytes(size: int = 4096, seed: int = 0) -> bytes:
    """A PNG signature and a valid IHDR chunk, then filler up to `size`: enough for magic-byte
    sniffing; `seed` changes the filler, so the SHA-256 differs."""
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    head = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    )
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (head + body)[:size]


def jpeg_bytes(size: int = 4096) -> bytes:
    """A JFIF header, then filler up to `size`."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return (head + bytes(range(256)) * (size // 256 + 1))[:size]


PNG_BYTES = png_bytes(4096)
JPEG_BYTES = jpeg_bytes(3000)


# --- decompression bombs: a few hundred KB that decode to gigabytes -----------------------------

#: The side of the bombs: 169 megapixels, just under Pillow's own refusal (2 × 89 MP), so only a
#: pixel budget of ours stands between the file and a full-size decode.
BOMB_SIDE = 13_000


def png_bomb(side: int = BOMB_SIDE) -> bytes:
    """A valid RGB PNG of `side`×`side` black pixels: a few hundred KB of deflate that a
    decoder inflates to 3 × `side`² bytes (507 MB at the default side). Built a row at a time,
    so making it costs the test no more memory than one row."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    deflate = zlib.compressobj(9)
    row = bytes(3 * side + 1)  # filter byte 0, then the row's pixels
    data = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def webp_bomb(side: int = BOMB_SIDE, padding: int = 2048) -> bytes:
    """A valid lossless WebP (VP8L) of `side`×`side` opaque black pixels in a few bytes.

    Written by hand from the VP8L specification (RFC 9649): no transform, no colour cache, and
    five prefix codes that each have a single symbol, so every pixel costs zero bits. The
    chunk is padded past the 1 KB floor with bytes a decoder never reads."""
    bits = _Bits()
    bits.put(0x2F, 8)  # signature
    bits.put(side - 1, 14)
    bits.put(side - 1, 14)
    bits.put(0, 1)  # alpha_is_used (a hint)
    bits.put(0, 3)  # version
    bits.put(0, 1)  # no transform
    bits.put(0, 1)  # no colour cache
    bits.put(0, 1)  # no meta prefix codes
    for symbol in (0, 0, 0, 255, 0):  # green, red, blue, alpha, distance
        bits.put(1, 1)  # a simple code
        bits.put(0, 1)  # of one symbol
        wide = symbol > 1
        bits.put(int(wide), 1)
        bits.put(symbol, 8 if wide else 1)
    payload = bits.bytes() + bytes(padding)
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


class _Bits:
    """Bits written least-significant first, as VP8L reads them."""

    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, width: int) -> None:
        self.value |= (value & ((1 << width) - 1)) << self.count
        self.count += width

    def bytes(self) -> bytes:
        return self.value.to_bytes((self.count + 7) // 8, "little")


def write_images(folder: Path, count: int, *, prefix: str = "img", start: int = 0) -> list[Path]:
    """`count` distinct PNG files `prefix-000.png`, … in `folder` (made if missing): a folder of
    photos for the terminal tests, each with its own bytes, so each is its own detection."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index in range(start, start + count):
        path = folder / f"{prefix}-{index:03d}.png"
        path.write_bytes(png_bytes(4096, seed=index))
        paths.append(path)
    return paths
