"""The evidence report in a real browser: it renders offline, loads nothing, and prints whole.

Debian's chromium, driven by Playwright (no browser download), opens the HTML file the
`export_report` tool wrote (through the official MCP client, against the sandbox). Every
request the page makes is recorded: the only one allowed is the file itself. The page is then
printed to PDF on A4 and Letter. Set TRUTHSCAN_UI_SHOTS=DIR to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.support import AI_PNG, CAMERA_JPG, make_server, make_settings, quick_sandbox, structured, text_of
from truthscan_mcp.evidence.facts import EvidenceFacts, HeatmapFacts, PictureFacts
from truthscan_mcp.evidence.page import render_page
from truthscan_mcp.models import Analysis, Custody, DetectionReport, ReportSource

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

try:
    from playwright.async_api import Browser, Page, Request, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
    pytest.mark.skipif(async_playwright is None, reason="needs the playwright Python package"),
]


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("TRUTHSCAN_UI_SHOTS") or tempfile.mkdtemp(prefix="evidence-report-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
async def reports(tmp_path_factory: pytest.TempPathFactory, anyio_backend: str) -> dict[str, Path]:
    """Reports written by export_report for the AI sample (heatmap) and the camera sample."""
    allowed = tmp_path_factory.mktemp("report-browser")
    for sample in (AI_PNG, CAMERA_JPG):
        shutil.copy(sample, allowed / sample.name)
    settings = make_settings(None, allowed, reports_dir=allowed / "reports")
    written: dict[str, Path] = {}
    async with Client(make_server(settings, sandbox=quick_sandbox())) as client:
        for sample in (AI_PNG, CAMERA_JPG):
            detected = await client.call_tool(
                "detect_image",
                {"path": str(allowed / sample.name), "include_heatmap": True, "wait_seconds": 30},
            )
            assert not detected.is_error, text_of(detected)
            result = await client.call_tool("export_report", {"id": structured(detected)["id"]})
            assert not result.is_error, text_of(result)
            written[sample.name] = Path(structured(result)["html_path"])
    return written


@pytest.fixture(scope="module")
async def browser(anyio_backend: str) -> AsyncIterator[Browser]:
    assert async_playwright is not None
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Visit:
    """A page opened on a report file, with every request and console error it produced."""

    def __init__(self, page: Page, url: str) -> None:
        self.page, self.url = page, url
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _request(self, request: Request) -> None:
        if not request.url.startswith("data:"):
            self.requests.append(request.url)

    @property
    def network(self) -> list[str]:
        return [url for url in self.requests if url != self.url]


async def visit(browser: Browser, html: Path, *, width: int = 1000) -> tuple[Visit, Any]:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    seen = Visit(page, html.as_uri())
    await page.goto(html.as_uri(), wait_until="load")
    return seen, context


async def test_the_report_renders_offline_with_the_image_and_heatmap_and_no_request(
    browser: Browser, reports: dict[str, Path], shots: Path
) -> None:
    seen, context = await visit(browser, reports["ai-generated.png"])
    try:
        page = seen.page
        loaded = await page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        assert loaded == [["The checked image", True], ["TruthScan heatmap", True]]
        text = await page.text_content("body") or ""
        for expected in (
            "AI Generated",
            "Synthetic",
            "— TruthScan",
            "Custody",
            "SHA-256 of the checked bytes",
            "Read or fetched at (UTC)",
            "What this result does not mean",
            "not proof",
            "SIMULATED",
        ):
            assert expected in text, expected
        await page.screenshot(path=str(shots / "evidence-report.png"), full_page=True)
        await page.fill("#opacity", "90")  # the overlay control works without any network
        assert await page.eval_on_selector("#heat", "e => e.style.opacity") == "0.9"
        assert seen.network == [], seen.network
        assert seen.errors == [], seen.errors
    finally:
        await context.close()


@pytest.mark.parametrize("paper", ["A4", "Letter"])
async def test_the_report_prints_to_pdf_with_every_table_kept_whole(
    browser: Browser, reports: dict[str, Path], shots: Path, paper: str
) -> None:
    seen, context = await visit(browser, reports["ai-generated.png"])
    try:
        page = seen.page
        await page.emulate_media(media="print")
        unbroken = await page.evaluate(
            "Array.from(document.querySelectorAll('table, blockquote, section.top'))"
            ".map(e => getComputedStyle(e).breakInside)"
        )
        assert unbroken
        assert set(unbroken) == {"avoid"}
        assert await page.eval_on_selector(".controls", "e => getComputedStyle(e).display") == "none"
        pdf = await page.pdf(format=paper, print_background=True)
        assert pdf.startswith(b"%PDF-")
        pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
        assert 1 <= pages <= 4, pages
        (shots / f"evidence-report-{paper}.pdf").write_bytes(pdf)
        assert seen.network == []
        assert seen.errors == []
    finally:
        await context.close()


async def test_a_report_without_a_heatmap_shows_the_image_alone(
    browser: Browser, reports: dict[str, Path]
) -> None:
    seen, context = await visit(browser, reports["camera-photo.jpg"], width=420)  # a phone's width
    try:
        alts = await seen.page.evaluate("Array.from(document.images).map(i => i.alt)")
        assert alts == ["The checked image"]
        assert "Real" in await seen.page.inner_text(".verdict")
        assert seen.network == []
        assert seen.errors == []
    finally:
        await context.close()


async def test_hostile_words_from_truthscan_stay_text_and_load_nothing(
    browser: Browser, tmp_path: Path
) -> None:
    hostile = '<img src="https://evil.example/x.png" onerror="alert(1)"><script>fetch("https://evil.example")</script>'
    report = DetectionReport(
        id="77565038-9e3d-4e6a-8c80-e20785be5ee9",
        status="done",
        complete=True,
        verdict=hostile,
        ai_score=91,
        analysis_status="done",
        analysis=Analysis(
            reasoning=hostile, key_indicators=[hostile], recommendations=['"><iframe src=//x>']
        ),
        source=ReportSource(kind="path", name=hostile),
    )
    now = datetime.now(UTC)
    facts = EvidenceFacts(
        id=report.id or "",
        written_at=now,
        html_file="x.html",
        detection=report,
        custody=Custody(
            source_kind="path",
            source_name=hostile,
            document_id=report.id or "",
            api_url="https://detect-image.truthscan.com",
            simulated=False,
            server_version="test",
            report_written_at=now,
        ),
        picture=PictureFacts(embedded=False, note=hostile),
        heatmap=HeatmapFacts(note=hostile),
    )
    html = tmp_path / "hostile.html"
    html.write_text(render_page(facts, None, None), encoding="utf-8")
    seen, context = await visit(browser, html)
    try:
        assert await seen.page.evaluate("document.images.length") == 0
        assert await seen.page.evaluate("document.querySelectorAll('iframe').length") == 0
        assert await seen.page.evaluate("document.scripts.length") == 1  # the page's own, only
        assert hostile in await seen.page.inner_text("blockquote")  # shown as TruthScan's words
        assert seen.network == []
        assert seen.errors == []
    finally:
        await context.close()
