"""Issue 20: once `/detect` has accepted, whatever fails next, the caller gets the id.

The detector against the loopback sandbox, with the two things that run after paying and are
not TruthScan's: the viewer's image sink (the evidence view's thumbnails) and the result store.
Each fails the way it fails in the field — memory runs out while decoding a thumbnail, the disk
is full when the submission is written down — and the detection must still answer with its id,
in a single call and in every batch row.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support import AI_PNG, CAMERA_JPG, open_detector
from truthscan_mcp.cache.store import ResultCache
from truthscan_mcp.detection.batch import BatchInput, run_batch
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.models import ReportSource

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = pytest.mark.anyio

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OPTIONS = DetectOptions(deep_analysis=False, wait_seconds=10, force=True)


class OutOfMemoryViewer:
    """An image sink that runs out of memory, as a full-size decode of a bomb did."""

    def __init__(self) -> None:
        self.calls = 0

    async def keep(self, document_id: str, image: LoadedImage) -> None:
        self.calls += 1
        raise MemoryError


class FullDisk(ResultCache):
    """The real cache, except that writing a submission down fails as a full disk does."""

    async def record_submission(
        self,
        document_id: str,
        source: ReportSource,
        *,
        deep_analysis: bool,
        preview: bool,
        hold: str | None = None,
        user: str | None = None,
    ) -> None:
        raise OSError(28, "No space left on device")


async def test_a_viewer_out_of_memory_does_not_lose_the_paid_id(sandbox: SandboxServer) -> None:
    viewer = OutOfMemoryViewer()
    async with open_detector(sandbox) as detector:
        report = await detector.detect(path=str(AI_PNG), options=OPTIONS, images=viewer)
    assert viewer.calls == 1
    assert UUID.match(report.id or ""), report
    assert sandbox.sandbox.stats.accepted_detects == 1


async def test_every_batch_row_keeps_its_id_when_the_viewer_runs_out_of_memory(
    sandbox: SandboxServer,
) -> None:
    viewer = OutOfMemoryViewer()
    inputs = [BatchInput("path", str(AI_PNG)), BatchInput("path", str(CAMERA_JPG))]
    async with open_detector(sandbox) as detector:
        result = await run_batch(detector, inputs, options=OPTIONS, images=viewer)
    assert [row.error for row in result.rows] == [None, None], result.rows
    assert all(UUID.match(row.id or "") for row in result.rows), result.rows


async def test_a_failure_after_detect_outside_polling_hands_back_the_id(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    store = FullDisk(tmp_path / "cache.sqlite3", service="test")
    async with open_detector(sandbox) as plain:
        detector = Detector(plain.client, plain.settings, schedule=plain.schedule, store=store)
        report = await detector.detect(path=str(AI_PNG), options=OPTIONS)
        await store.aclose()
    assert UUID.match(report.id or ""), report
    assert any("kept under its id" in warning for warning in report.warnings), report.warnings
    assert (report.id or "?") in (report.next_step or "")
