"""`request_image` and its upload page, through the MCP client and real HTTP on loopback.

The server runs in-process behind the SDK's `Client` (against the quick sandbox); the first
`request_image` starts the page's listener on 127.0.0.1 as it does under stdio, and every rule
of the page is exercised with real HTTP requests to it. Expiry uses an injected clock, so ten
minutes pass in a line instead of ten minutes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    FAST_POLL,
    FAST_RETRY,
    PROTOCOL_MODES,
    ProgressLog,
    Stopwatch,
    assert_error,
    make_settings,
    quick_sandbox,
    structured,
    text_of,
)
from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.adapter.upload_desk import UploadDesk
from truthscan_mcp.detection.detector import HEARTBEAT_SECONDS
from truthscan_mcp.media.formats import MAX_IMAGE_BYTES
from truthscan_mcp.media.uploads import UploadStore

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]


class ManualClock:
    """Now, as the upload store sees it: moves only when a test says so."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@asynccontextmanager
async def serving(
    clock: ManualClock | None = None, mode: str = "auto"
) -> AsyncGenerator[tuple[Client, UploadDesk]]:
    desk = UploadDesk(UploadStore(clock=clock) if clock is not None else None)
    server = create_server(
        make_settings(None), sandbox=quick_sandbox(), retry=FAST_RETRY, schedule=FAST_POLL, uploads=desk
    )
    async with Client(server, mode=mode) as client:  # pyright: ignore[reportArgumentType]
        yield client, desk


def browser() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(trust_env=False, timeout=10.0)


