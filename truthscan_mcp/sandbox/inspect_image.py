"""Reading the facts the simulator's verdicts are based on, straight from the image bytes.

The real service decides many verdicts from metadata alone (detection step 1): a Stable
Diffusion `parameters` chunk, a C2PA manifest declaring AI generation, camera EXIF. The
simulator reads the same things so that a test with a real file gets the verdict a person
would expect, deterministically, without Pillow or any other decoder in the package.

Every parser here takes hostile input: it bounds every offset, caps every loop and every
decompression, and a malformed structure only ends that parser's contribution — it never
raises to the caller.
"""

from __future__ import annotations

import re
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
_MAX_CHUNKS: Final = 4096
_MAX_IFD_ENTRIES: Final = 512

#: Errors a malformed structure can raise in the parsers; each ends only that parser.
_PARSE_ERRORS: Final = (struct.error, ValueError, IndexError, zlib.error, OverflowError, UnicodeError)

_AI_TOOLS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        (
            "Stable Diffusion",
            r"stable[\s_-]?diffusion|\bsd[\s_-]?xl\b|\bsd_xl|\bsdxl|automatic1111|\ba1111\b",
        ),
        ("ComfyUI", r"\bcomfy[\s_-]?ui\b"),
        ("Midjourney", r"\bmid[\s_-]?journey\b"),
        ("DALL·E", r"\bdall[\s\-·.]?e(?:[\s-]?[23])?\b"),
        ("Adobe Firefly", r"\bfirefly\b"),
        ("Google Imagen", r"\bimagen[\s_-]?[1-4]\b|\bgoogle[\s_-]imagen\b"),
        (
            "Flux",
            r"\bflux(?:\.1|1)?[\s_-]?(?:dev|schnell|pro|kontext)\b|\bflux\.1\b|black[\s_-]?forest[\s_-]?labs",
        ),
        ("NovelAI", r"\bnovel[\s_-]?ai\b"),
        ("Leonardo.Ai", r"\bleonardo(?:\.ai|[\s_-]ai)\b"),
        ("InvokeAI", r"\binvoke[\s_-]?ai\b"),
        ("Fooocus", r"\bfooocus\b"),
        ("Ideogram", r"\bideogram\b"),
        ("Runway", r"\brunway[\s_-]?ml\b|\brunway[\s_-]gen-?\d"),
        ("Kandinsky", r"\bkandinsky[\s_-]?\d"),
        ("DreamStudio", r"\bdream[\s_-]?studio\b"),
        ("Bing Image Creator", r"\bbing[\s_-]image[\s_-]creator\b"),
        ("OpenAI", r"\bopenai\b|\bchatgpt\b|\bgpt-?4o\b|\bgpt-image-\d\b"),
        ("Stability AI", r"\bstability[\s_-]?ai\b"),
        ("Craiyon", r"\bcraiyon\b"),
        ("NightCafe", r"\bnightcafe\b"),
    )
)

_EDITORS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("Adobe Lightroom", r"lightroom"),
        ("Adobe Photoshop", r"photoshop"),
        ("GIMP", r"\bgimp\b"),
        ("Affinity Photo", r"affinity[\s_-]photo"),
        ("Capture One", r"capture[\s_-]one"),
        ("Pixelmator", r"pixelmator"),
        ("Snapseed", r"snapseed"),
        ("Paint.NET", r"paint\.net"),
        ("darktable", r"\bdarktable\b"),
        ("RawTherapee", r"rawtherapee"),
        ("Luminar", r"\bluminar\b"),
        ("Photopea", r"photopea"),
    )
)

#: IPTC digital source types that declare (part of) the image as machine-generated.
_AI_SOURCE_TYPE = re.compile(r"algorithmicmedia|compositesynthetic", re.IGNORECASE)
#: PNG text keys that only image generators write.
_GENERATOR_KEYS: Final = {
    "parameters": "Stable Diffusion",
    "prompt": "ComfyUI",
    "workflow": "ComfyUI",
    "invokeai_metadata": "InvokeAI",
    "invokeai_graph": "InvokeAI",
    "sd-metadata": "InvokeAI",
    "dream": "InvokeAI",
    "fooocus_scheme": "Fooocus",
}
# `[ \t]*`, not `\s*`: after `^` in multiline mode, `\s*` would rescan every run of blank
# lines once per line and turn a chunk of newlines into quadratic work.
_SETTINGS_LINE = re.compile(r"^[ \t]*Steps:[ \t]*\d.*$", re.MULTILINE)
_MODEL_FIELD = re.compile(r"\bModel:\s*([^,\n]{1,80})")
_CKPT_FIELD = re.compile(r'"(?:ckpt_name|unet_name|model_name)"\s*:\s*"([^"]{1,120})"')
_CREATOR_TOOL = re.compile(r'CreatorTool(?:="|>)([^"<]{1,120})')

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


