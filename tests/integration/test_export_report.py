"""export_report through the official MCP client: evidence that stands up later.

The server talks real HTTP on loopback to the session's sandbox (as if it were TruthScan); URL
sources come from a small image server on loopback that redirects. Every fact the sidecar
states about bytes is checked against the bytes themselves.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, ResourceLink
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    assert_error,
    assert_valid_output,
    make_server,
    make_settings,
    serve_app,
    structured,
    text_of,
)

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_user_configuration")]


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    """`/photo.jpg` and `/go/{n}`: n redirects, then the photo (the camera sample)."""

    async def photo(request: Request) -> Response:
        return Response(CAMERA_JPG.read_bytes(), media_type="image/jpeg")

    async def go(request: Request) -> Response:
        n = int(request.path_params["n"])
        return RedirectResponse("/photo.jpg" if n == 0 else f"/go/{n - 1}?hop={n}", status_code=302)

    app = Starlette(routes=[Route("/photo.jpg", photo), Route("/go/{n:int}", go)])
    with serve_app(app) as base:
        yield base


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed folder with the AI sample in it, and the reports folder inside it."""
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    shutil.copy(AI_PNG, allowed / "suspect.png")
    return allowed, allowed / "TruthScan reports"


def settings_for(sandbox: SandboxServer, allowed: Path, cache: Path | None = None) -> Any:
    return make_settings(
        sandbox,
        allowed,
        cache_path=str(cache) if cache else "off",
        reports_dir=allowed / "TruthScan reports",
        allow_private_urls=True,  # the image server is on loopback
    )


