"""The evidence view (MCP App) in a real browser, fed with real results over the MCP client.

Debian's chromium, driven by Playwright (no browser download), opens a host page on 127.0.0.1
that speaks the host side of MCP Apps with the official `AppBridge` of
@modelcontextprotocol/ext-apps (built into tests/e2e/host/app-bridge.js by ui/build.mjs). The
view is the `ui://truthscan/report.html` resource as the server serves it, under a CSP that
allows no domain at all; every tool call it makes goes to the server through the SDK's
in-process `Client`, which advertises MCP Apps. One browser and one server (with the quick
simulator and millisecond polls) serve the whole module; each test gets a fresh page.
Screenshots go to a temporary directory (or TRUTHSCAN_UI_SHOTS), with the measured render times
in figures.json; TRUTHSCAN_UI_UPDATE_DOCS=1 also refreshes docs/evidence-view.png.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.types import TextResourceContents

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    ROOT,
    StaticSite,
    make_server,
    make_settings,
    quick_sandbox,
    serve_app,
    structured,
)
from truthscan_mcp.adapter.evidence_view import REPORT_URI

CHROMIUM = Path("/usr/bin/chromium")
HOST_DIR = Path(__file__).parent / "host"

try:
    from playwright.async_api import Browser, ConsoleMessage, FrameLocator, Page, async_playwright
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
def shots() -> Path:
    folder = Path(os.environ.get("TRUTHSCAN_UI_SHOTS") or tempfile.mkdtemp(prefix="evidence-view-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the two sample images: what the batch tests point `detect_images` at."""
    folder = tmp_path_factory.mktemp("images")
    for sample in (AI_PNG, CAMERA_JPG):
        shutil.copy(sample, folder / sample.name)
    return folder


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
    """One page of the host, the shared MCP client behind it, and what the page logged."""

    client: Client
    page: Page
    base: str
    errors: list[str] = field(default_factory=lambda: list[str]())
    #: when set, the page's get_result calls wait for it (to see a handed-off state on screen)
    hold_get_result: anyio.Event | None = None

    async def call(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await self.client.call_tool(name, arguments)
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def from_page(self, params: dict[str, Any]) -> dict[str, Any]:
        """A tool call the view made through the host, forwarded to the server."""
        if params["name"] == "get_result" and self.hold_get_result is not None:
            await self.hold_get_result.wait()
        return await self.call(params["name"], params.get("arguments") or {})

    async def show(self, result: dict[str, Any], theme: str = "light") -> float:
        """Open the view with a tool result; returns when it started (perf_counter)."""
        await self.page.goto(f"{self.base}/host.html")
        started = time.perf_counter()
        await self.page.evaluate("([r, t]) => window.showView(r, t)", [result, theme])
        return started

    @property
    def view(self) -> FrameLocator:
        return self.page.frame_locator("iframe#view")


@dataclass
class Host:
    """What the module shares: the MCP client (advertising MCP Apps), the served pages, a browser."""

    client: Client
    base: str
    browser: Browser


@pytest.fixture(scope="module")
async def host(images: Path) -> AsyncIterator[Host]:
    assert async_playwright is not None
    # private URLs allowed: the page-sweep test's web page is served on 127.0.0.1
    server = make_server(make_settings(None, images, allow_private_urls=True), sandbox=quick_sandbox())
    async with Client(server, extensions=[APPS]) as client:
        contents = (await client.read_resource(REPORT_URI)).contents[0]
        assert isinstance(contents, TextResourceContents)
        with serve(contents.text) as base:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    yield Host(client, base, browser)
                finally:
                    await browser.close()


@asynccontextmanager
async def session(host: Host, *, width: int = 900) -> AsyncGenerator[Session]:
    """A fresh page of the host (its own browser context), with console errors collected."""
    context = await host.browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = await context.new_page()
        s = Session(host.client, page, host.base)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                s.errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: s.errors.append(str(exc)))
        await page.expose_function("mcpCallTool", s.from_page)  # pyright: ignore[reportUnknownMemberType]
        yield s
    finally:
        await context.close()


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


