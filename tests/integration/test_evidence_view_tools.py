"""The evidence view's server side, over the SDK's in-process Client against the simulator: the
tools declare the page, the page is served as an MCP App, its image tool stays app-only, bounded
and free, detections leave their thumbnails only for clients that render MCP Apps, and a client
without MCP Apps reads exactly what it read before."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextResourceContents
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import AI_PNG, CAMERA_JPG, make_server, make_settings, quick_sandbox, serve_app
from truthscan_mcp.adapter.evidence_view import REPORT_URI
from truthscan_mcp.app import AppContext
from truthscan_mcp.sandbox import Sandbox

pytestmark = pytest.mark.anyio

APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _server(tmp_path: Path, sandbox: Sandbox | None = None, **overrides: Any) -> MCPServer[AppContext]:
    return make_server(make_settings(None, tmp_path, **overrides), sandbox=sandbox or quick_sandbox())


def _large_png() -> str:
    picture = io.BytesIO()
    Image.new("RGB", (1600, 900), (120, 80, 40)).save(picture, "PNG")
    return base64.b64encode(picture.getvalue()).decode()


def _decoded_size(data_uri: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(data_uri.split(",", 1)[1]))) as decoded:
        return decoded.size


async def _images(client: Client, document_id: str, *, heatmap: bool = False) -> dict[str, Any]:
    result = await client.call_tool("get_report_images", {"id": document_id, "heatmap": heatmap})
    assert result.structured_content is not None
    return result.structured_content


def _as_seen(result: CallToolResult) -> str:
    """A tool result as JSON, with what differs between two detections of the same bytes (the
    document id, the elapsed time) blanked out, in the text and the structured content alike."""
    seen = json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
    seen = UUID.sub("<id>", seen)
    seen = re.sub(r'"elapsed_seconds": [0-9.]+', '"elapsed_seconds": 0', seen)
    return re.sub(r"\b\d+\.\d+s\b", "<s>", seen)


async def test_detection_tools_declare_the_page_under_both_keys(tmp_path: Path) -> None:
    async with Client(_server(tmp_path)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("detect_image", "get_result", "detect_images"):
        meta = tools[name].meta or {}
        assert meta["ui"]["resourceUri"] == REPORT_URI
        assert meta["ui/resourceUri"] == REPORT_URI
    for name in ("check_credits", "health"):
        assert "ui" not in (tools[name].meta or {})
    assert (tools["get_report_images"].meta or {})["ui"]["visibility"] == ["app"]


async def test_the_page_is_an_mcp_app_that_loads_nothing_from_the_network(tmp_path: Path) -> None:
    async with Client(_server(tmp_path)) as client:
        contents = (await client.read_resource(REPORT_URI)).contents[0]
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "text/html;profile=mcp-app"
    html = contents.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "@modelcontextprotocol/ext-apps@" in html
    assert "Permission is hereby granted" in html


async def test_report_images_are_a_bounded_thumbnail_and_the_heatmap_for_no_credits(tmp_path: Path) -> None:
    async with Client(_server(tmp_path), extensions=[APPS]) as client:
        report = (
            await client.call_tool("detect_image", {"data": _large_png(), "wait_seconds": 30})
        ).structured_content
        assert report is not None
        credits = (await client.call_tool("check_credits", {})).structured_content
        images = await _images(client, report["id"], heatmap=True)
        after = (await client.call_tool("check_credits", {})).structured_content
    assert credits is not None
    assert after is not None
    assert after["credits"] == credits["credits"]
    assert max(_decoded_size(images["thumbnail"])) == 512
    assert images["note"] is None


async def test_the_heatmap_of_an_ai_image_comes_with_its_thumbnail(tmp_path: Path) -> None:
    async with Client(_server(tmp_path), extensions=[APPS]) as client:
        report = (
            await client.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 30})
        ).structured_content
        assert report is not None
        assert report["heatmap_status"] == "ready"
        images = await _images(client, report["id"], heatmap=True)
    assert images["thumbnail"].startswith("data:image/")
    assert images["heatmap"].startswith("data:image/")
    assert max(_decoded_size(images["heatmap"])) <= 512


async def test_an_unknown_document_gets_a_placeholder_note_not_an_image(tmp_path: Path) -> None:
    async with Client(_server(tmp_path), extensions=[APPS]) as client:
        images = await _images(client, UNKNOWN_ID)
    assert images == {
        "id": UNKNOWN_ID,
        "thumbnail": None,
        "heatmap": None,
        "note": "No preview: this server no longer holds the image.",
        "summary": f"Images for {UNKNOWN_ID}: thumbnail no, heatmap no.",
    }


async def test_a_batch_leaves_a_thumbnail_for_every_detected_image(tmp_path: Path) -> None:
    for sample in (AI_PNG, CAMERA_JPG):
        (tmp_path / sample.name).write_bytes(sample.read_bytes())
    async with Client(_server(tmp_path), extensions=[APPS]) as client:
        batch = (
            await client.call_tool("detect_images", {"directory": str(tmp_path), "wait_seconds": 30})
        ).structured_content
        assert batch is not None
        ids = [row["id"] for row in batch["rows"]]
        assert len(ids) == 2
        assert all(ids)
        thumbnails = [(await _images(client, document_id))["thumbnail"] for document_id in ids]
    assert all(t.startswith("data:image/") for t in thumbnails)


async def test_an_image_answered_from_the_cache_still_gets_its_thumbnail(tmp_path: Path) -> None:
    """A fresh server (an empty image store) answering from the shared cache file: the detector
    hands the image over on the cache hit too, not only after a submission."""
    sandbox = quick_sandbox()
    cache = str(tmp_path / "cache.sqlite")
    async with Client(_server(tmp_path, sandbox, cache_path=cache)) as first:
        paid = (
            await first.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 30})
        ).structured_content
    async with Client(_server(tmp_path, sandbox, cache_path=cache), extensions=[APPS]) as second:
        cached = (
            await second.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 30})
        ).structured_content
        assert paid is not None
        assert cached is not None
        assert cached["cached"] is True
        assert cached["id"] == paid["id"]
        images = await _images(second, cached["id"])
    assert images["thumbnail"].startswith("data:image/")


async def test_a_downloaded_image_gets_its_thumbnail_before_its_copy_is_removed(tmp_path: Path) -> None:
    """A URL's bytes live in a temporary file the detector removes once uploaded: the image is
    handed over before that."""

    async def sample(request: Request) -> Response:
        return Response(CAMERA_JPG.read_bytes(), media_type="image/jpeg")

    with serve_app(Starlette(routes=[Route("/photo.jpg", sample)])) as base_url:
        async with Client(_server(tmp_path, allow_private_urls=True), extensions=[APPS]) as client:
            report = (
                await client.call_tool("detect_image", {"url": f"{base_url}/photo.jpg", "wait_seconds": 30})
            ).structured_content
            assert report is not None
            assert report["source"]["kind"] == "url"
            images = await _images(client, report["id"])
    assert images["thumbnail"].startswith("data:image/jpeg")


async def test_a_client_without_mcp_apps_reads_the_same_results_and_no_image_is_kept(tmp_path: Path) -> None:
    """Same server, same bytes, two clients: the one that does not render MCP Apps gets the same
    text and structured content, id and timing aside, and its detections leave no thumbnail."""
    server = _server(tmp_path)
    results: dict[str, list[CallToolResult]] = {}
    thumbnails: dict[str, str | None] = {}
    for label, extensions in (("apps", [APPS]), ("plain", [])):
        async with Client(server, extensions=extensions) as client:
            single = await client.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 30})
            assert single.structured_content is not None
            again = await client.call_tool("get_result", {"id": single.structured_content["id"]})
            results[label] = [single, again]
            thumbnails[label] = (await _images(client, single.structured_content["id"]))["thumbnail"]
    assert [_as_seen(r) for r in results["plain"]] == [_as_seen(r) for r in results["apps"]]
    assert thumbnails["apps"] is not None
    assert thumbnails["plain"] is None
