"""Image formats TruthScan accepts, recognised by their first bytes.

The format is decided by magic bytes, never by a file name or a server's Content-Type:
names lie (``photo.png`` saved as JPEG is common) and TruthScan decides by content too, so
trusting the name would spend a round trip — or credits — on a file it then refuses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MIN_IMAGE_BYTES = 1024
MAX_IMAGE_BYTES = 10 * 1024 * 1024

#: How many leading bytes `sniff_format` (and `describe_unsupported`) want. Long enough for an
#: ISO-BMFF ``ftyp`` box with many compatible brands and for a useful guess at text content.
SNIFF_BYTES = 512


@dataclass(frozen=True, slots=True)
class ImageFormat:
    name: str
    #: The canonical extension, without the dot.
    extension: str
    media_type: str
    #: Other spellings of the extension that TruthScan accepts for the same content type
    #: (``jpeg``/``jfif``, ``tif``); a file already named that way keeps its spelling.
    aliases: tuple[str, ...] = ()

    @property
    def extensions(self) -> tuple[str, ...]:
        return (self.extension, *self.aliases)


JPEG = ImageFormat("jpeg", "jpg", "image/jpeg", ("jpeg", "jfif"))
PNG = ImageFormat("png", "png", "image/png")
WEBP = ImageFormat("webp", "webp", "image/webp")
HEIC = ImageFormat("heic", "heic", "image/heic")
HEIF = ImageFormat("heif", "heif", "image/heif")
AVIF = ImageFormat("avif", "avif", "image/avif")
BMP = ImageFormat("bmp", "bmp", "image/bmp")
TIFF = ImageFormat("tiff", "tiff", "image/tiff", ("tif",))

FORMATS: tuple[ImageFormat, ...] = (JPEG, PNG, WEBP, HEIC, HEIF, AVIF, BMP, TIFF)


def describe_supported() -> str:
    return "JPEG, PNG, WebP, HEIC/HEIF, AVIF, BMP, TIFF"


def human_size(n: int) -> str:
    """A size the way the limits are stated to people (KB = 1024 bytes, as in the API docs)."""
    if n < 1024:
        return f"{n} byte" if n == 1 else f"{n} bytes"
    if n < 1024 * 1024:
        return f"{_trim(n / 1024)} KB"
    return f"{_trim(n / (1024 * 1024))} MB"


def _trim(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


# --- sniffing ---------------------------------------------------------------------------------

_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"miaf"})
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def sniff_format(head: bytes) -> ImageFormat | None:
    """The supported format `head` (the file's first bytes) starts, or None. Never raises."""
    try:
        return _sniff(bytes(head))
    except Exception:  # pragma: no cover - defensive: a sniffer must never break a caller
        return None


def _sniff(head: bytes) -> ImageFormat | None:
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return TIFF
    if _is_bmp(head):
        return BMP
    brands = _ftyp_brands(head)
    if brands is not None:
        return _isobmff_format(*brands)
    return None


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak (any text starting "BM..."): the DIB header size that follows
    # the 14-byte file header is one of a handful of values in every real BMP.
    if len(head) < 18 or head[:2] != b"BM":
        return False
    dib_size = int.from_bytes(head[14:18], "little")
    offset = int.from_bytes(head[10:14], "little")
    return dib_size in _BMP_DIB_SIZES and offset >= 14 + dib_size


def _ftyp_brands(head: bytes) -> tuple[bytes, frozenset[bytes]] | None:
    """(major brand, compatible brands) of a leading ISO-BMFF ``ftyp`` box, if there is one."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[:4], "big")
    if size == 0:  # the box extends to the end of the file
        size = len(head)
    if size < 16:
        return None
    major = head[8:12]
    body = head[16 : min(size, len(head))]
    compatible = frozenset(body[i : i + 4] for i in range(0, len(body) - 3, 4))
    return major, compatible


def _isobmff_format(major: bytes, compatible: frozenset[bytes]) -> ImageFormat | None:
    # The major brand says what the file primarily is; the compatible brands refine a
    # generic HEIF major brand (mif1/msf1) into AVIF or HEIC, which TruthScan types apart.
    if major in _AVIF_BRANDS:
        return AVIF
    if major in _HEIC_BRANDS:
        return HEIC
    brands = compatible | {major}
    if major not in _HEIF_BRANDS and not (brands & (_HEIF_BRANDS | _AVIF_BRANDS | _HEIC_BRANDS)):
        return None  # an MP4/QuickTime video, a JPEG XL or CR3 container, ...
    if brands & _AVIF_BRANDS:
        return AVIF
    if brands & _HEIC_BRANDS:
        return HEIC
    return HEIF


# --- what an unsupported file looks like -----------------------------------------------------

_MAGIC_DESCRIPTIONS: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 image"),
    (b"\x00\x00\x01\x00", "an ICO icon"),
    (b"8BPS", "a Photoshop document"),
    (b"\x1a\x45\xdf\xa3", "a WebM/Matroska video"),
    (b"OggS", "an Ogg media file"),
    (b"ID3", "an MP3 audio file"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"MZ", "a Windows program"),
)


def describe_unsupported(head: bytes) -> str | None:
    """A short noun phrase for what a non-image file seems to be ("a GIF image", "text").

    Used only to make refusals actionable ("it looks like a PDF document"), so it is cheap
    and heuristic; None when there is no good guess. Never raises.
    """
    try:
        return _describe(bytes(head))
    except Exception:  # pragma: no cover - defensive
        return None


def _describe(head: bytes) -> str | None:
    if not head:
        return "an empty file"
    for magic, what in _MAGIC_DESCRIPTIONS:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF":
        kind = head[8:12]
        if kind == b"AVI ":
            return "an AVI video"
        if kind == b"WAVE":
            return "a WAV audio file"
        return "a RIFF file that is not WebP"
    brands = _ftyp_brands(head)
    if brands is not None:
        major = brands[0]
        if major == b"jxl ":
            return "a JPEG XL image"
        if major == b"crx ":
            return "a Canon CR3 raw photo"
        return "an MP4/QuickTime video (or another ISO media file)"
    text = _as_text(head)
    if text is None:
        return None
    start = text.lstrip().lower()
    if start.startswith("<svg") or (start.startswith("<?xml") and "<svg" in start):
        return "an SVG image"
    if start.startswith(("<!doctype html", "<html", "<head", "<body")):
        return "an HTML page"
    if start.startswith("<?xml"):
        return "an XML document"
    if start.startswith(("{", "[")):
        return "JSON or other text"
    return "text"


def _as_text(head: bytes) -> str | None:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may cut a multi-byte character in half: only that is forgiven.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    if not text:
        return None
    printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n\f\v")
    return text if printable >= 0.95 * len(text) else None


# --- upload names ------------------------------------------------------------------------------

_NAME_LIMIT = 100
_DISALLOWED = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSION_LIKE = re.compile(r"^[A-Za-z0-9]{1,5}$")


def sanitize_upload_name(name: str, fmt: ImageFormat) -> str:
    """A file name TruthScan's presign step accepts, with the extension of the real format.

    The presigned upload key is built from this name and TruthScan infers the content type
    from its extension, so the name must be plain ASCII without spaces and must not claim a
    different format than the bytes have.
    """
    base = re.split(r"[/\\]", name)[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip("."):
        stem, suffix = base, ""
    extension = fmt.extension
    if suffix and _EXTENSION_LIKE.match(suffix) and any(c.isalpha() for c in suffix):
        if suffix.lower() in fmt.extensions:
            extension = suffix.lower()
    elif suffix:
        stem = f"{stem}.{suffix}"  # "IMG_2024.01.05": the dots are part of the name
    folded = unicodedata.normalize("NFKD", stem)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    cleaned = _DISALLOWED.sub("_", folded)
    cleaned = re.sub(r"_{2,}", "_", cleaned)
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = cleaned.strip("._-")
    cleaned = cleaned[: _NAME_LIMIT - len(extension) - 1].rstrip("._-")
    return f"{cleaned or 'image'}.{extension}"
