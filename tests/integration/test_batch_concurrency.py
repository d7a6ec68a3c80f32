"""A batch's concurrency limit bounds what costs (uploads and `/detect`), not the waiting.

Polling is free: once an image is submitted its row waits alongside every other, so a batch
takes about one job's length plus the submissions, not one job per `max_concurrency` images.
Observed on the wire (an httpx2 event hook on the product's own connection pool) against the
loopback sandbox, never through a mock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx2
import pytest

from tests.support import CAMERA_JPG, FAST_POLL, FAST_RETRY, make_settings
from truthscan_mcp.api.client import TruthScanClient, make_http_client
from truthscan_mcp.detection.batch import BatchInput, run_batch
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.detector import Detector
from truthscan_mcp.sandbox.asgi import endpoint_for

if TYPE_CHECKING:
    from tests.conftest import SandboxServer

pytestmark = pytest.mark.anyio

JOB_SECONDS = 1.0
IMAGES = 8
LIMIT = 2


class SpendingInFlight:
    """How many uploads and `/detect` submissions are on the wire now, and the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.started = 0
        #: when each `/detect` answered (anyio's clock)
        self.submitted_at: list[float] = []

    @staticmethod
    def _costs(request: httpx2.Request) -> bool:
        return endpoint_for(request.url.path) in ("upload", "detect")

    async def on_request(self, request: httpx2.Request) -> None:
        if self._costs(request):
            self.now += 1
            self.started += 1
            self.most = max(self.most, self.now)

    async def on_response(self, response: httpx2.Response) -> None:
        if self._costs(response.request):
            self.now -= 1
            if endpoint_for(response.request.url.path) == "detect":
                self.submitted_at.append(anyio.current_time())


async def test_a_batch_waits_for_every_row_at_once_while_only_max_concurrency_submissions_run(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.config.processing_seconds = JOB_SECONDS
    sandbox.sandbox.config.analysis_seconds = 0.0
    camera = CAMERA_JPG.read_bytes()
    inputs: list[BatchInput] = []
    for n in range(IMAGES):
        path = tmp_path / f"photo-{n}.jpg"
        path.write_bytes(camera + f"variant {n}".encode())  # other bytes: each one is paid for
        inputs.append(BatchInput("path", str(path)))
    wire = SpendingInFlight()
    async with make_http_client() as http:
        http.event_hooks = {"request": [wire.on_request], "response": [wire.on_response]}
        client = TruthScanClient(
            http,
            api_url=sandbox.api_url,
            storage_url=sandbox.storage_url,
            api_key=make_settings(sandbox).api_key,
            retry=FAST_RETRY,
        )
        detector = Detector(client, make_settings(sandbox, tmp_path), schedule=FAST_POLL)
        started = anyio.current_time()
        result = await run_batch(
            detector,
            inputs,
            options=DetectOptions(deep_analysis=False, wait_seconds=30),
            max_concurrency=LIMIT,
        )
        elapsed = anyio.current_time() - started

    assert [row.error for row in result.rows] == [None] * IMAGES
    assert all(row.complete for row in result.rows)
    assert result.totals.detections_paid == IMAGES
    assert wire.started == 2 * IMAGES, "one upload and one /detect per image"
    assert wire.most <= LIMIT, f"{wire.most} uploads/submissions were in flight at once"
    # Waiting in lots of LIMIT would submit the last lot IMAGES / LIMIT - 1 jobs (3 s) after the
    # first and take IMAGES / LIMIT jobs (4 s); waiting together, well under a job and about one
    # job (the bounds leave room for a loaded machine, and stay short of the lots' figures).
    spread = max(wire.submitted_at) - min(wire.submitted_at)
    assert spread < 2 * JOB_SECONDS, f"the submissions were spread over {spread:.2f}s: they waited for polls"
    assert elapsed < 3 * JOB_SECONDS, f"the batch took {elapsed:.2f}s for {JOB_SECONDS}s jobs"
