"""Issue 20: a small file must not take gigabytes, and a paid detection never loses its id.

A client that renders the evidence view (it advertises MCP Apps) gets a thumbnail of every
image it detects. The thumbnail used to decode the image at full size: a few hundred KB of PNG
or a 2 KB lossless WebP of 13000×13000 pixels decoded to gigabytes, and under a memory limit
the `MemoryError` came after `/detect` had been paid, so the client got a bare error without
the document id (a batch row said `id: null`).

Each test runs the real server (`python -m truthscan_mcp` over stdio) under an address-space
limit, against the loopback sandbox, through the SDK's `Client` advertising MCP Apps, with
bombs the test builds itself (tests/support/images.py), and watches the server's peak RSS.
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise

from tests.support import live_env, stdio_params, structured, text_of
from tests.support.images import png_bomb, webp_bomb
from tests.support.memory import PeakRss, limited_server_command, server_child

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.usefixtures("no_user_configuration", "sandbox"),
    pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS is POSIX only"),
]

APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: The server's ceiling: a healthy one reserves a few hundred MB of address space (threads'
#: stacks and arenas included); one full-size decode of a bomb needs more than this.
ADDRESS_SPACE = 1536 * 1024 * 1024
#: What decoding one image may add to the server's resident memory: a thumbnail of an image
#: within the pixel budget takes tens of MB; a bomb's full-size decode takes 0.5 to 3 GB.
RSS_GROWTH_LIMIT = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    made = {"png-13000x13000": ("bomb.png", png_bomb()), "webp-13000x13000": ("bomb.webp", webp_bomb())}
    paths: dict[str, Path] = {}
    for label, (name, data) in made.items():
        paths[label] = folder / name
        paths[label].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
async def client(
    sandbox_server: SandboxServer, bombs: dict[str, Path], anyio_backend: str
) -> AsyncIterator[Client]:
    """One server for the module, under the address-space limit, for a client with MCP Apps."""
    folder = next(iter(bombs.values())).parent
    params = stdio_params(env=live_env(sandbox_server, folder, TRUTHSCAN_LOG_LEVEL="WARNING"))
    params.args = limited_server_command(ADDRESS_SPACE)
    async with Client(params, extensions=[APPS]) as connected:
        await connected.list_tools()
        yield connected


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[Any, int]:
    """The tool's result and how much the server's resident memory grew while it ran."""
    rss = PeakRss(server_child().pid)
    try:
        with anyio.fail_after(60):
            result = await client.call_tool(tool, arguments)
    finally:
        growth = rss.stop()
    print(f"{tool} {arguments}: server RSS +{growth / 2**20:.0f} MB")  # the measurement, with -s
    return result, growth


@pytest.mark.parametrize("bomb", ["png-13000x13000", "webp-13000x13000"])
async def test_a_bomb_is_detected_with_its_id_and_the_server_stays_small(
    client: Client, bombs: dict[str, Path], bomb: str
) -> None:
    arguments = {"path": str(bombs[bomb]), "deep_analysis": False, "wait_seconds": 20, "force": True}
    result, growth = await _call(client, "detect_image", arguments)
    assert not result.is_error, text_of(result)
    report = structured(result)
    assert UUID.match(report["id"] or ""), report
    assert report["id"] in text_of(result)
    assert growth <= RSS_GROWTH_LIMIT, f"{bomb}: the server grew by {growth / 2**20:.0f} MB"


async def test_a_bomb_gets_no_thumbnail_and_a_note_saying_why(client: Client, bombs: dict[str, Path]) -> None:
    detected, _ = await _call(
        client, "detect_image", {"path": str(bombs["png-13000x13000"]), "deep_analysis": False}
    )
    assert not detected.is_error, text_of(detected)
    images, growth = await _call(
        client, "get_report_images", {"id": structured(detected)["id"], "heatmap": False}
    )
    found = structured(images)
    assert found["thumbnail"] is None
    assert "too large" in (found["note"] or ""), found
    assert growth <= RSS_GROWTH_LIMIT


async def test_every_batch_row_keeps_its_id_when_its_thumbnail_cannot_be_made(
    client: Client, bombs: dict[str, Path]
) -> None:
    paths = [str(path) for path in bombs.values()]
    result, growth = await _call(client, "detect_images", {"paths": paths, "wait_seconds": 20, "force": True})
    assert not result.is_error, text_of(result)
    rows = structured(result)["rows"]
    assert [row["error"] for row in rows] == [None] * len(paths), rows
    assert all(UUID.match(row["id"] or "") for row in rows), rows
    assert growth <= RSS_GROWTH_LIMIT, f"the batch grew the server by {growth / 2**20:.0f} MB"


async def test_the_server_still_answers_after_the_bombs(client: Client) -> None:
    result, _ = await _call(client, "health", {})
    assert not result.is_error, text_of(result)
