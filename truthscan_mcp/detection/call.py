"""One caller's side of a detection: the options it asked for and the record every phase reads.

Its own module because every stage of a detection takes it — the detector that makes it, the
paying and the following that answer it, and the batch that passes options — while it depends
on none of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio

from truthscan_mcp.detection.evidence import EvidenceLog
from truthscan_mcp.detection.images import ImageSink
from truthscan_mcp.detection.polling import Wait
from truthscan_mcp.detection.progress import Tracker
from truthscan_mcp.detection.spending import Allowance
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.models import DetectionReport, Provenance, ReportSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectOptions:
    deep_analysis: bool = True
    wait_seconds: float = 45.0
    include_heatmap: bool = False
    preview: bool = False
    force: bool = False
    #: keep polling (within the deadline) for a heatmap that is coming even when it was not asked
    #: for, so the report carries its link; a batch, whose rows show no heatmap, turns this off
    wait_for_heatmap: bool = True
    #: whose daily cap and history this detection counts in (per-user deployments: an opaque
    #: scope the server derives from the caller's identity); None: everyone's together
    user: str | None = None


@dataclass(frozen=True)
class Call:
    """One caller's side of a detection: what it asked, what it names, when it began, who hears.

    `spend` bounds what costs (upload and `/detect`); a batch shares one across its images so
    that its waiting is not bounded with it, and shares its `allowance` under the daily cap.
    `images`, when given, receives the image with its document id (for a viewer that shows it).
    """

    source: ReportSource
    options: DetectOptions
    started: float
    track: Tracker
    spend: anyio.CapacityLimiter | None = None
    #: what the file declares (read from the bytes this call holds), carried by every report
    #: it answers with; None when the call has no bytes (`get_result` of an unknown id)
    provenance: Provenance | None = None
    images: ImageSink | None = None
    #: the detector's memory of what it witnessed, for evidence reports (custody, bytes, report)
    evidence: EvidenceLog | None = None
    #: the detections a batch holds under the daily cap, one of which this call may use; None:
    #: the call holds its own when it pays
    allowance: Allowance | None = None

    async def keep_image(self, document_id: str, image: LoadedImage) -> None:
        """Hand the image to the viewer and to the evidence log, if any. Called once the id is
        known (often just paid for): nothing they do — an image that will not decode, memory that
        runs out — may fail the detection and lose that id, so every failure here is only logged."""
        if self.evidence is not None:
            try:
                await self.evidence.keep_image(document_id, image, self.source)
            except Exception:
                logger.exception("keeping the image of %s for its evidence report failed", document_id)
        if self.images is None:
            return
        try:
            await self.images.keep(document_id, image)
        except Exception:
            logger.exception("keeping the image of %s for the viewer failed", document_id)

    def note_submitted(self, document_id: str) -> None:
        if self.evidence is not None:
            self.evidence.submitted(document_id, self.source)

    def note_report(self, report: DetectionReport) -> None:
        if self.evidence is not None:
            self.evidence.reported(report)

    def plan(
        self, document_id: str, *, expect_analysis: bool | None, submitted_now: bool, fresh: bool = False
    ) -> Wait:
        return Wait(
            document_id=document_id,
            started=self.started,
            wait_seconds=self.options.wait_seconds,
            expect_analysis=expect_analysis,
            submitted_now=submitted_now,
            include_heatmap=self.options.include_heatmap,
            wait_for_heatmap=self.options.wait_for_heatmap,
            fresh=fresh,
            spread=self.spend is not None,  # a batch's rows: spread their polls
        )

    def elapsed(self) -> float:
        return anyio.current_time() - self.started
