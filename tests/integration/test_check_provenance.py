"""`check_provenance` through the MCP client: the right finding, and not one request to the API.

The server under test talks to the loopback sandbox as if it were TruthScan, so every request
that reached the "API" is counted: each check asserts there were none and no credit was spent.
The images are made by tests/support/provenance.py (a real C2PA signature from c2pa-python's
Builder and a throwaway certificate, XMP in Adobe's form, AUTOMATIC1111/ComfyUI chunks, EXIF).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support import (
    assert_error,
    assert_valid_output,
    fast_sandbox,
    make_server,
    make_settings,
    serve_app,
    structured,
    text_of,
)
from tests.support import provenance as fx
from truthscan_mcp.provenance.generators import IPTC_TERMS

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]

FINDING_OF_KIND = {
    "ai": "ai_declared",
    "edited": "edited_declared",
    "camera": "camera_declared",
    "other": "none",
}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("provenance")


@pytest.fixture(scope="module")
async def live_client(
    sandbox_server: SandboxServer, images: Path, anyio_backend: str
) -> AsyncIterator[Client]:
    async with Client(make_server(make_settings(sandbox_server, images))) as client:
        yield client


@pytest.fixture
def live(live_client: Client, sandbox: SandboxServer) -> Iterator[Client]:
    """The client, and afterwards the proof that the check cost nothing: no request reached the
    API (not one, of any kind) and no credit was spent."""
    yield live_client
    stats = sandbox.sandbox.stats
    assert sum(stats.requests.values()) == 0, stats.requests
    assert (stats.credits_spent, stats.uploads, stats.accepted_detects) == (0, 0, 0)


def write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


async def check(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("check_provenance", arguments)
    assert not result.is_error, text_of(result)
    tool = next(t for t in (await client.list_tools()).tools if t.name == "check_provenance")
    assert_valid_output(result, tool)
    found = structured(result)
    assert found["summary"] == text_of(result)
    assert len(text_of(result)) <= 1500
    return found


# --- what it finds ---------------------------------------------------------------------------


async def test_c2pa_signed_ai_image_is_ai_declared_with_a_valid_untrusted_signature(
    live: Client, images: Path, signed: bytes
) -> None:
    found = await check(live, path=write(images, "signed.png", signed))
    assert found["finding"] == "ai_declared"
    assert found["digital_source_type"] == "trainedAlgorithmicMedia"
    c2pa = found["c2pa"]
    assert (c2pa["present"], c2pa["valid"], c2pa["trusted"]) == (True, True, False)
    assert "c2pa.created" in c2pa["actions"]
    text = found["summary"]
    assert "attributable" in text
    assert "not true" in text


async def test_tampered_pixel_makes_the_signed_manifest_invalid(
    live: Client, images: Path, signed: bytes
) -> None:
    found = await check(live, path=write(images, "tampered.png", fx.tamper_one_pixel(signed)))
    assert (found["c2pa"]["present"], found["c2pa"]["valid"]) == (True, False)
    assert found["c2pa"]["errors"]
    assert "does NOT verify" in found["summary"]


async def test_where_c2pa_python_has_no_wheel_verification_is_not_available_on_this_platform(
    live: Client, images: Path, signed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a platform outside c2pa-python's wheels sees: the dependency's marker left it out, so
    # the import fails. The tool still answers, says why, and still reads the unsigned claim.
    monkeypatch.setitem(sys.modules, "c2pa", None)
    found = await check(live, path=write(images, "signed-elsewhere.png", signed))
    assert (found["c2pa"]["present"], found["c2pa"]["valid"]) == (True, None)
    assert "not available on this platform" in found["c2pa"]["errors"][0]
    assert "not available on this platform" in found["summary"]
    assert found["digital_source_type"] == "trainedAlgorithmicMedia"


@pytest.mark.parametrize("term", sorted(IPTC_TERMS))
async def test_each_iptc_term_in_xmp_gives_its_finding(live: Client, term: str) -> None:
    data = fx.png_with_xmp(fx.xmp_packet(source_type=term))
    found = await check(live, data=base64.b64encode(data).decode())
    assert found["digital_source_type"] == term
    assert found["finding"] == FINDING_OF_KIND[IPTC_TERMS[term]]
    assert found["c2pa"]["present"] is False


async def test_stable_diffusion_parameters_name_the_generator(live: Client, images: Path) -> None:
    found = await check(live, path=write(images, "sd.png", fx.stable_diffusion_png()))
    assert found["finding"] == "ai_declared"
    assert found["generator"] == "Stable Diffusion"
    assert any("parameters" in where for where in found["generator_evidence"])
    assert "forged or stripped in seconds" in found["summary"]


async def test_comfyui_chunks_name_the_generator(live: Client, images: Path) -> None:
    found = await check(live, path=write(images, "comfy.png", fx.comfyui_png()))
    assert (found["finding"], found["generator"]) == ("ai_declared", "ComfyUI")


async def test_camera_exif_is_camera_declared(live: Client, images: Path) -> None:
    found = await check(live, path=write(images, "camera.jpg", fx.camera_jpeg()))
    assert found["finding"] == "camera_declared"
    assert found["camera"] == {"make": "NIKON CORPORATION", "model": "NIKON Z 6_2"}
    assert "forged or stripped in seconds" in found["summary"]


async def test_plain_image_declares_nothing_and_says_that_means_nothing(live: Client, images: Path) -> None:
    found = await check(live, path=write(images, "plain.png", fx.png()))
    assert found["finding"] == "none"
    assert (found["generator"], found["camera"], found["errors"]) == (None, None, [])
    assert "Absence of provenance says nothing" in found["summary"]


async def test_truncated_manifest_is_an_error_not_a_crash(live: Client, images: Path, signed: bytes) -> None:
    jumbf = signed.index(b"caBX")
    cut = signed[: jumbf + 200] + fx.png()[8:]  # the manifest chunk cut short, then a whole PNG body
    found = await check(live, path=write(images, "truncated.png", cut))
    assert found["errors"] or found["c2pa"]["errors"]


async def test_oversized_xmp_packet_is_an_error_not_a_crash(live: Client, images: Path) -> None:
    packet = fx.xmp_packet(source_type="trainedAlgorithmicMedia").replace(
        "</rdf:RDF>", "<!--" + "x" * (2 * 1024 * 1024) + "--></rdf:RDF>"
    )
    found = await check(live, path=write(images, "big-xmp.png", fx.png_with_xmp(packet)))
    assert found["errors"]
    assert "Unreadable metadata" in found["summary"]


async def test_garbage_manifest_is_reported_present_but_unreadable(live: Client, images: Path) -> None:
    found = await check(live, path=write(images, "garbage.png", fx.garbage_jumbf_png()))
    assert found["c2pa"]["present"] is True
    assert found["c2pa"]["valid"] is not True
    assert found["c2pa"]["errors"]


async def test_a_file_naming_every_generator_stays_within_the_text_budget(live: Client, images: Path) -> None:
    tools = ["Midjourney", "DALL-E 3", "Adobe Firefly", "ComfyUI", "Leonardo.Ai", "NovelAI", "Ideogram"]
    chunks = [
        fx.text_chunk(f"Comment{i}", f"made with {tool} " + "x" * 300) for i, tool in enumerate(tools * 4)
    ]
    found = await check(live, path=write(images, "every.png", fx.png(*chunks)))  # check: ≤ 1,500 chars
    assert found["finding"] == "ai_declared"
    assert "forged or stripped in seconds" in found["summary"]


# --- validated as detect_image ---------------------------------------------------------------


async def test_a_file_too_small_is_refused_as_detect_image_refuses_it(live: Client, images: Path) -> None:
    tiny = write(images, "tiny.png", fx.png(side=4))
    refused = assert_error(await live.call_tool("check_provenance", {"path": tiny}), "1 KB")
    detect_refused = assert_error(await live.call_tool("detect_image", {"path": tiny}))
    assert refused.split(": ", 1)[1] == detect_refused.split(": ", 1)[1]  # after "Error executing tool X"


async def test_two_sources_are_refused(live: Client, images: Path) -> None:
    path = write(images, "two.png", fx.png())
    result = await live.call_tool("check_provenance", {"path": path, "data": "AAAA"})
    assert_error(result, "exactly one")


async def test_a_loopback_url_is_refused_by_the_url_guard(live: Client) -> None:
    result = await live.call_tool("check_provenance", {"url": "http://127.0.0.1:9/x.png"})
    assert_error(result)


async def test_a_url_is_downloaded_and_read_when_private_urls_are_allowed(
    sandbox: SandboxServer, images: Path
) -> None:
    body = fx.camera_jpeg()

    async def image(request: Request) -> Response:
        return Response(body, media_type="image/jpeg")

    settings = make_settings(sandbox, images, allow_private_urls=True)
    with serve_app(Starlette(routes=[Route("/camera.jpg", image)])) as base:
        async with Client(make_server(settings)) as client:
            found = await check(client, url=f"{base}/camera.jpg")
    assert (found["finding"], found["source"]["kind"]) == ("camera_declared", "url")
    assert sum(sandbox.sandbox.stats.requests.values()) == 0


# --- the tool and the report -------------------------------------------------------------------


async def test_check_provenance_is_read_only_and_closed_world(live: Client) -> None:
    tool = next(t for t in (await live.list_tools()).tools if t.name == "check_provenance")
    assert tool.annotations is not None
    hints = tool.annotations
    assert (hints.read_only_hint, hints.destructive_hint, hints.open_world_hint) == (True, False, False)
    assert tool.input_schema is not None
    assert set(tool.input_schema["properties"]) == {
        "path",
        "url",
        "data",
        "clipboard",
        "upload",
        "wait_seconds",
    }


async def test_instructions_offer_check_provenance_first_to_save_credits(live: Client) -> None:
    instructions = live.instructions or ""
    assert "check_provenance" in instructions
    assert "save credits" in instructions


async def test_detect_image_report_carries_the_same_provenance(sandbox: SandboxServer, images: Path) -> None:
    fast_sandbox(sandbox)
    path = write(images, "report.png", fx.stable_diffusion_png())
    async with Client(make_server(make_settings(sandbox, images))) as client:
        checked = await check(client, path=path)
        result = await client.call_tool("detect_image", {"path": path, "deep_analysis": False})
    assert not result.is_error, text_of(result)
    report = structured(result)
    embedded = report["provenance"]
    assert embedded is not None
    # The same object, but for `summary` (check_provenance's is its whole text block) and
    # `source` (the report's own names the bytes).
    assert embedded["source"] is None
    assert report["source"] == checked["source"]
    assert {k: v for k, v in embedded.items() if k not in ("summary", "source")} == {
        k: v for k, v in checked.items() if k not in ("summary", "source")
    }
    assert "Provenance (free, from the file itself): declares AI generation" in text_of(result)
    assert sandbox.sandbox.stats.uploads == 1  # the detection itself read and uploaded once


# --- cold start --------------------------------------------------------------------------------


def test_importing_the_server_does_not_import_c2pa() -> None:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import truthscan_mcp.adapter.server"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line]
    assert "truthscan_mcp.adapter.server" in imported
    assert not [name for name in imported if name.split(".")[0] in ("c2pa", "c2pa_python")]


async def test_get_result_from_the_cache_carries_the_provenance_stored_with_the_report(
    sandbox: SandboxServer, images: Path, tmp_path: Path
) -> None:
    fast_sandbox(sandbox)
    path = write(images, "stored.jpg", fx.camera_jpeg())
    settings = make_settings(sandbox, images, cache_path=str(tmp_path / "cache.sqlite"))
    async with Client(make_server(settings)) as client:
        detected = structured(await client.call_tool("detect_image", {"path": path, "deep_analysis": False}))
    async with Client(make_server(settings)) as client:  # a restart: only the cache remembers
        fetched = structured(await client.call_tool("get_result", {"id": detected["id"]}))
    assert detected["provenance"]["finding"] == "camera_declared"
    assert fetched["provenance"] == detected["provenance"]