async def test_a_report_shows_verdict_score_and_the_heatmap_over_the_image(
    host: Host, images: Path, shots: Path
) -> None:
    async with session(host) as s:
        result = await s.call("detect_image", {"path": str(images / AI_PNG.name), "wait_seconds": 60})
        report = result["structuredContent"]
        assert report["complete"] is True
        assert report["heatmap_status"] == "ready"
        started = await s.show(result)
        await s.view.locator("#verdict").filter(has_text=report["verdict"]).wait_for()
        record(shots, "seconds_to_verdict", time.perf_counter() - started)
        heat = s.view.locator("#heat[src^='data:image/']")
        await heat.wait_for(state="attached")
        record(shots, "seconds_to_heatmap", time.perf_counter() - started)
        assert await heat.evaluate("e => e.decode().then(() => e.naturalWidth)") > 0
        assert await s.view.locator("#score").text_content() == f"{round(report['ai_score'])} / 100"
        assert await s.view.locator("#tier").text_content() == "Synthetic"
        assert await s.view.locator("#simulated").is_visible()
        assert await s.view.locator("#thumb[src^='data:image/']").is_visible()
        assert "TruthScan's reasoning" in (await s.view.locator("#sections").text_content() or "")
        stack = s.view.locator("#figure .stack")
        await s.view.locator("#opacity").fill("0")
        bare = await stack.screenshot()
        await s.view.locator("#opacity").fill("20")
        assert await heat.evaluate("e => e.style.opacity") == "0.2"
        assert await stack.screenshot() != bare  # the heatmap is drawn over the image
        await s.view.locator("#opacity").fill("50")
        assert "get_report_images" in await s.page.evaluate("window.toolCalls")
        shot = await shoot(s, shots, "single-light")
        if os.environ.get("TRUTHSCAN_UI_UPDATE_DOCS"):  # refresh the README's picture on request only
            shutil.copy(shot, ROOT / "docs" / "evidence-view.png")
        assert s.errors == []


async def test_the_view_follows_the_hosts_dark_theme(host: Host, images: Path, shots: Path) -> None:
    async with session(host) as s:
        result = await s.call("detect_image", {"path": str(images / CAMERA_JPG.name), "wait_seconds": 60})
        await s.show(result, theme="dark")
        await s.view.locator("#verdict").filter(has_text="Real").wait_for()
        await s.view.locator("#thumb[src^='data:image/']").wait_for()
        assert await s.view.locator("html").get_attribute("data-theme") == "dark"
        background = await s.view.locator("body").evaluate("e => getComputedStyle(e).backgroundColor")
        assert background == "rgb(17, 20, 24)"
        await shoot(s, shots, "single-dark")
        assert s.errors == []


async def test_a_handed_off_detection_finishes_itself_through_get_result(host: Host, images: Path) -> None:
    async with session(host) as s:
        s.hold_get_result = anyio.Event()  # the page's first poll waits until its state was seen
        result = await s.call("detect_image", {"path": str(images / AI_PNG.name), "wait_seconds": 0})
        assert result["structuredContent"]["complete"] is False
        await s.show(result)
        await s.view.locator("#progress").filter(has_text="still working").wait_for()
        s.hold_get_result.set()
        await s.view.locator("#verdict").filter(has_text="AI Generated").wait_for(timeout=20_000)
        await s.view.locator("#progress").wait_for(state="hidden")
        await s.view.locator("#heat[src^='data:image/']").wait_for(state="attached")
        assert "get_result" in await s.page.evaluate("window.toolCalls")
        assert s.errors == []


async def test_a_batch_is_a_sortable_grid_whose_cards_open_their_reports(
    host: Host, images: Path, shots: Path
) -> None:
    async with session(host) as s:
        result = await s.call("detect_images", {"directory": str(images), "wait_seconds": 60})
        rows = result["structuredContent"]["rows"]
        assert len(rows) == 2
        started = await s.show(result)
        cards = s.view.locator("#grid .card")
        await cards.nth(len(rows) - 1).wait_for()
        await s.view.locator("#grid img.thumb[src^='data:image/']").nth(len(rows) - 1).wait_for()
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


