"""The poll budget as the issue states it, written apart from the code it judges, and jobs to judge it on.

A job's `/query` calls, at every moment `t` of it (seconds since it began): no more than a
quarter of what a poller asking every 50 ms from `t = 0` would have sent by then, plus
`HEAD_START` for the first calls; and beyond the first 10 s no more than one a second on
average (`t - 10` calls after 10 s). The count only rises at a call and the allowances only
grow, so checking the moment of each call checks every moment.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from truthscan_mcp.detection.schedule import PollPhase, PollPlan

FLOOR_GAP = 0.05
SHARE = 0.25
HEAD_START = 3
FREE_SECONDS = 10.0


def floor_calls(t: float) -> int:
    """What a 50 ms poller has sent by `t`: at 0, 50 ms, 100 ms, …"""
    return math.floor(t / FLOOR_GAP + 1e-9) + 1


def budget_breach(ages: Sequence[float]) -> str | None:
    """The first moment `ages` (the calls of one job, any order) exceed the budget; None if never."""
    times = sorted(ages)
    late = 0
    for count, t in enumerate(times, start=1):
        if count > SHARE * floor_calls(t) + HEAD_START + 1e-9:
            return (
                f"call {count} at {t:.3f} s: a 50 ms poller had sent {floor_calls(t)}, "
                f"so at most {SHARE * floor_calls(t) + HEAD_START:g} were allowed"
            )
        if t > FREE_SECONDS:
            late += 1
            if late > t - FREE_SECONDS + 1e-9:
                return f"call {count} at {t:.3f} s is the {late}th after {FREE_SECONDS:g} s"
    return None


@dataclass(frozen=True)
class Job:
    """A job's timings: its verdict `verdict` s in, the deep analysis `analysis` s after that
    (None: not asked for), the heatmap `heatmap` s after the verdict (None: none coming)."""

    verdict: float
    analysis: float | None = None
    heatmap: float | None = None

    @property
    def end(self) -> float:
        return self.verdict + max(self.analysis or 0.0, self.heatmap or 0.0)

    @property
    def then(self) -> frozenset[PollPhase]:
        phases: set[PollPhase] = set()
        if self.analysis is not None:
            phases.add("analysis")
        if self.heatmap is not None:
            phases.add("heatmap")
        return frozenset(phases)

    def pending(self, t: float) -> frozenset[PollPhase]:
        if t < self.verdict:
            return frozenset({"detection"})
        pending: set[PollPhase] = set()
        if self.analysis is not None and t < self.verdict + self.analysis:
            pending.add("analysis")
        if self.heatmap is not None and t < self.verdict + self.heatmap:
            pending.add("heatmap")
        return frozenset(pending)


def poll_times(plan: PollPlan, job: Job) -> Iterator[float]:
    """Drive `plan` as the poll loop does, answers arriving at once; the moments it asks."""
    t = 0.0
    while True:
        yield t
        pending = job.pending(t)
        gap = plan.after_answer(t, pending)
        if not pending:
            return
        t += gap
