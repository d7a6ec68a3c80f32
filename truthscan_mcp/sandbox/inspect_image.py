"""Deciding what an image's metadata says about where it came from.

The real service decides many verdicts from metadata alone (detection step 1): a Stable
Diffusion `parameters` chunk, a C2PA manifest declaring AI generation, camera EXIF. The
simulator reads the same things so that a test with a real file gets the verdict a person
would expect, deterministically. Reading the bytes is `image_metadata`'s job; this module
recognises generators, editors, cameras and provenance claims in what was read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from truthscan_mcp.sandbox.image_metadata import SCAN_WINDOW, RawMetadata, read_metadata

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


def inspect_image(data: bytes) -> ImageFindings:
    """Everything the metadata stage can learn from `data`; never raises on any input."""
    return _conclude(data, data[:SCAN_WINDOW], read_metadata(data))


# --- conclusions -----------------------------------------------------------------------------


def _conclude(data: bytes, window: bytes, found: RawMetadata) -> ImageFindings:
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
        format=found.format,
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


def _text_value(found: RawMetadata, key: str) -> str | None:
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
