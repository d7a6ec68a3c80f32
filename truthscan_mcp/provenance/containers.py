"""Finding an image file's metadata — sizes, text chunks, EXIF, XMP, C2PA — without a decoder.

Every parser here takes hostile input: it bounds every offset, caps every loop, every
decompression and the total text kept, and a malformed structure only ends that parser's
contribution (noted in `errors`) — it never raises to the caller. Pure functions.

Why not Pillow: it would add a large native wheel to read a handful of fields, its EXIF and
text-chunk readers have no caps we control (a 10 MB zTXt is inflated in full), and it reads
neither JUMBF (C2PA) nor HEIF/AVIF without plugins. The structures read here are small and
well specified, so a strict reader with hard caps is both smaller and safer.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

#: How far into a file the generic scans (C2PA, XMP, stray EXIF) look.
SCAN_WINDOW: Final = 512 * 1024
_MAX_TEXT: Final = 64 * 1024
#: Total text kept from one file: metadata is small, so past this it is padding or an attack.
_TEXT_BUDGET: Final = 1024 * 1024
#: Largest XMP packet kept; one byte more is kept so the XMP reader can say it was too large.
XMP_MAX: Final = 1024 * 1024
_MAX_XMP_PACKETS: Final = 4
#: Largest C2PA (JUMBF) store kept for the fallback scan; the c2pa library reads the whole file.
JUMBF_MAX: Final = 2 * 1024 * 1024
_MAX_CHUNKS: Final = 4096
_MAX_IFD_ENTRIES: Final = 512
#: One file's EXIF work, across all its IFDs: entries looked at, and bytes of text decoded. A
#: camera's EXIF has a few hundred entries and a few KB of text; a hostile one, thousands of
#: entries that each point at the same 60 KB comment (6 s of CPU for 131 KB before this budget).
_EXIF_ENTRIES: Final = 2048
_EXIF_TEXT_BYTES: Final = 256 * 1024

#: Errors a malformed structure can raise in the parsers; each ends only that parser.
_PARSE_ERRORS: Final = (struct.error, ValueError, IndexError, zlib.error, OverflowError, UnicodeError)

_EXIF_TEXT_TAGS: Final = {
    0x010E: "ImageDescription",
    0x010F: "Make",
    0x0110: "Model",
    0x0131: "Software",
    0x013B: "Artist",
    0x8298: "Copyright",
    0x9286: "UserComment",
}
_WANTED_TAGS: Final = frozenset({0x8769, 0x0100, 0x0101, *_EXIF_TEXT_TAGS})
_TIFF_TYPE_SIZES: Final = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_HEIF_BRANDS: Final = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"hevx": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
}


@dataclass(slots=True)
class RawMetadata:
    """What the format parsers found, before any conclusion is drawn from it."""

    format: str | None = None
    width: int | None = None
    height: int | None = None
    texts: list[tuple[str, str, str]] = field(default_factory=list[tuple[str, str, str]])
    exif: dict[str, str] = field(default_factory=dict[str, str])
    xmp: list[bytes] = field(default_factory=list[bytes])
    #: The raw C2PA manifest store(s) (JUMBF), capped, and where each was found.
    jumbf: list[tuple[str, bytes]] = field(default_factory=list[tuple[str, bytes]])
    #: What was damaged, truncated or too large to read, one line each.
    errors: list[str] = field(default_factory=list[str])
    text_budget: int = _TEXT_BUDGET
    #: whether an EXIF block was read already: only a file's first one is (a camera writes one;
    #: more are padding or an attack, each up to 64 KB of entries to walk)
    exif_read: bool = False
    exif_entries: int = _EXIF_ENTRIES
    exif_text_bytes: int = _EXIF_TEXT_BYTES

    def spend_entry(self) -> bool:
        """Count one EXIF entry against the file's budget; False once it is spent."""
        self.exif_entries -= 1
        if self.exif_entries < 0:
            self.error("EXIF has too many entries: read no further")
            return False
        return True

    def spend_text(self, size: int) -> bool:
        """Count `size` bytes of EXIF text to decode against the file's budget."""
        self.exif_text_bytes -= size
        if self.exif_text_bytes < 0:
            self.error("EXIF holds too much text: read no further")
            return False
        return True

    def error(self, line: str) -> None:
        if line not in self.errors and len(self.errors) < 16:
            self.errors.append(line)

    def add_xmp(self, packet: bytes) -> None:
        if len(self.xmp) < _MAX_XMP_PACKETS:
            self.xmp.append(packet[: XMP_MAX + 1])

    def add_jumbf(self, where: str, store: bytes) -> None:
        if sum(len(s) for _, s in self.jumbf) < JUMBF_MAX:
            self.jumbf.append((where, store[:JUMBF_MAX]))

    def has_room(self) -> bool:
        return self.text_budget > 0

    def text(self, where: str, key: str, value: str) -> None:
        if self.has_room():
            cleaned = _clean(value)
            self.text_budget -= len(cleaned) + len(key)
            self.texts.append((where, key, cleaned))

    def size(self, width: int, height: int) -> None:
        if self.width is None and 0 < width < 1 << 20 and 0 < height < 1 << 20:
            self.width, self.height = width, height


