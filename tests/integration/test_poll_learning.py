"""The detector's poll loop with a learning planner, against the loopback sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import AI_PNG, FAST_RETRY, SandboxServer, make_settings, open_detector
from truthscan_mcp.app import open_app
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.schedule import MemoryDurations, Planner

pytestmark = pytest.mark.anyio

PROCESSING, ANALYSIS = 0.6, 0.3
DEEP = DetectOptions(deep_analysis=True, force=True)


def _timings(sandbox: SandboxServer) -> None:
    config = sandbox.sandbox.config
    config.processing_seconds, config.analysis_seconds, config.heatmap_seconds = PROCESSING, ANALYSIS, 0.1


async def test_a_planned_detection_records_how_long_each_phase_took(sandbox: SandboxServer) -> None:
    _timings(sandbox)
    source = MemoryDurations()
    async with open_detector(sandbox, schedule=Planner(source, api_url=sandbox.api_url)) as detector:
        report = await detector.detect(path=str(AI_PNG), options=DEEP)
    history = await source.durations(sandbox.api_url)

    assert report.complete
    (detection,) = history.detection
    (analysis,) = history.analysis
    # counted from our first poll, a few ms after the sandbox's clock starts
    assert abs(detection.seconds - PROCESSING) <= detection.within + 0.05
    assert abs(analysis.seconds - ANALYSIS) <= analysis.within + 0.05


async def test_looking_up_an_earlier_job_teaches_the_planner_nothing(sandbox: SandboxServer) -> None:
    _timings(sandbox)
    source = MemoryDurations()
    async with open_detector(sandbox, schedule=Planner(source, api_url=sandbox.api_url)) as detector:
        first = await detector.detect(path=str(AI_PNG), options=DEEP)
        learned = await source.durations(sandbox.api_url)
        assert first.id is not None
        again = await detector.get_result(first.id, wait_seconds=5.0)
    assert again.complete
    assert await source.durations(sandbox.api_url) == learned


async def test_the_default_planner_keeps_durations_in_the_cache_across_servers(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    _timings(sandbox)
    settings = make_settings(sandbox, cache_path=tmp_path / "cache.sqlite3")
    async with open_app(settings, retry=FAST_RETRY) as app:
        report = await app.detector.detect(path=str(AI_PNG), options=DEEP)
    assert report.complete
    async with open_app(settings, retry=FAST_RETRY) as app:
        assert app.store is not None
        history = await app.store.durations(sandbox.api_url)
    (detection,) = history.detection
    assert abs(detection.seconds - PROCESSING) <= detection.within + 0.05


async def test_an_unusable_cache_file_keeps_the_history_in_memory(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    _timings(sandbox)
    garbage = tmp_path / "cache.sqlite3"
    garbage.write_bytes(b"not a database, just bytes " * 100)
    settings = make_settings(sandbox, cache_path=garbage)
    async with open_app(settings, retry=FAST_RETRY) as app:
        report = await app.detector.detect(path=str(AI_PNG), options=DEEP)
        assert app.store is not None
        history = await app.store.durations(sandbox.api_url)
    assert report.complete
    assert len(history.detection) == 1
