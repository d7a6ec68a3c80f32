"""The evidence view (MCP App) in a real browser, fed with real results over the MCP client.

Debian's chromium, driven by Playwright (no browser download), opens a host page on 127.0.0.1
that speaks the host side of MCP Apps with the official `AppBridge` of
@modelcontextprotocol/ext-apps (built into tests/e2e/host/app-bridge.js by ui/build.mjs). The
view is the `ui://truthscan/report.html` resource as the server serves it, under a CSP that
allows no domain at all; every tool call it makes goes to the server through the SDK's
in-process `Client`. Screenshots go to a temporary directory (or TRUTHSCAN_UI_SHOTS), with the
measured render times in figures.json; TRUTHSCAN_UI_UPDATE_DOCS=1 also refreshes
docs/evidence-view.png.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.types import TextResourceContents

import truthscan_mcp.samples
from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
HOST_DIR = Path(__file__).parent / "host"
SAMPLES = Path(truthscan_mcp.samples.__file__).parent
REPO = Path(__file__).resolve().parents[2]

try:
    from playwright.async_api import ConsoleMessage, FrameLocator, Page, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.skipif(async_playwright is None, reason="needs the playwright Python package"),
]

#: What a host applies to an MCP App that declares no domains (the ext-apps spec's default).
VIEW_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "media-src data:; connect-src 'none'; font-src 'none'; frame-src 'none'; base-uri 'none'; "
    "form-action 'none'"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # Playwright's async API runs on asyncio


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("TRUTHSCAN_UI_SHOTS") or tempfile.mkdtemp(prefix="evidence-view-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for sample in SAMPLES.glob("*.*"):
        if sample.suffix in {".png", ".jpg"}:
            shutil.copy(sample, tmp_path / sample.name)
    return tmp_path


@contextmanager
def serve(view_html: str) -> Generator[str]:
    """The host page, the bridge bundle and the view, on 127.0.0.1; the view under VIEW_CSP."""
    routes = {
        "/host.html": ((HOST_DIR / "host.html").read_bytes(), "text/html; charset=utf-8", None),
        "/app-bridge.js": ((HOST_DIR / "app-bridge.js").read_bytes(), "text/javascript", None),
        "/view.html": (view_html.encode(), "text/html; charset=utf-8", VIEW_CSP),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            body, media_type, csp = route
            self.send_response(200)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            if csp:
                self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Session:
    client: Client
    page: Page
    base: str
    errors: list[str] = field(default_factory=lambda: list[str]())

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(name, arguments)
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def show(self, result: dict[str, Any], theme: str = "light") -> float:
        """Open the view with a tool result; the seconds until its verdict is on screen."""
        await self.page.goto(f"{self.base}/host.html")
        started = time.perf_counter()
        await self.page.evaluate("([r, t]) => window.showView(r, t)", [result, theme])
        return started

    @property
    def view(self) -> FrameLocator:
        return self.page.frame_locator("iframe#view")


@asynccontextmanager
async def session(images: Path, *, width: int = 900) -> AsyncGenerator[Session]:
    assert async_playwright is not None
    settings = Settings(sandbox=True, allowed_dirs=[images], cache_path=None)
    async with Client(create_server(settings), extensions=[APPS]) as client:
        resource = await client.read_resource("ui://truthscan/report.html")
        contents = resource.contents[0]
        assert isinstance(contents, TextResourceContents)
        with serve(contents.text) as base:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    page = await browser.new_page(viewport={"width": width, "height": 900})
                    s = Session(client, page, base)

                    def on_console(message: ConsoleMessage) -> None:
                        if message.type == "error":
                            s.errors.append(message.text)

                    page.on("console", on_console)
                    page.on("pageerror", lambda exc: s.errors.append(str(exc)))

                    async def call_tool(params: dict[str, Any]) -> dict[str, Any]:
                        return await s.call(params["name"], params.get("arguments") or {})

                    await page.expose_function("mcpCallTool", call_tool)  # pyright: ignore[reportUnknownMemberType]
                    yield s
                finally:
                    await browser.close()


async def shoot(s: Session, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    # Sized to the view rather than full_page: a full-page capture re-lays out the iframe and
    # can catch it blank.
    height = await s.page.locator("iframe#view").evaluate("e => Math.ceil(e.getBoundingClientRect().height)")
    width = (s.page.viewport_size or {"width": 900})["width"]
    await s.page.set_viewport_size({"width": width, "height": max(200, height)})
    await s.page.wait_for_timeout(300)
    await s.page.screenshot(path=str(path))
    return path


def record(shots: Path, key: str, value: float) -> None:
    figures = shots / "figures.json"
    data: dict[str, float] = json.loads(figures.read_text()) if figures.exists() else {}
    data[key] = round(value, 3)
    figures.write_text(json.dumps(data, indent=2))


async def test_a_report_shows_verdict_score_and_the_heatmap_over_the_image(images: Path, shots: Path) -> None:
    async with session(images) as s:
        result = await s.call("detect_image", {"path": str(images / "ai-generated.png"), "wait_seconds": 60})
        report = result["structuredContent"]
        started = await s.show(result)
        await s.view.locator("#verdict").filter(has_text=report["verdict"]).wait_for()
        record(shots, "seconds_to_verdict", time.perf_counter() - started)
        await s.view.locator("#heat[src^='data:image/']").wait_for(state="attached")
        record(shots, "seconds_to_heatmap", time.perf_counter() - started)
        assert await s.view.locator("#score").text_content() == f"{round(report['ai_score'])} / 100"
        assert await s.view.locator("#tier").text_content() == "Synthetic"
        assert await s.view.locator("#simulated").is_visible()
        assert await s.view.locator("#thumb").is_visible()
        assert "TruthScan's reasoning" in (await s.view.locator("#sections").text_content() or "")
        await s.view.locator("#opacity").fill("20")
        assert await s.view.locator("#heat").evaluate("e => e.style.opacity") == "0.2"
        shot = await shoot(s, shots, "single-light")
        if os.environ.get("TRUTHSCAN_UI_UPDATE_DOCS"):  # refresh the README's picture on request only
            shutil.copy(shot, REPO / "docs" / "evidence-view.png")
        assert s.errors == []


async def test_the_view_follows_the_hosts_dark_theme(images: Path, shots: Path) -> None:
    async with session(images) as s:
        result = await s.call("detect_image", {"path": str(images / "camera-photo.jpg"), "wait_seconds": 60})
        await s.show(result, theme="dark")
        await s.view.locator("#verdict").filter(has_text="Real").wait_for()
        assert await s.view.locator("html").get_attribute("data-theme") == "dark"
        background = await s.view.locator("body").evaluate("e => getComputedStyle(e).backgroundColor")
        assert background == "rgb(17, 20, 24)"
        await shoot(s, shots, "single-dark")
        assert s.errors == []


async def test_a_handed_off_detection_finishes_itself_through_get_result(images: Path, shots: Path) -> None:
    async with session(images) as s:
        result = await s.call("detect_image", {"path": str(images / "ai-generated.png"), "wait_seconds": 0})
        assert result["structuredContent"]["complete"] is False
        await s.show(result)
        await s.view.locator("#progress").filter(has_text="still working").wait_for()
        await s.view.locator("#verdict").filter(has_text="AI Generated").wait_for(timeout=60_000)
        await s.view.locator("#progress").wait_for(state="hidden")
        assert "get_result" in await s.page.evaluate("window.toolCalls")
        assert s.errors == []


async def test_a_batch_is_a_sortable_grid_whose_cards_open_their_reports(images: Path, shots: Path) -> None:
    async with session(images) as s:
        result = await s.call("detect_images", {"directory": str(images), "wait_seconds": 60})
        rows = result["structuredContent"]["rows"]
        started = await s.show(result)
        cards = s.view.locator("#grid .card")
        await cards.nth(len(rows) - 1).wait_for()
        await s.view.locator("#grid img.thumb").nth(len(rows) - 1).wait_for()
        record(shots, "seconds_to_batch_thumbnails", time.perf_counter() - started)
        by_score = sorted(rows, key=lambda r: -(r["ai_score"] or -1))
        first = await cards.nth(0).locator(".name").text_content()
        assert first == by_score[0]["name"]
        await s.view.locator("#sort").select_option("name")
        names = [await cards.nth(i).locator(".name").text_content() for i in range(len(rows))]
        assert names == sorted(r["name"] for r in rows)
        await shoot(s, shots, "batch-light")
        await cards.nth(0).focus()
        await cards.nth(0).press("Enter")
        await s.view.locator("#report-title").filter(has_text=names[0] or "").wait_for()
        await s.view.locator("#back").click()
        await cards.nth(0).wait_for()
        assert s.errors == []


async def test_a_batch_in_the_dark_at_a_narrow_width_does_not_overflow(images: Path, shots: Path) -> None:
    async with session(images, width=360) as s:
        result = await s.call("detect_images", {"directory": str(images), "wait_seconds": 60})
        await s.show(result, theme="dark")
        await s.view.locator("#grid img.thumb").nth(len(result["structuredContent"]["rows"]) - 1).wait_for()
        overflow = await s.view.locator("html").evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0
        await shoot(s, shots, "batch-dark-360")
        assert s.errors == []
