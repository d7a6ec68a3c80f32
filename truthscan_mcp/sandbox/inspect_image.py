"""Deciding what an image's metadata says about where it came from, for the simulated verdict.

The real service decides many verdicts from metadata alone (detection step 1): a Stable
Diffusion `parameters` chunk, a C2PA manifest declaring AI generation, camera EXIF. The
simulator reads the same things so that a test with a real file gets the verdict a person
would expect, deterministically. The reading is the provenance engine's — the same one
`check_provenance` uses — so the simulator and the tool never disagree about a file; this
module only reshapes its `Examination` into what the verdict needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from truthscan_mcp.provenance import examine
from truthscan_mcp.provenance.engine import camera_name


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
        return camera_name(self.camera_make, self.camera_model) or None


def inspect_image(data: bytes) -> ImageFindings:
    """Everything the metadata stage can learn from `data`; never raises on any input."""
    found = examine(data)
    raw = found.raw
    return ImageFindings(
        size=len(data),
        format=raw.format,
        width=raw.width,
        height=raw.height,
        camera_make=found.make,
        camera_model=found.model,
        software=found.software,
        editor=found.editor,
        ai_generators=tuple(found.generators),
        ai_evidence=tuple(found.ai_lines),
        evidence_source=found.generator_evidence[0].split(" (", 1)[0]
        if found.generator_evidence
        else (found.source_type_origin and f"{found.source_type_origin}:DigitalSourceType"),
        generation_settings=found.generation_settings,
        model_name=found.model_name,
        c2pa=found.c2pa is not None,
        provenance_ai_claim=found.ai_claim,
        text_fields=tuple((f"{where}:{key}", value) for where, key, value in raw.texts if value),
    )
