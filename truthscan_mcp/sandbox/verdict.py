"""Turning what the bytes say into the verdict, scores and deep-analysis text the API reports.

Deterministic on purpose: the same bytes always get the same verdict. Where metadata decides
(a generator signature, camera EXIF, an editor) the verdict follows it, as the real service's
metadata stage does; otherwise the score is drawn from the SHA-256 of the bytes, so tests can
rely on it and benchmarks repeat. The analysis text is written from the signals actually
found, so a client that relays it to a person relays something true about the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final, Literal

from truthscan_mcp.sandbox.inspect_image import ImageFindings, inspect_image

Kind = Literal["generator", "editor", "camera", "model"]

_NOTHING_FOUND: Final = (
    "No Information Detected for Real/AI",
    "Could not find anything from ExifTool and Pillow metadata",
)
_NO_AI_LINE: Final = "No AI generator signature in metadata"
_OCR_NOTHING: Final = ("OCR did not detect AI", 0.0)

_AI_PATTERNS: Final = (
    "Uniform noise pattern typical of diffusion models",
    "Overly smooth gradients without sensor grain",
    "Fine texture that dissolves inconsistently toward the edges",
    "Lighting without a single physically consistent source",
    "Repeating micro-patterns in background detail",
)
_REAL_PATTERNS: Final = (
    "Sensor noise that varies naturally with brightness",
    "Depth of field consistent with a physical lens",
    "Compression artefacts consistent with an in-camera JPEG pipeline",
    "Chromatic aberration near high-contrast edges",
)
_EDIT_PATTERNS: Final = (
    "Local contrast adjustments typical of photo editors",
    "Retouched regions with smoother noise than their surroundings",
    "Global colour grading applied after capture",
)


@dataclass(frozen=True, slots=True)
class Analysis:
    """The deep-analysis block (`analysis_results`), in the API's own field names on output."""

    agreement: str
    confidence: int
    key_indicators: tuple[str, ...]
    reasoning: str
    visual_patterns: tuple[str, ...]
    recommendations: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "agreement": self.agreement,
            "confidence": self.confidence,
            "keyIndicators": list(self.key_indicators),
            "detailedReasoning": self.reasoning,
            "visualPatterns": list(self.visual_patterns),
            "recommendations": list(self.recommendations),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything `/query` reports about a successfully processed image."""

    kind: Kind
    final_result: str
    score: float
    confidence: float
    detection_step: int
    metadata: tuple[str, ...]
    metadata_basic_source: str
    ocr: tuple[str, float]
    ml_label: str
    analysis: Analysis
    findings: ImageFindings
    sha256: str

    @property
    def flat_final_result(self) -> str:
        """The older (002) schema only knew two verdicts."""
        return "AI Generated" if self.final_result == "AI Generated" else "Not AI Generated"

    @property
    def confidence_word(self) -> str:
        if self.confidence >= 80:
            return "high"
        return "medium" if self.confidence >= 60 else "low"


def judge(data: bytes) -> Verdict:
    """The verdict for `data`: metadata first (generator > editor > camera), then the model."""
    findings = inspect_image(data)
    digest = hashlib.sha256(data).digest()
    draw = _unit(digest, 0)
    if findings.has_ai_signature:
        kind: Kind = "generator"
        score = 95 + draw * 4.99
    elif findings.editor:
        kind = "editor"
        score = 25 + draw * 20
    elif findings.camera:
        kind = "camera"
        score = 2 + draw * 13
    else:
        kind = "model"
        score = draw * 100
    ai = kind == "generator" or (kind == "model" and score >= 50)
    final = "AI Generated" if ai else ("Digitally Edited" if kind == "editor" else "Real")
    confidence = score if score >= 50 else 100 - score
    return Verdict(
        kind=kind,
        final_result=final,
        score=score,
        confidence=confidence,
        detection_step=1 if kind == "generator" else 3,
        metadata=_metadata_lines(kind, findings),
        metadata_basic_source=_basic_source(kind, findings),
        ocr=_OCR_NOTHING,
        ml_label="AI Generated" if score >= 50 else "Real",
        analysis=_analysis(kind, findings, score, confidence, digest),
        findings=findings,
        sha256=digest.hex(),
    )


def _unit(digest: bytes, offset: int) -> float:
    """A number in [0, 1) drawn from eight bytes of the digest."""
    return int.from_bytes(digest[offset : offset + 8], "big") / 2.0**64


def _pick(options: tuple[str, ...], digest: bytes, count: int) -> tuple[str, ...]:
    start = digest[16] % len(options)
    return tuple(options[(start + i) % len(options)] for i in range(min(count, len(options))))


def _metadata_lines(kind: Kind, f: ImageFindings) -> tuple[str, ...]:
    lines: list[str] = []
    if kind == "generator":
        names = ", ".join(f.ai_generators) or "declared by content credentials"
        lines.append(f"AI generator signature found: {names}")
        lines.extend(f.ai_evidence)
        if f.generation_settings:
            lines.append(f.generation_settings)
        if f.model_name and (not f.generation_settings or f.model_name not in f.generation_settings):
            lines.append(f"Model: {f.model_name}")
    elif kind == "editor":
        lines.append(f"Edited with {f.editor} (Software: {f.software})")
        if f.camera:
            lines.append(f"Camera metadata found: {f.camera}")
        lines.append(_NO_AI_LINE)
    elif kind == "camera":
        lines.append(f"Camera metadata found: {f.camera}")
        if f.software:
            lines.append(f"Software: {f.software}")
        lines.append(_NO_AI_LINE)
    elif f.text_fields:
        lines.append(_NOTHING_FOUND[0])
        lines.extend(f"Metadata present but not conclusive: {where}" for where, _ in f.text_fields[:3])
    else:
        lines.extend(_NOTHING_FOUND)
    if f.c2pa and not f.provenance_ai_claim:
        lines.append("C2PA content credentials present, without an AI claim")
    return tuple(lines)


def _basic_source(kind: Kind, f: ImageFindings) -> str:
    if kind == "generator":
        return f.evidence_source or "metadata"
    if kind == "editor":
        return "exif:Software"
    if kind == "camera":
        return "exif:Make"
    return "null"  # the literal string, as the real service writes it


def _analysis(kind: Kind, f: ImageFindings, score: float, confidence: float, digest: bytes) -> Analysis:
    """What the simulated deep analysis says, in the words the real one uses for each kind of
    evidence: the metadata decided it (generator), or the classifier alone did (unknown)."""
    if kind == "generator":
        return _generator_analysis(f, score, confidence, digest)
    if kind == "editor":
        return _editor_analysis(f, score, confidence, digest)
    if kind == "camera":
        return _camera_analysis(f, score, confidence, digest)
    return _classifier_analysis(score, confidence, digest)


def _generator_analysis(f: ImageFindings, score: float, confidence: float, digest: bytes) -> Analysis:
    shown = f"{score:.1f}"
    names = ", ".join(f.ai_generators) or "an AI generator"
    indicators = [*f.ai_evidence[:3]]
    if f.model_name:
        indicators.append(f"Model checkpoint recorded in metadata: {f.model_name}")
    return Analysis(
        agreement="strong",
        confidence=round(confidence),
        key_indicators=tuple(indicators),
        reasoning=(
            f"The file carries a generator signature from {names}. Metadata of this kind is "
            "written by the generation tool itself and is not produced by cameras, so the "
            f"metadata stage decided the verdict; the classifier's score of {shown} agrees."
        ),
        visual_patterns=_pick(_AI_PATTERNS, digest, 2),
        recommendations=(
            "Treat the image as AI-generated unless its original source proves otherwise",
            "Metadata can be stripped or forged: confirm with the publisher when provenance matters",
        ),
    )


def _editor_analysis(f: ImageFindings, score: float, confidence: float, digest: bytes) -> Analysis:
    shown = f"{score:.1f}"
    return Analysis(
        agreement="moderate",
        confidence=round(confidence),
        key_indicators=(
            f"Editing software recorded in EXIF: {f.software}",
            "No AI generator signature or AI provenance claim",
            f"Classifier score {shown} is below the AI threshold",
        ),
        reasoning=(
            f"The image was saved by {f.editor}, so it was edited after capture, but nothing in "
            "its metadata or its pixels points to generation by AI. Edits can still alter what "
            "the image shows."
        ),
        visual_patterns=_pick(_EDIT_PATTERNS, digest, 2),
        recommendations=(
            "Ask for the unedited original if the exact content matters",
            "Compare with other photographs of the same scene",
        ),
    )


def _camera_analysis(f: ImageFindings, score: float, confidence: float, digest: bytes) -> Analysis:
    shown = f"{score:.1f}"
    return Analysis(
        agreement="strong",
        confidence=round(confidence),
        key_indicators=(
            f"Camera make and model recorded in EXIF: {f.camera}",
            "No AI generator signature or AI provenance claim",
            f"Classifier score {shown} is well below the AI threshold",
        ),
        reasoning=(
            f"The camera metadata ({f.camera}) and a low classifier score agree: this looks like "
            "an unaltered photograph."
        ),
        visual_patterns=_pick(_REAL_PATTERNS, digest, 2),
        recommendations=(
            "EXIF can be edited: for high-stakes use, obtain the original file from the photographer",
        ),
    )


def _classifier_analysis(score: float, confidence: float, digest: bytes) -> Analysis:
    shown = f"{score:.1f}"
    distance = abs(score - 50)
    agreement = "strong" if distance >= 30 else ("moderate" if distance >= 15 else "weak")
    ai = score >= 50
    return Analysis(
        agreement=agreement,
        confidence=round(confidence),
        key_indicators=(
            "No metadata that identifies a camera, an editor or an AI generator",
            f"Classifier score {shown} ({'above' if ai else 'below'} the AI threshold of 50)",
        ),
        reasoning=(
            "The metadata says nothing about the image's origin, so the verdict rests on the "
            f"classifier alone, which scored it {shown}."
            + (
                " The score is close to the threshold: treat the verdict with caution."
                if distance < 15
                else ""
            )
        ),
        visual_patterns=_pick(_AI_PATTERNS if ai else _REAL_PATTERNS, digest, 2),
        recommendations=(
            "Cross-reference with the original source if available",
            "Check for metadata inconsistencies",
            "Compare with known AI generation patterns",
        ),
    )
