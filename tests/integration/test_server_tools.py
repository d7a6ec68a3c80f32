"""The tools, through the SDK's `Client` connected in-process, in both protocol modes.

Two setups: `--sandbox` mode (the built-in simulator, no key, no socket) for the happy paths,
and a server pointed at the loopback sandbox over real HTTP, where a test can inject faults
and count what reached the "API".
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import stamina
from mcp import Client
from mcp.types import Tool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    CREDITS_FIELDS,
    DETECT_ARGUMENTS,
    GET_RESULT_ARGUMENTS,
    HEALTH_FIELDS,
    KEY,
    REPORT_FIELDS,
    TOOL_NAMES,
    ProgressLog,
    assert_error,
    assert_valid_output,
    cancel_detection_while_polling,
    images_of,
    make_server,
    make_settings,
    quick_sandbox,
    serve_app,
    structured,
    text_of,
)
from truthscan_mcp.sandbox import FaultRule

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]

UUID_LIKE = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture(scope="module")
def allowed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("allowed")


@pytest.fixture(scope="module")
async def sandboxed(mode: str, allowed_dir: Path, anyio_backend: str) -> AsyncIterator[Client]:
    """A client of a `--sandbox` server, shared by the tests of a module like a desktop app's."""
    server = make_server(make_settings(None, allowed_dir), sandbox=quick_sandbox())
    async with Client(server, mode=mode) as client:
        yield client


@pytest.fixture(scope="module")
async def live_client(
    mode: str, sandbox_server: SandboxServer, allowed_dir: Path, anyio_backend: str
) -> AsyncIterator[Client]:
    async with Client(make_server(make_settings(sandbox_server, allowed_dir)), mode=mode) as client:
        yield client


@pytest.fixture
def live(live_client: Client, sandbox: SandboxServer) -> Client:
    """A client of a server that talks to the loopback sandbox (reset for this test) as TruthScan."""
    return live_client


async def tools_of(client: Client) -> dict[str, Tool]:
    return {tool.name: tool for tool in (await client.list_tools()).tools}


async def assert_still_serving(client: Client) -> None:
    result = await client.call_tool("health", {})
    assert not result.is_error, text_of(result)
    assert structured(result)["reachable"] is True


def properties(schema: dict[str, Any] | None) -> dict[str, Any]:
    assert schema is not None
    return dict(schema.get("properties", {}))


def bounds(prop: dict[str, Any]) -> tuple[float | None, float | None]:
    """(minimum, maximum) of a property, looking inside an optional's anyOf."""
    for candidate in [prop, *prop.get("anyOf", [])]:
        if "minimum" in candidate or "maximum" in candidate:
            return candidate.get("minimum"), candidate.get("maximum")
    return None, None


# --- the listing matches the contract -------------------------------------------------------


async def test_lists_exactly_the_contract_tools_and_the_batch_tool(sandboxed: Client) -> None:
    assert set(await tools_of(sandboxed)) == TOOL_NAMES


async def test_detect_image_takes_exactly_the_contract_arguments_and_defaults(sandboxed: Client) -> None:
    schema = (await tools_of(sandboxed))["detect_image"].input_schema
    props = properties(schema)
    assert set(props) == DETECT_ARGUMENTS
    assert not schema.get("required")
    assert props["deep_analysis"]["default"] is True
    for flag in ("include_heatmap", "preview", "force"):
        assert props[flag]["default"] is False, flag
    assert bounds(props["wait_seconds"]) == (0, 600)
    assert all(props[name].get("description") for name in DETECT_ARGUMENTS)


async def test_get_result_takes_an_id_a_bounded_wait_and_include_heatmap(sandboxed: Client) -> None:
    schema = (await tools_of(sandboxed))["get_result"].input_schema
    props = properties(schema)
    assert set(props) == GET_RESULT_ARGUMENTS
    assert schema.get("required") == ["id"]
    assert props["wait_seconds"]["default"] == 0
    assert bounds(props["wait_seconds"]) == (0, 600)
    assert props["include_heatmap"]["default"] is False


async def test_check_credits_and_health_take_no_arguments(sandboxed: Client) -> None:
    tools = await tools_of(sandboxed)
    for name in ("check_credits", "health"):
        assert properties(tools[name].input_schema) == {}, name
        assert not tools[name].input_schema.get("required"), name


