"""Never pay twice: the content cache, coalescing, history and the result resources.

Every test drives the real stack against the loopback sandbox: through an in-process MCP
`Client`, through server processes over stdio, or (for cancellation, which a test must be able
to aim precisely) through the same `Detector` the server uses. "Paid" is always read from the
sandbox's own counters, never inferred from what the server says about itself.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError
from mcp.types import TextResourceContents

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    FAST_POLL,
    FAST_RETRY,
    KEY,
    SAMPLES,
    SandboxServer,
    make_server,
    make_settings,
    run_cli,
    scrub_truthscan_env,
)
from truthscan_mcp.app import open_app
from truthscan_mcp.cache.database import SCHEMA_VERSION
from truthscan_mcp.cache.store import ResultCache
from truthscan_mcp.detection.call import DetectOptions
from truthscan_mcp.detection.progress import Progress
from truthscan_mcp.errors import NotEnoughCreditsError
from truthscan_mcp.sandbox import FaultRule, SandboxConfig
from truthscan_mcp.settings import Settings

# --- helpers --------------------------------------------------------------------------------


def quick(server: SandboxServer) -> None:
    """Settle detections fast, for tests that do not watch the intermediate states."""
    server.sandbox.config = SandboxConfig(processing_seconds=0.15, analysis_seconds=0.1, heatmap_seconds=0.1)


def settings_for(server: SandboxServer, tmp_path: Path, **overrides: Any) -> Settings:
    """A server with its cache in `tmp_path`, which is also an allowed folder."""
    values: dict[str, Any] = {"cache_path": tmp_path / "c.sqlite3", "wait_seconds": 10.0}
    values.update(overrides)
    return make_settings(server, tmp_path, **values)


def spent(server: SandboxServer) -> dict[str, int]:
    """What the sandbox saw of paid work: presign/upload/detect requests and accepted detections."""
    stats = server.sandbox.stats
    return {
        "presign": stats.requests["presign"],
        "upload": stats.requests["upload"],
        "detect": stats.requests["detect"],
        "accepted": stats.accepted_detects,
    }


async def detect(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("detect_image", {"wait_seconds": 10, **arguments})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - the sandbox counts in another thread: nothing to wait on
            await anyio.sleep(0.01)


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "truthscan_mcp.cache.store" and r.levelno >= logging.WARNING
    ]


def child_env(server: SandboxServer, cache: Path, **extra: str) -> dict[str, str]:
    return {
        "TRUTHSCAN_API_URL": server.api_url,
        "TRUTHSCAN_STORAGE_URL": server.storage_url,
        "TRUTHSCAN_API_KEY": KEY,
        "TRUTHSCAN_CACHE_PATH": str(cache),
        "TRUTHSCAN_ALLOWED_DIRS": str(SAMPLES),
        "TRUTHSCAN_WAIT_SECONDS": "10",
        "TRUTHSCAN_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def server_process(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp"], env=env)


# --- answering from the cache -----------------------------------------------------------------


@pytest.mark.anyio
async def test_known_bytes_are_answered_from_the_cache_without_spending(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        paid = await detect(client, path=str(AI_PNG))
        before = spent(sandbox)
        queries = sandbox.sandbox.stats.query_calls
        again = await detect(client, path=str(AI_PNG))
    assert before == {"presign": 1, "upload": 1, "detect": 1, "accepted": 1}
    assert paid["cached"] is False
    assert paid["complete"] is True
    assert again["cached"] is True
    assert spent(sandbox) == before
    assert sandbox.sandbox.stats.query_calls == queries  # a final report needs no question at all
    same = ("id", "verdict", "ai_score", "analysis", "signals", "heatmap_url")
    assert {k: again[k] for k in same} == {k: paid[k] for k in same}


@pytest.mark.anyio
async def test_a_cached_answer_describes_this_call_source_after_validating_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    copy = tmp_path / "renamed.png"
    copy.write_bytes(AI_PNG.read_bytes())
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        paid = await detect(client, path=str(AI_PNG))
        again = await detect(client, path=str(copy))
        outside = await client.call_tool("detect_image", {"path": "/etc/hostname"})
    assert again["cached"] is True
    assert again["id"] == paid["id"]
    assert again["source"]["name"] == "renamed.png"
    assert again["source"]["sha256"] == paid["source"]["sha256"]
    assert outside.is_error  # still refused locally, cache or not
    assert spent(sandbox)["accepted"] == 1


@pytest.mark.anyio
async def test_an_incomplete_stored_result_is_queried_again_instead_of_uploaded(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        handed_off = await detect(client, path=str(AI_PNG), wait_seconds=0)
        after_paying = spent(sandbox)
        finished = await detect(client, path=str(AI_PNG), wait_seconds=10)
    assert handed_off["complete"] is False
    assert handed_off["id"]
    assert finished["complete"] is True
    assert finished["analysis"] is not None
    assert finished["id"] == handed_off["id"]
    assert finished["cached"] is True
    assert spent(sandbox) == after_paying == {"presign": 1, "upload": 1, "detect": 1, "accepted": 1}


@pytest.mark.anyio
async def test_asking_for_deep_analysis_the_stored_result_lacks_says_so_and_pays_once(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        shallow = await detect(client, path=str(CAMERA_JPG), deep_analysis=False)
        deep = await detect(client, path=str(CAMERA_JPG), deep_analysis=True)
        deep_again = await detect(client, path=str(CAMERA_JPG), deep_analysis=True)
    assert shallow["analysis"] is None
    assert deep["cached"] is False
    assert deep["id"] != shallow["id"]
    assert deep["analysis"] is not None
    assert any("without deep analysis" in w and shallow["id"] in w for w in deep["warnings"])
    assert deep_again["cached"] is True
    assert deep_again["id"] == deep["id"]
    assert not any("without deep analysis" in w for w in deep_again["warnings"])
    assert spent(sandbox)["accepted"] == 2


@pytest.mark.anyio
async def test_a_result_with_deep_analysis_answers_a_request_without_it(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        deep = await detect(client, path=str(CAMERA_JPG), deep_analysis=True)
        shallow = await detect(client, path=str(CAMERA_JPG), deep_analysis=False)
    assert shallow["cached"] is True
    assert shallow["id"] == deep["id"]
    assert shallow["analysis"] == deep["analysis"]
    assert spent(sandbox)["accepted"] == 1


@pytest.mark.anyio
async def test_force_pays_again_and_its_result_replaces_the_stored_one(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        first = await detect(client, path=str(CAMERA_JPG))
        forced = await detect(client, path=str(CAMERA_JPG), force=True)
        later = await detect(client, path=str(CAMERA_JPG))
    assert forced["cached"] is False
    assert forced["id"] != first["id"]
    assert later["cached"] is True
    assert later["id"] == forced["id"]
    assert spent(sandbox)["accepted"] == 2


@pytest.mark.anyio
async def test_a_document_truthscan_no_longer_knows_is_submitted_again_with_a_note(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        handed_off = await detect(client, path=str(CAMERA_JPG), wait_seconds=0.3)
        assert handed_off["complete"] is False
        sandbox.sandbox.reset()  # TruthScan forgets every document
        quick(sandbox)
        again = await detect(client, path=str(CAMERA_JPG))
    assert again["cached"] is False
    assert again["complete"] is True
    assert again["id"] != handed_off["id"]
    assert any("no longer has the earlier result" in w for w in again["warnings"])
    assert spent(sandbox)["accepted"] == 1  # counted since the reset: paid exactly once more


# --- coalescing -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_two_concurrent_calls_on_the_same_bytes_pay_for_one_detection(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    reports: list[dict[str, Any]] = []

    async def call(client: Client) -> None:
        reports.append(await detect(client, path=str(AI_PNG)))

    async with (
        Client(make_server(settings_for(sandbox, tmp_path))) as client,
        anyio.create_task_group() as group,
    ):
        group.start_soon(call, client)
        group.start_soon(call, client)
    assert spent(sandbox) == {"presign": 1, "upload": 1, "detect": 1, "accepted": 1}
    assert reports[0]["id"] == reports[1]["id"]
    assert all(r["complete"] for r in reports)
    assert sorted(r["cached"] for r in reports) == [False, True]


@pytest.mark.anyio
async def test_concurrent_calls_coalesce_without_a_cache_too(sandbox: SandboxServer, tmp_path: Path) -> None:
    quick(sandbox)
    ids: list[str] = []

    async def call(client: Client) -> None:
        ids.append((await detect(client, path=str(CAMERA_JPG)))["id"])

    async with (
        Client(make_server(settings_for(sandbox, tmp_path, cache_path="off"))) as client,
        anyio.create_task_group() as group,
    ):
        for _ in range(3):
            group.start_soon(call, client)
    assert len(set(ids)) == 1
    assert len(ids) == 3
    assert spent(sandbox)["accepted"] == 1


@pytest.mark.anyio
async def test_a_joined_call_that_may_wait_longer_keeps_following_after_the_first_hands_off(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    reports: dict[str, dict[str, Any]] = {}

    async def call(client: Client, name: str, wait: float) -> None:
        reports[name] = await detect(client, path=str(AI_PNG), wait_seconds=wait)

    async with (
        Client(make_server(settings_for(sandbox, tmp_path))) as client,
        anyio.create_task_group() as group,
    ):
        group.start_soon(call, client, "impatient", 0)
        await wait_until(lambda: sandbox.sandbox.stats.requests["presign"] >= 1)
        group.start_soon(call, client, "patient", 10)
    assert reports["impatient"]["complete"] is False
    assert reports["patient"]["complete"] is True
    assert reports["patient"]["id"] == reports["impatient"]["id"]
    assert spent(sandbox)["accepted"] == 1


@pytest.mark.anyio
async def test_a_joined_call_finishes_the_detection_when_the_first_caller_is_cancelled_after_paying(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    joined = anyio.Event()
    outcome: dict[str, Any] = {}

    async def on_progress(progress: Progress) -> None:
        if "already being checked" in progress.message:
            joined.set()

    async with open_app(settings_for(sandbox, tmp_path), retry=FAST_RETRY, schedule=FAST_POLL) as app:
        leader_scope = anyio.CancelScope()

        async def leader() -> None:
            with leader_scope:
                await app.detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=10))
                outcome["leader finished"] = True

        async def follower() -> None:
            options = DetectOptions(wait_seconds=10)
            outcome["report"] = await app.detector.detect(
                path=str(AI_PNG), options=options, progress=on_progress
            )

        with anyio.fail_after(15):
            async with anyio.create_task_group() as group:
                group.start_soon(leader)
                await wait_until(lambda: sandbox.sandbox.stats.requests["presign"] >= 1)
                group.start_soon(follower)
                await joined.wait()
                await wait_until(lambda: sandbox.sandbox.stats.accepted_detects == 1)
                leader_scope.cancel()
        report = outcome["report"]
        assert app.store is not None
        stored = await app.store.get(report.id)
    assert "leader finished" not in outcome
    assert report.complete is True
    assert report.verdict == "AI Generated"
    assert spent(sandbox)["accepted"] == 1
    assert stored is not None
    assert stored.report is not None
    assert stored.report.complete


@pytest.mark.anyio
async def test_a_joined_call_pays_once_itself_when_the_first_caller_is_cancelled_before_paying(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="delay", delay_seconds=2.0))
    joined = anyio.Event()
    outcome: dict[str, Any] = {}

    async def on_progress(progress: Progress) -> None:
        if "already being checked" in progress.message:
            joined.set()

    async with open_app(settings_for(sandbox, tmp_path), retry=FAST_RETRY, schedule=FAST_POLL) as app:
        leader_scope = anyio.CancelScope()

        async def leader() -> None:
            with leader_scope:
                await app.detector.detect(path=str(CAMERA_JPG), options=DetectOptions(wait_seconds=10))

        async def follower() -> None:
            options = DetectOptions(wait_seconds=10)
            outcome["report"] = await app.detector.detect(
                path=str(CAMERA_JPG), options=options, progress=on_progress
            )

        with anyio.fail_after(15):
            async with anyio.create_task_group() as group:
                group.start_soon(leader)
                await wait_until(lambda: sandbox.sandbox.stats.requests["upload"] >= 1)
                group.start_soon(follower)
                await joined.wait()
                leader_scope.cancel()
    assert outcome["report"].complete is True
    assert spent(sandbox)["accepted"] == 1


@pytest.mark.anyio
async def test_a_failure_of_the_first_call_is_shared_not_sent_again(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.set_credits(KEY, 0)
    # The refusal takes a while, as a real one may: the two calls are in flight together however
    # the machine schedules the work each does first (reading, provenance in a thread).
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="delay", delay_seconds=0.5))
    errors: list[BaseException] = []

    async with open_app(settings_for(sandbox, tmp_path), retry=FAST_RETRY, schedule=FAST_POLL) as app:

        async def call() -> None:
            try:
                await app.detector.detect(path=str(AI_PNG), options=DetectOptions(wait_seconds=10))
            except NotEnoughCreditsError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(call)
            group.start_soon(call)
    assert len(errors) == 2
    assert sandbox.sandbox.stats.requests["detect"] == 1


# --- get_result and restarts --------------------------------------------------------------------


@pytest.mark.anyio
async def test_get_result_on_a_stored_final_result_keeps_its_source_and_asks_nothing(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    settings = settings_for(sandbox, tmp_path)
    async with Client(make_server(settings)) as client:
        paid = await detect(client, path=str(AI_PNG))
    queries = sandbox.sandbox.stats.query_calls
    async with Client(make_server(settings)) as restarted:
        result = await restarted.call_tool("get_result", {"id": paid["id"]})
    assert result.structured_content is not None
    fetched = result.structured_content
    assert fetched["source"] == paid["source"]
    assert fetched["source"]["name"] == "ai-generated.png"
    assert fetched["verdict"] == paid["verdict"]
    assert fetched["cached"] is True
    assert sandbox.sandbox.stats.query_calls == queries


@pytest.mark.anyio
async def test_get_result_finishes_a_stored_result_so_the_next_detection_is_free(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        handed_off = await detect(client, path=str(AI_PNG), wait_seconds=0)
        result = await client.call_tool("get_result", {"id": handed_off["id"], "wait_seconds": 10})
        assert result.structured_content is not None
        queries = sandbox.sandbox.stats.query_calls
        again = await detect(client, path=str(AI_PNG))
    assert result.structured_content["complete"] is True
    assert result.structured_content["source"]["name"] == "ai-generated.png"
    assert again["cached"] is True
    assert again["complete"] is True
    assert sandbox.sandbox.stats.query_calls == queries
    assert spent(sandbox)["accepted"] == 1


@pytest.mark.anyio
async def test_results_survive_a_restart_of_the_server_process(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    params = server_process(child_env(sandbox, tmp_path / "c.sqlite3"))
    async with Client(params) as first:
        paid = await detect(first, path=str(AI_PNG))
    after_first = spent(sandbox)
    async with Client(params) as second:
        again = await detect(second, path=str(AI_PNG))
        fetched = await second.call_tool("get_result", {"id": paid["id"]})
        history = await read_json(second, "truthscan://history")
    assert after_first["accepted"] == 1
    assert again["cached"] is True
    assert again["id"] == paid["id"]
    assert spent(sandbox) == after_first
    assert fetched.structured_content is not None
    assert fetched.structured_content["source"] == paid["source"]
    assert [(d["id"], d["cached"]) for d in history["detections"]] == [
        (paid["id"], True),
        (paid["id"], False),
    ]


@pytest.mark.anyio
async def test_a_paid_detection_survives_the_server_being_killed_while_it_waits(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    sandbox.sandbox.config = SandboxConfig(processing_seconds=1.5, analysis_seconds=0.1, heatmap_seconds=0.1)
    cache = tmp_path / "c.sqlite3"
    params = server_process(child_env(sandbox, cache))

    def id_recorded() -> bool:
        # TruthScan charges before its answer reaches the server; what must survive is an
        # id the server has heard, so the kill waits for it to be written down.
        if not cache.exists():
            return False
        with contextlib.closing(sqlite3.connect(cache)) as reader:
            try:
                return reader.execute("SELECT count(*) FROM results").fetchone() == (1,)
            except sqlite3.OperationalError:
                return False

    def kill_server() -> None:
        for child in psutil.Process().children(recursive=True):
            if "truthscan_mcp" in " ".join(child.cmdline()):
                child.kill()  # SIGKILL: no clean-up code of ours runs

    async def doomed_call(client: Client) -> None:
        with contextlib.suppress(Exception):
            await client.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 30})

    with anyio.fail_after(20), contextlib.suppress(Exception):  # the session dies with its server
        async with Client(params) as doomed, anyio.create_task_group() as group:
            group.start_soon(doomed_call, doomed)
            await wait_until(id_recorded)
            kill_server()
    async with Client(params) as restarted:
        recovered = await detect(restarted, path=str(AI_PNG))
    assert recovered["complete"] is True
    assert recovered["cached"] is True
    assert spent(sandbox)["accepted"] == 1


# --- resources --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_history_and_result_resources_are_listed_as_json(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    history = {str(r.uri): r for r in resources}["truthscan://history"]
    result = {t.uri_template: t for t in templates}["truthscan://results/{id}"]
    assert history.mime_type == "application/json"
    assert history.description
    assert result.mime_type == "application/json"
    assert result.description


@pytest.mark.anyio
async def test_history_lists_recent_detections_newest_first_and_what_they_cost(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        ai = await detect(client, path=str(AI_PNG))
        await detect(client, path=str(AI_PNG))
        camera = await detect(client, path=str(CAMERA_JPG))
        history = await read_json(client, "truthscan://history")
    assert history["cache"] == "on"
    rows = [(d["source_name"], d["id"], d["verdict"], d["cached"]) for d in history["detections"]]
    assert rows == [
        ("camera-photo.jpg", camera["id"], "Real", False),
        ("ai-generated.png", ai["id"], "AI Generated", True),
        ("ai-generated.png", ai["id"], "AI Generated", False),
    ]
    newest = history["detections"][0]
    assert newest["ai_score"] == camera["ai_score"]
    assert newest["simulated"] is True
    assert newest["at"] >= history["detections"][-1]["at"]


@pytest.mark.anyio
async def test_history_says_when_the_cache_is_off(sandbox: SandboxServer, tmp_path: Path) -> None:
    async with Client(make_server(settings_for(sandbox, tmp_path, cache_path="off"))) as client:
        history = await read_json(client, "truthscan://history")
    assert history == {"cache": "off", "detections": [], "detections_today": 0, "daily_limit": None}


@pytest.mark.anyio
async def test_a_result_resource_is_the_report_as_json(sandbox: SandboxServer, tmp_path: Path) -> None:
    quick(sandbox)
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        paid = await detect(client, path=str(AI_PNG))
        report = await read_json(client, f"truthscan://results/{paid['id']}")
    # the text says how long this answer took, so it differs from answer to answer
    per_answer = {"cached", "elapsed_seconds", "summary"}
    assert {k: v for k, v in report.items() if k not in per_answer} == {
        k: v for k, v in paid.items() if k not in per_answer
    }
    assert report["summary"].startswith(paid["summary"].split("\n")[0])
    assert paid["id"] in report["summary"]


@pytest.mark.anyio
async def test_a_result_resource_refuses_malformed_and_unknown_ids(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        with pytest.raises(MCPError, match="not a TruthScan document id"):
            await client.read_resource("truthscan://results/not-an-id")
        with pytest.raises(MCPError, match="no document"):
            await client.read_resource("truthscan://results/77565038-9e3d-4e6a-8c80-e20785be5ee9")


# --- what is stored, and the command line ------------------------------------------------------


@pytest.mark.anyio
async def test_the_cache_file_never_holds_the_api_key_or_the_image(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    canary = "canary-key-5f0c7a1d9e3b"
    cache = tmp_path / "c.sqlite3"
    files = [cache, cache.with_name("c.sqlite3-wal"), cache.with_name("c.sqlite3-shm")]
    image = AI_PNG.read_bytes()
    async with Client(make_server(settings_for(sandbox, tmp_path, api_key=canary))) as client:
        paid = await detect(client, path=str(AI_PNG), preview=True)
        inline = await detect(client, data=_b64(image))
        while_open = b"".join(f.read_bytes() for f in files if f.exists())
    after_close = b"".join(f.read_bytes() for f in files if f.exists())
    assert inline["cached"] is True
    for raw in (while_open, after_close):
        assert paid["id"].encode() in raw  # the right file, and it holds the result
        assert canary.encode() not in raw
        for start in range(0, len(image) - 64, 997):
            assert image[start : start + 64] not in raw
        assert _b64(image)[100:164].encode() not in raw


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.anyio
async def test_a_new_cache_is_created_private_in_a_missing_directory(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    cache = tmp_path / "new" / "deeper" / "results.sqlite3"
    async with Client(make_server(settings_for(sandbox, tmp_path, cache_path=cache))) as client:
        await detect(client, path=str(CAMERA_JPG))
        again = await detect(client, path=str(CAMERA_JPG))
    assert again["cached"] is True
    assert cache.stat().st_mode & 0o777 == 0o600
    assert cache.parent.stat().st_mode & 0o777 == 0o700


@pytest.fixture
def command_line(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`cache stats/clear` run in this process: no TRUTHSCAN_* from the developer, and the root
    logger restored after the command configured it."""
    scrub_truthscan_env(monkeypatch)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("command_line")
