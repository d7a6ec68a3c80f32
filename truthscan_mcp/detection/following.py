"""Following a document: poll it to a report, store what was learnt, and answer the call.

Apart from the detector because every way to a document id ends here — a fresh submission, a
cached id re-queried for free, a leader's id carried on by a follower, `get_result` — and
because the promise that a paid id is never lost is kept here, in one place.
"""

from __future__ import annotations

import logging

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.detection import reporting
from truthscan_mcp.detection.call import Call
from truthscan_mcp.detection.polling import Wait, poll
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.detection.store import ResultStore
from truthscan_mcp.models import DetectionReport

logger = logging.getLogger(__name__)


class Following:
    """Polling documents of one `TruthScanClient` on one schedule, into one store (if any)."""

    def __init__(
        self, client: TruthScanClient, schedule: Planner, store: ResultStore | None, *, simulated: bool
    ) -> None:
        self.client = client
        self.schedule = schedule
        self._store = store
        self._simulated = simulated

    @property
    def simulated(self) -> bool:
        return self._simulated or self.client.simulated

    async def follow(self, call: Call, plan: Wait) -> DetectionReport:
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
                self.handoff(plan.document_id, bool(plan.expect_analysis), call),
                f"Something unexpected went wrong while fetching the result ({type(exc).__name__}); "
                "the detection itself was accepted and is kept under its id.",
            )

    async def _follow_unguarded(self, call: Call, plan: Wait) -> DetectionReport:
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
        call.note_report(report)
        if report.complete:
            await call.track("done", 1.0, reporting.done_message(report))
        if self._store is not None and polled.doc is not None:  # never overwrite what we know with nothing
            await self._store.save_report(report, deep_analysis=bool(plan.expect_analysis))
        return report

    def handoff(self, document_id: str, deep_analysis: bool, call: Call) -> DetectionReport:
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

    async def answered(self, report: DetectionReport, call: Call) -> DetectionReport:
        """This call's answer when it paid nothing, recorded in the history as such."""
        answer = reporting.as_answer(
            report, source=call.source, elapsed=call.elapsed(), provenance=call.provenance
        )
        if self._store is not None and answer.id is not None:
            await self._store.record_answer(answer.id, call.source.name, user=call.options.user)
        return answer
