"""validate → upload → submit → poll → report, with progress and a deadline.

Knows nothing of MCP or of transports: `server.py` and the command line both drive it through
`Detector`. The guarantees that matter live here: nothing is spent before the image is
validated locally, a submitted document's id is never lost (a failure after `/detect` still
returns a report carrying the id and a `next_step`), and the wait is bounded by the caller's
deadline, after which the partial report is handed back.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import anyio

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.detection.schedule import Planner, PollPhase, PollPlan
from truthscan_mcp.errors import NotFoundError, TruthScanError, UploadExpiredError
from truthscan_mcp.media.sources import LoadedImage, load_image, validate_document_id
from truthscan_mcp.models import AnalysisStatus, ApiDocument, DetectionReport, ReportSource
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from truthscan_mcp.cache.database import StoredResult

logger = logging.getLogger(__name__)

#: How long a status poll may run past the deadline before the partial report is handed back.
POLL_GRACE_SECONDS = 1.0
#: How long a document TruthScan just accepted may answer `null` (not visible yet) before the
#: id is handed over as it is.
VISIBILITY_GRACE_SECONDS = 5.0

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
    #: keep polling (within the deadline) for a heatmap that is coming even when it was not asked
    #: for, so the report carries its link; a batch, whose rows show no heatmap, turns this off
    wait_for_heatmap: bool = True


@dataclass(frozen=True)
class PollSchedule:
    """When to ask again: every `first` seconds while the job is young, then `share` of the wait.

    Waiting a share of the elapsed time bounds how late completion is noticed to that share of
    the job's length (half of it on average), whatever the length, while `/query` calls grow
    only logarithmically with it. Until the share exceeds `first` (the first 4 s) a job is
    nearly always still running, and asking more often than 0.4 s buys little. Against a
    client polling every 50 ms (bench/latency.py, 3-5 s jobs) this pair finishes 1.04x as late
    with 0.15x its calls; the former 0.25 s / 20 % came in at 1.10x with 0.17x. A 60 s job
    costs ~48 calls. `maximum` bounds the gap on long jobs, which also keeps progress
    notifications (one per poll) flowing to clients that reset their timeout on them.
    """

    first: float = 0.4
    share: float = 0.1
    minimum: float = 0.1
    maximum: float = 2.0

    def delay(self, elapsed: float) -> float:
        if elapsed <= 0:
            return self.first
        return max(self.minimum, min(self.maximum, max(self.first, elapsed * self.share)))


class ResultStore(Protocol):
    """Where results outlive the process: the content cache (`cache.ResultCache`); optional.

    Implementations never raise for storage trouble: a broken cache must not cost a detection.
    """

    async def find(self, sha256: str, *, deep_analysis: bool, preview: bool) -> StoredResult | None:
        """The newest document of these bytes made with at least these options."""
        ...

    async def get(self, document_id: str) -> StoredResult | None: ...

    async def record_submission(
        self, document_id: str, source: ReportSource, *, deep_analysis: bool, preview: bool
    ) -> None: ...

    async def save_report(self, report: DetectionReport, *, deep_analysis: bool) -> None: ...

    async def record_answer(self, document_id: str, source_name: str | None) -> None: ...


@dataclass
class _Tracker:
    """Keeps progress strictly increasing, as MCP requires, whatever the phases report."""

    callback: ProgressCallback
    last: float = 0.0
    sent: list[Phase] = field(default_factory=list[Phase])
    #: Trackers of identical calls waiting on this call's detection (see `_Flight`): their
    #: clients hear the same progress, so those that reset their timeout on it keep waiting.
    followers: list[_Tracker] = field(default_factory=list["_Tracker"])

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
        for follower in list(self.followers):
            await follower(phase, fraction, message)


@dataclass(eq=False)
class _Flight:
    """A detection of some bytes under way in this process, which identical calls join rather
    than paying again. Its leader runs it; followers wait for its outcome within their own
    deadlines, and carry on from its document id if the leader stops early."""

    sha256: str
    deep_analysis: bool
    preview: bool
    force: bool
    followers: list[_Tracker] = field(default_factory=list[_Tracker])
    document_id: str | None = None
    #: set once `document_id` is known (TruthScan accepted, or the cache knew the image)
    submitted: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    #: the leader's outcome: a report for every caller, or the error it failed with
    report: DetectionReport | None = None
    error: TruthScanError | None = None

    def serves(self, options: DetectOptions) -> bool:
        """Whether a call with `options` may join: this detection must give at least what it asks
        for, and a forced call (it asked for a fresh, paid result) joins only another forced one."""
        return (
            (self.deep_analysis or not options.deep_analysis)
            and (self.preview or not options.preview)
            and (self.force or not options.force)
        )

    def mark_submitted(self, document_id: str) -> None:
        self.document_id = document_id
        self.submitted.set()

    def unmark_submitted(self) -> None:
        self.document_id = None
        self.submitted = anyio.Event()


@dataclass(frozen=True)
class _Resume:
    """A document a stopped leader had already paid for: carry on from it, never submit again."""

    document_id: str
    deep_analysis: bool
    preview: bool


async def _first_of(*events: anyio.Event) -> None:
    async with anyio.create_task_group() as group:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            group.cancel_scope.cancel()

        for event in events:
            group.start_soon(wait, event)


def _unsettled(report: DetectionReport) -> bool:
    """Whether TruthScan may still add to a stored report; then its id is queried again (free)
    instead of the stored copy being served."""
    return (
        report.status in ("pending", "analyzing")
        or report.analysis_status == "pending"
        or report.heatmap_status == "pending"
    )


def _source_of(image: LoadedImage) -> ReportSource:
    return ReportSource(
        kind=image.kind, name=image.name, media_type=image.media_type, bytes=image.size, sha256=image.sha256
    )


def _answer(report: DetectionReport, *, source: ReportSource, started: float) -> DetectionReport:
    """A stored or shared report as this call's answer: its own source and timing, nothing spent."""
    elapsed = round(anyio.current_time() - started, 3)
    return report.model_copy(update={"cached": True, "source": source, "elapsed_seconds": elapsed})