async def test_annotations_are_honest(sandboxed: Client) -> None:
    tools = await tools_of(sandboxed)
    detect = tools["detect_image"].annotations
    assert detect is not None
    assert (
        detect.read_only_hint,
        detect.destructive_hint,
        detect.idempotent_hint,
        detect.open_world_hint,
    ) == (
        False,
        False,
        True,
        True,
    )
    for name in ("get_result", "check_credits", "health"):
        annotations = tools[name].annotations
        assert annotations is not None, name
        assert annotations.read_only_hint is True, name


async def test_every_tool_has_a_title_and_a_description_for_a_model(sandboxed: Client) -> None:
    for tool in (await tools_of(sandboxed)).values():
        assert tool.title, tool.name
        assert tool.description is not None, tool.name
        assert len(tool.description) > 80, tool.name


async def test_report_tools_declare_every_report_field_in_their_output_schema(sandboxed: Client) -> None:
    tools = await tools_of(sandboxed)
    for name in ("detect_image", "get_result"):
        assert set(properties(tools[name].output_schema)) >= REPORT_FIELDS, name


async def test_credits_and_health_declare_their_fields_in_their_output_schema(sandboxed: Client) -> None:
    tools = await tools_of(sandboxed)
    assert set(properties(tools["check_credits"].output_schema)) >= CREDITS_FIELDS
    assert set(properties(tools["health"].output_schema)) >= HEALTH_FIELDS


async def test_server_instructions_say_a_verdict_is_a_probability_to_quote_not_overstate(
    sandboxed: Client,
) -> None:
    instructions = sandboxed.instructions or ""
    for word in ("detect_image", "get_result", "probability", "reasoning", "overstate", "simulated"):
        assert word in instructions, word


# --- happy paths in --sandbox mode ----------------------------------------------------------


async def test_detect_by_path_flags_the_ai_sample_as_ai_generated_with_reasoning(sandboxed: Client) -> None:
    result = await sandboxed.call_tool("detect_image", {"path": str(AI_PNG)})
    report = structured(result)
    assert not result.is_error
    assert_valid_output(result, (await tools_of(sandboxed))["detect_image"])
    assert (report["status"], report["complete"], report["verdict"]) == ("done", True, "AI Generated")
    assert report["ai_score"] > 50
    assert report["simulated"] is True
    assert report["analysis_status"] == "done"
    assert report["analysis"]["reasoning"]
    assert report["source"]["kind"] == "path"
    assert report["source"]["name"] == "ai-generated.png"
    assert report["next_step"] is None
    assert images_of(result) == []


async def test_detect_by_path_finds_the_camera_photo_real(sandboxed: Client) -> None:
    result = await sandboxed.call_tool("detect_image", {"path": str(CAMERA_JPG)})
    report = structured(result)
    assert (report["verdict"], report["complete"], report["simulated"]) == ("Real", True, True)
    assert report["ai_score"] < 50


async def test_text_block_carries_verdict_score_reasoning_and_id_and_says_simulated(
    sandboxed: Client,
) -> None:
    result = await sandboxed.call_tool("detect_image", {"path": str(AI_PNG)})
    report, text = structured(result), text_of(result)
    assert "AI Generated" in text
    assert f"{report['ai_score']:.1f}" in text
    assert report["analysis"]["reasoning"][:60] in text
    assert report["analysis"]["key_indicators"][0][:50] in text
    assert report["id"] in text
    assert "SIMULATED" in text
    assert "{" not in text, "the text block is for a model to read, not a JSON dump"


async def test_detect_by_base64_data(sandboxed: Client) -> None:
    data = base64.b64encode(AI_PNG.read_bytes()).decode()
    report = structured(await sandboxed.call_tool("detect_image", {"data": data, "deep_analysis": False}))
    assert (report["verdict"], report["source"]["kind"]) == ("AI Generated", "data")
    assert report["source"]["media_type"] == "image/png"
    assert report["analysis_status"] == "not_requested"


async def test_detect_by_data_uri(sandboxed: Client) -> None:
    uri = "data:image/jpeg;base64," + base64.b64encode(CAMERA_JPG.read_bytes()).decode()
    report = structured(await sandboxed.call_tool("detect_image", {"data": uri, "deep_analysis": False}))
    assert (report["verdict"], report["source"]["kind"]) == ("Real", "data")
    assert report["source"]["bytes"] == CAMERA_JPG.stat().st_size