def read_metadata(data: bytes) -> RawMetadata:
    """Everything the format's own structures and a scan of the file's head reveal."""
    found = RawMetadata(format=sniff_format(data))
    parser = _PARSERS.get(found.format or "")
    if parser is not None:
        _guarded(parser, data, found)
    _guarded(_scan_generic, data[:SCAN_WINDOW], found)
    return found


def sniff_format(data: bytes) -> str | None:
    """The supported image format `data` really is, by magic bytes (never by name)."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if data.startswith(b"BM") and len(data) >= 26 and data[14] in (12, 40, 52, 56, 64, 108, 124):
        return "BMP"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brands = [data[8:12]] + [data[i : i + 4] for i in range(16, min(len(data), 64), 4)]
        for brand in brands:
            if brand in _HEIF_BRANDS:
                return _HEIF_BRANDS[brand]
    return None


def _guarded(parser: Callable[[bytes, RawMetadata], None], data: bytes, found: RawMetadata) -> None:
    try:
        parser(data, found)
    except _PARSE_ERRORS as exc:
        found.error(
            f"{found.format or 'file'} metadata structure is damaged ({type(exc).__name__}); "
            "read what came before it"
        )


def _clean(value: str) -> str:
    return value.replace("\x00", " ").strip()[:_MAX_TEXT]


def _inflate(data: bytes, limit: int = _MAX_TEXT) -> bytes:
    """Decompress at most `limit` bytes, so a zip bomb in a text chunk costs nothing."""
    return zlib.decompressobj().decompress(data, limit)


# --- PNG -------------------------------------------------------------------------------------


def _parse_png(data: bytes, found: RawMetadata) -> None:
    pos = 8
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > len(data):
            return
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + length > len(data):
            found.error(f"PNG truncated: chunk {ctype!r} runs past the end of the file")
        # Pixel data is never copied; any other chunk only up to what its reader keeps.
        cap = 0 if ctype == b"IDAT" else (JUMBF_MAX if ctype == b"caBX" else XMP_MAX + 4096)
        if length > cap and ctype in (b"tEXt", b"zTXt", b"iTXt"):
            found.error(f"PNG text chunk of {length} bytes: only its first {cap // 1024} KiB read")
        body = data[pos + 8 : pos + 8 + min(length, cap)]
        pos += 12 + length
        if ctype == b"IHDR" and len(body) >= 8:
            found.size(*struct.unpack(">II", body[:8]))
        elif ctype in (b"tEXt", b"zTXt", b"iTXt") and not found.has_room():
            continue
        elif ctype == b"tEXt":
            key, _, value = body[: _MAX_TEXT + 80].partition(b"\x00")
            found.text("png:tEXt", key.decode("latin-1"), value.decode("latin-1"))
        elif ctype == b"zTXt":
            key, _, rest = body.partition(b"\x00")
            found.text("png:zTXt", key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1"))
        elif ctype == b"iTXt":
            _parse_itxt(body, found)
        elif ctype == b"eXIf":
            _parse_tiff_metadata(body, found)
        elif ctype == b"caBX":
            found.add_jumbf("png:caBX", body)
        elif ctype == b"IEND":
            return


def _parse_itxt(body: bytes, found: RawMetadata) -> None:
    key, _, rest = body.partition(b"\x00")
    if len(rest) < 2:
        return
    compressed = rest[0] == 1
    _lang, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if key == b"XML:com.adobe.xmp":
        found.add_xmp(_inflate(text, XMP_MAX + 1) if compressed else text)
        return
    raw = _inflate(text) if compressed else text[:_MAX_TEXT]
    found.text("png:iTXt", key.decode("latin-1"), raw.decode("utf-8", errors="replace"))


# --- JPEG ------------------------------------------------------------------------------------

_SOF_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def _parse_jpeg(data: bytes, found: RawMetadata) -> None:
    pos = 2
    for _ in range(_MAX_CHUNKS):
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > len(data) or data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no metadata after this
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2:
            return
        segment = data[pos + 4 : pos + 2 + length]
        pos += 2 + length
        if marker in _SOF_MARKERS and len(segment) >= 5:
            height, width = struct.unpack(">HH", segment[1:5])
            found.size(width, height)
        elif marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            _parse_tiff_metadata(segment[6:], found)
        elif marker == 0xE1 and segment.startswith(b"http://ns.adobe.com/xap/1.0/\x00"):
            found.add_xmp(segment[29:])
        elif marker == 0xEB and segment.startswith(b"JP") and len(segment) > 16:
            # C2PA in JPEG: APP11 segments of JUMBF (ISO 19566-5), 8 bytes of header each.
            found.add_jumbf("jpeg:APP11", segment[8:])
        elif marker == 0xFE:
            found.text("jpeg:COM", "Comment", segment.decode("utf-8", errors="replace"))


# --- TIFF / EXIF -----------------------------------------------------------------------------


def _parse_tiff_image(data: bytes, found: RawMetadata) -> None:
    _parse_tiff_metadata(data, found)
    width, height = found.exif.get("ImageWidth"), found.exif.get("ImageLength")
    if width and height and width.isdigit() and height.isdigit():
        found.size(int(width), int(height))


def _parse_tiff_metadata(tiff: bytes, found: RawMetadata) -> None:
    """IFD0 and the Exif sub-IFD of a TIFF structure (what an EXIF block is): the file's first
    block only, within the file's EXIF budget."""
    if found.exif_read:
        found.error("more than one EXIF block: only the first was read")
        return
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return
    found.exif_read = True
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    seen: set[int] = set()
    queue = [ifd]
    while queue and len(seen) < 8:
        offset = queue.pop(0)
        if offset in seen or offset <= 0 or offset + 2 > len(tiff):
            continue
        seen.add(offset)
        queue.extend(_read_ifd(tiff, offset, order, found))


