"""The public contract: what the server answers (reports, credits, health, history).

Every name here is part of what an assistant, a script or a cached file reads, so fields only
ever grow. How TruthScan itself words its answers (several dialects) is a separate concern,
`api/wire.py`; this module imports no other project module but `errors`, so anything may
import it without dragging in the HTTP or storage layers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

Status = Literal["pending", "analyzing", "done", "failed"]
AnalysisStatus = Literal["pending", "done", "skipped", "failed", "not_requested"]
ConfidenceBand = Literal["low", "medium", "high"]
#: TruthScan's own score bands, as its dashboard shows them to users.
Tier = Literal["Real", "Likely Real", "Likely Synthetic", "Synthetic"]
#: Where an image came from; "id" for a document fetched by its TruthScan id alone; "clipboard"
#: for the system clipboard, "upload" for an image the person handed over (`request_image`).
SourceKind = Literal["path", "url", "data", "id", "clipboard", "upload"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("path", "url", "data", "id", "clipboard", "upload")


# --- public result models -------------------------------------------------------------------


def tier_of(ai_score: float | None) -> Tier | None:
    """The band TruthScan shows its users for a score: 0–20 Real, 20–50 Likely Real, 50–80
    Likely Synthetic, 80–100 Synthetic (a boundary belongs to the band above it)."""
    if ai_score is None:
        return None
    if ai_score < 20:
        return "Real"
    if ai_score < 50:
        return "Likely Real"
    if ai_score < 80:
        return "Likely Synthetic"
    return "Synthetic"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Signal(_Model):
    """One detector's opinion: a label and a score (0–100 for the ML model)."""

    label: str | None = Field(default=None, description="What the detector concluded or found.")
    score: float | None = Field(default=None, description="The detector's score, as TruthScan gives it.")


class Signals(_Model):
    metadata: list[str] = Field(default_factory=list, description="What the image's metadata revealed.")
    ocr: Signal | None = Field(default=None, description="Watermark/text detection.")
    ml_model: Signal | None = Field(default=None, description="The ML classifier's label and score.")


class Analysis(_Model):
    """TruthScan's deep-analysis reasoning: why the verdict is what it is."""

    agreement: str | None = Field(default=None, description="How strongly the detectors agree.")
    confidence: float | None = Field(default=None, description="Analysis confidence, 0–100.")
    key_indicators: list[str] = Field(default_factory=list)
    reasoning: str | None = Field(default=None, description="The detailed reasoning, in prose.")
    visual_patterns: list[str] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


class ReportSource(_Model):
    kind: SourceKind
    name: str | None = None
    media_type: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    # Custody, recorded when the bytes were read and carried to the cache and the evidence
    # report (`Custody`); internal to a detection result, so kept out of its dumps and schema.
    location: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    final_url: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    read_at: SkipJsonSchema[datetime | None] = Field(default=None, exclude=True)


# --- provenance (check_provenance) ------------------------------------------------------------

#: What the file declares about its origin. Precedence when several declarations disagree:
#: ai_declared > edited_declared > camera_declared > none. An AI declaration wins because it is
#: the claim a person most needs to see (camera EXIF survives into many AI edits and composites);
#: an editor wins over a camera because an edited photograph is no longer what the camera saw.
ProvenanceFinding = Literal["ai_declared", "camera_declared", "edited_declared", "none"]


class TrustListInfo(_Model):
    """Which snapshot of the C2PA trust list judged a signer: its name and the day it was taken."""

    name: str = Field(description="The list, e.g. 'C2PA Trust List'.")
    date: str | None = Field(default=None, description="The day the snapshot was taken (ISO 8601).")
    sha256: str | None = Field(default=None, description="SHA-256 of the list's PEM file.")


class C2paInfo(_Model):
    """What a C2PA manifest (Content Credentials) in the file says, and whether it verifies."""

    present: bool = Field(default=False, description="A C2PA manifest is embedded in the file.")
    valid: bool | None = Field(
        default=None,
        description="Signature and hashes verify (false: tampered or damaged); null when unchecked.",
    )
    trusted: bool | None = Field(
        default=None,
        description="The signing chain leads to an anchor on the C2PA trust list (`trust_list`); null "
        "only where the C2PA reader cannot run.",
    )
    trust_list: TrustListInfo | None = Field(
        default=None, description="Which snapshot of the trust list judged the signer."
    )
    claim_generator: str | None = Field(default=None, description="The software that wrote the manifest.")
    signer: str | None = Field(default=None, description="Who signed it, from the signing certificate.")
    digital_source_type: str | None = Field(default=None, description="The IPTC term the manifest declares.")
    actions: list[str] = Field(default_factory=list, description="The manifest's actions, e.g. c2pa.created.")
    errors: list[str] = Field(
        default_factory=list, description="Why the manifest could not be read or verified."
    )


class CameraInfo(_Model):
    make: str | None = None
    model: str | None = None


