"""`python -m truthscan_mcp` with another polling schedule, to compare schedules in one run.

Benchmarks only. `BENCH_POLL_SCHEDULE="first,share,minimum,maximum"` replaces the default
`PollSchedule` before the server starts; everything else is the real server, unchanged. Kept
out of the package on purpose: the product has one schedule, chosen by these numbers.
"""

from __future__ import annotations

import dataclasses
import os

from truthscan_mcp.cli.main import main
from truthscan_mcp.detection import detector as workflow


def _patch() -> None:
    spec = os.environ.get("BENCH_POLL_SCHEDULE")
    if not spec:
        return
    first, share, minimum, maximum = (float(x) for x in spec.split(","))

    @dataclasses.dataclass(frozen=True)
    class Schedule(workflow.PollSchedule):
        def delay(self, elapsed: float) -> float:
            """The formula the schedule had before tuning, with the given numbers."""
            if elapsed <= 0:
                return first
            return max(minimum, min(maximum, max(first, elapsed * share)))

    workflow.PollSchedule = Schedule  # type: ignore[misc]


if __name__ == "__main__":
    _patch()
    main()
