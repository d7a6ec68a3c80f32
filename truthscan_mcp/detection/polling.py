"""Waiting for a submitted document: when to ask again, and until when.

Polling is free (`/query` costs no credits) but not instant, and the caller's deadline is
firm: `poll` asks when the `Planner`'s plan for the job says to (see `schedule`) until the
document has settled (or what the wait is for has arrived) or the deadline has passed, and
always returns what it last saw, never more than `POLL_GRACE_SECONDS` past the deadline.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import anyio

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.api.wire import ApiDocument
from truthscan_mcp.detection.progress import Tracker
from truthscan_mcp.detection.reporting import score_text
from truthscan_mcp.detection.schedule import Planner, PollPhase, PollPlan
from truthscan_mcp.errors import NotFoundError, TruthScanError

#: How long a status poll may run past the deadline before the partial report is handed back.
POLL_GRACE_SECONDS = 1.0
#: How long a document TruthScan just accepted may answer `null` (not visible yet) before the
#: id is handed over as it is.
VISIBILITY_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class Wait:
    """What one wait is for: which document, until when, and what counts as settled."""

    document_id: str
    #: when the caller's call began; the deadline is `wait_seconds` after it
    started: float
    wait_seconds: float
    #: whether the deep analysis was asked for (None: unknown, so waited for when it is coming)
    expect_analysis: bool | None
    #: True when this call (or the flight it joined) just paid for the document: then it is
    #: never lost (an error or an invisible document hands the id over instead of failing), and
    #: a `null` answer means "not visible yet" rather than "no such document"
    submitted_now: bool
    include_heatmap: bool = False
    #: keep waiting (within the deadline) for a heatmap that is coming even when not asked for
    wait_for_heatmap: bool = True
    #: this call submitted the document just now, so its first poll is the job's first and its
    #: timings teach the planner how long jobs take
    fresh: bool = False
    #: one of many waits at once (a batch): each gap is drawn around the planned one, so the
    #: rows' polls drift apart instead of arriving together
    spread: bool = False

    @property
    def deadline(self) -> float:
        return self.started + self.wait_seconds


@dataclass
class Polled:
    """The last document seen (None if TruthScan never showed it) and what went wrong on the way."""

    doc: ApiDocument | None = None
    warnings: list[str] = field(default_factory=list[str])


async def poll(client: TruthScanClient, wait: Wait, planner: Planner, track: Tracker) -> Polled:
    """Ask until settled or the deadline; raises only when nothing was paid (`submitted_now` False).

    Every answer tells the job's `PollPlan` what is still pending and gets the next gap back;
    a fresh job that settled hands its plan's measurements to the planner's history.
    """
    looking = _Looking(client, wait, await planner.plan(_then(wait), fresh=wait.fresh), track)
    try:
        while True:
            gap = await looking.ask()
            now = anyio.current_time()
            if gap is None or now >= wait.deadline:
                break
            await anyio.sleep(min(max(gap, 0.0), wait.deadline - now))
    except TruthScanError as exc:
        if not wait.submitted_now:
            if wait.document_id not in exc.message:
                # whoever asked must still know which document to ask about again (free)
                exc.message = (
                    f"{exc.message} (document {wait.document_id}: call get_result with this id again "
                    "later; that costs no credits)"
                )
            raise
        # The credit is spent and the id is known: hand it over instead of failing.
        looking.result.warnings.append(f"Lost contact with TruthScan while waiting: {exc.message}")
    if looking.settled:
        await planner.learn_from(looking.plan)
    return looking.result


def _then(wait: Wait) -> frozenset[PollPhase]:
    """What the wait is for after the verdict, in the planner's phases."""
    then: set[PollPhase] = set()
    if wait.expect_analysis is not False:
        then.add("analysis")
    if wait.wait_for_heatmap or wait.include_heatmap:
        then.add("heatmap")
    return frozenset(then)


