"""Real `/query` calls per job, counted by the loopback sandbox, within the poll budget at every moment.

The product's own planner (`open_app`, history in memory) detects a few short jobs of unlike
timings one after the other, so each later job is planned from the history of other timings;
the sandbox logs when each `/query` about each document arrived, counted from its `/detect`.
The long sweep (15 s verdicts, 12 s analyses) is `bench.latency`'s.
"""

from __future__ import annotations

import pytest

from tests.support import AI_PNG, CAMERA_JPG, FAST_RETRY, SandboxServer, budget_breach, make_settings
from truthscan_mcp.app import open_app
from truthscan_mcp.detection.call import DetectOptions

pytestmark = pytest.mark.anyio


async def test_each_job_of_unlike_timings_keeps_its_poll_budget_at_every_moment(sandbox: SandboxServer) -> None:
    config = sandbox.sandbox.config
    #: (verdict s, deep analysis s after it or None, heatmap s after it) — the issue's 2.6 s job
    #: whose analysis ends 1.4 s after its verdict, a 0.5 s job without one, seeded random ones
    jobs: list[tuple[float, float | None, float, float | None]] = [
        (1.2, 1.4, 0.5, None),
        (0.5, None, 0.3, None),
        (0.3, 0.2, 0.2, 2.0),
        (0.3, 0.2, 0.2, 2.0),
    ]
    settings = make_settings(sandbox, cache_path=None)
    breaches: dict[str, str] = {}
    async with open_app(settings, retry=FAST_RETRY) as app:
        for verdict, analysis, heatmap, spread in jobs:
            config.processing_seconds, config.heatmap_seconds = verdict, heatmap
            config.analysis_seconds = analysis or 0.0
            config.processing_seconds_max = None if spread is None else verdict + spread
            config.analysis_seconds_max = None if spread is None else 0.2 + spread
            deep = analysis is not None or spread is not None
            image = AI_PNG if deep else CAMERA_JPG
            report = await app.detector.detect(
                path=str(image), options=DetectOptions(deep_analysis=deep, force=True, wait_seconds=30)
            )
            assert report.complete and report.id is not None
            ages = sandbox.sandbox.query_ages(report.id)
            assert ages  # the log saw this job's polls
            breach = budget_breach(ages)
            if breach is not None:
                breaches[f"{verdict}/{analysis}/{spread} ({len(ages)} calls)"] = breach
    assert breaches == {}