def test_cache_stats_and_clear_on_the_command_line(
    sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quick(sandbox)
    cache = tmp_path / "c.sqlite3"

    async def detect_twice() -> None:
        async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
            await detect(client, path=str(AI_PNG))
            await detect(client, path=str(AI_PNG))

    anyio.run(detect_twice)
    stats = run_cli(capsys, "cache", "stats", "--cache-path", str(cache))
    as_json = run_cli(capsys, "cache", "stats", "--json", "--cache-path", str(cache))
    cleared = run_cli(capsys, "cache", "clear", "--cache-path", str(cache))
    emptied = run_cli(capsys, "cache", "stats", "--json", "--cache-path", str(cache))
    assert stats.returncode == 0, stats.stderr
    text = stats.stdout
    assert str(cache) in text
    assert "stored results: 1" in text
    assert "1 paid, 1 answered from the cache" in text
    assert "size on disk" in text
    numbers = json.loads(as_json.stdout)
    assert (numbers["results"], numbers["paid"], numbers["cached"]) == (1, 1, 1)
    assert numbers["size_bytes"] > 0
    assert cleared.returncode == 0
    assert f"Removed 1 stored result and 2 history entries from {cache}" in cleared.stdout
    assert (json.loads(emptied.stdout)["results"], json.loads(emptied.stdout)["paid"]) == (0, 0)


# --- a broken store never fails a detection -----------------------------------------------------


async def _valid_cache(path: Path) -> None:
    cache = ResultCache(path, service="http://127.0.0.1")
    assert await cache.open()
    await cache.aclose()


@contextlib.asynccontextmanager
async def corrupt(path: Path) -> AsyncGenerator[None]:
    await anyio.Path(path).write_bytes(b"\x00garbage, not SQLite\xff" * 300)
    yield


@contextlib.asynccontextmanager
async def someone_elses_database(path: Path) -> AsyncGenerator[None]:
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("CREATE TABLE notes (text TEXT)")
        other.execute("INSERT INTO notes VALUES ('keep me')")
        other.commit()
    before = await anyio.Path(path).read_bytes()
    yield
    assert await anyio.Path(path).read_bytes() == before  # left alone


@contextlib.asynccontextmanager
async def newer_schema(path: Path) -> AsyncGenerator[None]:
    await _valid_cache(path)
    with contextlib.closing(sqlite3.connect(path)) as other:
        other.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
        other.commit()
    yield
    with contextlib.closing(sqlite3.connect(path)) as other:
        assert other.execute("SELECT count(*) FROM results").fetchone() == (0,)


@contextlib.asynccontextmanager
async def locked(path: Path) -> AsyncGenerator[None]:
    await _valid_cache(path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("SELECT count(*) FROM schema_version").fetchone()
    try:
        yield
    finally:
        holder.close()


@contextlib.asynccontextmanager
async def read_only(path: Path) -> AsyncGenerator[None]:
    """A used cache in a directory nobody may write to.

    Root ignores permission bits, so as root the file and its directory are made immutable
    (`chattr +i`), which binds root too; as anyone else plain permissions do it.
    """
    await _valid_cache(path)
    with _unwritable(path, path.parent):
        yield


@contextlib.contextmanager
def _unwritable(*paths: Path) -> Generator[None]:
    if os.geteuid() != 0:
        modes = [p.stat().st_mode for p in paths]
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in zip(paths, modes, strict=True):
                p.chmod(mode)
        return
    names = [str(p) for p in paths]
    made = subprocess.run(["chattr", "+i", *names], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make files immutable here (chattr: {made.stderr.decode().strip()})")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *names], check=True)


@contextlib.asynccontextmanager
async def uncreatable_directory(path: Path) -> AsyncGenerator[None]:
    await anyio.Path(path.parent.parent).write_text("a file where the cache directory should be")
    yield


#: case → (setup, words of the warning, what the history says: never usable, or paused)
BROKEN_STORES = {
    "corrupt": (corrupt, "not a database", "unavailable"),
    "someone else's database": (someone_elses_database, "not a truthscan-mcp cache", "unavailable"),
    "newer schema": (newer_schema, "newer truthscan-mcp", "unavailable"),
    "locked": (locked, "locked by another process", "degraded"),
    "read-only": (read_only, "cannot be used", "degraded"),
    "missing directory that cannot be created": (uncreatable_directory, "cannot be used", "degraded"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(BROKEN_STORES))
async def test_a_broken_store_warns_once_and_this_process_still_pays_once_per_image(
    case: str, sandbox: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    quick(sandbox)
    setup, expected, state = BROKEN_STORES[case]
    cache = tmp_path / "store" / "c.sqlite3"
    cache.parent.mkdir()
    if case == "missing directory that cannot be created":
        cache = tmp_path / "blocked" / "store" / "c.sqlite3"
    async with setup(cache):
        settings = settings_for(sandbox, tmp_path, cache_path=cache)
        async with Client(make_server(settings)) as client:
            first = await detect(client, path=str(AI_PNG))
            second = await detect(client, path=str(AI_PNG))
            history = await read_json(client, "truthscan://history")
    assert first["verdict"] == second["verdict"] == "AI Generated"
    assert first["complete"]
    assert second["complete"]
    # this process remembers what the file did not take: the same bytes are not paid again
    assert (first["cached"], second["cached"]) == (False, True)
    assert spent(sandbox)["accepted"] == 1
    assert history["cache"] == state
    assert [d["cached"] for d in history["detections"]] == [True, False]
    warnings = cache_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert expected in warnings[0]
    assert str(cache) in warnings[0]


@pytest.mark.anyio
async def test_a_broken_store_is_reported_once_on_the_server_stderr(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    cache = tmp_path / "c.sqlite3"
    cache.write_bytes(b"garbage " * 500)
    errlog = tmp_path / "stderr.txt"
    with errlog.open("w") as sink:
        transport = stdio_client(server_process(child_env(sandbox, cache)), errlog=sink)
        async with Client(transport) as client:
            first = await detect(client, path=str(AI_PNG))
            second = await detect(client, path=str(CAMERA_JPG))
    lines = [line for line in errlog.read_text().splitlines() if "result cache" in line]
    assert (first["verdict"], second["verdict"]) == ("AI Generated", "Real")
    assert len(lines) == 1, lines
    assert "WARNING" in lines[0]
    assert str(cache) in lines[0]