@dataclass(frozen=True, slots=True)
class ImageFindings:
    """What one image's bytes say about where it came from."""

    size: int
    format: str | None
    width: int | None
    height: int | None
    camera_make: str | None
    camera_model: str | None
    software: str | None
    editor: str | None
    #: Canonical names of AI tools found, in order of first evidence.
    ai_generators: tuple[str, ...]
    #: One line per piece of AI evidence, written for a person.
    ai_evidence: tuple[str, ...]
    #: Where the deciding evidence was found (e.g. "png:tEXt:parameters"), if anywhere.
    evidence_source: str | None
    #: The generator's own settings line, e.g. "Steps: 20, Sampler: Euler a, ...".
    generation_settings: str | None
    model_name: str | None
    c2pa: bool
    #: C2PA credentials or an IPTC digital source type declare the image machine-generated.
    provenance_ai_claim: bool
    #: Every text field read, as (where, value), for the "not conclusive" report.
    text_fields: tuple[tuple[str, str], ...]

    @property
    def has_ai_signature(self) -> bool:
        return bool(self.ai_generators) or self.provenance_ai_claim

    @property
    def camera(self) -> str | None:
        """`Make Model` without repeating the make when the model already names it."""
        make, model = self.camera_make, self.camera_model
        if make and model:
            return model if model.lower().startswith(make.lower()) else f"{make} {model}"
        return make or model


@dataclass(slots=True)
class _Collector:
    """Mutable scratchpad the format parsers fill in."""

    width: int | None = None
    height: int | None = None
    texts: list[tuple[str, str, str]] = field(default_factory=list[tuple[str, str, str]])
    exif: dict[str, str] = field(default_factory=dict[str, str])
    xmp: list[str] = field(default_factory=list[str])
    text_budget: int = _TEXT_BUDGET

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


def inspect_image(data: bytes) -> ImageFindings:
    """Everything the metadata stage can learn from `data`; never raises on any input."""
    fmt = sniff_format(data)
    found = _Collector()
    parser = _PARSERS.get(fmt or "")
    if parser is not None:
        _guarded(parser, data, found)
    window = data[:SCAN_WINDOW]
    _guarded(_scan_generic, window, found)
    return _conclude(data, window, fmt, found)


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


def _guarded(parser: Callable[[bytes, _Collector], None], data: bytes, found: _Collector) -> None:
    try:
        parser(data, found)
    except _PARSE_ERRORS:
        return


def _clean(value: str) -> str:
    return value.replace("\x00", " ").strip()[:_MAX_TEXT]


def _inflate(data: bytes) -> bytes:
    """Decompress at most `_MAX_TEXT` bytes, so a zip bomb in a text chunk costs nothing."""
    return zlib.decompressobj().decompress(data, _MAX_TEXT)


# --- PNG -------------------------------------------------------------------------------------


def _parse_png(data: bytes, found: _Collector) -> None:
    pos = 8
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > len(data):
            return
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR" and len(body) >= 8:
            found.size(*struct.unpack(">II", body[:8]))
        elif ctype in (b"tEXt", b"zTXt", b"iTXt") and not found.has_room():
            continue
        elif ctype == b"tEXt":
            key, _, value = body.partition(b"\x00")
            found.text("png:tEXt", key.decode("latin-1"), value.decode("latin-1"))
        elif ctype == b"zTXt":
            key, _, rest = body.partition(b"\x00")
            found.text("png:zTXt", key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1"))
        elif ctype == b"iTXt":
            _parse_itxt(body, found)
        elif ctype == b"eXIf":
            _parse_tiff_metadata(body, found)
        elif ctype == b"IEND":
            return


def _parse_itxt(body: bytes, found: _Collector) -> None:
    key, _, rest = body.partition(b"\x00")
    if len(rest) < 2:
        return
    compressed = rest[0] == 1
    _lang, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    raw = _inflate(text) if compressed else text
    value = raw.decode("utf-8", errors="replace")
    found.text("png:iTXt", key.decode("latin-1"), value)
    if key == b"XML:com.adobe.xmp":
        found.xmp.append(value)


# --- JPEG ------------------------------------------------------------------------------------

_SOF_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)


