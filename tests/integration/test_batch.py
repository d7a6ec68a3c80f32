"""`detect_images`: many images in one call, through the SDK's `Client` on the loopback sandbox.

What a batch promises: every input is checked and the credits are counted before anything is
spent; identical bytes are paid for once; one image's failure is its own row; a 429 pauses
every worker (one rate limiter shared by the whole client), and a batch still ends in one
accepted `/detect` per unique image; at the deadline the finished rows come back with ids for
the rest; cancelling the call stops every worker at once. The same runs from the command line.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import struct
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    KEY,
    PROTOCOL_MODES,
    ProgressLog,
    assert_error,
    assert_valid_output,
    eventually,
    make_server,
    make_settings,
    run_cli,
    scrub_truthscan_env,
    serve_app,
    structured,
    text_of,
)
from truthscan_mcp.adapter.render import MAX_REPORT_CHARS
from truthscan_mcp.api.client import RetryPolicy, TruthScanClient, make_http_client
from truthscan_mcp.errors import RateLimitedError
from truthscan_mcp.models import BatchRow
from truthscan_mcp.sandbox import FaultRule
from truthscan_mcp.sandbox.asgi import endpoint_for
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from tests.support import SandboxServer

AI = AI_PNG.read_bytes()  # "AI Generated" (a Stable Diffusion signature)
CAMERA = CAMERA_JPG.read_bytes()  # "Real" (Canon EXIF)
UNKNOWN_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No TRUTHSCAN_* from the developer, and the root logger as `cli.main` found it."""
    scrub_truthscan_env(monkeypatch)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# --- images and folders ---------------------------------------------------------------------


def edited_jpeg() -> bytes:
    """A JPEG whose EXIF says Photoshop wrote it: the sandbox calls it "Digitally Edited"."""
    software = b"Adobe Photoshop 25.0 Mac\x00"
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHII", 0x0131, 2, len(software), 26) + b"\x00\x00\x00\x00" + software
    app1 = b"Exif\x00\x00" + tiff
    comment = b"edited " * 160
    return (
        b"\xff\xd8"
        + b"\xff\xe1"
        + struct.pack(">H", len(app1) + 2)
        + app1
        + b"\xff\xfe"
        + struct.pack(">H", len(comment) + 2)
        + comment
        + b"\xff\xd9"
    )


def camera_variant(n: int) -> bytes:
    """The camera photo with a different tail: other bytes (another image to pay for), still "Real"."""
    return CAMERA + f"variant {n}".encode()


BROKEN = b"this is not an image at all " * 200  # named .jpg; sniffed as what it is
EXPECTED = {
    "a-ai.png": "AI Generated",
    "b-camera.jpg": "Real",
    "c-edited.jpg": "Digitally Edited",
    "e-ai-copy.png": "AI Generated",
    "f-nested.jpg": "Real",
}


