"""Loading images from URLs: downloads, redirects, timeouts, limits and the SSRF guard.

The tests fetch from a real uvicorn server on 127.0.0.1; names that must look public are
mapped to loopback by a stub resolver, and `loopback_only` fails any test that tries to
connect anywhere else.
"""

from __future__ import annotations

import gc
import hashlib
import socket
import stat
import tempfile
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import ConnectLog
from tests.support.images import JPEG_BYTES, PNG_BYTES
from truthscan_mcp.errors import (
    ImageSizeError,
    InvalidInputError,
    SourceFetchError,
    SourceNotAllowedError,
    UnsupportedFormatError,
)
from truthscan_mcp.media import netguard
from truthscan_mcp.media.formats import JPEG, PNG
from truthscan_mcp.media.netguard import IPAddress
from truthscan_mcp.media.sources import load_image
from truthscan_mcp.settings import Settings

#: every test here fails on any connection to a non-loopback address (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
def private_cfg(allowed: Path) -> Settings:
    return Settings(allowed_dirs=[allowed], allow_private_urls=True, cache_path=None)


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temp dir for downloads, so tests can check nothing is left behind."""
    directory = tmp_path / "downloads"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir())


def stub_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[Sequence[IPAddress]]]:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ip_address(a) for a in table[host]]

    return resolve


# --- url: a real server on 127.0.0.1 ------------------------------------------------------------------


@dataclass
class ImageServer:
    port: int
    seen: list[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def _wait_or_disconnect(request: Request, seconds: float) -> None:
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            pass


def build_app(seen: list[str]) -> Starlette:
    async def image(request: Request) -> Response:
        return Response(PNG_BYTES, media_type="image/png")

    async def jpeg_named_png(request: Request) -> Response:
        return Response(JPEG_BYTES, media_type="image/png")

    async def redirect(request: Request) -> Response:
        n = int(request.path_params["n"])
        return RedirectResponse("/image.png" if n == 0 else f"/redirect/{n - 1}", status_code=302)

    async def loop(request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    async def redirect_to(request: Request) -> Response:
        return RedirectResponse(request.query_params["target"], status_code=302)

    async def missing(request: Request) -> Response:
        return PlainTextResponse("no such image", status_code=404)

    async def slow(request: Request) -> Response:
        await _wait_or_disconnect(request, 10)
        return Response(PNG_BYTES, media_type="image/png")

    async def slow_body(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield PNG_BYTES[:2048]
            await anyio.sleep(10)
            yield PNG_BYTES[2048:]

        return StreamingResponse(body(), media_type="image/png")

    async def endless(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield PNG_BYTES
            chunk = b"\0" * 65536
            for _ in range(1000):  # bounded: 64 MB at most
                yield chunk

        headers = {"content-length": str(20 * 1024 * 1024)} if "declared" in request.query_params else None
        return StreamingResponse(body(), media_type="image/png", headers=headers)

    async def text(request: Request) -> Response:
        return Response(b"this is not an image\n" * 100, media_type="image/png")

    async def html(request: Request) -> Response:
        return Response(b"<!DOCTYPE html><html><body>" + b"<p>gallery</p>" * 100, media_type="text/html")

    app = Starlette(
        routes=[
            Route("/image.png", image),
            Route("/photo.png", jpeg_named_png),
            Route("/redirect/{n:int}", redirect),
            Route("/loop", loop),
            Route("/redirect-to", redirect_to),
            Route("/missing.png", missing),
            Route("/slow.png", slow),
            Route("/slow-body.png", slow_body),
            Route("/endless.png", endless),
            Route("/text.png", text),
            Route("/gallery", html),
        ]
    )

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            query = scope["query_string"].decode()
            seen.append(scope["path"] + (f"?{query}" if query else ""))
        await app(scope, receive, send)

    return cast(Starlette, recording)


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    seen: list[str] = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        build_app(seen), log_level="critical", lifespan="off", timeout_graceful_shutdown=1
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.01)
    try:
        yield ImageServer(sock.getsockname()[1], seen)
    finally:
        uv.should_exit = True
        thread.join(5)
        sock.close()


@pytest.mark.anyio
async def test_an_image_url_is_downloaded_to_a_private_temp_file(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    image = await load_image(url=f"{server.base}/image.png?token=s3cret#frag", settings=private_cfg)
    assert image.kind == "url"
    assert image.name == f"{server.base}/image.png"
    assert image.upload_name == "image.png"
    assert image.format == PNG
    assert image.size == len(PNG_BYTES)
    assert image.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
    assert image.path is not None
    assert image.path.parent == temp_dir
    assert stat.S_IMODE(image.path.stat().st_mode) == 0o600
    assert await image.read_bytes() == PNG_BYTES
    await image.aclose()
    assert leftovers(temp_dir) == []
    await image.aclose()  # idempotent


@pytest.mark.anyio
async def test_the_servers_content_type_is_ignored(server: ImageServer, private_cfg: Settings) -> None:
    async with await load_image(url=f"{server.base}/photo.png", settings=private_cfg) as image:
        assert image.format == JPEG
        assert image.upload_name == "photo.jpg"


@pytest.mark.anyio
async def test_redirects_are_followed(server: ImageServer, private_cfg: Settings) -> None:
    async with await load_image(url=f"{server.base}/redirect/4?chain=five", settings=private_cfg) as image:
        assert image.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
        assert image.name == f"{server.base}/redirect/4"
    assert server.seen[-6:] == [
        "/redirect/4?chain=five",
        "/redirect/3",
        "/redirect/2",
        "/redirect/1",
        "/redirect/0",
        "/image.png",
    ]


@pytest.mark.anyio
async def test_more_than_five_redirects_are_refused(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    before = len(server.seen)
    with pytest.raises(SourceFetchError, match="more than 5 times"):
        await load_image(url=f"{server.base}/loop", settings=private_cfg)
    assert server.seen[before:] == ["/loop"] * 6
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_an_http_error_status_is_reported(server: ImageServer, private_cfg: Settings) -> None:
    with pytest.raises(SourceFetchError, match="HTTP 404 Not Found"):
        await load_image(url=f"{server.base}/missing.png", settings=private_cfg)


@pytest.mark.anyio
async def test_a_slow_server_times_out(server: ImageServer, private_cfg: Settings, temp_dir: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(SourceFetchError, match=r"timed out after 0\.5 s"):
        await load_image(url=f"{server.base}/slow.png", settings=private_cfg, http_timeout=0.5)
    assert time.perf_counter() - started < 3
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_a_stalled_body_times_out_and_leaves_no_temp_file(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    with pytest.raises(SourceFetchError, match="timed out"):
        await load_image(url=f"{server.base}/slow-body.png", settings=private_cfg, http_timeout=0.5)
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_cancellation_leaves_no_temp_file(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    with anyio.move_on_after(0.5) as scope:
        await load_image(url=f"{server.base}/slow-body.png", settings=private_cfg)
    assert scope.cancelled_caught
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_an_endless_body_is_aborted_past_10_mb(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    with pytest.raises(ImageSizeError, match="larger than 10 MB"):
        await load_image(url=f"{server.base}/endless.png", settings=private_cfg)
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_a_declared_oversized_body_is_refused_before_reading(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    with pytest.raises(ImageSizeError, match="20 MB"):
        await load_image(url=f"{server.base}/endless.png?declared=1", settings=private_cfg)
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_a_non_image_download_is_refused_and_removed(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    with pytest.raises(UnsupportedFormatError, match="looks like text"):
        await load_image(url=f"{server.base}/text.png", settings=private_cfg)
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_a_web_page_instead_of_an_image_gets_a_hint(server: ImageServer, private_cfg: Settings) -> None:
    with pytest.raises(UnsupportedFormatError, match="HTML page"):
        await load_image(url=f"{server.base}/gallery", settings=private_cfg)


@pytest.mark.anyio
async def test_loopback_is_refused_before_any_connection_when_private_urls_are_off(
    server: ImageServer, cfg: Settings, loopback_only: ConnectLog
) -> None:
    with pytest.raises(SourceNotAllowedError, match="TRUTHSCAN_ALLOW_PRIVATE_URLS=true"):
        await load_image(url=f"{server.base}/image.png?probe=refused-loopback", settings=cfg)
    assert loopback_only.hosts == []
    assert not any("refused-loopback" in path for path in server.seen)


@pytest.mark.anyio
async def test_localhost_by_name_is_refused(
    server: ImageServer, cfg: Settings, loopback_only: ConnectLog
) -> None:
    with pytest.raises(SourceNotAllowedError, match="loopback"):
        await load_image(url=f"http://localhost:{server.port}/image.png?probe=by-name", settings=cfg)
    assert loopback_only.hosts == []
    assert not any("by-name" in path for path in server.seen)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://internal.example/admin", "private"),
        ("http://[::ffff:7f00:1]/", "IPv4-mapped of loopback"),
    ],
)
async def test_a_redirect_to_a_refused_address_is_refused(
    server: ImageServer,
    cfg: Settings,
    monkeypatch: pytest.MonkeyPatch,
    loopback_only: ConnectLog,
    target: str,
    reason: str,
) -> None:
    # "public.example" stands for a public host; it is really our loopback server, so for
    # this test alone 127.0.0.1 is judged public. Every other address is judged for real.
    real_classify = netguard.classify_address

    def loopback_counts_as_public(ip: IPAddress) -> str | None:
        return None if ip == IPv4Address("127.0.0.1") else real_classify(ip)

    monkeypatch.setattr(netguard, "classify_address", loopback_counts_as_public)
    monkeypatch.setattr(
        netguard,
        "resolver",
        stub_resolver({"public.example": ["127.0.0.1"], "internal.example": ["10.0.0.7"]}),
    )
    first = f"http://public.example:{server.port}/redirect-to?target={urllib.parse.quote(target)}"
    before = len(server.seen)
    with pytest.raises(SourceNotAllowedError, match="redirected to") as caught:
        await load_image(url=first, settings=cfg)
    assert reason in caught.value.message
    assert len(server.seen) == before + 1
    assert loopback_only.hosts == ["127.0.0.1"]


@pytest.mark.anyio
async def test_a_host_resolving_to_one_private_address_among_public_ones_is_refused(
    cfg: Settings, monkeypatch: pytest.MonkeyPatch, loopback_only: ConnectLog
) -> None:
    monkeypatch.setattr(
        netguard,
        "resolver",
        stub_resolver({"mixed.example": ["93.184.216.34", "192.168.1.20", "2606:4700::6810:1"]}),
    )
    with pytest.raises(SourceNotAllowedError, match=r"192\.168\.1\.20"):
        await load_image(url="https://mixed.example/cat.png", settings=cfg)
    assert loopback_only.hosts == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("ftp://example.com/cat.png", SourceNotAllowedError, "Only http and https"),
        ("gopher://example.com/", SourceNotAllowedError, "Only http and https"),
        ("example.com/cat.png", InvalidInputError, "no scheme"),
        ("file:///etc/passwd", InvalidInputError, "pass it as `path`"),
        ("data:image/png;base64,AAAA", InvalidInputError, "pass it as `data`"),
        ("http:///cat.png", InvalidInputError, "no host"),
        ("http://2130706433/cat.png", SourceNotAllowedError, "loopback"),
        ("http://0x7f.1/cat.png", SourceNotAllowedError, "loopback"),
        ("http://[::1]/cat.png", SourceNotAllowedError, "loopback"),
    ],
)
async def test_urls_are_refused_before_any_connection(
    cfg: Settings, loopback_only: ConnectLog, url: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await load_image(url=url, settings=cfg)
    assert loopback_only.hosts == []


@pytest.mark.anyio
async def test_credentials_in_a_url_are_refused_and_never_echoed(
    cfg: Settings, loopback_only: ConnectLog
) -> None:
    with pytest.raises(SourceNotAllowedError, match="user name or password") as caught:
        await load_image(url="https://alice:hunter2@example.com/cat.png", settings=cfg)
    assert "hunter2" not in caught.value.message
    assert "alice" not in caught.value.message
    assert loopback_only.hosts == []


@pytest.mark.anyio
async def test_a_forgotten_download_is_removed_when_garbage_collected(
    server: ImageServer, private_cfg: Settings, temp_dir: Path
) -> None:
    image = await load_image(url=f"{server.base}/image.png", settings=private_cfg)
    assert leftovers(temp_dir) != []
    del image
    gc.collect()
    assert leftovers(temp_dir) == []


@pytest.mark.anyio
async def test_a_relative_path_outside_the_allowed_dirs_says_how_it_was_resolved(
    cfg: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceNotAllowedError, match="working directory"):
        await load_image(path="outside.png", settings=cfg)