def _parse_jpeg(data: bytes, found: _Collector) -> None:
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
            found.xmp.append(segment[29:].decode("utf-8", errors="replace")[:_MAX_TEXT])
        elif marker == 0xFE:
            found.text("jpeg:COM", "Comment", segment.decode("utf-8", errors="replace"))


# --- TIFF / EXIF -----------------------------------------------------------------------------


def _parse_tiff_image(data: bytes, found: _Collector) -> None:
    _parse_tiff_metadata(data, found)
    width, height = found.exif.get("ImageWidth"), found.exif.get("ImageLength")
    if width and height and width.isdigit() and height.isdigit():
        found.size(int(width), int(height))


def _parse_tiff_metadata(tiff: bytes, found: _Collector) -> None:
    """IFD0 and the Exif sub-IFD of a TIFF structure (what an EXIF block is)."""
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    seen: set[int] = set()
    queue = [ifd]
    while queue and len(seen) < 8:
        offset = queue.pop(0)
        if offset in seen or offset <= 0 or offset + 2 > len(tiff):
            continue
        seen.add(offset)
        queue.extend(_read_ifd(tiff, offset, order, found))


def _read_ifd(tiff: bytes, offset: int, order: str, found: _Collector) -> list[int]:
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    sub_ifds: list[int] = []
    for index in range(min(count, _MAX_IFD_ENTRIES)):
        entry = tiff[offset + 2 + 12 * index : offset + 14 + 12 * index]
        if len(entry) < 12:
            break
        tag, typ, n = struct.unpack(order + "HHI", entry[:8])
        if tag not in _WANTED_TAGS:
            continue
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
            name = _EXIF_TEXT_TAGS[tag]
            text = _user_comment(raw, order) if tag == 0x9286 else raw.decode("utf-8", errors="replace")
            text = _clean(text)
            if text:
                found.exif[name] = text
                found.text("exif", name, text)
    return sub_ifds


def _user_comment(raw: bytes, order: str) -> str:
    """EXIF UserComment: 8 bytes naming the charset, then text (AUTOMATIC1111 writes UTF-16)."""
    prefix, body = raw[:8], raw[8:]
    if prefix.startswith(b"UNICODE"):
        candidates = [body.decode("utf-16-be", errors="replace"), body.decode("utf-16-le", errors="replace")]
        if order == "<":
            candidates.reverse()
        return max(candidates, key=lambda text: sum(ch.isascii() and ch.isprintable() for ch in text))
    return body.decode("utf-8", errors="replace")


# --- WebP, BMP, HEIF/AVIF --------------------------------------------------------------------


def _parse_webp(data: bytes, found: _Collector) -> None:
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
            found.xmp.append(body.decode("utf-8", errors="replace")[:_MAX_TEXT])


def _parse_bmp(data: bytes, found: _Collector) -> None:
    width, height = struct.unpack("<ii", data[18:26])
    found.size(abs(width), abs(height))


def _parse_heif(data: bytes, found: _Collector) -> None:
    at = data.find(b"ispe", 0, SCAN_WINDOW)
    if at >= 0 and at + 16 <= len(data):
        found.size(*struct.unpack(">II", data[at + 8 : at + 16]))


_PARSERS: Final[dict[str, Callable[[bytes, _Collector], None]]] = {
    "PNG": _parse_png,
    "JPEG": _parse_jpeg,
    "TIFF": _parse_tiff_image,
    "WEBP": _parse_webp,
    "BMP": _parse_bmp,
    "HEIC": _parse_heif,
    "HEIF": _parse_heif,
    "AVIF": _parse_heif,
}


def _scan_generic(window: bytes, found: _Collector) -> None:
    """XMP packets and EXIF blocks wherever they sit (HEIF/AVIF keep them in opaque items)."""
    start = window.find(b"<x:xmpmeta")
    if start >= 0 and not found.xmp:
        end = window.find(b"</x:xmpmeta>", start)
        found.xmp.append(window[start : end if end > 0 else start + _MAX_TEXT].decode("utf-8", "replace"))
    if not found.exif:
        at = window.find(b"Exif\x00\x00")
        if at >= 0:
            _parse_tiff_metadata(window[at + 6 :], found)


# --- conclusions -----------------------------------------------------------------------------


