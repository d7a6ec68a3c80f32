"""Never a surprise bill: the daily cap across processes, `max_detections`, and asking first.

Driven through the official MCP client — in process, and as server processes over stdio that
share one cache file — against the loopback sandbox, whose own counters say what was
uploaded and paid (`/detect`), never what the server says about itself.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult, TextResourceContents

from tests.support import (
    CAMERA_JPG,
    KEY,
    SandboxServer,
    assert_error,
    make_server,
    make_settings,
    serve_app,
    structured,
    text_of,
)
from tests.support.servers import StaticSite
from truthscan_mcp.sandbox import FaultRule, SandboxConfig
from truthscan_mcp.settings import Settings

pytestmark = pytest.mark.anyio

#: the two protocol eras: the initialize handshake (elicitation as a standalone request) and
#: 2026-07-28 (elicitation inside `input_required`)
ERAS = ("legacy", "2026-07-28")


def quick(server: SandboxServer) -> None:
    server.sandbox.config = SandboxConfig(processing_seconds=0.15, analysis_seconds=0.1, heatmap_seconds=0.1)


def photos(folder: Path, count: int, *, start: int = 0) -> list[str]:
    """`count` different images (each a new detection)."""
    folder.mkdir(parents=True, exist_ok=True)
    camera = CAMERA_JPG.read_bytes()
    paths: list[str] = []
    for n in range(start, start + count):
        path = folder / f"photo-{n:03d}.jpg"
        path.write_bytes(camera + f"variant {n}".encode())
        paths.append(str(path))
    return paths


def paid(server: SandboxServer) -> dict[str, int]:
    stats = server.sandbox.stats
    return {"upload": stats.requests["upload"], "detect": stats.requests["detect"]}


def settings_for(server: SandboxServer, folder: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"cache_path": folder / "c.sqlite3", "wait_seconds": 10.0}
    values.update(overrides)
    return make_settings(server, folder, **values)


async def detect(client: Client, path: str) -> dict[str, Any]:
    result = await client.call_tool(
        "detect_image", {"path": path, "wait_seconds": 10, "deep_analysis": False}
    )
    assert not result.is_error, text_of(result)
    return structured(result)


async def history_of(client: Client) -> dict[str, Any]:
    result = await client.read_resource("truthscan://history")
    (content,) = result.contents
    assert isinstance(content, TextResourceContents)
    return json.loads(content.text)


def stdio_server(server: SandboxServer, cache: Path, folder: Path, **extra: str) -> StdioServerParameters:
    env = {
        "TRUTHSCAN_API_URL": server.api_url,
        "TRUTHSCAN_STORAGE_URL": server.storage_url,
        "TRUTHSCAN_API_KEY": KEY,
        "TRUTHSCAN_CACHE_PATH": str(cache),
        "TRUTHSCAN_ALLOWED_DIRS": str(folder),
        "TRUTHSCAN_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    return StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp"], env=env)


# --- the daily cap, across processes ---------------------------------------------------------


async def test_two_server_processes_sharing_a_cache_reach_the_cap_together_and_pay_no_more(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    quick(sandbox)
    # Uploads take half a second: every detection has passed the cap check before any is paid,
    # so a check that did not hold its place atomically would let all four through.
    sandbox.sandbox.add_fault(FaultRule(endpoint="upload", kind="delay", delay_seconds=0.5, times=4))
    cache, images = tmp_path / "shared.sqlite3", photos(tmp_path / "p", 6)
    cap = {"TRUTHSCAN_MAX_DETECTIONS_PER_DAY": "3"}
    outcomes: list[tuple[str, Any]] = []
    async with (
        Client(stdio_server(sandbox, cache, tmp_path, **cap)) as first,
        Client(stdio_server(sandbox, cache, tmp_path, **cap)) as second,
    ):

        async def run(client: Client, path: str) -> None:
            result = await client.call_tool("detect_image", {"path": path, "wait_seconds": 10})
            outcomes.append(("error", text_of(result)) if result.is_error else ("ok", structured(result)))

        async with anyio.create_task_group() as tg:
            for client, path in zip([first, second, first, second], images[:4], strict=True):
                tg.start_soon(run, client, path)
        assert sorted(kind for kind, _ in outcomes) == ["error", "ok", "ok", "ok"], outcomes
        (refusal,) = [text for kind, text in outcomes if kind == "error"]
        assert "daily limit of 3 paid detections is reached" in refusal
        assert paid(sandbox)["detect"] == 3
        before = paid(sandbox)

        refused = await second.call_tool("detect_image", {"path": images[4], "wait_seconds": 10})
        again = await first.call_tool("detect_image", {"path": images[5], "wait_seconds": 10})
        assert paid(sandbox) == before  # not even an upload
        for result in (refused, again):
            text = assert_error(result, "daily limit of 3 paid detections is reached", "nothing was uploaded")
            assert "TRUTHSCAN_MAX_DETECTIONS_PER_DAY" in text
            assert "resets at 00:00 UTC" in text

        known = next(report for kind, report in outcomes if kind == "ok")
        cached = await detect(second, _path_of(known, images))
        assert cached["cached"] is True  # an answer from the cache after the cap: free
        assert paid(sandbox) == before

        for client in (first, second):
            credits = structured(await client.call_tool("check_credits", {}))
            assert (credits["detections_today"], credits["daily_limit"]) == (3, 3)
            assert "3 paid detections today (UTC) of a daily limit of 3: 0 left" in credits["summary"]
            history = await history_of(client)
            assert (history["detections_today"], history["daily_limit"]) == (3, 3)


def _path_of(report: dict[str, Any], images: list[str]) -> str:
    return next(p for p in images if Path(p).name == report["source"]["name"])


@pytest.mark.parametrize(
    ("started_with", "knob"),
    [
        ("environment", "TRUTHSCAN_MAX_DETECTIONS_PER_DAY"),
        ("command_line", "--max-detections-per-day"),
        ("bundle", '"Daily detection limit"'),
    ],
)
async def test_a_batch_that_would_cross_the_cap_is_refused_whole_naming_the_knob(
    sandbox: SandboxServer, tmp_path: Path, started_with: str, knob: str
) -> None:
    quick(sandbox)
    settings = settings_for(sandbox, tmp_path, max_detections_per_day=4)
    if started_with == "command_line":
        settings.given_on_command_line({"max_detections_per_day"})
    elif started_with == "bundle":
        settings.launched_by("bundle")
    images = photos(tmp_path / "p", 5)
    async with Client(make_server(settings)) as client:
        await detect(client, images[0])  # one of today's four
        before = paid(sandbox)
        result = await client.call_tool("detect_images", {"paths": [*images[1:], str(_new(tmp_path))]})
        assert paid(sandbox) == before
        text = assert_error(result, "would pay for 5 new detections", "only 3 of today's 4 are left")
        assert "The whole batch was refused: nothing was uploaded or spent" in text
        assert "resets at 00:00 UTC" in text
        assert knob in text
        assert "at most 3 new images" in text

        fits = await client.call_tool("detect_images", {"paths": images[:4], "wait_seconds": 10})
    assert not fits.is_error, text_of(fits)
    assert structured(fits)["totals"]["detections_paid"] == 3  # the first image was free
    assert paid(sandbox)["detect"] == 4


def _new(folder: Path) -> Path:
    path = folder / "p" / "one-more.jpg"
    path.write_bytes(CAMERA_JPG.read_bytes() + b"one more")
    return path


# --- max_detections: the real plan -----------------------------------------------------------


async def test_max_detections_counts_only_what_would_be_paid(sandbox: SandboxServer, tmp_path: Path) -> None:
    quick(sandbox)
    images = photos(tmp_path / "p", 4)
    async with Client(make_server(settings_for(sandbox, tmp_path))) as client:
        await detect(client, images[0])
        await detect(client, images[1])
        before = paid(sandbox)
        # four inputs and a duplicate, two of them known: two new detections
        batch = {"paths": [*images, images[3]], "wait_seconds": 10}
        too_many = await client.call_tool("detect_images", {**batch, "max_detections": 1})
        assert paid(sandbox) == before
        assert_error(too_many, "would pay for 2 new detections", "more than max_detections=1", "nothing was")
        allowed = await client.call_tool("detect_images", {**batch, "max_detections": 2})
    assert not allowed.is_error, text_of(allowed)
    assert structured(allowed)["totals"]["detections_paid"] == 2
    assert paid(sandbox)["detect"] == before["detect"] + 2


# --- asking first ----------------------------------------------------------------------------


@dataclass
class Person:
    """An elicitation callback: answers every question the same way, and notes what it saw."""

    action: Literal["accept", "decline", "cancel"]
    server: SandboxServer
    questions: list[str] = field(default_factory=list[str])
    uploads_when_asked: list[int] = field(default_factory=list[int])

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.questions.append(params.message)
        self.uploads_when_asked.append(self.server.sandbox.stats.requests["upload"])
        content: dict[str, str | int | float | bool | list[str] | None] | None = (
            {"spend": True} if self.action == "accept" else None
        )
        return ElicitResult(action=self.action, content=content)


async def _ask_about_a_batch(
    sandbox: SandboxServer, tmp_path: Path, era: str, action: Literal["accept", "decline", "cancel"]
) -> tuple[Person, Any, dict[str, int]]:
    quick(sandbox)
    images = photos(tmp_path / "p", 5)
    person = Person(action, sandbox)
    settings = settings_for(sandbox, tmp_path, confirm_above=3)
    async with Client(make_server(settings), mode=era, elicitation_callback=person) as client:
        await detect(client, images[0])  # known: answered from the cache, not paid
        before = paid(sandbox)
        result = await client.call_tool("detect_images", {"paths": images, "wait_seconds": 10})
    return person, result, before


@pytest.mark.parametrize("era", ERAS)
async def test_a_batch_above_the_threshold_asks_first_and_accepting_pays_for_exactly_it(
    sandbox: SandboxServer, tmp_path: Path, era: str
) -> None:
    person, result, before = await _ask_about_a_batch(sandbox, tmp_path, era, "accept")
    assert not result.is_error, text_of(result)
    assert len(person.questions) == 1
    question = person.questions[0]
    assert "Spend 4 TruthScan detections (4 credits) on this batch?" in question
    assert "credits left" in question
    assert "1 other image is already known or duplicates: answered from the cache, not paid" in question
    assert person.uploads_when_asked == [before["upload"]]  # nothing uploaded before the answer
    assert paid(sandbox)["detect"] == before["detect"] + 4
    assert structured(result)["totals"]["detections_paid"] == 4


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize(("action", "words"), [("decline", "declined"), ("cancel", "dismissed the question")])
async def test_declining_or_cancelling_spends_nothing_and_says_so(
    sandbox: SandboxServer, tmp_path: Path, era: str, action: Literal["decline", "cancel"], words: str
) -> None:
    person, result, before = await _ask_about_a_batch(sandbox, tmp_path, era, action)
    assert len(person.questions) == 1
    assert paid(sandbox) == before
    assert_error(result, words, "4 detections", "nothing was uploaded and no credits were spent")


@pytest.mark.parametrize("era", ERAS)
async def test_a_batch_at_the_threshold_is_not_asked_about(
    sandbox: SandboxServer, tmp_path: Path, era: str
) -> None:
    quick(sandbox)
    person = Person("decline", sandbox)
    images = photos(tmp_path / "p", 4)
    settings = settings_for(sandbox, tmp_path, confirm_above=3)
    async with Client(make_server(settings), mode=era, elicitation_callback=person) as client:
        await detect(client, images[0])
        result = await client.call_tool("detect_images", {"paths": images, "wait_seconds": 10})
    assert not result.is_error, text_of(result)
    assert person.questions == []
    assert paid(sandbox)["detect"] == 4


@pytest.mark.parametrize("era", ERAS)
async def test_a_client_without_elicitation_goes_on_under_the_cap(
    sandbox: SandboxServer, tmp_path: Path, era: str
) -> None:
    quick(sandbox)
    images = photos(tmp_path / "p", 6)
    settings = settings_for(sandbox, tmp_path, confirm_above=2, max_detections_per_day=5)
    async with Client(make_server(settings), mode=era) as client:
        within = await client.call_tool("detect_images", {"paths": images[:5], "wait_seconds": 10})
        beyond = await client.call_tool("detect_images", {"paths": images, "wait_seconds": 10})
    assert not within.is_error, text_of(within)
    assert structured(within)["totals"]["detections_paid"] == 5
    assert_error(beyond, "daily limit of 5 paid detections is reached", "nothing was uploaded")
    assert paid(sandbox)["detect"] == 5


@pytest.mark.parametrize("era", ERAS)
async def test_the_person_is_not_asked_about_a_batch_the_cap_refuses_anyway(
    sandbox: SandboxServer, tmp_path: Path, era: str
) -> None:
    quick(sandbox)
    person = Person("accept", sandbox)
    settings = settings_for(sandbox, tmp_path, confirm_above=1, max_detections_per_day=2)
    async with Client(make_server(settings), mode=era, elicitation_callback=person) as client:
        result = await client.call_tool("detect_images", {"paths": photos(tmp_path / "p", 3)})
    assert person.questions == []
    assert_error(result, "only 2 of today's 2 are left")
    assert paid(sandbox)["upload"] == 0


@pytest.mark.parametrize("era", ERAS)
async def test_a_page_sweep_above_the_threshold_asks_first_too(
    sandbox: SandboxServer, tmp_path: Path, era: str
) -> None:
    quick(sandbox)
    site = StaticSite()
    camera = CAMERA_JPG.read_bytes()
    for n in range(4):
        site.image(f"/p{n}.jpg", camera + f"page variant {n}".encode())
    site.page(
        "/gallery", "<html><body>" + "".join(f'<img src="/p{n}.jpg">' for n in range(4)) + "</body></html>"
    )
    person = Person("decline", sandbox)
    settings = settings_for(sandbox, tmp_path, confirm_above=3, allow_private_urls=True)
    with serve_app(site) as base:
        async with Client(make_server(settings), mode=era, elicitation_callback=person) as client:
            result = await client.call_tool("detect_images", {"page": f"{base}/gallery", "wait_seconds": 10})
    assert len(person.questions) == 1
    assert "Spend 4 TruthScan detections" in person.questions[0]
    assert_error(result, "declined", "nothing was uploaded")
    assert paid(sandbox) == {"upload": 0, "detect": 0}