class Provenance(_Model):
    """What a file itself declares about where it came from: evidence, never proof."""

    finding: ProvenanceFinding = Field(description="The strongest declaration found (ai > edited > camera).")
    c2pa: C2paInfo = Field(default_factory=C2paInfo)
    digital_source_type: str | None = Field(
        default=None, description="The IPTC digital source type declared by C2PA or XMP."
    )
    generator: str | None = Field(default=None, description="The AI tool the file names, if any.")
    generator_evidence: list[str] = Field(
        default_factory=list, description="Where the generator was named, e.g. png:tEXt:parameters."
    )
    camera: CameraInfo | None = Field(default=None, description="Camera make and model from EXIF.")
    software: str | None = Field(default=None, description="Software named by EXIF or XMP.")
    evidence: list[str] = Field(default_factory=list, description="One short line per finding, for a person.")
    errors: list[str] = Field(
        default_factory=list, description="Metadata that was damaged, truncated or too large to read."
    )
    source: ReportSource | None = None
    summary: str = Field(default="", description="The text block's content.")


class DetectionReport(_Model):
    """The one answer to "is this image AI-generated, and why?"."""

    id: str | None = Field(description="TruthScan document id; pass it to get_result.")
    status: Status = Field(description="Processing status at TruthScan.")
    complete: bool = Field(description="True when the verdict and everything requested has settled.")
    verdict: str | None = Field(default=None, description="TruthScan's final_result, e.g. 'AI Generated'.")
    ai_score: float | None = Field(default=None, description="0–100; higher = more likely AI-generated.")
    tier: Tier | None = Field(
        default=None,
        description="TruthScan's band for the score: Real <20, Likely Real <50, Likely Synthetic <80, "
        "Synthetic ≥80.",
    )
    confidence: float | None = Field(default=None, description="0–100, when TruthScan gives a number.")
    confidence_band: ConfidenceBand | None = None
    detection_step: int | None = Field(default=None, description="1 metadata, 2 +OCR, 3 +ML model.")
    signals: Signals = Field(default_factory=Signals)
    analysis_status: AnalysisStatus = "not_requested"
    analysis: Analysis | None = None
    heatmap_status: str | None = None
    heatmap_url: str | None = None
    preview_url: str | None = None
    source: ReportSource
    cached: bool = False
    provenance: Provenance | None = Field(
        default=None, description="What the file itself declares about its origin (free, local), or null."
    )
    summary: str = Field(default="", description="The text block's content: what to tell the user.")
    simulated: bool = False
    elapsed_seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    next_step: str | None = None
    #: Why TruthScan could not process the image, when it could not: internal (callers such as
    #: the batch read it instead of searching the warnings), so kept out of every dump and schema.
    failure_reason: SkipJsonSchema[str | None] = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _tier_follows_the_score(self) -> Self:
        # derived, never stored apart from its score: a report read back from an old cache row
        # or built by hand gets its band too
        self.tier = tier_of(self.ai_score)
        return self


class Credits(_Model):
    base_credits: int = Field(description="Credits of the plan.")
    boost_credits: int = Field(description="Extra purchased credits.")
    credits: int = Field(description="Total credits available.")
    detections_today: int = Field(
        default=0,
        description="Paid detections this UTC day, counted across every server process sharing the cache.",
    )
    daily_limit: int | None = Field(
        default=None, description="Paid detections allowed per UTC day, or null (no cap)."
    )
    simulated: bool = False
    summary: str = Field(default="", description="The text block's content.")


class Health(_Model):
    status: str | None = Field(description="TruthScan's reported status, e.g. 'healthy'.")
    timestamp: str | None = None
    reachable: bool
    latency_ms: float | None = None
    api_key_configured: bool
    sandbox: bool
    server_version: str
    error: str | None = Field(default=None, description="Why TruthScan could not be reached.")
    summary: str = Field(default="", description="The text block's content.")


# --- history ----------------------------------------------------------------------------------


class HistoryEntry(BaseModel):
    at: datetime = Field(description="When detect_image answered (UTC).")
    id: str = Field(description="TruthScan document id.")
    source_name: str | None = Field(description="The file name, URL (without query) or 'inline data'.")
    verdict: str | None = Field(description="The latest known verdict of that document.")
    ai_score: float | None
    status: str | None
    complete: bool
    cached: bool = Field(
        description="True when answered from the local cache; false when credits were spent."
    )
    simulated: bool = Field(description="True for results of the sandbox simulator.")


class History(BaseModel):
    cache: Literal["on", "off", "degraded", "unavailable"] = Field(
        description="Whether results are being cached: 'degraded' while the cache file is paused "
        "(full disk, I/O error, a lock) and recent results are kept in memory until it recovers; "
        "'unavailable' when the file can never be used (not a cache, a newer version's)."
    )
    detections: list[HistoryEntry] = Field(description="Most recent first.")
    detections_today: int | None = Field(
        default=None, description="Paid detections this UTC day, across every server sharing the cache."
    )
    daily_limit: int | None = Field(
        default=None, description="Paid detections allowed per UTC day, or null (no cap)."
    )