def _read_ifd(tiff: bytes, offset: int, order: str, found: RawMetadata) -> list[int]:
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    sub_ifds: list[int] = []
    for index in range(min(count, _MAX_IFD_ENTRIES)):
        if not found.spend_entry():
            break
        entry = tiff[offset + 2 + 12 * index : offset + 14 + 12 * index]
        if len(entry) < 12:
            break
        tag, typ, n = struct.unpack(order + "HHI", entry[:8])
        if tag not in _WANTED_TAGS:
            continue
        if tag in _EXIF_TEXT_TAGS and _EXIF_TEXT_TAGS[tag] in found.exif:
            continue  # the first value of a tag wins; a repeat is never decoded again
        size = _TIFF_TYPE_SIZES.get(typ, 0) * n
        if size <= 4:
            raw = entry[8 : 8 + size]
        else:
            (where,) = struct.unpack(order + "I", entry[8:12])
            raw = tiff[where : where + min(size, _MAX_TEXT)]
        if tag == 0x8769 and typ in (4, 13) and len(raw) == 4:
            sub_ifds.append(struct.unpack(order + "I", raw)[0])
        elif tag in (0x0100, 0x0101) and typ in (3, 4) and raw:
            value = struct.unpack(order + ("H" if typ == 3 else "I"), raw[: 2 if typ == 3 else 4])[0]
            found.exif["ImageWidth" if tag == 0x0100 else "ImageLength"] = str(value)
        elif tag in _EXIF_TEXT_TAGS:
            if not found.spend_text(len(raw)):
                break
            name = _EXIF_TEXT_TAGS[tag]
            text = _user_comment(raw, order) if tag == 0x9286 else raw.decode("utf-8", errors="replace")
            text = _clean(text)
            if text:
                found.exif[name] = text
                found.text("exif", name, text)
    return sub_ifds


