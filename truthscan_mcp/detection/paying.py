"""A new flight's way to a document id: what is known already, else paying for it exactly once.

The detector hands a flight here when no identical call in this process is under way. First the
content cache (an answer, or a free re-query of a stored id); then, across processes, the
store's claim (`flight.pay_once`), so that two processes sharing one cache file pay once; only
then the one stretch that costs (`submission.submit`). Whatever id it ends with is followed.
"""

from __future__ import annotations

import logging
import time

import anyio

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.detection import reporting
from truthscan_mcp.detection.call import Call, DetectOptions
from truthscan_mcp.detection.flight import Flight, pay_once
from truthscan_mcp.detection.following import Following
from truthscan_mcp.detection.spending import SpendingGuard
from truthscan_mcp.detection.store import ContentKey, ResultStore, StoredResult
from truthscan_mcp.detection.submission import submit
from truthscan_mcp.errors import NotFoundError, TruthScanError
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.models import DetectionReport

logger = logging.getLogger(__name__)


class Paying:
    """Answering a new flight from the store (if any), or paying through one client."""

    def __init__(
        self,
        client: TruthScanClient,
        store: ResultStore | None,
        following: Following,
        guard: SpendingGuard | None = None,
    ) -> None:
        self.client = client
        self._store = store
        self._following = following
        self._guard = guard or SpendingGuard(store, daily_limit=None, hints=client.hints)

    async def needs_paying(self, image: LoadedImage, options: DetectOptions) -> bool:
        """Whether detecting `image` with `options` would spend a credit (no stored answer)."""
        if options.force or self._store is None:
            return True
        found = await self._store.find(
            image.sha256, deep_analysis=options.deep_analysis, preview=options.preview
        )
        return found is None

    async def run(self, image: LoadedImage, call: Call, flight: Flight) -> tuple[DetectionReport, list[str]]:
        """The flight's report, and notes for the leading call alone (why it paid again)."""
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
        return await self._following.follow(call, plan), notes

    async def _from_store(self, stored: StoredResult, call: Call, flight: Flight) -> DetectionReport | None:
        """A known image: its stored report, or a free re-query of its id while TruthScan may
        still add to it. None when TruthScan no longer knows the id (then it must be paid again)."""
        following = self._following
        flight.mark_submitted(stored.document_id)
        stored_report = stored.report
        if stored_report is not None and not reporting.unsettled(stored_report):
            done = reporting.done_message(stored_report)
            await call.track("done", 1.0, f"{done}, from the local cache (no credits)")
            return await following.answered(stored_report, call)
        await call.track(
            "submitted", 0.3, f"Seen before as {stored.document_id}; fetching its result again (no credits)"
        )
        try:
            plan = call.plan(stored.document_id, expect_analysis=stored.deep_analysis, submitted_now=False)
            report = await following.follow(call, plan)
        except NotFoundError:
            if stored_report is None and time.time() - stored.submitted_at < 10:
                # Submitted a moment ago (maybe by another process): not visible yet, not lost.
                return await following.answered(
                    following.handoff(stored.document_id, stored.deep_analysis, call), call
                )
            logger.info("cached document %s is gone at TruthScan; submitting again", stored.document_id)
            flight.unmark_submitted()
            return None
        except TruthScanError as exc:
            # The id is paid for and known: hand it over (with the last report saved, if any).
            if stored_report is None:
                stored_report = following.handoff(stored.document_id, stored.deep_analysis, call)
            report = reporting.with_warning(
                stored_report, f"Could not refresh the stored result from TruthScan: {exc.message}"
            )
        return await following.answered(report, call)

    async def _submit(self, image: LoadedImage, call: Call, flight: Flight) -> str:
        self.client.require_key()  # before any upload: a missing key is a local, free refusal
        options = call.options
        # The daily cap, before any upload: one of the batch's detections, or one held now.
        allowance, own = call.allowance, None
        if allowance is None or not allowance.take():
            own = allowance = await self._guard.allow(1, options.user)  # raises DailyLimitError: nothing sent
            if allowance is not None:
                allowance.take()
        try:
            doc_id = await submit(
                self.client,
                image,
                call.track,
                deep_analysis=options.deep_analysis,
                preview=options.preview,
                heatmap=options.include_heatmap,
                spend=call.spend,
            )
        except BaseException:
            if allowance is not None and own is None:
                allowance.give_back()
            await self._guard.release(own)
            raise
        # Nothing between submit's return and the shielded write below awaits, so the id is
        # written down even if the caller is cancelled now.
        flight.mark_submitted(doc_id)
        call.note_submitted(doc_id)
        self._guard.paid(allowance, options.user)
        with anyio.CancelScope(shield=True):
            if self._store is not None:
                # the ledger row (today's count) goes in with the id, in one transaction
                await self._store.record_submission(
                    doc_id,
                    call.source,
                    deep_analysis=options.deep_analysis,
                    preview=options.preview,
                    hold=allowance.holder if allowance is not None else None,
                    user=options.user,
                )
            await self._guard.release(own)
        logger.info("submitted document %s", doc_id)
        await call.track("submitted", 0.3, f"Submitted to TruthScan as {doc_id}")
        return doc_id
