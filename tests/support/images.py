"""Small images made in memory, for tests that need bytes of a given format and size."""

from __future__ import annotations

import hashlib
import struct
import zlib


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
