"""validate → upload → submit → poll → report, with progress and a deadline.

Knows nothing of MCP or of transports: the adapter and the command line both drive it through
`Detector`. The guarantees that matter: nothing is spent before the image is validated locally,
a submitted document's id is never lost (a failure after `/detect` still returns a report
carrying the id and a `next_step`), and the wait is bounded by the caller's deadline, after
which the partial report is handed back. Here: the entry points and coalescing in this process.
The parts have rooms of their own: the call's record in `call`, the cache and paying once in
`paying`, polling to a report in `following`, single flight in `flight`, wording in `reporting`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

import anyio

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.detection import reporting
from truthscan_mcp.detection.call import Call, DetectOptions
from truthscan_mcp.detection.evidence import EvidenceLog
from truthscan_mcp.detection.flight import CarryOn, Flight, Flights, HandOff, LeadAnew, Shared, wait_for
from truthscan_mcp.detection.following import Following
from truthscan_mcp.detection.images import ImageSink
from truthscan_mcp.detection.paying import Paying
from truthscan_mcp.detection.progress import ProgressCallback, Tracker, no_progress
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.detection.spending import Allowance, SpendingGuard
from truthscan_mcp.detection.store import ResultStore
from truthscan_mcp.errors import TruthScanError
from truthscan_mcp.media.formats import human_size
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.sources import load_image, validate_document_id
from truthscan_mcp.media.uploads import UploadStore
from truthscan_mcp.models import Credits, DetectionReport, Provenance, ReportSource
from truthscan_mcp.provenance import read_provenance
from truthscan_mcp.settings import Settings

logger = logging.getLogger(__name__)

#: provenance reads that run at once in one detector (see `Detector._provenance_slots`)
PROVENANCE_CONCURRENCY = 2


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
        uploads: UploadStore | None = None,
    ) -> None:
        self.client = client
        #: images people hand over through `request_image` (None: this run takes no uploads)
        self.uploads = uploads
        self.settings = settings
        #: when to poll: the planner `open_app` builds (learning from the cache), or a test's
        self.schedule = schedule or Planner(api_url=client.api_url)
        self._store = store
        #: today's paid detections and the daily cap (`TRUTHSCAN_MAX_DETECTIONS_PER_DAY`)
        self.guard = SpendingGuard(store, daily_limit=settings.max_detections_per_day, hints=settings.hints)
        self._following = Following(client, self.schedule, store, simulated=simulated)
        self._paying = Paying(client, store, self._following, self.guard)
        self._flights = Flights()
        #: provenance reads at once: each takes a worker thread of anyio's shared pool (40), which
        #: also reads files and stdin for every other call; a few slots keep the rest answering
        self._provenance_slots = anyio.CapacityLimiter(PROVENANCE_CONCURRENCY)
        #: what this process witnessed of each detection, for its evidence report
        self.evidence = EvidenceLog()

    @property
    def simulated(self) -> bool:
        return self._following.simulated

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
        clipboard: bool = False,
        upload: str | None = None,
    ) -> DetectionReport:
        """Validate, then detect (or answer from the cache); `images` receives the image with
        its document id once that is known. An `upload` not there yet is waited for within
        the call's `wait_seconds`, and its bytes are dropped once the report is made."""
        options = options or DetectOptions()
        track = Tracker(progress or no_progress)
        started = anyio.current_time()
        await track("validating", 0.01, "Waiting for the image" if upload else "Validating the image")
        async with _heartbeat(track, "Waiting for the person to hand over the image", enabled=bool(upload)):
            loaded = await load_image(
                path=path,
                url=url,
                data=data,
                settings=self.settings,
                clipboard=clipboard,
                upload=upload,
                uploads=self.uploads,
                wait_seconds=options.wait_seconds,
            )
        report = await self._detect_validated(loaded, options, track, started, images)
        if upload and self.uploads is not None:
            self.uploads.finished(upload.strip(), report.id)
        return report

    async def _detect_validated(
        self,
        loaded: LoadedImage,
        options: DetectOptions,
        track: Tracker,
        started: float,
        images: ImageSink | None,
    ) -> DetectionReport:
        async with loaded:
            await track("validating", 0.05, f"{loaded.format.name.upper()} image, {human_size(loaded.size)}")
            # One read serves both: the provenance reader gets the bytes, the upload sends them.
            image, content = await loaded.held()
            # Without its own `source`: the report's names the bytes (and is per answer, while
            # the provenance is stored with the report).
            provenance = await provenance_of(
                content, media_type=image.media_type, source=None, limiter=self._provenance_slots
            )
            call = Call(
                reporting.source_of(image),
                options,
                started,
                track,
                provenance=provenance,
                images=images,
                evidence=self.evidence,
            )
            return await self._detect_shared(image, call)

    async def provenance(
        self,
        *,
        path: str | None = None,
        url: str | None = None,
        data: str | None = None,
        clipboard: bool = False,
        upload: str | None = None,
        wait_seconds: float = 0.0,
    ) -> Provenance:
        """What the image declares about its origin (`check_provenance`): validated exactly as
        for `detect`, read locally, and nothing sent to TruthScan, so it costs nothing. An
        upload's bytes are kept for the detection that may follow."""
        loaded = await load_image(
            path=path,
            url=url,
            data=data,
            settings=self.settings,
            clipboard=clipboard,
            upload=upload,
            uploads=self.uploads,
            wait_seconds=wait_seconds,
        )
        async with loaded as image:
            content = await image.read_bytes()
            return await provenance_of(
                content,
                media_type=image.media_type,
                source=reporting.source_of(image),
                limiter=self._provenance_slots,
            )

    async def provenance_of_content(self, content: bytes, *, media_type: str) -> Provenance:
        """What `content` declares (a batch row's bytes, read already), within this detector's
        provenance slots like every other provenance read."""
        return await provenance_of(
            content, media_type=media_type, source=None, limiter=self._provenance_slots
        )

    async def detect_loaded(
        self,
        image: LoadedImage,
        options: DetectOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
        spend: anyio.CapacityLimiter | None = None,
        images: ImageSink | None = None,
        allowance: Allowance | None = None,
    ) -> DetectionReport:
        """`detect` for an image the caller validated already (a batch validates every input
        before spending anything): the content cache and coalescing apply exactly as there.
        `spend`, when given, is held only while uploading and submitting; `allowance`, a batch's
        detections held under the daily cap. The caller still
        closes `image`; its temporary copy may be released once uploaded."""
        track = Tracker(progress or no_progress)
        options = options or DetectOptions()
        call = Call(
            reporting.source_of(image),
            options,
            anyio.current_time(),
            track,
            spend,
            images=images,
            evidence=self.evidence,
            allowance=allowance,
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
        call = Call(
            source or ReportSource(kind="id"),
            options,
            started,
            track,
            provenance=provenance,
            evidence=self.evidence,
        )
        plan = call.plan(doc_id, expect_analysis=expect_analysis, submitted_now=False)
        return await self._following.follow(call, plan)

    async def credits(self, user: str | None = None) -> Credits:
        """TruthScan's balance, with the local guard's count (`user`'s, when counted per user)
        and cap beside it."""
        balance = await self.client.credits()
        today = await self.guard.today(user)
        return balance.model_copy(update={"detections_today": today, "daily_limit": self.guard.daily_limit})

    async def needs_paying(self, image: LoadedImage, options: DetectOptions) -> bool:
        """Whether detecting `image` with `options` would spend a credit (no stored answer)."""
        return await self._paying.needs_paying(image, options)

    # --- never paying twice in this process: coalescing -----------------------------------------

    async def _detect_shared(self, image: LoadedImage, call: Call) -> DetectionReport:
        """Join an identical detection already under way in this process, or lead one.

        The loop covers a leader that stops before finishing (cancelled, or its own deadline
        was shorter): a follower then carries on from the leader's document id, never paying
        again, or, if the leader never got as far as paying, leads a detection itself.
        """
        options, following = call.options, self._following
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
                    return await following.answered(report, call)
                case HandOff(document_id, deep_analysis):
                    return await following.answered(following.handoff(document_id, deep_analysis, call), call)
                case CarryOn() as carry_on:
                    resume = carry_on
                case LeadAnew():
                    resume = None

    async def _lead(self, image: LoadedImage, call: Call, resume: CarryOn | None) -> DetectionReport:
        """Run a flight anew (the cache, or paying once), or on from a stopped leader's paid id."""
        options, following = call.options, self._following
        flight = Flight(
            image.sha256,
            deep_analysis=resume.deep_analysis if resume else options.deep_analysis,
            preview=resume.preview if resume else options.preview,
            force=options.force,
        )
        with self._flights.lead(flight, call.track):
            try:
                if resume is None:
                    report, notes = await self._paying.run(image, call, flight)
                else:
                    flight.mark_submitted(resume.document_id)
                    plan = call.plan(
                        resume.document_id, expect_analysis=resume.deep_analysis, submitted_now=True
                    )
                    report, notes = await following.answered(await following.follow(call, plan), call), []
            except Exception as exc:
                report, notes = self._kept_id(flight, call, exc), []
            flight.report = report
        # Notes about what this call paid for are its own, not its followers'.
        return reporting.with_notes(report, notes)

    def _kept_id(self, flight: Flight, call: Call, exc: Exception) -> DetectionReport:
        """A failure once TruthScan has a document for this flight (paid now, or known from the
        cache) is never the caller's error: it gets the id and how to fetch the result. Before
        that, nothing was spent and the error is the caller's to read (raised again)."""
        document_id = flight.document_id
        if document_id is None:
            raise exc
        if not isinstance(exc, TruthScanError):
            logger.error("unexpected failure after %s was submitted", document_id, exc_info=exc)
        reason = exc.message if isinstance(exc, TruthScanError) else f"unexpected {type(exc).__name__}"
        handoff = self._following.handoff(document_id, flight.deep_analysis, call)
        return reporting.with_warning(
            handoff,
            f"Something went wrong after TruthScan accepted the image ({reason}); the detection "
            "is kept under its id.",
        )


#: how often a call waiting for a person's upload says it is still waiting
HEARTBEAT_SECONDS = 5.0


@asynccontextmanager
async def _heartbeat(track: Tracker, message: str, *, enabled: bool) -> AsyncGenerator[None]:
    """Progress every few seconds while the block waits on a person, not on TruthScan: clients
    that reset their timeout on progress keep waiting for an upload that may take a minute."""
    if not enabled:
        yield
        return

    async def beat() -> None:
        waited = 0.0
        while True:
            await anyio.sleep(HEARTBEAT_SECONDS)
            waited += HEARTBEAT_SECONDS
            await track("validating", 0.01, f"{message} ({waited:.0f} s so far)")

    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(beat)
        try:
            yield
        except Exception as exc:  # raised as itself below, not wrapped in an exception group
            failure = exc
        finally:
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def provenance_of(
    content: bytes,
    *,
    media_type: str,
    source: ReportSource | None,
    limiter: anyio.CapacityLimiter | None = None,
) -> Provenance:
    """`read_provenance` in a worker thread, at most `limiter`'s number at once: it is bounded
    (one work budget per file), but parsing a 10 MB file or verifying a C2PA signature takes
    long enough (milliseconds to a few tenths of a second) that the event loop, serving other
    calls and progress, must not wait on it — and forty hostile files at once must not take
    every worker thread from the calls that need one too (`health`, a detection's reads)."""
    read = functools.partial(read_provenance, content, media_type=media_type, source=source)
    return await anyio.to_thread.run_sync(read, limiter=limiter)