# --- a batch (`detect_images`) -----------------------------------------------------------------


class BatchRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The path or URL as given (or as found in the directory).")
    name: str | None = Field(default=None, description="The image's file name or URL, for display.")
    verdict: str | None = None
    ai_score: float | None = None
    tier: Tier | None = Field(default=None, description="TruthScan's band for the score.")
    confidence_band: ConfidenceBand | None = None
    id: str | None = Field(default=None, description="TruthScan document id; get_result takes it.")
    complete: bool = False
    cached: bool = Field(default=False, description="Answered without spending credits.")
    duplicate_of: str | None = Field(default=None, description="An earlier input with the same bytes.")
    error: str | None = Field(default=None, description="Why this image has no verdict.")
    alt: str | None = Field(
        default=None,
        description="For a page sweep: the image's alt text, the page's words (sanitised, ≤ 200 characters).",
    )
    provenance: Provenance | None = Field(
        default=None,
        description="What the image's bytes declare about their origin (check_provenance, free), or null.",
    )


class SkippedImage(BaseModel):
    """An image a page shows that was listed rather than paid for, and why."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The image URL (or a short label for an inline data: image).")
    reason: str = Field(
        description="Why it was not detected: under 1 KB, a format TruthScan cannot read, max_images."
    )


class BatchTotals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    total: int
    complete: int
    incomplete: int
    errors: int
    verdicts: dict[str, int] = Field(description="How many images got each verdict.")
    detections_paid: int = Field(description="New TruthScan detections submitted by this batch.")
    credits_spent: int | None = Field(description="Credits before minus after, when both were read.")
    cached: int = Field(description="Images answered from the cache or as duplicates, for free.")


class BatchResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[BatchRow]
    totals: BatchTotals
    page_url: str | None = Field(
        default=None, description="For a page sweep: the page's URL after redirects."
    )
    page_title: str | None = Field(
        default=None, description="For a page sweep: the page's <title>, the page's words (sanitised)."
    )
    skipped: list[SkippedImage] = Field(
        default_factory=list[SkippedImage],
        description="For a page sweep: images the page shows that were not detected, each with the reason.",
    )
    summary: str = Field(default="", description="The text block's content: what to tell the user.")
    simulated: bool = False
    elapsed_seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
    next_step: str | None = None


class UploadRequest(_Model):
    """`request_image`: where the person hands over an image the model cannot pass itself."""

    upload_id: str = Field(description="Opaque, single-use id: pass it to detect_image as `upload`.")
    upload_url: str = Field(description="The page where the person drops or picks the image.")
    expires_at: datetime = Field(description="When the upload stops being accepted (UTC).")
    note: str | None = Field(default=None, description="The note shown to the person, if any.")
    summary: str = Field(default="", description="The text block's content.")
    next_step: str = Field(default="", description="What the assistant should do next.")


# --- an evidence report (`export_report`) -------------------------------------------------------


class Custody(BaseModel):
    """Who had the bytes when: each time recorded as it happened (UTC), never reconstructed."""

    model_config = ConfigDict(extra="forbid")

    source_kind: SourceKind = Field(description="path, url, data or id.")
    source_name: str | None = Field(default=None, description="The file name, URL or 'inline data'.")
    source_path: str | None = Field(default=None, description="The absolute path the bytes were read from.")
    source_url: str | None = Field(default=None, description="The URL as asked (without its query).")
    final_url: str | None = Field(default=None, description="Where the bytes came from after redirects.")
    media_type: str | None = None
    bytes: int | None = Field(default=None, description="The size of the checked bytes.")
    sha256: str | None = Field(default=None, description="SHA-256 of the checked bytes.")
    read_at: datetime | None = Field(default=None, description="When the bytes were read or fetched.")
    document_id: str = Field(description="TruthScan's document id.")
    submitted_at: datetime | None = Field(default=None, description="When TruthScan accepted the image.")
    completed_at: datetime | None = Field(
        default=None, description="When the answer was first seen settled (verdict and all asked for)."
    )
    api_url: str = Field(description="The TruthScan API that answered.")
    simulated: bool = Field(description="True when the answer came from the built-in simulator.")
    server_version: str = Field(description="This server's version.")
    report_written_at: datetime = Field(description="When this report was written.")
    notes: list[str] = Field(default_factory=list, description="What was not recorded, and why.")


class ExportedReport(BaseModel):
    """Where an evidence report was written, and the hash that pins its HTML."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The TruthScan document id the report is about.")
    html_path: str = Field(description="The self-contained HTML report.")
    json_path: str = Field(description="The JSON sidecar: the same facts, and the HTML's SHA-256.")
    html_sha256: str = Field(description="SHA-256 of the HTML file's bytes.")
    image_embedded: bool = Field(description="Whether the report shows the image itself.")
    disagreement: str | None = Field(
        default=None, description="When the file's declaration and TruthScan's verdict disagree: how."
    )
    summary: str = Field(default="", description="The text block's content.")
