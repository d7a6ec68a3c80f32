"""Answers that reach the model whole, whichever part of a result a client reads (issue 16).

Some clients hand the model only `structuredContent`, others only the text block, some drop
images: through the SDK's own `Client` these tests check that each part carries what matters
(verdict, id, framing, next step, heatmap in words), bounded; that icons are listed; that a
wrong argument is refused in words that name it; that history changes are announced; and that
`include_heatmap` asks TruthScan for the heatmap.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.subscriptions import ResourceUpdated
from mcp.types import ResourceUpdatedNotification, ServerNotification
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    images_of,
    make_server,
    make_settings,
    quick_sandbox,
    serve_app,
    short_sandbox_config,
    structured,
    text_of,
)
from tests.support.servers import SandboxServer
from truthscan_mcp.adapter.render import MAX_REPORT_CHARS
from truthscan_mcp.sandbox import Sandbox

pytestmark = pytest.mark.anyio

HISTORY = "truthscan://history"


@pytest.fixture(scope="module")
async def client(mode: str, anyio_backend: str) -> AsyncIterator[Client]:
    async with Client(make_server(make_settings(), sandbox=quick_sandbox()), mode=mode) as client:
        yield client


async def _detect(client: Client, path: Path, **extra: Any) -> dict[str, Any]:
    result = await client.call_tool("detect_image", {"path": str(path), "wait_seconds": 10, **extra})
    assert not result.is_error, text_of(result)
    return structured(result)


# --- summary: the text inside the structured result, bounded --------------------------------


async def test_every_tool_result_carries_a_bounded_summary_equal_to_its_text(client: Client) -> None:
    report = await _detect(client, AI_PNG)
    calls: dict[str, dict[str, Any]] = {
        "detect_image": {"path": str(AI_PNG), "wait_seconds": 10},
        "get_result": {"id": report["id"]},
        "detect_images": {"paths": [str(AI_PNG), str(CAMERA_JPG)], "wait_seconds": 10},
        "check_credits": {},
        "health": {},
    }
    for name, arguments in calls.items():
        result = await client.call_tool(name, arguments)
        summary = structured(result)["summary"]
        assert summary == text_of(result), name
        assert 0 < len(summary) <= MAX_REPORT_CHARS, name


async def test_every_listed_tool_declares_summary_in_its_output_schema(client: Client) -> None:
    for tool in (await client.list_tools()).tools:
        assert tool.output_schema is not None, tool.name
        assert "summary" in tool.output_schema["properties"], tool.name


async def test_a_detection_summary_alone_has_verdict_id_framing_and_tier(client: Client) -> None:
    report = await _detect(client, AI_PNG)

    summary = report["summary"]
    assert report["verdict"] in summary
    assert report["id"] in summary
    assert "probability, not proof" in summary
    assert report["tier"] == "Synthetic"
    assert "(Synthetic band)" in summary


async def test_a_camera_photo_is_in_the_real_tier_through_the_client(client: Client) -> None:
    report = await _detect(client, CAMERA_JPG)

    assert (report["ai_score"] < 20, report["tier"]) == (True, "Real")


async def test_a_handed_off_detection_summary_carries_the_id_and_next_step(client: Client) -> None:
    result = await client.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 0, "force": True})
    report = structured(result)

    assert report["complete"] is False
    assert report["id"] in report["summary"]
    assert report["next_step"]
    assert report["next_step"] in report["summary"]


async def test_a_hundred_image_batch_keeps_its_text_within_the_budget(client: Client) -> None:
    paths = [str(AI_PNG), str(CAMERA_JPG)] * 50
    result = await client.call_tool("detect_images", {"paths": paths, "wait_seconds": 10})
    batch = structured(result)

    assert len(batch["rows"]) == 100
    assert len(text_of(result)) <= MAX_REPORT_CHARS
    assert "Batch of 100 images" in batch["summary"]
    assert batch["rows"][0]["id"] in batch["summary"]
    assert "in the structured result's `rows`" in batch["summary"]


# --- the heatmap in words -------------------------------------------------------------------


async def test_an_attached_heatmap_is_also_described_in_words(client: Client) -> None:
    result = await client.call_tool(
        "detect_image", {"path": str(AI_PNG), "wait_seconds": 10, "include_heatmap": True}
    )
    report = structured(result)

    assert images_of(result), "the heatmap image is attached"
    heatmap_line = next(line for line in text_of(result).splitlines() if line.startswith("Heatmap"))
    assert any(word in heatmap_line for word in ("concentrated in the", "spread over")), heatmap_line
    assert heatmap_line in report["summary"]


# --- icons ------------------------------------------------------------------------------------


async def test_the_server_and_every_tool_carry_the_icon_as_a_data_uri(client: Client) -> None:
    server_info = client.server_info
    assert server_info is not None
    tools = (await client.list_tools()).tools
    for owner, icons in [("server", server_info.icons), *((tool.name, tool.icons) for tool in tools)]:
        assert icons, owner
        (icon,) = icons
        assert icon.src.startswith("data:image/png;base64,"), owner
        assert (icon.mime_type, icon.sizes) == ("image/png", ["64x64"]), owner


# --- argument errors in our words -----------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "named", "said"),
    [
        ({"path": str(AI_PNG), "wait_seconds": "soon"}, "'wait_seconds'", "must be a number from 0 to 600"),
        ({"path": str(AI_PNG), "wait_seconds": 601}, "'wait_seconds'", "above the maximum of 600"),
        ({"path": 5}, "'path'", "must be a string"),
        ({"pth": str(AI_PNG)}, "'pth'", "did you mean 'path'?"),
    ],
    ids=["wrong-type", "too-large", "path-as-number", "unknown"],
)
async def test_a_wrong_argument_is_refused_in_words_that_name_it(
    client: Client, arguments: dict[str, Any], named: str, said: str
) -> None:
    result = await client.call_tool("detect_image", arguments)
    text = text_of(result)

    assert result.is_error, text
    assert named in text, text
    assert said in text, text
    assert "pydantic" not in text.lower(), text
    assert "validation error" not in text.lower(), text


async def test_an_unknown_argument_to_a_tool_without_arguments_is_refused(client: Client) -> None:
    result = await client.call_tool("health", {"verbose": True})

    assert result.is_error
    assert "unknown argument 'verbose'" in text_of(result)
    assert "health takes no arguments" in text_of(result)


async def test_a_missing_id_says_what_to_pass(client: Client) -> None:
    result = await client.call_tool("get_result", {})

    assert result.is_error
    assert "'id' is required: pass the TruthScan document id" in text_of(result)


# --- history changes announced ----------------------------------------------------------------


async def test_a_detection_notifies_a_2025_client_subscribed_to_the_history(tmp_path: Path) -> None:
    updated: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: ServerNotification | Exception) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            updated.append(str(message.params.uri))
            arrived.set()

    settings = make_settings(cache_path=tmp_path / "cache.sqlite3")
    server = make_server(settings, sandbox=quick_sandbox())
    async with Client(server, mode="legacy", message_handler=on_message) as client:
        assert client.server_capabilities.resources is not None
        assert client.server_capabilities.resources.subscribe is True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # resources/subscribe is the 2025 era's way: that is the point
            await client.subscribe_resource(HISTORY)  # pyright: ignore[reportDeprecated]
        await _detect(client, AI_PNG)
        with anyio.fail_after(5):
            await arrived.wait()
    assert updated == [HISTORY]


async def test_a_detection_notifies_a_2026_client_listening_to_the_history(tmp_path: Path) -> None:
    settings = make_settings(cache_path=tmp_path / "cache.sqlite3")
    server = make_server(settings, sandbox=quick_sandbox())
    async with (
        Client(server, mode="2026-07-28") as client,
        client.listen(resource_subscriptions=[HISTORY]) as events,
    ):
        await _detect(client, AI_PNG)
        with anyio.fail_after(5):
            event = await anext(events)
    assert event == ResourceUpdated(uri=HISTORY)


# --- include_heatmap asks /detect for it ------------------------------------------------------


class DetectRecorder:
    """The sandbox behind a recorder of every `/detect` body, on a real loopback socket."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/detect":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self.bodies.append(json.loads(body))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
def recorded() -> Iterator[tuple[DetectRecorder, SandboxServer]]:
    sandbox = Sandbox(short_sandbox_config())
    recorder = DetectRecorder(sandbox.app)
    with serve_app(recorder) as base_url:
        yield recorder, SandboxServer(sandbox, base_url)


async def test_include_heatmap_sends_generate_heatmap_to_detect(
    recorded: tuple[DetectRecorder, SandboxServer],
) -> None:
    recorder, server = recorded
    async with Client(make_server(make_settings(server))) as client:
        await _detect(client, AI_PNG, include_heatmap=True, deep_analysis=False)
        await _detect(client, CAMERA_JPG, deep_analysis=False)

    with_heatmap, without = recorder.bodies
    assert with_heatmap["generate_heatmap"] is True
    assert "generate_heatmap" not in without