def _conclude(data: bytes, window: bytes, fmt: str | None, found: _Collector) -> ImageFindings:
    evidence = _Evidence()
    consumed: set[tuple[str, str]] = set()
    for where, key, value in found.texts:
        lowered = key.lower()
        if lowered not in _GENERATOR_KEYS or not value:
            continue
        if lowered == "parameters" and not _SETTINGS_LINE.search(value):
            continue  # a `parameters` chunk without a settings line is not AUTOMATIC1111's
        if _GENERATOR_KEYS[lowered] == "ComfyUI" and not value.lstrip().startswith("{"):
            continue  # ComfyUI stores JSON; free text under `prompt` proves nothing
        consumed.add((where, key))
        evidence.settings = evidence.settings or _settings_line(value)
        evidence.model = evidence.model or _model_name(value)
        name = (_first_tool(value) if lowered == "parameters" else None) or _GENERATOR_KEYS[lowered]
        evidence.add(name, f"Generation parameters of {name} in {_describe(where)} '{key}'", f"{where}:{key}")

    for where, key, value in found.texts:
        tool = None if (where, key) in consumed else _first_tool(value)
        if tool:
            line = f"{tool} named in {_describe(where)} '{key}': {_excerpt(value, tool)}"
            evidence.add(tool, line, f"{where}:{key}")
    for packet in found.xmp:
        tool = _first_tool(packet)
        if tool:
            evidence.add(tool, f"{tool} named in XMP metadata: {_excerpt(packet, tool)}", "xmp")

    c2pa = b"c2pa" in window or (b"jumb" in window and b"jumd" in window)
    claim = False
    if c2pa:
        blob = window.decode("latin-1")
        tool = _first_tool(blob)
        if tool:
            evidence.add(tool, f"C2PA content credentials name {tool} as the generator", "c2pa")
        if _AI_SOURCE_TYPE.search(blob):
            evidence.note(
                "C2PA content credentials declare the image AI-generated (trainedAlgorithmicMedia)", "c2pa"
            )
        claim = bool(tool) or bool(_AI_SOURCE_TYPE.search(blob))
    if any(_AI_SOURCE_TYPE.search(packet) for packet in found.xmp):
        evidence.note(
            "XMP digital source type declares the image AI-generated (IPTC)", "xmp:DigitalSourceType"
        )
        claim = True

    software = found.exif.get("Software") or _text_value(found, "software")
    creator = next((m.group(1) for p in found.xmp if (m := _CREATOR_TOOL.search(p))), None)
    return ImageFindings(
        size=len(data),
        format=fmt,
        width=found.width,
        height=found.height,
        camera_make=found.exif.get("Make"),
        camera_model=found.exif.get("Model"),
        software=software or creator,
        editor=_editor(software) or _editor(creator),
        ai_generators=tuple(evidence.generators),
        ai_evidence=tuple(evidence.lines),
        evidence_source=evidence.source,
        generation_settings=evidence.settings,
        model_name=evidence.model,
        c2pa=c2pa,
        provenance_ai_claim=claim,
        text_fields=tuple((f"{where}:{key}", value) for where, key, value in found.texts if value),
    )


@dataclass(slots=True)
class _Evidence:
    generators: list[str] = field(default_factory=list[str])
    lines: list[str] = field(default_factory=list[str])
    source: str | None = None
    settings: str | None = None
    model: str | None = None

    def add(self, name: str, line: str, where: str) -> None:
        if name not in self.generators:
            self.generators.append(name)
        self.note(line, where)

    def note(self, line: str, where: str) -> None:
        if line not in self.lines:
            self.lines.append(line)
        self.source = self.source or where


def _first_tool(text: str) -> str | None:
    for name, pattern in _AI_TOOLS:
        if pattern.search(text):
            return name
    return None


def _editor(software: str | None) -> str | None:
    if not software:
        return None
    return next((name for name, pattern in _EDITORS if pattern.search(software)), None)


def _text_value(found: _Collector, key: str) -> str | None:
    return next((value for _, k, value in found.texts if k.lower() == key and value), None)


def _settings_line(value: str) -> str | None:
    match = _SETTINGS_LINE.search(value)
    return match.group(0).strip()[:240] if match else None


def _model_name(value: str) -> str | None:
    match = _MODEL_FIELD.search(value) or _CKPT_FIELD.search(value)
    return match.group(1).strip() if match else None


def _describe(where: str) -> str:
    kind = where.split(":", 1)[0]
    return {"png": "PNG text chunk", "exif": "EXIF", "xmp": "XMP metadata", "jpeg": "JPEG comment"}.get(
        kind, where
    )


def _excerpt(value: str, tool: str) -> str:
    """A short, single-line quote around where `tool` was found."""
    pattern = dict(_AI_TOOLS)[tool]
    match = pattern.search(value)
    start = max(0, match.start() - 30) if match else 0
    text = " ".join(value[start : start + 90].split())
    return f"“{text}”"
