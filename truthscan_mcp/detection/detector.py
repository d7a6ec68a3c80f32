"""validate → upload → submit → poll → report, with progress and a deadline.

Knows nothing of MCP or of transports: the adapter and the command line both drive it through
`Detector`. The guarantees that matter live here: nothing is spent before the image is
validated locally, a submitted document's id is never lost (a failure after `/detect` still
returns a report carrying the id and a `next_step`), and the wait is bounded by the caller's
deadline, after which the partial report is handed back. The parts have rooms of their own:
coalescing in `flight`, waiting in `polling`, wording in `reporting`.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass

import anyio

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.detection import reporting
from truthscan_mcp.detection.flight import (
    CarryOn,
    Flight,
    Flights,
    HandOff,
    LeadAnew,
    Shared,
    pay_once,
    wait_for,
)
from truthscan_mcp.detection.images import ImageSink
from truthscan_mcp.detection.polling import Wait, poll
from truthscan_mcp.detection.progress import ProgressCallback, Tracker, human_size, no_progress
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.detection.store import ContentKey, ResultStore, StoredResult
from truthscan_mcp.detection.submission import submit
from truthscan_mcp.errors import NotFoundError, TruthScanError
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.sources import load_image, validate_document_id
from truthscan_mcp.models import Credits, DetectionReport, Provenance, ReportSource
from truthscan_mcp.provenance import read_provenance
from truthscan_mcp.settings import Settings

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


@dataclass(frozen=True)
class _Call:
    """One caller's side of a detection: what it asked, what it names, when it began, who hears.

    `spend` bounds what costs (upload and `/detect`); a batch shares one across its images so
    that its waiting is not bounded with it. `images`, when given, receives the image with its
    document id (for a viewer that shows it).
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

    async def keep_image(self, document_id: str, image: LoadedImage) -> None:
        if self.images is not None:
            await self.images.keep(document_id, image)

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


