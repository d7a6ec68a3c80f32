"""Two server processes sharing one cache file pay once for the same bytes (issue 12, class 8),
and sandbox runs keep their ids apart (issue 16).

Two desktop apps each spawn their own `truthscan-mcp`, pointed at the same user cache. When both
detect the same image at the same moment, the claim row in the cache lets one pay and the other
follow its document id; a claimer that died holds nobody up past its lease.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import TextResourceContents

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    KEY,
    SAMPLES,
    ProgressLog,
    SandboxServer,
    make_server,
    make_settings,
    quick_sandbox,
    structured,
    text_of,
)
from truthscan_mcp.cache.database import Database, service_key
from truthscan_mcp.detection.store import ContentKey
from truthscan_mcp.sandbox import FaultRule, SandboxConfig


def quick(server: SandboxServer) -> None:
    server.sandbox.config = SandboxConfig(processing_seconds=0.15, analysis_seconds=0.1, heatmap_seconds=0.1)


def stdio_server(server: SandboxServer, cache: Path) -> StdioServerParameters:
    env = {
        "TRUTHSCAN_API_URL": server.api_url,
        "TRUTHSCAN_STORAGE_URL": server.storage_url,
        "TRUTHSCAN_API_KEY": KEY,
        "TRUTHSCAN_CACHE_PATH": str(cache),
        "TRUTHSCAN_ALLOWED_DIRS": str(SAMPLES),
        "TRUTHSCAN_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp"], env=env)


async def detect(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("detect_image", {"wait_seconds": 10, **arguments})
    assert not result.is_error, text_of(result)
    return structured(result)


@pytest.mark.anyio
async def test_two_server_processes_racing_on_the_same_bytes_pay_once(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    # The upload takes a second, so both processes are past their look in the cache (and would
    # both pay without the claim) before either has a document id.
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="delay", delay_seconds=1.0, times=2))
    cache = tmp_path / "shared.sqlite3"
    reports: list[dict[str, Any]] = []
    async with (
        Client(stdio_server(sandbox, cache)) as first,
        Client(stdio_server(sandbox, cache)) as second,
    ):

        async def run(client: Client) -> None:
            reports.append(await detect(client, path=str(AI_PNG)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, first)
            tg.start_soon(run, second)
    stats = sandbox.sandbox.stats
    assert stats.requests["detect"] == 1
    assert stats.accepted_detects == 1
    assert {r["id"] for r in reports} == {reports[0]["id"]}
    assert all(r["complete"] for r in reports)
    assert sorted(r["cached"] for r in reports) == [False, True]


@pytest.mark.anyio
async def test_a_dead_claimers_claim_delays_the_next_detection_by_its_lease_only(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    cache = tmp_path / "c.sqlite3"
    settings = make_settings(sandbox, cache_path=cache, wait_seconds=10.0)
    # What a process killed while paying leaves behind: its claim, renewed last a moment ago.
    db = Database(cache)
    key = ContentKey(hashlib.sha256(AI_PNG.read_bytes()).hexdigest(), deep_analysis=True, preview=False)
    assert db.claim(service_key(sandbox.api_url), key, "4242-dead", now=time.time(), lease=1.5)
    db.close()
    started = time.monotonic()
    async with Client(make_server(settings)) as client:
        report = await detect(client, path=str(AI_PNG))
    took = time.monotonic() - started
    assert report["complete"]
    assert not report["cached"]
    assert sandbox.sandbox.stats.accepted_detects == 1
    assert 1.0 <= took < 6.0


#: A process that claims the bytes (a 2 s lease, renewed every 0.2 s) and then hangs while
#: "paying": killed with SIGKILL, it leaves a claim nobody renews.
_HOLDER = """
import sys, anyio
from pathlib import Path
from truthscan_mcp.cache.store import ResultCache
from truthscan_mcp.detection.flight import pay_once
from truthscan_mcp.detection.progress import Tracker, no_progress
from truthscan_mcp.detection.store import ContentKey

