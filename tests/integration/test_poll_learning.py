"""The detector's poll loop with a learning planner, against the loopback sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from harness import AI_PNG, open_client, settings_for

from truthscan_mcp.detection.detector import DetectOptions, Detector
from truthscan_mcp.detection.schedule import MemoryDurations, Planner

if TYPE_CHECKING:
    from conftest import SandboxServer

pytestmark = pytest.mark.anyio

PROCESSING, ANALYSIS = 0.6, 0.3
DEEP = DetectOptions(deep_analysis=True, force=True)


async def test_a_planned_detection_records_how_long_each_phase_took(sandbox: SandboxServer) -> None:
    config = sandbox.sandbox.config
    config.processing_seconds, config.analysis_seconds, config.heatmap_seconds = PROCESSING, ANALYSIS, 0.1
    source = MemoryDurations()
    async with open_client(sandbox) as client:
        detector = Detector(client, settings_for(sandbox), schedule=Planner(source, api_url=sandbox.api_url))
        report = await detector.detect(path=str(AI_PNG), options=DEEP)
    history = await source.durations(sandbox.api_url)

    assert report.complete
    (detection,) = history.detection
    (analysis,) = history.analysis
    # counted from our first poll, a few ms after the sandbox's clock starts
    assert abs(detection.seconds - PROCESSING) <= detection.within + 0.05
    assert abs(analysis.seconds - ANALYSIS) <= analysis.within + 0.05


async def test_looking_up_an_earlier_job_teaches_the_planner_nothing(sandbox: SandboxServer) -> None:
    source = MemoryDurations()
    async with open_client(sandbox) as client:
        detector = Detector(client, settings_for(sandbox), schedule=Planner(source, api_url=sandbox.api_url))
        first = await detector.detect(path=str(AI_PNG), options=DEEP)
        learned = await source.durations(sandbox.api_url)
        assert first.id is not None
        again = await detector.get_result(first.id)
    assert again.complete
    assert await source.durations(sandbox.api_url) == learned