async def test_detect_by_url_downloads_the_image_itself(mode: str, tmp_path: Path) -> None:
    served: list[str] = []

    async def sample(request: Request) -> Response:
        served.append(request.url.path)
        return Response(AI_PNG.read_bytes(), media_type="image/png")

    app = Starlette(routes=[Route("/images/photo.png", sample)])
    settings = make_settings(None, tmp_path, allow_private_urls=True)
    with serve_app(app) as base_url:
        async with Client(make_server(settings, sandbox=quick_sandbox()), mode=mode) as client:
            result = await client.call_tool(
                "detect_image", {"url": f"{base_url}/images/photo.png", "deep_analysis": False}
            )
    report = structured(result)
    assert served == ["/images/photo.png"]
    assert (report["verdict"], report["source"]["kind"]) == ("AI Generated", "url")
    assert report["source"]["sha256"] is not None


async def test_include_heatmap_attaches_the_heatmap_as_a_png_image_block(sandboxed: Client) -> None:
    result = await sandboxed.call_tool("detect_image", {"path": str(AI_PNG), "include_heatmap": True})
    report = structured(result)
    assert report["heatmap_status"] == "ready"
    [image] = images_of(result)
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(image) > 100


async def test_preview_asks_for_a_preview_url(sandboxed: Client) -> None:
    result = await sandboxed.call_tool("detect_image", {"path": str(CAMERA_JPG), "preview": True})
    report = structured(result)
    assert report["preview_url"]
    assert report["preview_url"] in text_of(result)


async def test_get_result_returns_the_report_of_a_known_id(sandboxed: Client) -> None:
    detected = structured(await sandboxed.call_tool("detect_image", {"path": str(AI_PNG)}))
    result = await sandboxed.call_tool("get_result", {"id": detected["id"]})
    report = structured(result)
    assert not result.is_error
    assert_valid_output(result, (await tools_of(sandboxed))["get_result"])
    assert report["id"] == detected["id"]
    assert (report["verdict"], report["ai_score"], report["complete"]) == (
        detected["verdict"],
        detected["ai_score"],
        True,
    )
    assert report["analysis"]["reasoning"] == detected["analysis"]["reasoning"]
    assert report["source"]["kind"] == "id"
    assert detected["id"] in text_of(result)


async def test_check_credits_decrease_after_a_detection(sandboxed: Client) -> None:
    tool = (await tools_of(sandboxed))["check_credits"]
    before_result = await sandboxed.call_tool("check_credits", {})
    assert_valid_output(before_result, tool)
    before = structured(before_result)
    assert before["credits"] == before["base_credits"] + before["boost_credits"] > 0
    await sandboxed.call_tool("detect_image", {"path": str(CAMERA_JPG), "deep_analysis": False})
    after = structured(await sandboxed.call_tool("check_credits", {}))
    assert after["credits"] < before["credits"]
    assert str(after["credits"]) in text_of(await sandboxed.call_tool("check_credits", {}))


async def test_health_in_sandbox_mode_is_reachable_without_a_key(sandboxed: Client) -> None:
    result = await sandboxed.call_tool("health", {})
    assert_valid_output(result, (await tools_of(sandboxed))["health"])
    health = structured(result)
    assert health["reachable"] is True
    assert health["api_key_configured"] is False
    assert health["sandbox"] is True
    assert health["status"] == "healthy"
    assert health["server_version"]
    assert "simulat" in text_of(result).lower()


# --- progress, hand-off and cancellation against the loopback sandbox -----------------------


async def test_progress_is_reported_for_every_phase_strictly_increasing_to_100(live: Client) -> None:
    progress = ProgressLog()
    result = await live.call_tool(
        "detect_image", {"path": str(AI_PNG), "include_heatmap": True}, progress_callback=progress
    )
    assert structured(result)["complete"] is True
    values = progress.values
    assert len(values) >= 6
    assert all(later > earlier for earlier, later in itertools.pairwise(values))
    assert values[-1] == 100
    assert {total for _, total, _ in progress.events} == {100}
    messages = progress.messages.lower()
    for phase in ("validating", "uploading", "submitted", "queued", "deep analysis", "done"):
        assert phase in messages, phase


