"""Recognising AI generators, photo editors and IPTC source types in what a file says.

Only recognition: the text comes from the file and is never trusted beyond reporting that a
name appears in it. Patterns are anchored on word boundaries and bounded (no nested
quantifiers), so a hostile value costs linear time.
"""

from __future__ import annotations

import re
from typing import Final, Literal

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

#: PNG text keys that only image generators write.
GENERATOR_KEYS: Final = {
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
SETTINGS_LINE: Final = re.compile(r"^[ \t]*Steps:[ \t]*\d.*$", re.MULTILINE)
_MODEL_FIELD: Final = re.compile(r"\bModel:\s*([^,\n]{1,80})")
_CKPT_FIELD: Final = re.compile(r'"(?:ckpt_name|unet_name|model_name)"\s*:\s*"([^"]{1,120})"')

SourceKind = Literal["ai", "edited", "camera", "other"]

#: The IPTC Digital Source Type vocabulary (https://cv.iptc.org/newscodes/digitalsourcetype/)
#: and what each term declares. `algorithmicMedia` (made by an algorithm without training
#: data) and `compositeSynthetic` (a composite with synthetic parts) count as AI here: the
#: question a person asks is "was this made by a machine?", and both answer yes.
IPTC_TERMS: Final[dict[str, SourceKind]] = {
    "trainedAlgorithmicMedia": "ai",
    "compositeWithTrainedAlgorithmicMedia": "ai",
    "algorithmicMedia": "ai",
    "compositeSynthetic": "ai",
    "humanEdits": "edited",
    "minorHumanEdits": "edited",
    "algorithmicallyEnhanced": "edited",
    "compositeCapture": "edited",
    "composite": "edited",
    "digitalArt": "edited",
    "digitalCreation": "edited",
    "digitalCapture": "camera",
    "computationalCapture": "camera",
    "negativeFilm": "camera",
    "positiveFilm": "camera",
    "print": "camera",
    "screenCapture": "other",
    "virtualRecording": "other",
    "dataDrivenMedia": "other",
}
_LOWER_TERMS: Final = {term.lower(): term for term in IPTC_TERMS}
#: IPTC terms anywhere in raw bytes, for manifests the c2pa library could not read.
RAW_TERM: Final = re.compile(
    r"digitalsourcetype/(" + "|".join(sorted(IPTC_TERMS, key=len, reverse=True)) + r")\b"
)


def iptc_term(value: str | None) -> str | None:
    """The IPTC term in a value that may be a full URI, a `prefix:term` or the bare term."""
    if not value:
        return None
    tail = value.strip().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return _LOWER_TERMS.get(tail.lower())


def first_tool(text: str) -> str | None:
    for name, pattern in _AI_TOOLS:
        if pattern.search(text):
            return name
    return None


def editor_of(software: str | None) -> str | None:
    if not software:
        return None
    return next((name for name, pattern in _EDITORS if pattern.search(software)), None)


def settings_line(value: str) -> str | None:
    match = SETTINGS_LINE.search(value)
    return match.group(0).strip()[:240] if match else None


def model_name(value: str) -> str | None:
    match = _MODEL_FIELD.search(value) or _CKPT_FIELD.search(value)
    return match.group(1).strip() if match else None


def excerpt(value: str, tool: str) -> str:
    """A short, single-line excerpt around where `tool` was found (the caller quotes it)."""
    pattern = dict(_AI_TOOLS)[tool]
    match = pattern.search(value)
    start = max(0, match.start() - 30) if match else 0
    return " ".join(value[start : start + 90].split())
