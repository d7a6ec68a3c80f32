"""The evidence view's server side, over the SDK's in-process Client against the sandbox: the
tools declare the page, the page is served as an MCP App, and its image tool stays app-only,
bounded and free."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.types import TextResourceContents
from PIL import Image

from truthscan_mcp.adapter.apps import REPORT_URI
from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.settings import Settings

pytestmark = pytest.mark.anyio

APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})


def _settings(tmp_path: Path) -> Settings:
    return Settings(sandbox=True, allowed_dirs=[tmp_path], cache_path=None)


async def test_detection_tools_declare_the_page_under_both_keys(tmp_path: Path) -> None:
    async with Client(create_server(_settings(tmp_path))) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("detect_image", "get_result", "detect_images"):
        meta = tools[name].meta or {}
        assert meta["ui"]["resourceUri"] == REPORT_URI
        assert meta["ui/resourceUri"] == REPORT_URI
    assert (tools["get_report_images"].meta or {})["ui"]["visibility"] == ["app"]


async def test_the_page_is_an_mcp_app_that_loads_nothing_from_the_network(tmp_path: Path) -> None:
    async with Client(create_server(_settings(tmp_path))) as client:
        contents = (await client.read_resource(REPORT_URI)).contents[0]
    assert isinstance(contents, TextResourceContents)
    assert contents.mime_type == "text/html;profile=mcp-app"
    html = contents.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "@modelcontextprotocol/ext-apps@" in html
    assert "Permission is hereby granted" in html


async def test_report_images_are_a_bounded_thumbnail_and_the_heatmap_for_no_credits(tmp_path: Path) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (1600, 900), (120, 80, 40)).save(picture, "PNG")
    data = base64.b64encode(picture.getvalue()).decode()
    async with Client(create_server(_settings(tmp_path)), extensions=[APPS]) as client:
        report = (
            await client.call_tool("detect_image", {"data": data, "wait_seconds": 60})
        ).structured_content
        assert report is not None
        credits = (await client.call_tool("check_credits", {})).structured_content
        images = (await client.call_tool("get_report_images", {"id": report["id"]})).structured_content
        after = (await client.call_tool("check_credits", {})).structured_content
    assert images is not None
    assert credits is not None
    assert after is not None
    assert after["credits"] == credits["credits"]
    thumbnail = images["thumbnail"]
    assert thumbnail.startswith("data:image/")
    with Image.open(io.BytesIO(base64.b64decode(thumbnail.split(",", 1)[1]))) as decoded:
        assert max(decoded.size) == 512
    if report["heatmap_status"] == "ready":
        assert images["heatmap"].startswith("data:image/")


async def test_an_unknown_document_gets_a_placeholder_note_not_an_image(tmp_path: Path) -> None:
    async with Client(create_server(_settings(tmp_path)), extensions=[APPS]) as client:
        result = await client.call_tool(
            "get_report_images", {"id": "00000000-0000-4000-8000-000000000000", "heatmap": False}
        )
    assert result.structured_content == {
        "id": "00000000-0000-4000-8000-000000000000",
        "thumbnail": None,
        "heatmap": None,
        "note": "No preview: this server no longer holds the image.",
    }