class Detector:
    """The detection workflow over one `TruthScanClient`."""

    def __init__(
        self,
        client: TruthScanClient,
        settings: Settings,
        *,
        schedule: Planner | None = None,
        store: ResultStore | None = None,
        simulated: bool = False,
    ) -> None:
        self.client = client
        self.settings = settings
        #: when to poll: the planner `open_app` builds (learning from the cache), or a test's
        self.schedule = schedule or Planner(api_url=client.api_url)
        self._store = store
        self._simulated = simulated
        self._flights = Flights()

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
        images: ImageSink | None = None,
    ) -> DetectionReport:
        """Validate, then detect (or answer from the cache); `images` receives the image with
        its document id once that is known."""
        options = options or DetectOptions()
        track = Tracker(progress or no_progress)
        started = anyio.current_time()
        await track("validating", 0.01, "Validating the image")
        async with await load_image(path=path, url=url, data=data, settings=self.settings) as loaded:
            await track("validating", 0.05, f"{loaded.format.name.upper()} image, {human_size(loaded.size)}")
            # One read serves both: the provenance reader gets the bytes, the upload sends them.
            image, content = await loaded.held()
            # Without its own `source`: the report's names the bytes (and is per answer, while
            # the provenance is stored with the report).
            provenance = await provenance_of(content, media_type=image.media_type, source=None)
            call = _Call(
                reporting.source_of(image), options, started, track, provenance=provenance, images=images
            )
            return await self._detect_shared(image, call)

    async def provenance(
        self, *, path: str | None = None, url: str | None = None, data: str | None = None
    ) -> Provenance:
        """What the image declares about its origin (`check_provenance`): validated exactly as
        for `detect`, read locally, and nothing sent to TruthScan, so it costs nothing."""
        async with await load_image(path=path, url=url, data=data, settings=self.settings) as image:
            content = await image.read_bytes()
            return await provenance_of(
                content, media_type=image.media_type, source=reporting.source_of(image)
            )

    async def detect_loaded(
        self,
        image: LoadedImage,
        options: DetectOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        spend: anyio.CapacityLimiter | None = None,
        images: ImageSink | None = None,
    ) -> DetectionReport:
        """`detect` for an image the caller validated already (a batch validates every input
        before spending anything): the content cache and coalescing apply exactly as there.
        `spend`, when given, is held only while uploading and submitting. The caller still
        closes `image`; its temporary copy may be released once uploaded."""
        track = Tracker(progress or no_progress)
        call = _Call(
            reporting.source_of(image),
            options or DetectOptions(),
            anyio.current_time(),
            track,
            spend,
            images=images,
        )
        return await self._detect_shared(image, call)

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
        track = Tracker(progress or no_progress)
        started = anyio.current_time()
        provenance: Provenance | None = None
        stored = await self._store.get(doc_id) if self._store is not None else None
        if stored is not None:
            # Known here: keep the source details and the options it was submitted with.
            source = source or stored.source
            expect_analysis = stored.deep_analysis if expect_analysis is None else expect_analysis
            # The provenance saved with the report is all that is known of the bytes now.
            provenance = stored.report.provenance if stored.report is not None else None
            if stored.report is not None and not reporting.unsettled(stored.report):
                await track("done", 1.0, f"{reporting.done_message(stored.report)}, from the local cache")
                return reporting.as_answer(
                    stored.report, source=source, elapsed=anyio.current_time() - started
                )
        await track("processing", 0.05, f"Fetching result {doc_id}")
        options = DetectOptions(wait_seconds=wait_seconds, include_heatmap=include_heatmap)
        call = _Call(source or ReportSource(kind="id"), options, started, track, provenance=provenance)
        return await self._follow(
            call, call.plan(doc_id, expect_analysis=expect_analysis, submitted_now=False)
        )

    async def credits(self) -> Credits:
        return await self.client.credits()

    async def needs_paying(self, image: LoadedImage, options: DetectOptions) -> bool:
        """Whether detecting `image` with `options` would spend a credit (no stored answer)."""
        if options.force or self._store is None:
            return True
        found = await self._store.find(
            image.sha256, deep_analysis=options.deep_analysis, preview=options.preview
        )
        return found is None

    # --- never paying twice: the content cache and coalescing -----------------------------------

    async def _detect_shared(self, image: LoadedImage, call: _Call) -> DetectionReport:
        """Join an identical detection already under way in this process, or lead one.

        The loop covers a leader that stops before finishing (cancelled, or its own deadline
        was shorter): a follower then carries on from the leader's document id, never paying
        again, or, if the leader never got as far as paying, leads a detection itself.
        """
        options = call.options
        resume: CarryOn | None = None
        while True:
            flight = self._flights.joinable(
                image.sha256,
                deep_analysis=options.deep_analysis,
                preview=options.preview,
                force=options.force,
            )
            if flight is None:
                return await self._lead(image, call, resume)
            deadline = call.started + options.wait_seconds
            match await wait_for(
                flight, call.track, deadline=deadline, include_heatmap=options.include_heatmap
            ):
                case Shared(report):
                    return await self._answered(report, call)
                case HandOff(document_id, deep_analysis):
                    return await self._answered(self._handoff(document_id, deep_analysis, call), call)
                case CarryOn() as carry_on:
                    resume = carry_on
                case LeadAnew():
                    resume = None

    async def _lead(self, image: LoadedImage, call: _Call, resume: CarryOn | None) -> DetectionReport:
        options = call.options
        flight = Flight(
            image.sha256,
            deep_analysis=resume.deep_analysis if resume else options.deep_analysis,
            preview=resume.preview if resume else options.preview,
            force=options.force,
        )
        with self._flights.lead(flight, call.track):
            report, notes = await self._run_flight(image, call, flight, resume)
            flight.report = report
        # Notes about what this call paid for are its own, not its followers'.
        return reporting.with_notes(report, notes)

    async def _run_flight(
        self, image: LoadedImage, call: _Call, flight: Flight, resume: CarryOn | None
    ) -> tuple[DetectionReport, list[str]]:
        if resume is not None:
            flight.mark_submitted(resume.document_id)
            plan = call.plan(resume.document_id, expect_analysis=resume.deep_analysis, submitted_now=True)
            return await self._answered(await self._follow(call, plan), call), []
        notes: list[str] = []
        options = call.options
        gone: str | None = None  # a stored id TruthScan no longer knows
        if self._store is not None and not options.force:
            stored = await self._store.find(
                image.sha256, deep_analysis=options.deep_analysis, preview=options.preview
            )
            if stored is not None:
                report = await self._from_store(stored, call, flight)
                if report is not None:
                    await call.keep_image(stored.document_id, image)
                    return report, notes
                gone = stored.document_id
                notes.append(
                    f"TruthScan no longer has the earlier result of this image (id {stored.document_id}), "
                    "so it was submitted again."
                )
            elif options.deep_analysis or options.preview:
                weaker = await self._store.find(image.sha256, deep_analysis=False, preview=False)
                if weaker is not None:
                    notes.append(
                        reporting.paid_again_note(
                            weaker, deep_analysis=options.deep_analysis, preview=options.preview
                        )
                    )
        # --- cross-process single flight (the store's claim): begin ---
        if self._store is not None and not options.force:
            key = ContentKey(image.sha256, options.deep_analysis, options.preview)
            paid = await pay_once(
                self._store,
                key,
                deadline=call.started + options.wait_seconds,
                track=call.track,
                submit=lambda: self._submit(image, call, flight),
                gone=gone,
            )
            if isinstance(paid, StoredResult):  # another process paid for these bytes just now
                report = await self._from_store(paid, call, flight)
                if report is not None:
                    return report, notes
                paid = await self._submit(image, call, flight)
            doc_id = paid
        else:
            doc_id = await self._submit(image, call, flight)
        # --- cross-process single flight: end ---
        await call.keep_image(doc_id, image)  # the id is known and the bytes still here
        await image.aclose()  # uploaded: a downloaded copy need not outlive the upload
        plan = call.plan(doc_id, expect_analysis=options.deep_analysis, submitted_now=True, fresh=True)
        return await self._follow(call, plan), notes

    async def _from_store(self, stored: StoredResult, call: _Call, flight: Flight) -> DetectionReport | None:
        """A known image: its stored report, or a free re-query of its id while TruthScan may
        still add to it. None when TruthScan no longer knows the id (then it must be paid again)."""
        flight.mark_submitted(stored.document_id)
        stored_report = stored.report
        if stored_report is not None and not reporting.unsettled(stored_report):
            done = reporting.done_message(stored_report)
            await call.track("done", 1.0, f"{done}, from the local cache (no credits)")
            return await self._answered(stored_report, call)
        await call.track(
            "submitted", 0.3, f"Seen before as {stored.document_id}; fetching its result again (no credits)"
        )
        try:
            plan = call.plan(stored.document_id, expect_analysis=stored.deep_analysis, submitted_now=False)
            report = await self._follow(call, plan)
        except NotFoundError:
            if stored_report is None and time.time() - stored.submitted_at < 10:
                # Submitted a moment ago (maybe by another process): not visible yet, not lost.
                return await self._answered(
                    self._handoff(stored.document_id, stored.deep_analysis, call), call
                )
            logger.info("cached document %s is gone at TruthScan; submitting again", stored.document_id)
            flight.unmark_submitted()
            return None
        except TruthScanError as exc:
            # The id is paid for and known: hand it over (with the last report saved, if any).
            if stored_report is None:
                stored_report = self._handoff(stored.document_id, stored.deep_analysis, call)
            report = reporting.with_warning(
                stored_report, f"Could not refresh the stored result from TruthScan: {exc.message}"
            )
        return await self._answered(report, call)

    def _handoff(self, document_id: str, deep_analysis: bool, call: _Call) -> DetectionReport:
        """Out of time with nothing fresh to show: the id and how to fetch the rest later."""
        return reporting.build_report(
            document_id,
            None,
            source=call.source,
            elapsed=call.elapsed(),
            expect_analysis=deep_analysis,
            include_heatmap=call.options.include_heatmap,
            simulated=self.simulated,
            waited=call.options.wait_seconds,
            provenance=call.provenance,
        )

    async def _answered(self, report: DetectionReport, call: _Call) -> DetectionReport:
        """This call's answer when it paid nothing, recorded in the history as such."""
        answer = reporting.as_answer(
            report, source=call.source, elapsed=call.elapsed(), provenance=call.provenance
        )
        if self._store is not None and answer.id is not None:
            await self._store.record_answer(answer.id, call.source.name)
        return answer

    # --- phases -----------------------------------------------------------------------------

    async def _submit(self, image: LoadedImage, call: _Call, flight: Flight) -> str:
        self.client.require_key()  # before any upload: a missing key is a local, free refusal
        options = call.options
        doc_id = await submit(
            self.client,
            image,
            call.track,
            deep_analysis=options.deep_analysis,
            preview=options.preview,
            heatmap=options.include_heatmap,
            spend=call.spend,
        )
        # Nothing between submit's return and the shielded write below awaits, so the id is
        # written down even if the caller is cancelled now.
        flight.mark_submitted(doc_id)
        if self._store is not None:
            with anyio.CancelScope(shield=True):
                await self._store.record_submission(
                    doc_id, call.source, deep_analysis=options.deep_analysis, preview=options.preview
                )
        logger.info("submitted document %s", doc_id)
        await call.track("submitted", 0.3, f"Submitted to TruthScan as {doc_id}")
        return doc_id

    async def _follow(self, call: _Call, plan: Wait) -> DetectionReport:
        """Poll `plan`'s document until settled or the deadline, then report (and store) it.

        Once this call paid for the document (`submitted_now`), nothing may lose its id: any
        failure at all — also one nobody foresaw — hands back the id and the way to fetch the
        rest. `Exception` only: a cancellation is not a failure and must propagate.
        """
        if not plan.submitted_now:
            return await self._follow_unguarded(call, plan)
        try:
            return await self._follow_unguarded(call, plan)
        except Exception as exc:
            logger.exception("unexpected failure after submitting %s", plan.document_id)
            return reporting.with_warning(
                self._handoff(plan.document_id, bool(plan.expect_analysis), call),
                f"Something unexpected went wrong while fetching the result ({type(exc).__name__}); "
                "the detection itself was accepted and is kept under its id.",
            )

    async def _follow_unguarded(self, call: _Call, plan: Wait) -> DetectionReport:
        polled = await poll(self.client, plan, self.schedule, call.track)
        report = reporting.build_report(
            plan.document_id,
            polled.doc,
            source=call.source,
            elapsed=call.elapsed(),
            expect_analysis=plan.expect_analysis,
            include_heatmap=plan.include_heatmap,
            simulated=self.simulated,
            warnings=polled.warnings,
            waited=plan.wait_seconds,
            provenance=call.provenance,
        )
        if report.complete:
            await call.track("done", 1.0, reporting.done_message(report))
        if self._store is not None and polled.doc is not None:  # never overwrite what we know with nothing
            await self._store.save_report(report, deep_analysis=bool(plan.expect_analysis))
        return report


async def provenance_of(content: bytes, *, media_type: str, source: ReportSource | None) -> Provenance:
    """`read_provenance` in a worker thread: it is bounded, but parsing a 10 MB file or
    verifying a C2PA signature takes long enough (milliseconds to a few tenths of a second)
    that the event loop, serving other calls and progress, must not wait on it."""
    read = functools.partial(read_provenance, content, media_type=media_type, source=source)
    return await anyio.to_thread.run_sync(read)
