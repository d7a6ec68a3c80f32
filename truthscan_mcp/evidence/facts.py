"""Every fact an evidence report states, as one document: the JSON sidecar, and what the page shows.

One model for both files, so the page can never say something the sidecar does not (or the
reverse); the sidecar adds only the SHA-256 of the page's bytes, which pins the HTML a person
may later hand to someone else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from truthscan_mcp.models import Custody, DetectionReport

FORMAT = "truthscan-evidence-report"
FORMAT_VERSION = 1

#: What the result does not mean: the contract's caveats, in every report.
CAVEATS: tuple[str, ...] = (
    "The AI score is a probability from a statistical model, not proof.",
    "The heatmap shows where TruthScan's model looked, not proof of manipulation.",
    "The reasoning, key indicators, visual patterns and recommendations are TruthScan's text, "
    "quoted as TruthScan wrote it; they are not this report's findings.",
    "Metadata (EXIF, XMP, PNG text) can be stripped or forged in seconds; its absence says nothing.",
    "A valid C2PA signature makes a declaration attributable to its signer, not true.",
)
QUOTED = (
    "TruthScan's words are quoted as TruthScan returned them, with control characters removed "
    "and nothing reworded."
)


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PictureFacts(_Facts):
    embedded: bool = Field(description="Whether the report shows the image.")
    identical_to_checked: bool = Field(
        default=False, description="True when the embedded bytes are the checked bytes themselves."
    )
    media_type: str | None = None
    sha256: str | None = Field(default=None, description="SHA-256 of the embedded bytes.")
    width: int | None = None
    height: int | None = None
    original_width: int | None = None
    original_height: int | None = None
    obtained: str | None = Field(default=None, description="Where the embedded bytes came from.")
    note: str | None = Field(default=None, description="Why the image is missing or what was done to it.")


class HeatmapFacts(_Facts):
    status: str | None = Field(default=None, description="TruthScan's heatmap status.")
    embedded: bool = False
    note: str | None = None


class EvidenceFacts(_Facts):
    format: Literal["truthscan-evidence-report"] = FORMAT
    format_version: int = FORMAT_VERSION
    id: str
    written_at: datetime
    html_file: str = Field(description="The HTML report's file name (same folder).")
    html_sha256: str | None = Field(default=None, description="SHA-256 of the HTML file's bytes.")
    detection: DetectionReport
    custody: Custody
    picture: PictureFacts
    heatmap: HeatmapFacts
    disagreement: str | None = None
    caveats: list[str] = Field(default_factory=lambda: list(CAVEATS))
    quoted: str = QUOTED