async def detect(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool("detect_image", {"wait_seconds": 30, **arguments})
    assert not result.is_error, text_of(result)
    report = structured(result)
    assert report["complete"], report
    return report


async def export(client: Client, **arguments: Any) -> tuple[CallToolResult, dict[str, Any]]:
    result = await client.call_tool("export_report", arguments)
    assert not result.is_error, text_of(result)
    tool = next(t for t in (await client.list_tools()).tools if t.name == "export_report")
    assert_valid_output(result, tool)
    found = structured(result)
    assert found["summary"] == text_of(result)
    return result, found


def sidecar_of(found: dict[str, Any]) -> dict[str, Any]:
    return json.loads(Path(found["json_path"]).read_text(encoding="utf-8"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def is_link(path: str) -> bool:
    return Path(path).is_symlink()


def when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    offset = moment.utcoffset()
    assert offset is not None, value
    assert offset.total_seconds() == 0, value
    return moment


# --- a report for a path, a URL and a cached id ---------------------------------------------


async def test_report_for_a_path_pins_the_bytes_and_the_html_with_their_hashes(
    sandbox: SandboxServer, folders: tuple[Path, Path]
) -> None:
    allowed, reports = folders
    image = allowed / "suspect.png"
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        report = await detect(client, path=str(image))
        result, found = await export(client, id=report["id"])
    html, side = Path(found["html_path"]), Path(found["json_path"])
    assert html.parent == reports == side.parent  # the reports folder, created when missing
    facts = sidecar_of(found)
    assert facts["html_sha256"] == found["html_sha256"] == sha256(html)
    assert facts["html_file"] == html.name
    custody = facts["custody"]
    assert custody["sha256"] == sha256(image) == report["source"]["sha256"]
    assert custody["bytes"] == image.stat().st_size
    assert (custody["source_kind"], custody["source_path"]) == ("path", str(image))
    assert custody["document_id"] == report["id"]
    assert custody["simulated"] is report["simulated"] is True  # the sandbox says so
    assert custody["api_url"] == sandbox.api_url
    read, submitted = when(custody["read_at"]), when(custody["submitted_at"])
    completed, written = when(custody["completed_at"]), when(custody["report_written_at"])
    assert read <= submitted <= completed
    assert completed.replace(microsecond=0) <= written
    picture = facts["picture"]
    assert picture["embedded"]
    assert picture["identical_to_checked"]
    assert picture["sha256"] == sha256(image)  # the page shows exactly the checked bytes
    assert facts["heatmap"]["embedded"] is True  # the AI sample gets TruthScan's heatmap
    assert facts["detection"]["verdict"] == report["verdict"]
    assert len(facts["caveats"]) == 5
    links = [block for block in result.content if isinstance(block, ResourceLink)]
    assert [link.uri for link in links] == [html.as_uri(), side.as_uri()]
    assert [link.mime_type for link in links] == ["text/html", "application/json"]


async def test_report_for_a_url_records_the_final_url_after_redirects(
    sandbox: SandboxServer, folders: tuple[Path, Path], image_server: str
) -> None:
    allowed, _ = folders
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        report = await detect(client, url=f"{image_server}/go/3?token=secret")
        _, found = await export(client, id=report["id"])
    custody = sidecar_of(found)["custody"]
    assert custody["source_kind"] == "url"
    assert custody["source_url"] == f"{image_server}/go/3"  # the query (often a token) is never kept
    assert custody["final_url"] == f"{image_server}/photo.jpg"
    assert custody["sha256"] == hashlib.sha256(CAMERA_JPG.read_bytes()).hexdigest()
    facts = sidecar_of(found)
    assert facts["picture"]["embedded"]  # the download's bytes were kept: the temp file is gone
    assert "secret" not in read_text(found["html_path"])


async def test_report_for_a_cached_id_after_a_restart_keeps_the_custody_recorded_then(
    sandbox: SandboxServer, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    allowed, _ = folders
    image, cache = allowed / "suspect.png", tmp_path / "cache.sqlite3"
    async with Client(make_server(settings_for(sandbox, allowed, cache))) as first:
        report = await detect(first, path=str(image))
    detects = sandbox.sandbox.stats.accepted_detects
    async with Client(make_server(settings_for(sandbox, allowed, cache))) as second:
        _, found = await export(second, id=report["id"])
    assert sandbox.sandbox.stats.accepted_detects == detects  # nothing paid again
    facts = sidecar_of(found)
    custody = facts["custody"]
    assert custody["sha256"] == sha256(image)
    assert custody["source_path"] == str(image)
    assert when(custody["read_at"]) <= when(custody["submitted_at"]) <= when(custody["completed_at"])
    assert custody["notes"] == []
    # the file was read again for the picture, and accepted because its hash still matches
    assert facts["picture"]["identical_to_checked"]
    assert facts["picture"]["sha256"] == sha256(image)
    assert "read again" in facts["picture"]["obtained"]


async def test_a_cached_id_whose_file_changed_since_gets_no_picture_but_keeps_its_hash(
    sandbox: SandboxServer, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    allowed, _ = folders
    image, cache = allowed / "suspect.png", tmp_path / "cache.sqlite3"
    async with Client(make_server(settings_for(sandbox, allowed, cache))) as first:
        report = await detect(first, path=str(image))
    checked = sha256(image)
    shutil.copy(CAMERA_JPG, image)  # someone replaced the file afterwards
    async with Client(make_server(settings_for(sandbox, allowed, cache))) as second:
        _, found = await export(second, id=report["id"])
    facts = sidecar_of(found)
    assert facts["custody"]["sha256"] == checked
    assert facts["picture"]["embedded"] is False
    assert found["image_embedded"] is False
    assert "not embedded" in found["summary"]


# --- never overwriting, and only where allowed ------------------------------------------------


async def test_exporting_twice_writes_a_second_pair_and_leaves_the_first_untouched(
    sandbox: SandboxServer, folders: tuple[Path, Path]
) -> None:
    allowed, _ = folders
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        report = await detect(client, path=str(allowed / "suspect.png"))
        _, first = await export(client, id=report["id"])
        before = sha256(Path(first["html_path"]))
        _, second = await export(client, id=report["id"])
    assert {second["html_path"], second["json_path"]}.isdisjoint({first["html_path"], first["json_path"]})
    assert sha256(Path(first["html_path"])) == before
    assert sha256(Path(second["html_path"])) == second["html_sha256"]


async def test_a_file_planted_at_the_reports_name_is_never_followed_or_replaced(
    sandbox: SandboxServer, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    allowed, reports = folders
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        report = await detect(client, path=str(allowed / "suspect.png"))
        _, found = await export(client, id=report["id"])
        # plant symlinks under every name the next export could pick in this second and the next
        stem = Path(found["html_path"]).stem
        for n in range(2, 6):
            (reports / f"{stem}-{n}.html").symlink_to(victim)
        _, again = await export(client, id=report["id"])
    assert victim.read_text() == "keep me"
    assert not is_link(again["html_path"])


async def test_a_directory_outside_the_allowed_folders_is_refused_and_nothing_is_written(
    sandbox: SandboxServer, folders: tuple[Path, Path], tmp_path: Path
) -> None:
    allowed, reports = folders
    outside = tmp_path / "outside"
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        report = await detect(client, path=str(allowed / "suspect.png"))
        result = await client.call_tool("export_report", {"id": report["id"], "directory": str(outside)})
        assert_error(result, "only inside the allowed folders", str(allowed))
        escape = await client.call_tool(
            "export_report", {"id": report["id"], "directory": str(allowed / ".." / "outside")}
        )
        assert_error(escape, "only inside the allowed folders")
    assert not outside.exists()
    assert not reports.exists()


async def test_a_directory_inside_the_allowed_folders_is_used_and_created(
    sandbox: SandboxServer, folders: tuple[Path, Path]
) -> None:
    allowed, _ = folders
    target = allowed / "case-42" / "reports"
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        report = await detect(client, path=str(allowed / "suspect.png"))
        _, found = await export(client, id=report["id"], directory=str(target))
    assert Path(found["html_path"]).parent == target


async def test_an_id_this_server_never_answered_is_refused_with_what_to_do(
    sandbox: SandboxServer, folders: tuple[Path, Path]
) -> None:
    allowed, reports = folders
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        unknown = await client.call_tool("export_report", {"id": "77565038-9e3d-4e6a-8c80-e20785be5ee9"})
        assert_error(unknown, "no detection with id", "get_result")
        garbage = await client.call_tool("export_report", {"id": "../../etc/passwd"})
        assert_error(garbage, "not a TruthScan document id")
    assert sum(sandbox.sandbox.stats.requests.values()) == 0  # refused before any request
    assert not reports.exists()


async def test_the_tool_is_declared_as_writing_new_files_only(
    sandbox: SandboxServer, folders: tuple[Path, Path]
) -> None:
    allowed, _ = folders
    async with Client(make_server(settings_for(sandbox, allowed))) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "export_report")
    assert tool.annotations is not None
    hints = tool.annotations
    assert (hints.read_only_hint, hints.destructive_hint, hints.open_world_hint) == (False, False, False)
    assert tool.icons
    assert tool.title