async def test_detect_image_waits_for_truthscan_wait_seconds_by_default(
    mode: str, sandbox: SandboxServer, allowed_dir: Path
) -> None:
    settings = make_settings(sandbox, allowed_dir, wait_seconds=0)
    async with Client(make_server(settings), mode=mode) as client:
        report = structured(await client.call_tool("detect_image", {"path": str(AI_PNG)}))
    assert report["complete"] is False
    assert "get_result" in report["next_step"]


async def test_zero_wait_hands_off_at_once_with_a_next_step_naming_get_result(
    live: Client, sandbox: SandboxServer
) -> None:
    result = await live.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 0})
    report = structured(result)
    assert not result.is_error
    assert report["complete"] is False
    assert report["id"]
    assert "get_result" in report["next_step"]
    assert report["id"] in report["next_step"]
    assert "get_result" in text_of(result)
    assert sandbox.sandbox.stats.accepted_detects == 1


async def test_get_result_with_a_wait_completes_a_handed_off_detection(
    live: Client, sandbox: SandboxServer
) -> None:
    handed_off = structured(await live.call_tool("detect_image", {"path": str(AI_PNG), "wait_seconds": 0}))
    progress = ProgressLog()
    result = await live.call_tool(
        "get_result", {"id": handed_off["id"], "wait_seconds": 30}, progress_callback=progress
    )
    report = structured(result)
    assert (report["id"], report["complete"], report["verdict"]) == (handed_off["id"], True, "AI Generated")
    assert report["analysis"]["reasoning"]
    assert progress.values
    assert progress.values[-1] == 100
    assert sandbox.sandbox.stats.accepted_detects == 1, "finishing a hand-off spends nothing"


async def test_cancelling_detect_image_stops_polling_at_once_and_the_server_keeps_serving(
    live: Client, sandbox: SandboxServer
) -> None:
    simulator = sandbox.sandbox
    await cancel_detection_while_polling(live, simulator)

    await anyio.sleep(0.2)  # the cancellation crosses to the server (in-process: at once)
    stopped_at = simulator.stats.query_calls
    await anyio.sleep(0.4)  # un-cancelled, a 50 ms poll schedule would have queried ~8 times more by now
    assert simulator.stats.query_calls == stopped_at
    assert simulator.stats.in_flight == 0

    simulator.config.processing_seconds = 0.3
    await assert_still_serving(live)
    result = await live.call_tool("detect_image", {"path": str(CAMERA_JPG), "deep_analysis": False})
    assert structured(result)["verdict"] == "Real"


# --- every error is a tool result with an actionable message, and the server carries on -----


def _bad_inputs(tmp: Path, allowed: Path) -> dict[str, tuple[str, dict[str, Any], tuple[str, ...]]]:
    """case → (tool, arguments, fragments the message must contain)."""
    outside = tmp / "outside.png"
    outside.write_bytes(AI_PNG.read_bytes())
    gif = allowed / "animation.png"  # named .png, sniffed as what it is
    gif.write_bytes(b"GIF89a" + bytes(4096))
    text = allowed / "notes.jpg"
    text.write_text("not an image at all\n" * 200)
    tiny = allowed / "tiny.png"
    tiny.write_bytes(AI_PNG.read_bytes()[:600])
    sample = str(AI_PNG)
    return {
        "no source": ("detect_image", {}, ("exactly one of", "path", "url", "data")),
        "two sources": ("detect_image", {"path": sample, "data": "aGVsbG8="}, ("exactly one",)),
        "missing file": ("detect_image", {"path": str(allowed / "nope.png")}, ("no file at", "nope.png")),
        "outside allowed dirs": (
            "detect_image",
            {"path": str(outside)},
            ("outside the directories", str(allowed), "TRUTHSCAN_ALLOWED_DIRS"),
        ),
        "gif": ("detect_image", {"path": str(gif)}, ("GIF", "Supported formats", "convert")),
        "text file": ("detect_image", {"path": str(text)}, ("not a supported image", "Supported formats")),
        "too small": ("detect_image", {"path": str(tiny)}, ("600 bytes", "at least 1 KB")),
        "bad base64": ("detect_image", {"data": "%%% not base64 %%%"}, ("not valid base64",)),
        "bad id": ("get_result", {"id": "../../etc/passwd"}, ("not a TruthScan document id", "UUID")),
        "wait too long": ("detect_image", {"path": sample, "wait_seconds": 601}, ("wait_seconds", "600")),
        "negative wait": ("detect_image", {"path": sample, "wait_seconds": -1}, ("wait_seconds", "0")),
        "get_result wait too long": (
            "get_result",
            {"id": UUID_LIKE, "wait_seconds": 601},
            ("wait_seconds", "600"),
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "no source",
        "two sources",
        "missing file",
        "outside allowed dirs",
        "gif",
        "text file",
        "too small",
        "bad base64",
        "bad id",
        "wait too long",
        "negative wait",
        "get_result wait too long",
    ],
)
async def test_bad_input_is_refused_before_any_request_and_the_server_keeps_serving(
    case: str, live: Client, sandbox: SandboxServer, tmp_path: Path, allowed_dir: Path
) -> None:
    tool, arguments, fragments = _bad_inputs(tmp_path, allowed_dir)[case]
    result = await live.call_tool(tool, arguments)
    assert_error(result, *fragments)
    assert sum(sandbox.sandbox.stats.requests.values()) == 0, "nothing may reach TruthScan"
    await assert_still_serving(live)


