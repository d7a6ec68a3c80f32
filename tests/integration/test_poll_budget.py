"""Real `/query` calls per job, counted by the loopback sandbox, within the poll budget at every moment.

The product's own planner (`open_app`, history in memory) detects a few short jobs of unlike
timings one after the other, so each later job is planned from the history of other timings;
the sandbox logs when each `/query` about each document arrived, counted from its `/detect`.
The long sweep (15 s verdicts, 12 s analyses) is `bench.latency`'s.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from tests.support import AI_PNG, CAMERA_JPG, FAST_RETRY, SandboxServer, budget_breach, make_settings
from truthscan_mcp.app import open_app
from truthscan_mcp.detection.call import DetectOptions

pytestmark = pytest.mark.anyio


class Timing(NamedTuple):
    """The sandbox's settings for one job: seconds to the verdict, then to the deep analysis
    (None: not asked for) and the heatmap after it; `drawn` widens each into a seeded draw."""

    verdict: float
    analysis: float | None
    heatmap: float
    drawn: float | None = None


JOBS = [
    Timing(1.2, 1.4, 0.5),  # issue 20's 2.6 s job: its analysis ends 1.4 s after the verdict
    Timing(0.5, None, 0.3),  # a 0.5 s job without deep analysis
    Timing(0.3, 0.2, 0.2, drawn=2.0),  # seeded random: verdict 0.3–2.3 s, analysis 0.2–2.2 s after
    Timing(0.3, 0.2, 0.2, drawn=2.0),
]


async def test_each_job_of_unlike_timings_keeps_its_poll_budget(sandbox: SandboxServer) -> None:
    config = sandbox.sandbox.config
    breaches: dict[Timing, str] = {}
    async with open_app(make_settings(sandbox, cache_path=None), retry=FAST_RETRY) as app:
        for job in JOBS:
            config.processing_seconds, config.heatmap_seconds = job.verdict, job.heatmap
            config.analysis_seconds = job.analysis or 0.2
            config.processing_seconds_max = None if job.drawn is None else job.verdict + job.drawn
            config.analysis_seconds_max = None if job.drawn is None else config.analysis_seconds + job.drawn
            deep = job.analysis is not None
            report = await app.detector.detect(
                path=str(AI_PNG if deep else CAMERA_JPG),
                options=DetectOptions(deep_analysis=deep, force=True, wait_seconds=30),
            )
            assert report.complete
            assert report.id is not None
            ages = sandbox.sandbox.query_ages(report.id)
            assert ages  # the sandbox saw this job's polls
            breach = budget_breach(ages)
            if breach is not None:
                breaches[job] = f"{len(ages)} calls; {breach}"
    assert breaches == {}