@pytest.fixture
def photos(allowed: Path, tmp_path: Path) -> Path:
    """A folder of mixed inputs, as a user's downloads folder looks."""
    folder = allowed / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "a-ai.png").write_bytes(AI)
    (folder / "b-camera.jpg").write_bytes(CAMERA)
    (folder / "c-edited.jpg").write_bytes(edited_jpeg())
    (folder / "d-broken.jpg").write_bytes(BROKEN)
    (folder / "e-ai-copy.png").write_bytes(AI)
    (folder / "notes.txt").write_text("not an image, and not named like one")
    (folder / "sub" / "f-nested.jpg").write_bytes(camera_variant(1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.png").write_bytes(camera_variant(99))
    (folder / "g-outside-link.png").symlink_to(elsewhere / "secret.png")
    return folder


def image_files(folder: Path, count: int, *, start: int = 0) -> list[str]:
    """`count` different images (each a new detection) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    for n in range(start, start + count):
        path = folder / f"photo-{n:03d}.jpg"
        path.write_bytes(camera_variant(n))
        paths.append(str(path))
    return paths


# --- servers and clients --------------------------------------------------------------------


def batch_settings(server: SandboxServer, allowed: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"cache_path": allowed.parent / "c.sqlite3", "allowed_dirs": [allowed]}
    values.update(overrides)
    return make_settings(server, **values)


@asynccontextmanager
async def mcp_client(settings: Settings) -> AsyncGenerator[Client]:
    async with Client(make_server(settings)) as client:
        yield client


async def detect_images(client: Client, **arguments: Any) -> CallToolResult:
    return await client.call_tool("detect_images", arguments)


async def assert_matches_schema(client: Client, result: CallToolResult) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert_valid_output(result, tools["detect_images"])


def rows_by_name(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in batch["rows"]}


def paid_requests(server: SandboxServer) -> dict[str, int]:
    """What reached the sandbox on the way to spending a credit."""
    stats = server.sandbox.stats
    return {name: stats.requests[name] for name in ("presign", "upload", "detect")}


# --- a folder of mixed images ---------------------------------------------------------------


@pytest.mark.anyio
async def test_a_mixed_folder_gets_one_row_per_input_in_a_stable_order_and_pays_once_per_unique_image(
    sandbox: SandboxServer, allowed: Path, photos: Path
) -> None:
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        result = await detect_images(client, directory=str(photos), recursive=True)
        await assert_matches_schema(client, result)
    batch = structured(result)

    assert not result.is_error, text_of(result)
    names = [row["name"] for row in batch["rows"]]
    assert names == [
        "a-ai.png",
        "b-camera.jpg",
        "c-edited.jpg",
        "d-broken.jpg",
        "e-ai-copy.png",
        "g-outside-link.png",
        "f-nested.jpg",
    ]
    rows = rows_by_name(batch)
    for name, verdict in EXPECTED.items():
        assert (rows[name]["verdict"], rows[name]["complete"], rows[name]["error"]) == (verdict, True, None)
    assert "not a supported image" in rows["d-broken.jpg"]["error"]
    assert "outside the directories" in rows["g-outside-link.png"]["error"]
    copy, original = rows["e-ai-copy.png"], rows["a-ai.png"]
    assert (copy["cached"], copy["id"], copy["duplicate_of"]) == (True, original["id"], original["source"])
    assert original["cached"] is False

    summary = batch["totals"]
    assert summary["verdicts"] == {"AI Generated": 2, "Real": 2, "Digitally Edited": 1}
    assert (summary["total"], summary["complete"], summary["errors"], summary["cached"]) == (7, 5, 2, 1)
    assert (summary["detections_paid"], summary["credits_spent"]) == (4, 4)
    stats = sandbox.sandbox.stats
    assert (stats.accepted_detects, stats.credits_spent, stats.uploads) == (4, 4, 4)
    assert stats.requests["detect"] == 4, "exactly one /detect per unique valid image"
    assert batch["simulated"] is True


@pytest.mark.anyio
async def test_a_folder_is_searched_below_its_top_level_only_with_recursive(
    sandbox: SandboxServer, allowed: Path, photos: Path
) -> None:
    async with mcp_client(batch_settings(sandbox, allowed, cache_path="off")) as client:
        batch = structured(await detect_images(client, directory=str(photos)))

    assert "f-nested.jpg" not in rows_by_name(batch)
    assert "notes.txt" not in rows_by_name(batch)
    assert batch["totals"]["total"] == 6


@pytest.mark.anyio
async def test_a_pattern_selects_the_files_of_a_folder_and_its_subfolders(
    sandbox: SandboxServer, allowed: Path, photos: Path
) -> None:
    async with mcp_client(batch_settings(sandbox, allowed, cache_path="off")) as client:
        batch = structured(await detect_images(client, directory=str(photos), pattern="**/*.jpg"))

    names = [row["name"] for row in batch["rows"]]
    assert names == ["b-camera.jpg", "c-edited.jpg", "d-broken.jpg", "f-nested.jpg"]


@pytest.mark.anyio
async def test_the_text_block_is_a_compact_table_within_the_budget_counting_the_rows_it_leaves_out(
    sandbox: SandboxServer, allowed: Path, tmp_path: Path
) -> None:
    sandbox.sandbox.config.processing_seconds = 0.1
    paths = image_files(allowed / "many", 20)
    settings = batch_settings(sandbox, allowed, cache_path="off", max_concurrency=10)
    async with mcp_client(settings) as client:
        result = await detect_images(client, paths=paths)
    text, batch = text_of(result), structured(result)

    assert batch["totals"]["verdicts"] == {"Real": 20}
    assert len(text) <= MAX_REPORT_CHARS, len(text)  # cheap to re-read every turn, however many rows
    listed = [row for row in batch["rows"] if row["id"] in text]
    assert len(listed) >= 10
    for row in listed:
        assert row["name"] in text
    assert batch["rows"][: len(listed)] == listed  # the first rows, in order
    assert f"rows {len(listed) + 1}–20 not listed here" in text
    assert "SIMULATED" in text


# --- one image's failure is its own row -----------------------------------------------------


@pytest.mark.anyio
async def test_an_image_truthscan_fails_to_process_is_its_own_row_and_the_others_get_verdicts(
    sandbox: SandboxServer, allowed: Path
) -> None:
    (allowed / "edited.jpg").write_bytes(edited_jpeg())
    paths = [str(AI_PNG), str(CAMERA_JPG), str(allowed / "edited.jpg")]
    sandbox.sandbox.add_fault(FaultRule(endpoint="detect", kind="processing_failed", times=1))
    settings = batch_settings(sandbox, allowed, allowed_dirs=[allowed, AI_PNG.parent])
    async with mcp_client(settings) as client:
        result = await detect_images(client, paths=paths)
    batch = structured(result)

    assert not result.is_error, text_of(result)
    failed = [row for row in batch["rows"] if row["error"]]
    assert len(failed) == 1
    assert "could not process" in failed[0]["error"]
    assert failed[0]["id"], "a paid document keeps its id even when it failed"
    expected = {
        "ai-generated.png": "AI Generated",
        "camera-photo.jpg": "Real",
        "edited.jpg": "Digitally Edited",
    }
    for row in batch["rows"]:
        if not row["error"]:
            assert (row["verdict"], row["complete"]) == (expected[row["name"]], True)
    assert batch["totals"]["errors"] == 1
    assert "ERROR" in text_of(result)


# --- the shared rate limiter ----------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the sandbox saw it: when it arrived, and when and how it was answered."""

    endpoint: str | None
    arrived: float
    answered: float
    status: int


def recording(app: ASGIApp, log: list[Seen]) -> ASGIApp:
    """`app`, noting every request it serves (time.monotonic, from the server's thread)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        arrived = time.monotonic()
        answered, status = arrived, 0

        async def noting(message: Message) -> None:
            nonlocal answered, status
            if message["type"] == "http.response.start":
                answered, status = time.monotonic(), int(message["status"])
            await send(message)

        await app(scope, receive, noting)
        log.append(Seen(endpoint_for(str(scope["path"])), arrived, answered, status))

    return wrapped


@pytest.mark.anyio
async def test_a_429_storm_pauses_every_worker_and_still_pays_once_per_image(
    sandbox: SandboxServer, allowed: Path
) -> None:
    simulator = sandbox.sandbox
    simulator.add_fault(FaultRule(endpoint="presign", kind="status", status=429, retry_after=1.2, times=1))
    simulator.add_fault(FaultRule(endpoint="query", kind="status", status=429, retry_after=0.3, times=6))
    paths = image_files(allowed / "storm", 4)
    seen: list[Seen] = []
    with serve_app(recording(simulator.app, seen)) as url:
        settings = batch_settings(
            sandbox, allowed, api_url=url, storage_url=f"{url}/storage", cache_path="off", max_concurrency=4
        )
        async with mcp_client(settings) as client:
            result = await detect_images(client, paths=paths)
    batch = structured(result)

    assert not result.is_error, text_of(result)
    assert [row["verdict"] for row in batch["rows"]] == ["Real"] * 4
    assert all(row["complete"] and not row["error"] for row in batch["rows"])
    stats = simulator.stats
    assert (stats.requests["detect"], stats.accepted_detects, stats.credits_spent) == (4, 4, 4)
    refused = [s for s in seen if s.status == 429]
    assert len(refused) == 7
    # The first 429 (on one worker's presign) paused every worker: until the 1.2 s it asked for
    # had passed, nothing reached TruthScan — not the other workers' uploads, submissions or
    # polls (a request already on its way when the 429 was answered may arrive just after it).
    first = min(refused, key=lambda s: s.answered)
    during = [s for s in seen if first.answered + 0.25 < s.arrived < first.answered + 1.1]
    assert during == [], during


@asynccontextmanager
async def api_client(
    url: str, retry: RetryPolicy | None = None, *, sent: list[tuple[str, float]] | None = None
) -> AsyncGenerator[TruthScanClient]:
    """A client of `url`; `sent` collects (path, time) of every request as it leaves the client."""
    async with make_http_client() as http:
        if sent is not None:
            log = sent

            async def record(request: httpx2.Request) -> None:
                log.append((request.url.path, anyio.current_time()))

            http.event_hooks["request"].append(record)
        yield TruthScanClient(
            http, api_url=url, storage_url=f"{url}/storage", api_key=SecretStr(KEY), retry=retry
        )


@pytest.mark.anyio
async def test_a_429_holds_every_other_request_of_the_client_until_its_retry_after_has_passed(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=429, retry_after=0.6))
    finished: list[float] = []
    sent: list[tuple[str, float]] = []
    paused_until = 0.0
    async with api_client(sandbox.api_url, sent=sent) as client:

        async def call(request: Callable[[], Awaitable[object]]) -> None:
            await request()
            finished.append(anyio.current_time())

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, client.credits)
            await eventually(lambda: client.gate.not_before > anyio.current_time(), 10)
            paused_until = client.gate.not_before
            for request in (client.credits, client.health, lambda: client.query(UNKNOWN_ID)):
                tg.start_soon(call, request)

    assert len(finished) == 4
    assert min(finished) >= paused_until
    assert len(sent) == 5  # the 429, its retry, and the three others
    assert all(at >= paused_until for _, at in sent[1:]), "a request left during the pause"
    assert sandbox.sandbox.stats.requests["credits"] == 3  # the 429, its retry, the other call


@pytest.mark.anyio
async def test_a_429_without_retry_after_pauses_the_other_requests_for_the_retry_backoff(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=429))
    retry = RetryPolicy(wait_initial=0.5, wait_max=1.0, wait_jitter=0.0)
    sent: list[tuple[str, float]] = []
    async with api_client(sandbox.api_url, retry, sent=sent) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.credits)
        await eventually(lambda: client.gate.not_before > anyio.current_time(), 10)
        started = anyio.current_time()
        paused_until = client.gate.not_before
        await client.health()
        assert paused_until > started
        health_sent = [at for path, at in sent if path == "/health"]
        assert len(health_sent) == 1
        assert health_sent[0] >= paused_until, "the health check left during the pause"
        assert anyio.current_time() >= paused_until


@pytest.mark.anyio
async def test_concurrent_429s_extend_the_shared_pause_and_never_shorten_it() -> None:
    """Two requests in flight together: the long Retry-After comes first, the short one later."""
    answered = 0

    async def credits(_: Request) -> Response:
        nonlocal answered
        answered += 1
        if answered == 1:  # answered at +0.2: "wait 0.8 s", so nothing goes out before +1.0
            await anyio.sleep(0.2)
            return JSONResponse({"error": "Too Many Requests"}, 429, {"Retry-After": "0.8"})
        if answered == 2:  # answered at +0.55: "wait 0.05 s", which must not cut the pause short
            await anyio.sleep(0.5)
            return JSONResponse({"error": "Too Many Requests"}, 429, {"Retry-After": "0.05"})
        return JSONResponse({"baseCredits": 5, "boostCredits": 0, "credits": 5})

    finished: list[float] = []
    with serve_app(Starlette(routes=[Route("/check-user-credits", credits)])) as url:
        async with api_client(url) as client:
            started = anyio.current_time()

            async def call() -> None:
                await client.credits()
                finished.append(anyio.current_time())

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await anyio.sleep(0.05)
                tg.start_soon(call)

    assert answered == 4
    assert min(finished) - started >= 1.0


@pytest.mark.anyio
async def test_a_retry_after_beyond_the_bound_fails_that_request_and_pauses_no_one(
    sandbox: SandboxServer,
) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="credits", kind="status", status=429, retry_after=600))
    async with api_client(sandbox.api_url) as client:
        with pytest.raises(RateLimitedError):
            await client.credits()
        with anyio.fail_after(5):
            await client.health()

    assert client.gate.not_before == -math.inf, "a Retry-After that is not waited for paused others"


# --- credits --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_batch_the_credits_cannot_cover_is_refused_before_anything_is_spent(
    sandbox: SandboxServer, allowed: Path
) -> None:
    sandbox.sandbox.set_credits(KEY, 2)
    paths = image_files(allowed / "four", 4)
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        result = await detect_images(client, paths=paths)

    assert_error(result, "4 new images", "only 2 credits", "Nothing was spent", "allow_partial=true")
    assert paid_requests(sandbox) == {"presign": 0, "upload": 0, "detect": 0}
    assert sandbox.sandbox.credits_of(KEY) == 2


@pytest.mark.anyio
async def test_allow_partial_detects_as_many_as_the_credits_cover_and_skips_the_rest(
    sandbox: SandboxServer, allowed: Path
) -> None:
    sandbox.sandbox.set_credits(KEY, 2)
    paths = image_files(allowed / "four", 4)
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        result = await detect_images(client, paths=paths, allow_partial=True)
    batch = structured(result)

    assert not result.is_error, text_of(result)
    assert [row["verdict"] for row in batch["rows"]] == ["Real", "Real", None, None]
    assert all("Skipped" in row["error"] for row in batch["rows"][2:])
    assert (batch["totals"]["detections_paid"], batch["totals"]["errors"]) == (2, 2)
    assert "credits" in batch["next_step"]
    assert sandbox.sandbox.stats.accepted_detects == 2
    assert sandbox.sandbox.credits_of(KEY) == 0


@pytest.mark.anyio
async def test_cached_images_need_no_credits_and_a_second_run_spends_nothing(
    sandbox: SandboxServer, allowed: Path
) -> None:
    paths = [*image_files(allowed / "two", 2), str(allowed / "two" / "photo-000.jpg")]
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        first = structured(await detect_images(client, paths=paths))
        sandbox.sandbox.set_credits(KEY, 0)
        result = await detect_images(client, paths=paths)
    second = structured(result)

    assert first["totals"]["detections_paid"] == 2
    assert not result.is_error, text_of(result)
    assert all(row["cached"] and row["verdict"] == "Real" for row in second["rows"])
    assert (second["totals"]["detections_paid"], second["totals"]["credits_spent"]) == (0, 0)
    assert [row["id"] for row in second["rows"]] == [row["id"] for row in first["rows"]]
    assert sandbox.sandbox.stats.accepted_detects == 2


# --- the deadline, progress and cancellation ------------------------------------------------


@pytest.mark.anyio
async def test_at_the_deadline_the_rest_come_back_with_ids_that_get_result_completes(
    sandbox: SandboxServer, allowed: Path
) -> None:
    sandbox.sandbox.config.processing_seconds = 2.0
    (allowed / "edited.jpg").write_bytes(edited_jpeg())
    (allowed / "ai.png").write_bytes(AI)
    paths = [str(allowed / "ai.png"), *image_files(allowed, 1), str(allowed / "edited.jpg")]
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        result = await detect_images(client, paths=paths, wait_seconds=0.3)
        batch = structured(result)
        finished = [
            structured(await client.call_tool("get_result", {"id": row["id"], "wait_seconds": 15}))
            for row in batch["rows"]
        ]

    assert not result.is_error, text_of(result)
    assert all(row["id"] and not row["complete"] and not row["error"] for row in batch["rows"])
    assert batch["totals"]["incomplete"] == 3
    assert "get_result" in batch["next_step"]
    assert batch["rows"][0]["id"] in batch["next_step"]
    assert "get_result" in text_of(result)
    assert [(r["complete"], r["verdict"]) for r in finished] == [
        (True, "AI Generated"),
        (True, "Real"),
        (True, "Digitally Edited"),
    ]
    assert sandbox.sandbox.stats.accepted_detects == 3, "finishing the hand-offs spends nothing"


@pytest.mark.anyio
async def test_progress_counts_images_done_out_of_the_total_strictly_increasing_to_the_total(
    sandbox: SandboxServer, allowed: Path, photos: Path
) -> None:
    progress = ProgressLog()
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        await client.call_tool("detect_images", {"directory": str(photos)}, progress_callback=progress)

    values = progress.values
    assert len(values) > 6
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert {total for _, total, _ in progress.events} == {6}
    assert values[-1] == 6
    for name in ("a-ai.png", "b-camera.jpg", "c-edited.jpg"):
        assert name in progress.messages


@pytest.mark.anyio
@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_cancelling_the_call_stops_every_worker_at_once_and_the_server_keeps_serving(
    sandbox: SandboxServer, allowed: Path, mode: str
) -> None:
    """In "auto" mode the in-process call is cancelled structurally (the scope reaches the
    server); in "legacy" mode by a notifications/cancelled message, as over stdio."""
    simulator = sandbox.sandbox
    simulator.config.processing_seconds = 60  # every document stays pending: all workers poll
    paths = image_files(allowed / "slow", 3)
    call = anyio.CancelScope()
    polled = 0
    async with Client(make_server(batch_settings(sandbox, allowed, cache_path="off")), mode=mode) as client:

        async def run() -> None:
            with call:
                await detect_images(client, paths=paths, wait_seconds=120)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await eventually(lambda: simulator.stats.accepted_detects == 3 <= simulator.stats.query_calls, 15)
            polled = simulator.stats.query_calls
            call.cancel()
        assert call.cancelled_caught

        await anyio.sleep(0.2)  # the cancellation crosses to the server (in-process: at once)
        stopped_at = simulator.stats.query_calls
        assert stopped_at <= polled + 3, "at most one poll per worker was already under way"
        await anyio.sleep(0.4)  # three uncancelled workers polling every 50 ms: ~24 more by now
        assert simulator.stats.query_calls == stopped_at
        assert simulator.stats.in_flight == 0
        assert simulator.stats.accepted_detects == 3

        health = await client.call_tool("health", {})
        assert structured(health)["reachable"] is True


# --- refused before anything is sent --------------------------------------------------------


def bad_requests(allowed: Path, photos: Path, outside: Path) -> dict[str, tuple[dict[str, Any], str]]:
    one = str(photos / "a-ai.png")
    many = image_files(allowed / "many", 101)
    return {
        "no source": ({}, "exactly one of"),
        "two sources": ({"paths": [one], "directory": str(photos)}, "exactly one of"),
        "more than 100 paths": ({"paths": many}, "100"),
        "more than 100 files in a directory": ({"directory": str(allowed / "many")}, "more than 100"),
        "pattern without directory": ({"paths": [one], "pattern": "*.png"}, "`pattern` only applies"),
        "directory outside the allowed ones": ({"directory": str(outside)}, "outside the directories"),
        "directory that does not exist": ({"directory": str(allowed / "nope")}, "no directory"),
        "a file as directory": ({"directory": one}, "not a directory"),
        "nothing matches": ({"directory": str(photos), "pattern": "*.gif"}, "No files matching '*.gif'"),
    }


@pytest.mark.anyio
async def test_every_malformed_request_is_refused_with_what_to_do_and_nothing_is_sent(
    sandbox: SandboxServer, allowed: Path, photos: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        for case, (arguments, says) in bad_requests(allowed, photos, outside).items():
            result = await detect_images(client, **arguments)
            assert result.is_error, case
            assert says.lower() in text_of(result).lower(), (case, text_of(result))

    assert sum(sandbox.sandbox.stats.requests.values()) == 0


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_list_of_urls_is_downloaded_and_detected_each_in_its_own_row(
    sandbox: SandboxServer, allowed: Path
) -> None:
    served = {"/ai.png": (AI, "image/png"), "/camera.jpg": (CAMERA, "image/jpeg")}

    async def image(request: Request) -> Response:
        found = served.get(request.url.path)
        if found is None:
            return Response(b"not found", 404)
        return Response(found[0], media_type=found[1])

    app = Starlette(routes=[Route("/{name}", image)])
    with serve_app(app) as base:
        urls = [f"{base}/ai.png", f"{base}/camera.jpg", f"{base}/gone.png"]
        settings = batch_settings(sandbox, allowed, allow_private_urls=True)
        async with mcp_client(settings) as client:
            result = await detect_images(client, urls=urls)
    batch = structured(result)

    assert not result.is_error, text_of(result)
    assert [row["source"] for row in batch["rows"]] == urls
    assert [row["verdict"] for row in batch["rows"]] == ["AI Generated", "Real", None]
    assert "404" in batch["rows"][2]["error"]
    assert sandbox.sandbox.stats.accepted_detects == 2


@pytest.mark.anyio
async def test_urls_to_private_addresses_are_refused_row_by_row_unless_allowed(
    sandbox: SandboxServer, allowed: Path
) -> None:
    async with mcp_client(batch_settings(sandbox, allowed)) as client:
        result = await detect_images(client, urls=["http://127.0.0.1:9/a.png", "http://10.0.0.1/b.jpg"])
    batch = structured(result)

    assert all(row["error"] for row in batch["rows"])
    assert sum(sandbox.sandbox.stats.requests.values()) == 0


# --- the command line -----------------------------------------------------------------------


def truthscan_mcp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    run = run_cli(capsys, *argv)
    return run.returncode, run.stdout, run.stderr


def test_the_command_line_prints_the_table_for_a_folder_and_exits_1_when_a_row_failed(
    capsys: pytest.CaptureFixture[str], allowed: Path, photos: Path
) -> None:
    code, out, err = truthscan_mcp(
        capsys,
        "detect",
        str(photos),
        "--recursive",
        "--sandbox",
        "--no-deep-analysis",
        "--allowed-dirs",
        str(allowed),
        "--cache-path",
        "off",
    )

    assert code == 1, err
    assert "6 images: 5 answered, 0 unfinished, 1 error · 4 paid, 1 cached" in out
    for name in ("a-ai.png", "c-edited.jpg", "e-ai-copy.png", "f-nested.jpg", "g-outside-link.png"):
        assert name in out
    assert f"skipped {photos / 'd-broken.jpg'}: text, not an image format" in err, "read by content"
    assert f"skipped {photos / 'notes.txt'}: text" in err


def test_the_command_line_json_rows_are_batch_rows_and_exit_0_when_every_image_got_a_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer, allowed: Path
) -> None:
    folder = allowed / "clean"
    image_files(folder, 2)
    (folder / "ai.png").write_bytes(AI)
    monkeypatch.setenv("TRUTHSCAN_API_URL", sandbox.api_url)
    monkeypatch.setenv("TRUTHSCAN_STORAGE_URL", sandbox.storage_url)
    monkeypatch.setenv("TRUTHSCAN_API_KEY", KEY)
    monkeypatch.setenv("TRUTHSCAN_ALLOWED_DIRS", str(allowed))
    monkeypatch.setenv("TRUTHSCAN_CACHE_PATH", "off")

    code, out, err = truthscan_mcp(capsys, "detect", str(folder), "--json", "--no-deep-analysis")

    assert code == 0, err
    rows = [
        BatchRow.model_validate({k: v for k, v in row.items() if k != "provenance"})
        for row in json.loads(out)["results"]
    ]
    assert [(row.name, row.verdict) for row in rows] == [
        ("ai.png", "AI Generated"),
        ("photo-000.jpg", "Real"),
        ("photo-001.jpg", "Real"),
    ]
    assert sandbox.sandbox.stats.accepted_detects == 3
    assert os.environ["TRUTHSCAN_API_KEY"] not in out + err