async def request_image(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("request_image", arguments)
    assert not result.is_error, text_of(result)
    return structured(result)


async def drop(url: str, content: bytes, **headers: str) -> httpx2.Response:
    async with browser() as http:
        return await http.post(url, content=content, headers={"X-Upload-Name": "photo.png", **headers})


# --- request_image ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_request_image_opens_an_unguessable_single_page_link_for_ten_minutes(mode: str) -> None:
    clock = ManualClock()
    async with serving(clock, mode) as (client, _):
        first = await request_image(client, note="the photo of the flood")
        second = await request_image(client)
    upload_id = first["upload_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", upload_id)  # URL-safe, at least 128 bits
    assert upload_id != second["upload_id"]
    assert re.fullmatch(rf"http://127\.0\.0\.1:\d+/upload/{upload_id}", first["upload_url"])
    assert datetime.fromisoformat(first["expires_at"]) == clock.now + timedelta(minutes=10)
    assert first["note"] == "the photo of the flood"
    assert "detect_image" in first["next_step"]
    assert upload_id in first["next_step"]
    assert first["upload_url"] in first["summary"]


async def test_request_image_is_read_only_and_declares_the_evidence_view() -> None:
    async with serving() as (client, _):
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    tool = tools["request_image"]
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True
    assert (tool.meta or {})["ui"]["resourceUri"] == "ui://truthscan/report.html"
    assert '"maxLength": 200' in json.dumps(tool.input_schema["properties"]["note"])
    submit = tools["submit_upload"]
    assert (submit.meta or {})["ui"]["visibility"] == ["app"]


async def test_a_note_longer_than_200_characters_is_refused() -> None:
    async with serving() as (client, _):
        result = await client.call_tool("request_image", {"note": "x" * 201})
    assert_error(result, "note", "200")


# --- the page ---------------------------------------------------------------------------------


async def test_the_page_is_a_self_contained_labelled_drop_zone() -> None:
    async with serving() as (client, _):
        upload = await request_image(client, note="<script>alert(1)</script>")
        async with browser() as http:
            page = await http.get(upload["upload_url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    body = page.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", body)  # nothing loaded from anywhere
    assert '<label id="zone"' in body
    assert 'type="file"' in body
    assert 'role="status"' in body
    assert "prefers-color-scheme: dark" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert(1)" not in body


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_dropped_image_is_detected_with_upload_and_then_forgotten(mode: str) -> None:
    async with serving(mode=mode) as (client, desk):
        upload = await request_image(client)
        answer = await drop(upload["upload_url"], AI_PNG.read_bytes(), **{"X-Upload-Name": "fl%C3%BCt.png"})
        assert answer.status_code == 200
        assert "received" in answer.text.lower()
        assert "go back to your assistant" in answer.text
        assert desk.store.holding() == 1
        result = await client.call_tool("detect_image", {"upload": upload["upload_id"], "wait_seconds": 30})
        report = structured(result)
        assert report["complete"] is True
        assert report["verdict"] == "AI Generated"
        assert report["source"]["kind"] == "upload"
        assert report["source"]["name"] == "flüt.png"
        assert desk.store.holding() == 0  # the bytes are dropped after the detection
        again = await client.call_tool("detect_image", {"upload": upload["upload_id"]})
    assert_error(again, "used already", report["id"])


async def test_a_second_upload_to_the_same_link_gets_409() -> None:
    async with serving() as (client, _):
        upload = await request_image(client)
        assert (await drop(upload["upload_url"], AI_PNG.read_bytes())).status_code == 200
        second = await drop(upload["upload_url"], CAMERA_JPG.read_bytes())
        page = await browser().get(upload["upload_url"])
    assert second.status_code == 409
    assert "used already" in second.text
    assert page.status_code == 409


async def test_an_expired_link_gets_410_and_its_image_is_dropped() -> None:
    clock = ManualClock()
    async with serving(clock) as (client, desk):
        upload = await request_image(client)
        assert (await drop(upload["upload_url"], AI_PNG.read_bytes())).status_code == 200
        clock.advance(minutes=10)
        assert desk.store.holding() == 0
        async with browser() as http:
            page = await http.get(upload["upload_url"])
        late = await drop(upload["upload_url"], AI_PNG.read_bytes())
        result = await client.call_tool("detect_image", {"upload": upload["upload_id"]})
    assert page.status_code == 410
    assert late.status_code == 410
    assert "expired" in late.text
    assert_error(result, "expired", "request_image")


async def test_a_link_still_open_just_before_its_expiry_takes_the_image() -> None:
    clock = ManualClock()
    async with serving(clock) as (client, _):
        upload = await request_image(client)
        clock.advance(minutes=9, seconds=59)
        assert (await drop(upload["upload_url"], AI_PNG.read_bytes())).status_code == 200


async def test_an_unknown_id_gets_404() -> None:
    async with serving() as (client, _):
        upload = await request_image(client)
        unknown = upload["upload_url"].rsplit("/", 1)[0] + "/" + "A" * 32
        async with browser() as http:
            page = await http.get(unknown)
        posted = await drop(unknown, AI_PNG.read_bytes())
        result = await client.call_tool("detect_image", {"upload": "A" * 32})
    assert page.status_code == 404
    assert posted.status_code == 404
    assert "request_image" in posted.text
    assert_error(result, "No upload has this id")


async def test_a_host_that_is_not_the_listeners_own_gets_421() -> None:
    async with serving() as (client, desk):
        upload = await request_image(client)
        port = upload["upload_url"].split(":")[2].split("/")[0]
        async with browser() as http:
            page = await http.get(upload["upload_url"], headers={"Host": f"rebound.example:{port}"})
        posted = await drop(upload["upload_url"], AI_PNG.read_bytes(), Host=f"rebound.example:{port}")
        by_name = await drop(upload["upload_url"], AI_PNG.read_bytes(), Host=f"localhost:{port}")
    assert page.status_code == 421
    assert posted.status_code == 421
    assert by_name.status_code == 200  # its own names pass
    assert desk.store.holding() == 0  # the Client closed: nothing outlives the server


async def test_a_cross_site_origin_gets_403_and_the_pages_own_origin_passes() -> None:
    async with serving() as (client, _):
        upload = await request_image(client)
        own = upload["upload_url"].split("/upload/")[0]
        foreign = await drop(upload["upload_url"], AI_PNG.read_bytes(), Origin="https://attacker.example")
        null = await drop(upload["upload_url"], AI_PNG.read_bytes(), Origin="null")
        same = await drop(upload["upload_url"], AI_PNG.read_bytes(), Origin=own)
    assert foreign.status_code == 403
    assert null.status_code == 403
    assert same.status_code == 200


async def test_a_file_of_10_mb_and_one_byte_gets_413() -> None:
    png = AI_PNG.read_bytes()
    too_big = png + b"\0" * (MAX_IMAGE_BYTES + 1 - len(png))
    async with serving() as (client, desk):
        upload = await request_image(client)
        declared = await drop(upload["upload_url"], too_big)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
            for start in range(0, len(too_big), 1 << 20):
                yield too_big[start : start + (1 << 20)]

        async with browser() as http:
            streamed = await http.post(upload["upload_url"], content=chunks())
        assert desk.store.holding() == 0
        still_open = await drop(upload["upload_url"], png)  # a refused file does not use the link
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "10 MB" in declared.text
    assert still_open.status_code == 200


async def test_a_file_that_is_not_an_image_gets_415_in_plain_words() -> None:
    async with serving() as (client, _):
        upload = await request_image(client)
        answer = await drop(upload["upload_url"], b"%PDF-1.7\n" + b"x" * 4096)
    assert answer.status_code == 415
    assert answer.headers["content-type"].startswith("text/plain")
    assert "not a supported image" in answer.text
    assert "PNG or JPEG" in answer.text


# --- waiting for the person -------------------------------------------------------------------


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_detect_image_waits_for_an_upload_that_arrives_later(mode: str) -> None:
    async with serving(mode=mode) as (client, _):
        upload = await request_image(client)
        results: list[dict[str, Any]] = []

        async def detect() -> None:
            result = await client.call_tool(
                "detect_image", {"upload": upload["upload_id"], "wait_seconds": 60}
            )
            results.append(structured(result))

        with Stopwatch() as watch:
            async with anyio.create_task_group() as group:
                group.start_soon(detect)
                await anyio.sleep(0.5)
                assert results == []  # still waiting for the person
                assert (await drop(upload["upload_url"], CAMERA_JPG.read_bytes())).status_code == 200
    assert results[0]["verdict"] == "Real"
    assert results[0]["source"]["kind"] == "upload"
    assert watch.elapsed < 30


async def test_a_call_waiting_for_the_person_keeps_sending_progress() -> None:
    progress = ProgressLog()
    async with serving() as (client, _):
        upload = await request_image(client)

        async def detect() -> None:
            arguments = {"upload": upload["upload_id"], "wait_seconds": 60}
            await client.call_tool("detect_image", arguments, progress_callback=progress)

        async with anyio.create_task_group() as group:
            group.start_soon(detect)
            await anyio.sleep(HEARTBEAT_SECONDS + 0.7)
            await drop(upload["upload_url"], AI_PNG.read_bytes())
    assert "Waiting for the person to hand over the image (5 s so far)" in progress.messages
    assert progress.values == sorted(set(progress.values))  # strictly growing, as MCP requires


async def test_an_upload_that_does_not_arrive_in_time_says_where_it_can_still_be_dropped() -> None:
    async with serving() as (client, _):
        upload = await request_image(client)
        with Stopwatch() as watch:
            result = await client.call_tool(
                "detect_image", {"upload": upload["upload_id"], "wait_seconds": 0.3}
            )
        later = await drop(upload["upload_url"], AI_PNG.read_bytes())
    assert_error(result, "not handed over the image yet", upload["upload_url"])
    assert 0.3 <= watch.elapsed < 10
    assert later.status_code == 200


async def test_check_provenance_reads_an_upload_and_leaves_it_for_the_detection() -> None:
    async with serving() as (client, desk):
        upload = await request_image(client)
        await drop(upload["upload_url"], AI_PNG.read_bytes())
        provenance = structured(await client.call_tool("check_provenance", {"upload": upload["upload_id"]}))
        assert provenance["finding"] == "ai_declared"
        assert provenance["source"]["kind"] == "upload"
        assert desk.store.holding() == 1
        report = structured(await client.call_tool("detect_image", {"upload": upload["upload_id"]}))
    assert report["verdict"] == "AI Generated"


# --- the evidence view's way in ---------------------------------------------------------------


async def test_submit_upload_hands_over_the_bytes_once() -> None:
    async with serving() as (client, _):
        upload = await request_image(client)
        data = base64.b64encode(CAMERA_JPG.read_bytes()).decode()
        arguments = {"upload_id": upload["upload_id"], "name": "beach.jpg", "data": data}
        first = await client.call_tool("submit_upload", arguments)
        second = await client.call_tool("submit_upload", arguments)
        report = structured(await client.call_tool("detect_image", {"upload": upload["upload_id"]}))
        bad = await request_image(client)
        not_image = await client.call_tool(
            "submit_upload", {"upload_id": bad["upload_id"], "name": "a.txt", "data": "aGVsbG8="}
        )
    assert structured(first)["bytes"] == CAMERA_JPG.stat().st_size
    assert structured(first)["media_type"] == "image/jpeg"
    assert_error(second, "used already")
    assert report["source"] == {**report["source"], "kind": "upload", "name": "beach.jpg"}
    assert not_image.is_error