def _with_notes(report: DetectionReport, notes: list[str]) -> DetectionReport:
    if not notes:
        return report
    return report.model_copy(update={"warnings": [*notes, *report.warnings]})


def _settled_analysis(doc: ApiDocument, expect_analysis: bool | None) -> bool:
    if doc.status == "failed":
        return True
    if doc.status != "done":
        return False
    if doc.analysis_status == "pending":
        return expect_analysis is False  # we did not ask for it: do not wait for it
    return True


def _pending_phases(
    doc: ApiDocument, expect_analysis: bool | None, heatmap_matters: bool
) -> frozenset[PollPhase]:
    """What the poll loop still waits for, in the schedule's terms."""
    if doc.status != "done":
        return frozenset({"detection"})
    pending: set[PollPhase] = set()
    if expect_analysis is not False and doc.analysis_status == "pending":
        pending.add("analysis")
    if heatmap_matters and doc.heatmap_status == "pending":
        pending.add("heatmap")
    return frozenset(pending)


def _heatmap_coming(doc: ApiDocument) -> bool:
    return doc.status == "done" and doc.heatmap_status == "pending"


class Detector:
    """The detection workflow over one `TruthScanClient`."""

    def __init__(
        self,
        client: TruthScanClient,
        settings: Settings,
        *,
        schedule: PollSchedule | Planner | None = None,
        store: ResultStore | None = None,
        simulated: bool = False,
    ) -> None:
        self.client = client
        self.settings = settings
        self.schedule = schedule or PollSchedule()
        self.store = store
        self._simulated = simulated
        #: detections under way, by the image's SHA-256 (see `_Flight`)
        self._flights: dict[str, list[_Flight]] = {}

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
            await track("validating", 0.05, f"{image.format.name.upper()} image, {_human(image.size)}")
            return await self._detect_shared(image, _source_of(image), options, track, started)

    async def detect_loaded(
        self,
        image: LoadedImage,
        options: DetectOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> DetectionReport:
        """`detect` for an image the caller validated already (a batch validates every input
        before spending anything): the content cache and coalescing apply exactly as there.
        The caller still closes `image`; its temporary copy may be released once uploaded."""
        options = options or DetectOptions()
        track = _Tracker(progress or _no_progress)
        return await self._detect_shared(image, _source_of(image), options, track, anyio.current_time())

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
        stored = await self.store.get(doc_id) if self.store is not None else None
        if stored is not None:
            # Known here: keep the source details and the options it was submitted with.
            source = source or stored.source
            expect_analysis = stored.deep_analysis if expect_analysis is None else expect_analysis
            if stored.report is not None and not _unsettled(stored.report):
                await track("done", 1.0, f"{_done_message(stored.report)}, from the local cache")
                return _answer(stored.report, source=source, started=started)
        await track("processing", 0.05, f"Fetching result {doc_id}")
        return await self._follow(
            doc_id,
            DetectOptions(wait_seconds=wait_seconds, include_heatmap=include_heatmap),
            source=source or ReportSource(kind="id"),
            started=started,
            expect_analysis=expect_analysis,
            track=track,
            submitted_now=False,
        )

    # --- never paying twice: the content cache and coalescing -----------------------------------

    async def _detect_shared(
        self,
        image: LoadedImage,
        source: ReportSource,
        options: DetectOptions,
        track: _Tracker,
        started: float,
    ) -> DetectionReport:
        """Join an identical detection already under way in this process, or lead one.

        The loop covers a leader that stops before finishing (cancelled, or its own deadline
        was shorter): a follower then carries on from the leader's document id, never paying
        again, or, if the leader never got as far as paying, leads a detection itself.
        """
        resume: _Resume | None = None
        while True:
            flight = self._joinable(image.sha256, options)
            if flight is None:
                return await self._lead(image, source, options, track, started, resume)
            outcome = await self._follow_flight(flight, source, options, track, started)
            if isinstance(outcome, DetectionReport):
                return outcome
            resume = outcome

    def _joinable(self, sha256: str, options: DetectOptions) -> _Flight | None:
        for flight in self._flights.get(sha256, []):
            if not flight.done.is_set() and flight.serves(options):
                return flight
        return None

    async def _lead(
        self,
        image: LoadedImage,
        source: ReportSource,
        options: DetectOptions,
        track: _Tracker,
        started: float,
        resume: _Resume | None,
    ) -> DetectionReport:
        flight = _Flight(
            image.sha256,
            deep_analysis=resume.deep_analysis if resume else options.deep_analysis,
            preview=resume.preview if resume else options.preview,
            force=options.force,
        )
        flights = self._flights.setdefault(image.sha256, [])
        flights.append(flight)
        track.followers = flight.followers
        try:
            report, notes = await self._run_flight(image, source, options, track, started, flight, resume)
            flight.report = report
        except TruthScanError as exc:
            flight.error = exc
            raise
        finally:
            track.followers = []
            flights.remove(flight)
            if not flights:
                self._flights.pop(image.sha256, None)
            flight.done.set()
        # Notes about what this call paid for are its own, not its followers'.
        return _with_notes(report, notes)

    async def _run_flight(
        self,
        image: LoadedImage,
        source: ReportSource,
        options: DetectOptions,
        track: _Tracker,
        started: float,
        flight: _Flight,
        resume: _Resume | None,
    ) -> tuple[DetectionReport, list[str]]:
        notes: list[str] = []
        if resume is not None:
            flight.mark_submitted(resume.document_id)
            report = await self._follow(
                resume.document_id,
                options,
                source=source,
                started=started,
                expect_analysis=resume.deep_analysis,
                track=track,
                submitted_now=True,
            )
            return await self._answered(report, source, started), notes
        store = self.store
        if store is not None and not options.force:
            stored = await store.find(
                image.sha256, deep_analysis=options.deep_analysis, preview=options.preview
            )
            if stored is not None:
                report = await self._from_store(stored, source, options, track, started, flight)
                if report is not None:
                    return report, notes
                notes.append(
                    f"TruthScan no longer has the earlier result of this image (id {stored.document_id}), "
                    "so it was submitted again."
                )
            elif options.deep_analysis or options.preview:
                weaker = await store.find(image.sha256, deep_analysis=False, preview=False)
                if weaker is not None:
                    missing = [
                        what
                        for what, had, wanted in (
                            ("deep analysis", weaker.deep_analysis, options.deep_analysis),
                            ("a preview", weaker.preview, options.preview),
                        )
                        if wanted and not had
                    ]
                    notes.append(
                        f"This image was checked before without {' or '.join(missing)} (id "
                        f"{weaker.document_id}), so it was submitted again with it: that spent credits once."
                    )
        doc_id = await self._submit(image, options, track, source=source, flight=flight)
        await image.aclose()  # uploaded: a downloaded copy need not outlive the upload
        report = await self._follow(
            doc_id,
            options,
            source=source,
            started=started,
            expect_analysis=options.deep_analysis,
            track=track,
            submitted_now=True,
        )
        return report, notes

    async def _from_store(
        self,
        stored: StoredResult,
        source: ReportSource,
        options: DetectOptions,
        track: _Tracker,
        started: float,
        flight: _Flight,
    ) -> DetectionReport | None:
        """A known image: its stored report, or a free re-query of its id while TruthScan may
        still add to it. None when TruthScan no longer knows the id (then it must be paid again)."""
        flight.mark_submitted(stored.document_id)
        stored_report = stored.report
        if stored_report is not None and not _unsettled(stored_report):
            await track("done", 1.0, f"{_done_message(stored_report)}, from the local cache (no credits)")
            return await self._answered(stored_report, source, started)
        await track(
            "submitted", 0.3, f"Seen before as {stored.document_id}; fetching its result again (no credits)"
        )
        try:
            report = await self._follow(
                stored.document_id,
                options,
                source=source,
                started=started,
                expect_analysis=stored.deep_analysis,
                track=track,
                submitted_now=False,
            )
        except NotFoundError:
            if stored_report is None and time.time() - stored.submitted_at < 10:
                # Submitted a moment ago (maybe by another process): not visible yet, not lost.
                report = self._handoff(stored.document_id, stored.deep_analysis, source, options, started)
                return await self._answered(report, source, started)
            logger.info("cached document %s is gone at TruthScan; submitting again", stored.document_id)
            flight.unmark_submitted()
            return None
        except TruthScanError as exc:
            # The id is paid for and known: hand it over (with the last report saved, if any).
            warning = f"Could not refresh the stored result from TruthScan: {exc.message}"
            if stored_report is None:
                report = self._handoff(stored.document_id, stored.deep_analysis, source, options, started)
            else:
                report = stored_report
            report = report.model_copy(update={"warnings": [*report.warnings, warning]})
        return await self._answered(report, source, started)

    async def _follow_flight(
        self, flight: _Flight, source: ReportSource, options: DetectOptions, track: _Tracker, started: float
    ) -> DetectionReport | _Resume | None:
        """Wait, within this call's own deadline, for an identical detection another call leads.

        Returns this call's answer; or what to carry on from when the leader stopped early (its
        document, or None if it never paid). The leader's failure is this call's failure too:
        sending the same bytes again could pay twice for an ambiguous error.
        """
        await track("submitted", 0.1, "The same image is already being checked; waiting for that result")
        deadline = started + options.wait_seconds
        flight.followers.append(track)
        try:
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                await flight.done.wait()
            # Out of time, but a hand-off needs a document id, exactly as the leader's own would.
            while not flight.done.is_set() and flight.document_id is None:
                await _first_of(flight.done, flight.submitted)
        finally:
            flight.followers.remove(track)
        if not flight.done.is_set():
            assert flight.document_id is not None
            report = self._handoff(flight.document_id, flight.deep_analysis, source, options, started)
            return await self._answered(report, source, started)
        report = flight.report
        if report is not None and report.id is not None:
            enough = report.complete and not (options.include_heatmap and report.heatmap_status == "pending")
            if enough or anyio.current_time() >= deadline:
                return await self._answered(report, source, started)
            return _Resume(report.id, flight.deep_analysis, flight.preview)
        if flight.error is not None:
            raise copy.copy(flight.error) from None
        if flight.document_id is not None:
            return _Resume(flight.document_id, flight.deep_analysis, flight.preview)
        return None

    def _handoff(
        self,
        document_id: str,
        deep_analysis: bool,
        source: ReportSource,
        options: DetectOptions,
        started: float,
    ) -> DetectionReport:
        """Out of time with nothing fresh to show: the id and how to fetch the rest later."""
        return self.build_report(
            document_id,
            None,
            source=source,
            elapsed=anyio.current_time() - started,
            expect_analysis=deep_analysis,
            include_heatmap=options.include_heatmap,
            waited=options.wait_seconds,
        )

    async def _answered(
        self, report: DetectionReport, source: ReportSource, started: float
    ) -> DetectionReport:
        """This call's answer when it paid nothing, recorded in the history as such."""
        answer = _answer(report, source=source, started=started)
        if self.store is not None and answer.id is not None:
            await self.store.record_answer(answer.id, source.name)
        return answer

    # --- phases -----------------------------------------------------------------------------

    async def _submit(
        self,
        image: LoadedImage,
        options: DetectOptions,
        track: _Tracker,
        *,
        source: ReportSource | None = None,
        flight: _Flight | None = None,
    ) -> str:
        self.client.require_key()  # before any upload: a missing key is a local, free refusal
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
        # The client shields each /detect attempt on the wire (not its back-off), so a cancelled
        # caller still hears the id it paid for; nothing between its return and the shielded
        # write below awaits, so the id is written down even if the caller is cancelled now.
        doc_id = await self.client.detect(
            presigned.file_path, deep_analysis=options.deep_analysis, preview=options.preview
        )
        if flight is not None:
            flight.mark_submitted(doc_id)
        if self.store is not None and source is not None:
            with anyio.CancelScope(shield=True):
                await self.store.record_submission(
                    doc_id, source, deep_analysis=options.deep_analysis, preview=options.preview
                )
        logger.info("submitted document %s", doc_id)
        await track("submitted", 0.3, f"Submitted to TruthScan as {doc_id}")
        return doc_id

    async def _follow(
        self,
        doc_id: str,
        options: DetectOptions,
        *,
        source: ReportSource,
        started: float,
        expect_analysis: bool | None,
        track: _Tracker,
        submitted_now: bool,
    ) -> DetectionReport:
        """Poll `doc_id` until settled or `options.wait_seconds` after `started`, then report."""
        wait_seconds = options.wait_seconds
        include_heatmap = options.include_heatmap
        deadline = started + wait_seconds
        heatmap_matters = options.wait_for_heatmap or include_heatmap
        warnings: list[str] = []
        doc: ApiDocument | None = None
        poll_start = anyio.current_time()
        polls = 0
        planner = self.schedule if isinstance(self.schedule, Planner) else None
        then: set[PollPhase] = set()
        if expect_analysis is not False:
            then.add("analysis")
        if heatmap_matters:
            then.add("heatmap")
        plan: PollPlan | None = None
        if planner is not None:
            # A job we did not just submit (get_result) is of unknown age: no history applies,
            # and what it shows is not the duration of a job.
            plan = await planner.plan(then) if submitted_now else PollPlan(then=frozenset(then))
        pending: frozenset[PollPhase] = frozenset({"detection"})
        settled = False
        try:
            while True:
                now = anyio.current_time()
                if polls > 0 or not submitted_now or now < deadline:
                    # A slow or retried poll must not hold the caller past the deadline; only
                    # get_result's first look may take what it needs (it has nothing to show yet).
                    first_look = polls == 0 and not submitted_now
                    limit = math.inf if first_look else max(deadline - now, 0.0) + POLL_GRACE_SECONDS
                    answered = False
                    fetched: ApiDocument | None = None
                    with anyio.move_on_after(limit):
                        fetched = await self.client.query(doc_id)
                        answered = True
                    if not answered:
                        warnings.append("TruthScan was slow to answer; this is the last status it reported.")
                        break
                    polls += 1
                    if fetched is not None:
                        doc = fetched
                        await self._report_progress(doc, track, expect_analysis)
                        pending = _pending_phases(doc, expect_analysis, heatmap_matters)
                        if _settled_analysis(doc, expect_analysis) and not (
                            heatmap_matters and _heatmap_coming(doc)
                        ):
                            settled = True
                            if plan is not None:
                                plan.after_answer(anyio.current_time() - poll_start, ())
                            break
                    elif doc is None:
                        if not submitted_now:
                            raise NotFoundError(
                                f"TruthScan has no document with id {doc_id}. Check the id (it comes "
                                "from detect_image), or run detect_image again."
                            )
                        # A document we created a moment ago may not be visible yet; one that stays
                        # invisible is still paid for, so it is handed over, never submitted again.
                        if now - poll_start >= VISIBILITY_GRACE_SECONDS:
                            warnings.append(
                                f"TruthScan accepted the image but does not show document {doc_id} yet."
                            )
                            break
                    # else: seen before, so a `null` now is a glitch: keep what it said, ask again
                now = anyio.current_time()
                if now >= deadline:
                    break
                schedule = self.schedule
                if plan is not None:
                    wanted = plan.after_answer(now - poll_start, pending)
                elif not isinstance(schedule, Planner):
                    wanted = schedule.delay(now - poll_start)
                else:  # pragma: no cover - a planner always makes a plan
                    wanted = 0.0
                await anyio.sleep(min(wanted, deadline - now))
        except TruthScanError as exc:
            if not submitted_now:
                raise
            # The credit is spent and the id is known: hand it over instead of failing.
            warnings.append(f"Lost contact with TruthScan while waiting: {exc.message}")
        if planner is not None and plan is not None and settled and submitted_now:
            await planner.learn(plan)
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
        if self.store is not None and doc is not None:  # never overwrite what we know with nothing
            await self.store.save_report(report, deep_analysis=bool(expect_analysis))
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
