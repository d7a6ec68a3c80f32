"""validate → upload → submit → poll → report, with progress and a deadline.

Knows nothing of MCP or of transports: `server.py` and the command line both drive it through
`Detector`. The guarantees that matter live here: nothing is spent before the image is
validated locally, a submitted document's id is never lost (a failure after `/detect` still
returns a report carrying the id and a `next_step`), and the wait is bounded by the caller's
deadline, after which the partial report is handed back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import anyio

from .client import TruthScanClient
from .errors import NotFoundError, TruthScanError, UploadExpiredError
from .models import AnalysisStatus, ApiDocument, DetectionReport, ReportSource
from .settings import Settings
from .sources import LoadedImage, load_image, validate_document_id

logger = logging.getLogger(__name__)

Phase = Literal["validating", "uploading", "submitted", "processing", "deep_analysis", "heatmap", "done"]


@dataclass(frozen=True)
class Progress:
    phase: Phase
    fraction: float
    message: str


ProgressCallback = Callable[[Progress], Awaitable[None]]


async def _no_progress(_: Progress) -> None:
    return None


@dataclass(frozen=True)
class DetectOptions:
    deep_analysis: bool = True
    wait_seconds: float = 45.0
    include_heatmap: bool = False
    preview: bool = False
    force: bool = False


@dataclass(frozen=True)
class PollSchedule:
    """When to ask again: soon at first, then a fixed share of the time already waited.

    Waiting a share of the elapsed time bounds the lateness of noticing completion to that
    share (so a job of any length finishes within ~`share` of the ideal), while the number of
    `/query` calls grows only logarithmically with the job's length.
    """

    first: float = 0.25
    share: float = 0.2
    minimum: float = 0.1
    maximum: float = 2.0

    def delay(self, elapsed: float) -> float:
        if elapsed <= 0:
            return self.first
        return max(self.minimum, min(self.maximum, max(self.first, elapsed * self.share)))


class ResultStore(Protocol):
    """Where reports outlive the process (the content cache); optional."""

    async def lookup(self, sha256: str) -> DetectionReport | None: ...

    async def lookup_id(self, document_id: str) -> DetectionReport | None: ...

    async def save(self, report: DetectionReport, *, deep_analysis: bool) -> None: ...


@dataclass
class _Tracker:
    """Keeps progress strictly increasing, as MCP requires, whatever the phases report."""

    callback: ProgressCallback
    last: float = 0.0
    sent: list[Phase] = field(default_factory=list[Phase])

    async def __call__(self, phase: Phase, fraction: float, message: str) -> None:
        fraction = min(max(fraction, self.last + 0.001), 0.999 if phase != "done" else 1.0)
        if fraction <= self.last:
            return
        self.last = fraction
        self.sent.append(phase)
        try:
            await self.callback(Progress(phase, round(fraction, 4), message))
        except Exception:  # a broken progress sink must not break a paid detection
            logger.debug("progress callback failed", exc_info=True)


def _settled_analysis(doc: ApiDocument, expect_analysis: bool | None) -> bool:
    if doc.status == "failed":
        return True
    if doc.status != "done":
        return False
    if doc.analysis_status == "pending":
        return expect_analysis is False  # we did not ask for it: do not wait for it
    return True


def _heatmap_coming(doc: ApiDocument) -> bool:
    return doc.status == "done" and doc.heatmap_status == "pending"


class Detector:
    """The detection workflow over one `TruthScanClient`."""

    def __init__(
        self,
        client: TruthScanClient,
        settings: Settings,
        *,
        schedule: PollSchedule | None = None,
        store: ResultStore | None = None,
        simulated: bool = False,
    ) -> None:
        self.client = client
        self.settings = settings
        self.schedule = schedule or PollSchedule()
        self.store = store
        self._simulated = simulated

    @property
    def simulated(self) -> bool:
        return self._simulated or self.client.simulated

    # --- public entry points ----------------------------------------------------------------

    async def detect(
        self,
        *,
        path: str | None = None,
        url: str | None = None,
        data: str | None = None,
        options: DetectOptions | None = None,
        progress: ProgressCallback | None = None,
    ) -> DetectionReport:
        options = options or DetectOptions()
        track = _Tracker(progress or _no_progress)
        started = anyio.current_time()
        await track("validating", 0.01, "Validating the image")
        async with await load_image(path=path, url=url, data=data, settings=self.settings) as image:
            source = ReportSource(
                kind=image.kind,
                name=image.name,
                media_type=image.media_type,
                bytes=image.size,
                sha256=image.sha256,
            )
            await track("validating", 0.05, f"{image.format.name.upper()} image, {_human(image.size)}")
            doc_id = await self._submit(image, options, track)
        return await self._follow(
            doc_id,
            source=source,
            started=started,
            wait_seconds=options.wait_seconds,
            expect_analysis=options.deep_analysis,
            include_heatmap=options.include_heatmap,
            track=track,
            submitted_now=True,
        )

    async def get_result(
        self,
        document_id: str,
        *,
        wait_seconds: float = 0.0,
        include_heatmap: bool = False,
        progress: ProgressCallback | None = None,
        source: ReportSource | None = None,
        expect_analysis: bool | None = None,
    ) -> DetectionReport:
        doc_id = validate_document_id(document_id)
        track = _Tracker(progress or _no_progress)
        started = anyio.current_time()
        await track("processing", 0.05, f"Fetching result {doc_id}")
        return await self._follow(
            doc_id,
            source=source or ReportSource(kind="id"),
            started=started,
            wait_seconds=wait_seconds,
            expect_analysis=expect_analysis,
            include_heatmap=include_heatmap,
            track=track,
            submitted_now=False,
        )

    # --- phases -----------------------------------------------------------------------------

    async def _submit(self, image: LoadedImage, options: DetectOptions, track: _Tracker) -> str:
        await track("uploading", 0.08, f"Uploading {image.upload_name} ({_human(image.size)})")
        presigned = await self.client.presign(image.upload_name)
        try:
            await self.client.upload(presigned, image)
        except UploadExpiredError:
            logger.info("presigned URL refused; asking for a fresh one")
            await track("uploading", 0.15, "Upload URL expired; retrying with a fresh one")
            presigned = await self.client.presign(image.upload_name)
            try:
                await self.client.upload(presigned, image)
            except UploadExpiredError as exc:
                raise UploadExpiredError(
                    f"{exc.message} A fresh upload URL was refused too. Nothing was charged; "
                    "try again in a minute, and if it persists check the health tool."
                ) from None
        await track("uploading", 0.25, "Uploaded; submitting for detection")
        doc_id = await self.client.detect(
            presigned.file_path, deep_analysis=options.deep_analysis, preview=options.preview
        )
        logger.info("submitted document %s", doc_id)
        await track("submitted", 0.3, f"Submitted to TruthScan as {doc_id}")
        return doc_id

    async def _follow(
        self,
        doc_id: str,
        *,
        source: ReportSource,
        started: float,
        wait_seconds: float,
        expect_analysis: bool | None,
        include_heatmap: bool,
        track: _Tracker,
        submitted_now: bool,
    ) -> DetectionReport:
        deadline = started + wait_seconds
        warnings: list[str] = []
        doc: ApiDocument | None = None
        poll_start = anyio.current_time()
        polls = 0
        try:
            while True:
                now = anyio.current_time()
                if polls > 0 or not submitted_now or now < deadline:
                    doc = await self.client.query(doc_id)
                    polls += 1
                    if doc is None:
                        # A document we created a moment ago may not be visible yet.
                        if not (submitted_now and now - poll_start < 5.0):
                            raise NotFoundError(
                                f"TruthScan has no document with id {doc_id}. Check the id (it comes "
                                "from detect_image), or run detect_image again."
                            )
                    else:
                        await self._report_progress(doc, track, expect_analysis)
                        if _settled_analysis(doc, expect_analysis) and not _heatmap_coming(doc):
                            break
                now = anyio.current_time()
                if now >= deadline:
                    break
                delay = min(self.schedule.delay(now - poll_start), deadline - now)
                await anyio.sleep(delay)
        except TruthScanError as exc:
            if not submitted_now or isinstance(exc, NotFoundError):
                raise
            # The credit is spent and the id is known: hand it over instead of failing.
            warnings.append(f"Lost contact with TruthScan while waiting: {exc.message}")
        report = self.build_report(
            doc_id,
            doc,
            source=source,
            elapsed=anyio.current_time() - started,
            expect_analysis=expect_analysis,
            include_heatmap=include_heatmap,
            warnings=warnings,
            waited=wait_seconds,
        )
        if report.complete:
            await track("done", 1.0, _done_message(report))
        if self.store is not None:
            await self.store.save(report, deep_analysis=bool(expect_analysis))
        return report

    async def _report_progress(self, doc: ApiDocument, track: _Tracker, expect_analysis: bool | None) -> None:
        if doc.status == "pending":
            await track("processing", 0.35, "Queued at TruthScan")
        elif doc.status == "analyzing":
            step = f" (step {doc.detection_step} of 3)" if doc.detection_step else ""
            await track("processing", max(track.last, 0.4) + 0.01, f"TruthScan is analysing the image{step}")
        elif doc.status == "done":
            verdict = f"{doc.verdict or 'verdict'} (score {_score(doc.ai_score)})"
            if doc.analysis_status == "pending" and expect_analysis is not False:
                await track(
                    "deep_analysis", max(track.last, 0.7) + 0.01, f"{verdict}; waiting for the deep analysis"
                )
            elif doc.heatmap_status == "pending":
                await track("heatmap", max(track.last, 0.9) + 0.005, f"{verdict}; waiting for the heatmap")

    def build_report(
        self,
        doc_id: str,
        doc: ApiDocument | None,
        *,
        source: ReportSource,
        elapsed: float,
        expect_analysis: bool | None,
        include_heatmap: bool,
        warnings: list[str] | None = None,
        waited: float = 0.0,
        cached: bool = False,
    ) -> DetectionReport:
        warnings = list(warnings or [])
        if doc is None:
            doc = ApiDocument(id=doc_id, status="pending")
        warnings.extend(doc.api_warnings)
        analysis_status: AnalysisStatus
        if doc.analysis_status is None:
            analysis_status = "skipped" if doc.status == "done" and expect_analysis else "not_requested"
            if doc.status != "done" and expect_analysis:
                analysis_status = "pending"
        elif doc.analysis_status == "skipped" and expect_analysis is False:
            analysis_status = "not_requested"
        else:
            analysis_status = doc.analysis_status
        if doc.status == "done" and analysis_status == "done" and doc.analysis is None:
            warnings.append("TruthScan marked the deep analysis ready but sent no reasoning.")
        if analysis_status == "failed":
            warnings.append("TruthScan's deep analysis failed; the verdict stands without its reasoning.")
        if doc.status == "done" and expect_analysis and analysis_status == "skipped":
            warnings.append("TruthScan did not provide deep analysis for this image.")
        if doc.heatmap_status == "failed":
            warnings.append("TruthScan could not render a heatmap for this image.")

        settled = doc.status == "failed" or (doc.status == "done" and analysis_status != "pending")
        complete = settled and not (include_heatmap and doc.heatmap_status == "pending")
        next_step = _next_step(doc_id, doc, analysis_status, complete, waited)
        if doc.status == "failed":
            reason = doc.error_message or "no reason given"
            warnings.append(f"TruthScan could not process the image: {reason}.")
        return DetectionReport(
            id=doc_id,
            status=doc.status,
            complete=complete,
            verdict=doc.verdict,
            ai_score=doc.ai_score,
            confidence=doc.confidence,
            confidence_band=doc.confidence_band,
            detection_step=doc.detection_step,
            signals=doc.signals,
            analysis_status=analysis_status,
            analysis=doc.analysis,
            heatmap_status=doc.heatmap_status,
            heatmap_url=doc.heatmap_url,
            preview_url=doc.preview_url,
            source=source,
            cached=cached,
            simulated=self.simulated,
            elapsed_seconds=round(elapsed, 3),
            warnings=warnings,
            next_step=next_step,
        )


def _next_step(
    doc_id: str, doc: ApiDocument, analysis_status: AnalysisStatus, complete: bool, waited: float
) -> str | None:
    if doc.status == "failed":
        return (
            "TruthScan could not process this image. Check that it is a real, uncorrupted image of "
            "1 KB to 10 MB, then run detect_image again with force=true (that spends credits again)."
        )
    if not complete:
        what = "the verdict" if doc.status != "done" else "the deep analysis"
        if doc.status == "done" and analysis_status != "pending":
            what = "the heatmap"
        return (
            f"Not finished after waiting {waited:g}s (TruthScan is still working on {what}). Call "
            f'get_result with id "{doc_id}" and wait_seconds=30 to fetch the rest; that costs no credits.'
        )
    if doc.heatmap_status == "pending":
        return (
            f'The heatmap is still rendering: call get_result with id "{doc_id}" and '
            "include_heatmap=true in a minute to see it (no credits)."
        )
    return None


def _score(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _done_message(report: DetectionReport) -> str:
    if report.status == "failed":
        return "TruthScan could not process the image"
    return f"Done: {report.verdict or 'no verdict'} (AI score {_score(report.ai_score)})"


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.0f} KB"