def _user_comment(raw: bytes, order: str) -> str:
    """EXIF UserComment: 8 bytes naming the charset, then text (AUTOMATIC1111 writes UTF-16).

    UTF-16's byte order is told from where the zero bytes of ASCII text fall (the high byte
    of each unit): counted in C over the raw bytes, then decoded once — linear in the text,
    where decoding it both ways and scoring each character in Python cost seconds per MB."""
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        even, odd = body[0::2].count(0), body[1::2].count(0)
        big = order == ">" if even == odd else even > odd  # no ASCII to tell by: the TIFF's order
        return body.decode("utf-16-be" if big else "utf-16-le", errors="replace")
    return body.decode("utf-8", errors="replace")


# --- WebP, BMP, HEIF/AVIF --------------------------------------------------------------------


def _parse_webp(data: bytes, found: RawMetadata) -> None:
    pos = 12
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > len(data):
            return
        fourcc, length = struct.unpack("<4sI", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
        if fourcc == b"VP8X" and len(body) >= 10:
            found.size(1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little"))
        elif fourcc == b"VP8 " and len(body) >= 10:
            width, height = struct.unpack("<HH", body[6:10])
            found.size(width & 0x3FFF, height & 0x3FFF)
        elif fourcc == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
            bits = int.from_bytes(body[1:5], "little")
            found.size((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        elif fourcc == b"EXIF":
            _parse_tiff_metadata(body[6:] if body.startswith(b"Exif\x00\x00") else body, found)
        elif fourcc == b"XMP ":
            found.add_xmp(body)
        elif fourcc == b"C2PA":
            found.add_jumbf("webp:C2PA", body)


def _parse_bmp(data: bytes, found: RawMetadata) -> None:
    width, height = struct.unpack("<ii", data[18:26])
    found.size(abs(width), abs(height))


def _parse_heif(data: bytes, found: RawMetadata) -> None:
    at = data.find(b"ispe", 0, SCAN_WINDOW)
    if at >= 0 and at + 16 <= len(data):
        found.size(*struct.unpack(">II", data[at + 8 : at + 16]))


_PARSERS: Final[dict[str, Callable[[bytes, RawMetadata], None]]] = {
    "PNG": _parse_png,
    "JPEG": _parse_jpeg,
    "TIFF": _parse_tiff_image,
    "WEBP": _parse_webp,
    "BMP": _parse_bmp,
    "HEIC": _parse_heif,
    "HEIF": _parse_heif,
    "AVIF": _parse_heif,
}


def _scan_generic(window: bytes, found: RawMetadata) -> None:
    """XMP, EXIF and C2PA wherever they sit (HEIF/AVIF keep them in opaque items)."""
    start = window.find(b"<x:xmpmeta")
    if start >= 0 and not found.xmp:
        end = window.find(b"</x:xmpmeta>", start)
        found.add_xmp(window[start : end + 12 if end > 0 else start + XMP_MAX + 1])
    if not found.jumbf:
        at = window.find(b"jumb")
        if at >= 4 and b"c2pa" in window[at : at + 256]:
            found.add_jumbf("jumbf", window[at - 4 :])
    if not found.exif_read:
        at = window.find(b"Exif\x00\x00")
        if at >= 0:
            _parse_tiff_metadata(window[at + 6 :], found)
