"""Waiting for a submitted document: when to ask again, and until when.

Polling is free (`/query` costs no credits) but not instant, and the caller's deadline is
firm: `poll` asks on the `PollSchedule` until the document has settled (or what the plan waits
for has arrived) or the deadline has passed, and always returns what it last saw, never more
than `POLL_GRACE_SECONDS` past the deadline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import anyio

from truthscan_mcp.api.client import TruthScanClient
from truthscan_mcp.api.wire import ApiDocument
from truthscan_mcp.detection.progress import Tracker
from truthscan_mcp.detection.reporting import score_text
from truthscan_mcp.errors import NotFoundError, TruthScanError

#: How long a status poll may run past the deadline before the partial report is handed back.
POLL_GRACE_SECONDS = 1.0
#: How long a document TruthScan just accepted may answer `null` (not visible yet) before the
#: id is handed over as it is.
VISIBILITY_GRACE_SECONDS = 5.0


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


@dataclass(frozen=True)
class PollPlan:
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

    @property
    def deadline(self) -> float:
        return self.started + self.wait_seconds


@dataclass
class Polled:
    """The last document seen (None if TruthScan never showed it) and what went wrong on the way."""

    doc: ApiDocument | None = None
    warnings: list[str] = field(default_factory=list[str])


async def poll(client: TruthScanClient, plan: PollPlan, schedule: PollSchedule, track: Tracker) -> Polled:
    """Ask until settled or the deadline; raises only when nothing was paid (`submitted_now` False)."""
    deadline = plan.deadline
    heatmap_matters = plan.wait_for_heatmap or plan.include_heatmap
    result = Polled()
    poll_start = anyio.current_time()
    polls = 0
    try:
        while True:
            now = anyio.current_time()
            if polls > 0 or not plan.submitted_now or now < deadline:
                # A slow or retried poll must not hold the caller past the deadline; only
                # get_result's first look may take what it needs (it has nothing to show yet).
                first_look = polls == 0 and not plan.submitted_now
                limit = math.inf if first_look else max(deadline - now, 0.0) + POLL_GRACE_SECONDS
                answered = False
                fetched: ApiDocument | None = None
                with anyio.move_on_after(limit):
                    fetched = await client.query(plan.document_id)
                    answered = True
                if not answered:
                    result.warnings.append(
                        "TruthScan was slow to answer; this is the last status it reported."
                    )
                    break
                polls += 1
                if fetched is not None:
                    result.doc = fetched
                    await _report_progress(fetched, track, plan.expect_analysis)
                    if _settled(fetched, plan.expect_analysis) and not (
                        heatmap_matters and _heatmap_coming(fetched)
                    ):
                        break
                elif result.doc is None:
                    if not plan.submitted_now:
                        raise NotFoundError(
                            f"TruthScan has no document with id {plan.document_id}. Check the id (it "
                            "comes from detect_image), or run detect_image again."
                        )
                    # A document we created a moment ago may not be visible yet; one that stays
                    # invisible is still paid for, so it is handed over, never submitted again.
                    if now - poll_start >= VISIBILITY_GRACE_SECONDS:
                        result.warnings.append(
                            f"TruthScan accepted the image but does not show document {plan.document_id} yet."
                        )
                        break
                # else: seen before, so a `null` now is a glitch: keep what it said, ask again
            now = anyio.current_time()
            if now >= deadline:
                break
            await anyio.sleep(min(schedule.delay(now - poll_start), deadline - now))
    except TruthScanError as exc:
        if not plan.submitted_now:
            if plan.document_id not in exc.message:
                # whoever asked must still know which document to ask about again (free)
                exc.message = (
                    f"{exc.message} (document {plan.document_id}: call get_result with this id again "
                    "later; that costs no credits)"
                )
            raise
        # The credit is spent and the id is known: hand it over instead of failing.
        result.warnings.append(f"Lost contact with TruthScan while waiting: {exc.message}")
    return result


def _settled(doc: ApiDocument, expect_analysis: bool | None) -> bool:
    if doc.status == "failed":
        return True
    if doc.status != "done":
        return False
    if doc.analysis_status == "pending":
        return expect_analysis is False  # we did not ask for it: do not wait for it
    return True


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
