"""Writing the evidence report of a detection this server answered: gather, then write two files.

Everything a report states was recorded when it happened — by the detector's memory of this
process (`detection.evidence`) and by the cache (`custody`, across restarts) — and is only
gathered here. The one thing fetched now is TruthScan's heatmap (from the configured API's own
storage, as `get_result` would), because the heatmap is TruthScan's picture, not ours to keep.
The picture of the image comes from the bytes this process kept, or, for a local file, from the
file read again and accepted only when its SHA-256 still matches the one that was checked.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.to_thread

from truthscan_mcp import __version__
from truthscan_mcp.api.client import MAX_HEATMAP_BYTES, TruthScanClient
from truthscan_mcp.detection.detector import Detector, provenance_of
from truthscan_mcp.detection.evidence import Witnessed
from truthscan_mcp.detection.store import ResultStore, StoredResult
from truthscan_mcp.errors import InvalidInputError, TruthScanError
from truthscan_mcp.evidence.disagreement import disagreement
from truthscan_mcp.evidence.facts import EvidenceFacts, HeatmapFacts, PictureFacts
from truthscan_mcp.evidence.files import base_name, report_directory, write_new, write_pair
from truthscan_mcp.evidence.index import IndexEntry, render_index
from truthscan_mcp.evidence.page import render_page
from truthscan_mcp.evidence.picture import Picture, overlay_of, picture_of
from truthscan_mcp.media.paths import load_path
from truthscan_mcp.media.sources import validate_document_id
from truthscan_mcp.models import Custody, DetectionReport, ExportedReport, ReportSource
from truthscan_mcp.settings import Settings

logger = logging.getLogger(__name__)

#: Why a run's item has no report when its id is unknown, in words for a person at a terminal.
UNKNOWN_HERE = (
    "no detection with this id in the result cache (TRUTHSCAN_CACHE_PATH) or in this run. Run "
    "`truthscan-mcp detect` on the image first (the same bytes are not paid for twice); with "
    "--sandbox every run is a new simulator, so use `detect --report DIR` instead."
)


class UnknownDetectionError(InvalidInputError):
    """No report of this id is known here: neither this process nor the cache has one."""


@dataclass(frozen=True)
class BatchItem:
    """One image of a run to report on: its id when it has one, or why it has none."""

    source: str
    id: str | None
    verdict: str | None = None
    ai_score: float | None = None
    tier: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ReportRun:
    entries: list[IndexEntry]
    index_path: Path | None


@dataclass(frozen=True)
class Reporter:
    """What a report is gathered from: one server's (or terminal run's) detector, client and cache."""

    detector: Detector
    client: TruthScanClient
    store: ResultStore | None
    settings: Settings

    async def export(
        self, document_id: str, directory: str | None = None, *, chosen: Path | None = None
    ) -> ExportedReport:
        """Write the report of `document_id` into `directory` (a caller's: inside the allowed
        folders), or `chosen` (the person's own, at a terminal), or the reports folder."""
        doc_id = validate_document_id(document_id)
        witnessed = self.detector.evidence.get(doc_id)
        stored = await self.store.get(doc_id) if self.store is not None else None
        report = _latest_report(witnessed, stored, doc_id)
        folder = await anyio.to_thread.run_sync(self._folder, directory, chosen)
        source = _source_of(witnessed, stored, report)
        content, obtained = await self._content(witnessed, source)
        if report.provenance is None and content is not None:
            provenance = await provenance_of(content, media_type=source.media_type or "", source=None)
            report = report.model_copy(update={"provenance": provenance})
        written_at = datetime.now(UTC).replace(microsecond=0)
        custody = self._custody(doc_id, report, source, witnessed, stored, written_at)
        picture = await anyio.to_thread.run_sync(_picture, content, source.media_type)
        heat_uri, heat_facts = await self._heatmap(report, picture)
        facts = EvidenceFacts(
            id=doc_id,
            written_at=written_at,
            html_file="",
            detection=report,
            custody=custody,
            picture=_picture_facts(picture, content, obtained),
            heatmap=heat_facts,
            disagreement=disagreement(report),
        )
        html = render_page(facts, picture.data_uri if picture else None, heat_uri).encode("utf-8")
        html_sha = hashlib.sha256(html).hexdigest()

        def sidecar(html_name: str) -> bytes:
            done = facts.model_copy(update={"html_file": html_name, "html_sha256": html_sha})
            return done.model_dump_json(indent=2).encode("utf-8")

        base = base_name(doc_id, source.name, written_at)
        html_path, json_path = await anyio.to_thread.run_sync(write_pair, folder, base, html, sidecar)
        return ExportedReport(
            id=doc_id,
            html_path=str(html_path),
            json_path=str(json_path),
            html_sha256=html_sha,
            image_embedded=picture is not None,
            disagreement=facts.disagreement,
        )

    def _folder(self, directory: str | None, chosen: Path | None) -> Path:
        settings = self.settings
        return report_directory(
            directory,
            default=chosen if chosen is not None else settings.reports_dir,
            allowed=settings.allowed_dirs,
            hints=settings.hints,
        )

    async def write_all(self, items: list[BatchItem], chosen: Path | None = None) -> ReportRun:
        """A report per item with an id (an item without one, or whose report fails, is listed
        with why), then, for more than one item, an index page beside them."""
        entries: list[IndexEntry] = []
        for item in items:
            entry = IndexEntry(item.source, item.verdict, item.ai_score, item.tier, problem=item.problem)
            if item.id is not None and item.problem is None:
                try:
                    entry = replace(entry, report=await self.export(item.id, chosen=chosen))
                except UnknownDetectionError:
                    entry = replace(entry, problem=UNKNOWN_HERE)
                except TruthScanError as exc:
                    entry = replace(entry, problem=exc.message)
            entries.append(entry)
        index: Path | None = None
        if len(items) > 1:
            folder = await anyio.to_thread.run_sync(self._folder, None, chosen)
            written_at = datetime.now(UTC).replace(microsecond=0)
            page = render_index(entries, folder, written_at).encode("utf-8")
            base = f"truthscan-reports-index_{written_at.strftime('%Y%m%dT%H%M%SZ')}"
            index = await anyio.to_thread.run_sync(write_new, folder, base, ".html", page)
        return ReportRun(entries, index)

    async def _content(self, witnessed: Witnessed | None, source: ReportSource) -> tuple[bytes | None, str]:
        """The checked bytes, and where they come from now; None when nothing matching is held."""
        kept = witnessed.content if witnessed is not None else None
        if kept is not None and hashlib.sha256(kept).hexdigest() == source.sha256:
            return kept, "kept in memory by this server since the detection"
        if source.kind == "path" and source.location and source.sha256:
            try:
                async with await load_path(
                    source.location, self.settings.allowed_dirs, self.settings.hints
                ) as image:
                    if image.sha256 == source.sha256:
                        return await image.read_bytes(), "read again from its path; its SHA-256 matches"
            except TruthScanError as exc:
                logger.debug("the file of %s cannot be read again: %s", source.location, exc)
        return None, ""

    def _custody(
        self,
        doc_id: str,
        report: DetectionReport,
        source: ReportSource,
        witnessed: Witnessed | None,
        stored: StoredResult | None,
        written_at: datetime,
    ) -> Custody:
        notes: list[str] = []
        submitted = witnessed.submitted_at if witnessed is not None else None
        if stored is not None and stored.source.kind != "id":
            submitted = submitted or datetime.fromtimestamp(stored.submitted_at, UTC)
        completed = _earliest(
            witnessed.completed_at if witnessed is not None else None,
            datetime.fromtimestamp(stored.completed_at, UTC) if stored and stored.completed_at else None,
        )
        if submitted is None:
            notes.append(
                "Submission time not recorded: this server did not submit the image (the id was "
                "fetched with get_result), or submitted it before custody was recorded."
            )
        if source.read_at is None:
            notes.append("Read time not recorded: the bytes were not read by this server for this id.")
        if completed is not None and submitted is None:
            notes.append("Completed at is when this server first saw the answer settled.")
        return Custody(
            source_kind=source.kind,
            source_name=source.name,
            source_path=source.location if source.kind == "path" else None,
            source_url=source.location if source.kind == "url" else None,
            final_url=source.final_url,
            media_type=source.media_type,
            bytes=source.bytes,
            sha256=source.sha256,
            read_at=source.read_at,
            document_id=doc_id,
            submitted_at=submitted,
            completed_at=completed,
            api_url=self.client.api_url,
            simulated=report.simulated,
            server_version=__version__,
            report_written_at=written_at,
            notes=notes,
        )

    async def _heatmap(
        self, report: DetectionReport, picture: Picture | None
    ) -> tuple[str | None, HeatmapFacts]:
        facts = HeatmapFacts(status=report.heatmap_status)
        if report.heatmap_status != "ready" or not report.heatmap_url:
            facts.note = (
                "TruthScan made no heatmap for this image."
                if report.heatmap_status in (None, "skipped", "not_requested")
                else f"Heatmap: {report.heatmap_status}."
            )
            return None, facts
        if picture is None:
            facts.note = "TruthScan made a heatmap; it is not shown without the image beneath it."
            return None, facts
        try:
            fetched = await self.client.fetch_image(report.heatmap_url, max_bytes=MAX_HEATMAP_BYTES)
        except TruthScanError as exc:
            logger.debug("heatmap download failed: %s", exc)
            fetched = None
        uri = None
        if fetched is not None:
            uri = await anyio.to_thread.run_sync(overlay_of, fetched[0], picture.width, picture.height)
        if uri is None:
            facts.note = (
                "TruthScan made a heatmap, but it could not be downloaded when this report was written."
            )
            return None, facts
        facts.embedded = True
        facts.note = "TruthScan's heatmap is laid over the image: where its model looked, not proof."
        return uri, facts


def _latest_report(witnessed: Witnessed | None, stored: StoredResult | None, doc_id: str) -> DetectionReport:
    candidates = [
        r
        for r in (witnessed.report if witnessed else None, stored.report if stored else None)
        if r is not None
    ]
    if not candidates:
        raise UnknownDetectionError(
            f"This server has no detection with id {doc_id} (none in this session, none in the result "
            "cache). Call get_result with this id first (it costs no credits), then export_report again."
        )
    complete = [r for r in candidates if r.complete]
    if not complete:
        raise InvalidInputError(
            f"The detection {doc_id} is not finished yet (status {candidates[0].status}). Call get_result "
            f'with id "{doc_id}" and wait_seconds=30 (no credits), then export_report again.'
        )
    return complete[0]


def _source_of(
    witnessed: Witnessed | None, stored: StoredResult | None, report: DetectionReport
) -> ReportSource:
    """This process's read when it had one (its bytes are the ones shown), else the cache's."""
    if witnessed is not None and witnessed.source is not None and witnessed.source.kind != "id":
        return witnessed.source
    if stored is not None and stored.source.kind != "id":
        return stored.source
    return report.source


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def _picture(content: bytes | None, media_type: str | None) -> Picture | None:
    if content is None:
        return None
    return picture_of(content, media_type or "application/octet-stream")


def _picture_facts(picture: Picture | None, content: bytes | None, obtained: str) -> PictureFacts:
    if picture is None:
        note = (
            "This server no longer holds the image (or it cannot be decoded here); its SHA-256 in the "
            "custody table identifies it."
            if content is None
            else "The image could not be decoded for display; its SHA-256 in the custody table identifies it."
        )
        return PictureFacts(embedded=False, note=note)
    note = "The image exactly as checked."
    if picture.downscaled:
        note = (
            f"A downscaled copy ({picture.width}×{picture.height} of {picture.original_width}×"
            f"{picture.original_height}) of the checked image; the original's SHA-256 is in the custody "
            "table."
        )
    return PictureFacts(
        embedded=True,
        identical_to_checked=not picture.downscaled,
        media_type=picture.media_type,
        sha256=picture.sha256,
        width=picture.width,
        height=picture.height,
        original_width=picture.original_width,
        original_height=picture.original_height,
        obtained=obtained,
        note=note,
    )