class _Looking:
    """One wait's state between its `/query` calls: the plan, what was seen, what is pending."""

    def __init__(self, client: TruthScanClient, wait: Wait, plan: PollPlan, track: Tracker) -> None:
        self.client, self.wait, self.plan, self.track = client, wait, plan, track
        self.result = Polled()
        self.settled = False
        self.pending: frozenset[PollPhase] = frozenset({"detection", *_then(wait)})
        self._polls = 0
        self._start = anyio.current_time()

    async def ask(self) -> float | None:
        """One `/query`, if the deadline allows; the gap to the next, or None to stop."""
        wait, result = self.wait, self.result
        now = anyio.current_time()
        if self._polls == 0 and wait.submitted_now and now >= wait.deadline:
            return None
        # A slow or retried poll must not hold the caller past the deadline; only get_result's
        # first look may take what it needs (it has nothing to show yet).
        first_look = self._polls == 0 and not wait.submitted_now
        limit = math.inf if first_look else max(wait.deadline - now, 0.0) + POLL_GRACE_SECONDS
        asked = now - self._start
        answered = False
        fetched: ApiDocument | None = None
        with anyio.move_on_after(limit):
            fetched = await self.client.query(wait.document_id)
            answered = True
        if not answered:
            result.warnings.append("TruthScan was slow to answer; this is the last status it reported.")
            return None
        return await self._answered(fetched, asked)

    async def _answered(self, fetched: ApiDocument | None, asked: float) -> float | None:
        wait, result = self.wait, self.result
        self._polls += 1
        if fetched is not None:
            result.doc = fetched
            await _report_progress(fetched, self.track, wait.expect_analysis)
            self.pending = _pending(fetched, wait.expect_analysis, "heatmap" in _then(wait))
            if not self.pending:
                self.plan.after_answer(asked, self.pending)
                self.settled = fetched.status != "failed"
                return None
        elif result.doc is None:
            if not wait.submitted_now:
                raise NotFoundError(
                    f"TruthScan has no document with id {wait.document_id}. Check the id (it "
                    "comes from detect_image), or run detect_image again."
                )
            # A document we created a moment ago may not be visible yet; one that stays
            # invisible is still paid for, so it is handed over, never submitted again.
            if asked >= VISIBILITY_GRACE_SECONDS:
                result.warnings.append(
                    f"TruthScan accepted the image but does not show document {wait.document_id} yet."
                )
                return None
        # (a `null` after a document was seen is a glitch: what it said stands; ask again)
        # A batch's rows draw their wished gaps around the planned one, so their polls drift
        # apart instead of arriving together; the plan's budget still has the last word.
        stretch = random.uniform(0.7, 1.3) if wait.spread else 1.0
        return self.plan.after_answer(asked, self.pending, stretch=stretch)


def _pending(doc: ApiDocument, expect_analysis: bool | None, heatmap_matters: bool) -> frozenset[PollPhase]:
    """What the job still waits for, in the planner's phases; empty once settled."""
    if doc.status == "failed":
        return frozenset()
    if doc.status != "done":
        return frozenset({"detection"})
    pending: set[PollPhase] = set()
    if doc.analysis_status == "pending" and expect_analysis is not False:
        pending.add("analysis")
    if heatmap_matters and _heatmap_coming(doc):
        pending.add("heatmap")
    return frozenset(pending)


def _heatmap_coming(doc: ApiDocument) -> bool:
    return doc.status == "done" and doc.heatmap_status == "pending"


async def _report_progress(doc: ApiDocument, track: Tracker, expect_analysis: bool | None) -> None:
    if doc.status == "pending":
        await track("processing", 0.35, "Queued at TruthScan")
    elif doc.status == "analyzing":
        step = f" (step {doc.detection_step} of 3)" if doc.detection_step else ""
        await track("processing", max(track.last, 0.4) + 0.01, f"TruthScan is analysing the image{step}")
    elif doc.status == "done":
        verdict = f"{doc.verdict or 'verdict'} (score {score_text(doc.ai_score)})"
        if doc.analysis_status == "pending" and expect_analysis is not False:
            await track(
                "deep_analysis", max(track.last, 0.7) + 0.01, f"{verdict}; waiting for the deep analysis"
            )
        elif doc.heatmap_status == "pending":
            await track("heatmap", max(track.last, 0.9) + 0.005, f"{verdict}; waiting for the heatmap")