async def main() -> None:
    cache = ResultCache(Path(sys.argv[1]), service=sys.argv[2], claim_lease=2.0)
    key = ContentKey(sys.argv[3], deep_analysis=True, preview=False)

    async def submit() -> str:
        print("holding", flush=True)
        await anyio.sleep_forever()
        return ""

    await pay_once(cache, key, deadline=0, track=Tracker(no_progress), submit=submit, renew_every=0.2)

anyio.run(main)
"""


@pytest.mark.anyio
async def test_a_claimer_killed_while_paying_blocks_the_next_detection_only_until_its_lease_ends(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    cache = tmp_path / "c.sqlite3"
    sha256 = hashlib.sha256(AI_PNG.read_bytes()).hexdigest()
    holder = await anyio.open_process([sys.executable, "-c", _HOLDER, str(cache), sandbox.api_url, sha256])
    try:
        assert holder.stdout is not None
        with anyio.fail_after(30):
            assert b"holding" in await holder.stdout.receive()
        await anyio.sleep(2.2)  # renewed past its first lease: the claim is alive
    finally:
        holder.kill()
        await holder.wait()
    settings = make_settings(sandbox, cache_path=cache, wait_seconds=10.0)
    progress = ProgressLog()
    started = time.monotonic()
    async with Client(make_server(settings)) as client:
        result = await client.call_tool(
            "detect_image", {"path": str(AI_PNG), "wait_seconds": 10}, progress_callback=progress
        )
    took = time.monotonic() - started
    assert structured(result)["complete"]
    assert "Another process is checking this image" in progress.messages  # the dead claim was met
    assert sandbox.sandbox.stats.accepted_detects == 1
    assert took < 7.0


# --- sandbox namespaces (issue 16) --------------------------------------------------------------


async def read_history(client: Client) -> dict[str, Any]:
    result = await client.read_resource("truthscan://history")
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    return json.loads(content.text)


@pytest.mark.anyio
async def test_a_sandbox_never_serves_another_sandbox_instances_ids_from_a_shared_cache(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "c.sqlite3"
    settings = make_settings(None, cache_path=cache, wait_seconds=10.0)
    first_sim, second_sim = quick_sandbox(), quick_sandbox()
    async with Client(make_server(settings, sandbox=first_sim)) as first:
        earlier = await detect(first, path=str(AI_PNG))
    async with Client(make_server(settings, sandbox=second_sim)) as second:
        now = await detect(second, path=str(AI_PNG))
        refetched = await second.call_tool("get_result", {"id": earlier["id"]})
        history = await read_history(second)
    assert now["cached"] is False
    assert now["complete"]
    assert now["id"] != earlier["id"]
    assert second_sim.stats.accepted_detects == 1
    assert refetched.is_error  # the second simulator never issued that id: not served from the cache
    assert {d["id"] for d in history["detections"]} == {earlier["id"], now["id"]}


@pytest.mark.anyio
async def test_a_sandbox_batch_after_another_instance_left_unfinished_ids_pays_itself_with_credits_shown(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "c.sqlite3"
    settings = make_settings(None, cache_path=cache, wait_seconds=10.0)
    batch = {"paths": [str(AI_PNG), str(CAMERA_JPG)]}
    earlier = quick_sandbox()
    async with Client(make_server(settings, sandbox=earlier)) as client:
        # Out of time at once: the cache keeps two unfinished ids of that simulator.
        await client.call_tool("detect_images", {**batch, "wait_seconds": 0})
    simulator = quick_sandbox()
    async with Client(make_server(settings, sandbox=simulator)) as client:
        result = await client.call_tool("detect_images", {**batch, "wait_seconds": 10})
    totals = structured(result)["totals"]
    assert simulator.stats.accepted_detects == 2
    assert totals["complete"] == 2
    assert totals["credits_spent"] == 2
    assert "credits unknown" not in text_of(result)