async def test_an_unknown_document_id_is_reported_as_not_found(live: Client) -> None:
    result = await live.call_tool("get_result", {"id": UUID_LIKE})
    assert_error(result, UUID_LIKE, "detect_image")
    await assert_still_serving(live)


async def test_an_invalid_key_says_to_check_the_key(
    mode: str, sandbox: SandboxServer, allowed_dir: Path
) -> None:
    settings = make_settings(sandbox, allowed_dir, api_key="invalid-key")
    async with Client(make_server(settings), mode=mode) as client:
        for tool, arguments in (("detect_image", {"path": str(AI_PNG)}), ("check_credits", {})):
            text = assert_error(await client.call_tool(tool, arguments), "rejected the API key")
            assert "TRUTHSCAN_API_KEY" in text
            assert "invalid-key" not in text
        await assert_still_serving(client)
    assert sandbox.sandbox.stats.accepted_detects == 0


async def test_not_enough_credits_points_to_check_credits(live: Client, sandbox: SandboxServer) -> None:
    sandbox.sandbox.set_credits(KEY, 0, 0)
    result = await live.call_tool("detect_image", {"path": str(AI_PNG)})
    assert_error(result, "not enough credits", "check_credits")
    assert sandbox.sandbox.stats.accepted_detects == 0
    await assert_still_serving(live)
    assert structured(await live.call_tool("check_credits", {}))["credits"] == 0


async def test_live_mode_without_a_key_says_how_to_configure_one(
    mode: str, sandbox: SandboxServer, allowed_dir: Path
) -> None:
    settings = make_settings(sandbox, allowed_dir, api_key=None)
    async with Client(make_server(settings), mode=mode) as client:
        for tool, arguments in (("detect_image", {"path": str(AI_PNG)}), ("check_credits", {})):
            assert_error(await client.call_tool(tool, arguments), "No TruthScan API key", "TRUTHSCAN_API_KEY")
        health = structured(await client.call_tool("health", {}))
    assert (health["reachable"], health["api_key_configured"]) == (True, False)
    assert sandbox.sandbox.stats.requests["detect"] == 0
    assert sandbox.sandbox.stats.requests["credits"] == 0


async def test_truthscan_unavailable_is_an_error_and_health_reports_it(
    live: Client, sandbox: SandboxServer
) -> None:
    sandbox.sandbox.add_fault(FaultRule(endpoint="*", kind="status", status=503, times=-1))
    with stamina.set_testing(True, attempts=2):  # retried, but without the real backoff
        text = assert_error(await live.call_tool("detect_image", {"path": str(AI_PNG)}), "try again")
        assert "health" in text
        assert_error(await live.call_tool("check_credits", {}), "try again")
        down = await live.call_tool("health", {})
    assert not down.is_error, "health reports an outage as a finding, not an error"
    assert structured(down)["reachable"] is False
    assert "UNREACHABLE" in text_of(down)
    assert sandbox.sandbox.stats.accepted_detects == 0

    sandbox.sandbox.clear_faults()
    await assert_still_serving(live)