async def test_a_batch_in_the_dark_at_a_narrow_width_does_not_overflow(
    host: Host, images: Path, shots: Path
) -> None:
    async with session(host, width=360) as s:
        result = await s.call("detect_images", {"directory": str(images), "wait_seconds": 60})
        await s.show(result, theme="dark")
        rows = result["structuredContent"]["rows"]
        await s.view.locator("#grid img.thumb").nth(len(rows) - 1).wait_for()
        overflow = await s.view.locator("html").evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0
        await shoot(s, shots, "batch-dark-360")
        assert s.errors == []


# --- getting the image in: the drop zone in the view, and the upload page ---------------------


def requests_of(page: Page) -> list[str]:
    """Every URL the page (and its frames) asks for, from now on."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


async def test_a_file_set_on_the_drop_zone_ends_in_a_rendered_verdict_and_the_model_is_told(
    host: Host, images: Path, shots: Path
) -> None:
    async with session(host) as s:
        seen = requests_of(s.page)
        result = await s.call("request_image", {"note": "the photo from the group chat"})
        assert "_meta" not in result.get("structuredContent", {})
        await s.show(result)
        zone = s.view.locator("#dropzone")
        await zone.wait_for()
        assert await s.view.locator("#drop-note").text_content() == (
            "Your assistant asks: the photo from the group chat"
        )
        assert await s.view.locator("#drop-picker").get_attribute("type") == "file"
        shot = await shoot(s, shots, "drop-zone-light")
        if os.environ.get("TRUTHSCAN_UI_UPDATE_DOCS"):
            shutil.copy(shot, ROOT / "docs" / "drop-zone.png")
        started = time.perf_counter()
        await s.view.locator("#drop-picker").set_input_files(str(images / AI_PNG.name))
        await s.view.locator("#verdict").filter(has_text="AI Generated").wait_for(timeout=30_000)
        record(shots, "seconds_from_dropped_file_to_verdict", time.perf_counter() - started)
        assert await s.view.locator("#tier").text_content() == "Synthetic"
        assert await s.view.locator("#report-title").text_content() == AI_PNG.name
        await s.view.locator("#thumb[src^='data:image/']").wait_for()
        calls = await s.page.evaluate("window.toolCalls")
        assert calls[:2] == ["submit_upload", "detect_image"]
        for _ in range(100):
            if await s.page.evaluate("window.messages.length"):
                break
            await s.page.wait_for_timeout(50)
        context = await s.page.evaluate("window.modelContext")
        messages = await s.page.evaluate("window.messages")
        await shoot(s, shots, "drop-zone-verdict")
        assert s.errors == []
    told = context[0]["content"][0]["text"]
    assert AI_PNG.name in told
    assert "AI Generated" in told
    assert "probability, not proof" in told
    assert messages[0]["role"] == "user"
    assert "AI Generated" in messages[0]["content"][0]["text"]
    # the view loads nothing and calls nothing but the host: its bytes went page → host → server
    assert {url.split("?")[0] for url in seen} <= {
        f"{host.base}/host.html",
        f"{host.base}/app-bridge.js",
        f"{host.base}/view.html",
    }


async def test_the_drop_zone_follows_the_dark_theme_and_refuses_a_file_that_is_no_image(
    host: Host, tmp_path: Path, shots: Path
) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image\n" * 200)
    async with session(host) as s:
        await s.show(await s.call("request_image", {}), theme="dark")
        await s.view.locator("#dropzone").wait_for()
        await s.view.locator("#drop-picker").set_input_files(str(text))
        status = s.view.locator("#drop-status")
        await status.filter(has_text="not a supported image").wait_for(timeout=20_000)
        assert await s.view.locator("html").get_attribute("data-theme") == "dark"
        await shoot(s, shots, "drop-zone-dark-refused")
        assert await s.page.evaluate("window.toolCalls") == ["submit_upload"]  # nothing spent
        assert s.errors == []


async def test_the_upload_page_in_a_browser_says_received_after_a_file_is_chosen(
    host: Host, images: Path, shots: Path
) -> None:
    upload = (await host.client.call_tool("request_image", {"note": "the beach photo"})).structured_content
    assert upload is not None
    context = await host.browser.new_context(viewport={"width": 720, "height": 640}, color_scheme="light")
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        seen = requests_of(page)
        await page.goto(upload["upload_url"])
        picker = page.get_by_label("Drop the image here")  # the file input is labelled by the zone
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.id") == "picker"  # reachable by keyboard
        await page.screenshot(path=str(shots / "upload-page-light.png"))
        await picker.set_input_files(str(images / CAMERA_JPG.name))
        await page.locator("#status").filter(has_text="go back to your assistant").wait_for(timeout=20_000)
        assert "Received camera-photo.jpg" in (await page.locator("#status").text_content() or "")
        await page.screenshot(path=str(shots / "upload-page-received.png"))
        await page.emulate_media(color_scheme="dark")
        background = await page.locator("body").evaluate("e => getComputedStyle(e).backgroundColor")
        assert background == "rgb(17, 20, 24)"
        await page.screenshot(path=str(shots / "upload-page-dark.png"))
        assert errors == []
        origin = upload["upload_url"].split("/upload/")[0]
        assert all(url.startswith(origin) for url in seen)  # nothing from anywhere else
    finally:
        await context.close()
    report = structured(await host.client.call_tool("detect_image", {"upload": upload["upload_id"]}))
    assert report["verdict"] == "Real"
    assert report["source"]["name"] == CAMERA_JPG.name


DROP = """(zone, [b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  for (const kind of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(kind, { dataTransfer: data, bubbles: true, cancelable: true }));
  }
}"""


async def test_an_image_dragged_onto_the_drop_zone_is_checked(host: Host, images: Path) -> None:
    async with session(host) as s:
        await s.show(await s.call("request_image", {}))
        zone = s.view.locator("#dropzone")
        await zone.wait_for()
        data = base64.b64encode((images / CAMERA_JPG.name).read_bytes()).decode()
        await zone.evaluate(DROP, [data, "dragged.jpg", "image/jpeg"])
        await s.view.locator("#verdict").filter(has_text="Real").wait_for(timeout=30_000)
        assert await s.view.locator("#report-title").text_content() == "dragged.jpg"
        assert (await s.page.evaluate("window.toolCalls"))[:2] == ["submit_upload", "detect_image"]
        assert s.errors == []


async def test_a_page_sweep_shows_the_pages_title_and_each_images_alt_text_as_the_pages_words(
    host: Host, shots: Path
) -> None:
    site = StaticSite()
    site.page(
        "/story",
        "<title>Storm over the harbour</title>"
        '<img src="/boat.png" alt="A boat in the storm"><img src="/pier.jpg" alt="The pier at dawn">'
        '<img src="/pixel.png">',
    )
    site.image("/boat.png", AI_PNG.read_bytes())
    site.image("/pier.jpg", CAMERA_JPG.read_bytes())
    site.image("/pixel.png", AI_PNG.read_bytes()[:200])
    with serve_app(site) as base:
        async with session(host) as s:
            result = await s.call("detect_images", {"page": f"{base}/story", "wait_seconds": 60})
            assert result["structuredContent"]["page_title"] == "Storm over the harbour"
            await s.show(result)
            await s.view.locator("#grid img.thumb[src^='data:image/']").nth(1).wait_for()
            assert (
                await s.view.locator("#page-title").text_content()
                == "The page says: “Storm over the harbour”"
            )
            assert await s.view.locator("#page-url").text_content() == f"{base}/story"
            alts = sorted(await s.view.locator("#grid .card .alt").all_text_contents())
            assert alts == ["the page says: “A boat in the storm”", "the page says: “The pier at dawn”"]
            assert (await s.view.locator("#batch-title").text_content() or "").startswith(
                "Page sweep: 2 images"
            )
            assert "1 image not detected" in (await s.view.locator("#skipped-title").text_content() or "")
            await shoot(s, shots, "page-sweep-light")
            assert s.errors == []
