"""Loading images from paths, inline data and URLs.

URL tests fetch from a real uvicorn server on 127.0.0.1; names that must look public are
mapped to loopback by a stub resolver, and `loopback_only` fails any test that tries to
connect anywhere else.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import socket
import stat
import struct
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Any, cast

import anyio
import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import ConnectLog
from truthscan_mcp.errors import (
    ImageSizeError,
    InvalidInputError,
    SourceFetchError,
    SourceNotAllowedError,
    UnsupportedFormatError,
)
from truthscan_mcp.media import netguard
from truthscan_mcp.media.formats import JPEG, MAX_IMAGE_BYTES, PNG
from truthscan_mcp.media.image import LoadedImage
from truthscan_mcp.media.inline import MAX_DATA_CHARS
from truthscan_mcp.media.netguard import IPAddress
from truthscan_mcp.media.paths import PathKind, allowed_path
from truthscan_mcp.media.sources import load_image, validate_document_id
from truthscan_mcp.settings import Settings

# --- sample bytes -----------------------------------------------------------------------------


def png_bytes(size: int = 4096, seed: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)
    head = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    )
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (head + body)[:size]


def jpeg_bytes(size: int = 4096) -> bytes:
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return (head + bytes(range(256)) * (size // 256 + 1))[:size]


PNG_BYTES = png_bytes(4096)
JPEG_BYTES = jpeg_bytes(3000)


# --- common fixtures ----------------------------------------------------------------------------


#: every test here fails on any connection to a non-loopback address (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    directory = tmp_path / "allowed"
    directory.mkdir()
    return directory


@pytest.fixture
def cfg(allowed: Path) -> Settings:
    return Settings(allowed_dirs=[allowed], allow_private_urls=False, cache_path=None)


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


# --- exactly one source ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_source_is_refused(cfg: Settings) -> None:
    with pytest.raises(InvalidInputError, match="No image was given"):
        await load_image(settings=cfg)


@pytest.mark.anyio
async def test_several_sources_are_refused(cfg: Settings, allowed: Path) -> None:
    with pytest.raises(InvalidInputError, match="`path` and `url`"):
        await load_image(path=str(allowed / "a.png"), url="https://example.com/a.png", settings=cfg)


@pytest.mark.anyio
async def test_blank_arguments_count_as_not_given(cfg: Settings) -> None:
    image = await load_image(path="", url="  ", data=base64.b64encode(PNG_BYTES).decode(), settings=cfg)
    assert image.kind == "data"


# --- path ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_png_file_in_an_allowed_dir_is_loaded(cfg: Settings, allowed: Path) -> None:
    target = allowed / "cat photo.png"
    target.write_bytes(PNG_BYTES)
    async with await load_image(path=str(target), settings=cfg) as image:
        assert image.kind == "path"
        assert image.name == "cat photo.png"
        assert image.upload_name == "cat_photo.png"
        assert image.format == PNG
        assert image.media_type == "image/png"
        assert image.size == len(PNG_BYTES)
        assert image.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
        assert image.path == target
        assert image.content is None
    assert target.exists()  # closing never deletes the user's own file


@pytest.mark.anyio
async def test_tilde_is_expanded(cfg: Settings, allowed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(allowed))
    (allowed / "me.jpg").write_bytes(JPEG_BYTES)
    image = await load_image(path="~/me.jpg", settings=cfg)
    assert image.path == allowed / "me.jpg"
    assert image.format == JPEG


@pytest.mark.anyio
async def test_file_uri_is_percent_decoded(cfg: Settings, allowed: Path) -> None:
    target = allowed / "my photo #1.png"
    target.write_bytes(PNG_BYTES)
    uri = "file://" + urllib.parse.quote(str(target))
    image = await load_image(path=uri, settings=cfg)
    assert image.path == target
    assert image.upload_name == "my_photo_1.png"


@pytest.mark.anyio
async def test_file_uri_with_localhost_is_accepted(cfg: Settings, allowed: Path) -> None:
    (allowed / "a.png").write_bytes(PNG_BYTES)
    image = await load_image(path=f"file://localhost{allowed}/a.png", settings=cfg)
    assert image.path == allowed / "a.png"


@pytest.mark.anyio
async def test_file_uri_for_another_host_is_refused(cfg: Settings, allowed: Path) -> None:
    with pytest.raises(SourceNotAllowedError, match="another host"):
        await load_image(path=f"file://fileserver{allowed}/a.png", settings=cfg)


@pytest.mark.anyio
async def test_relative_path_is_resolved_against_the_working_directory(
    cfg: Settings, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (allowed / "rel.png").write_bytes(PNG_BYTES)
    monkeypatch.chdir(allowed)
    image = await load_image(path="rel.png", settings=cfg)
    assert image.path == allowed / "rel.png"


@pytest.mark.anyio
async def test_missing_relative_path_error_mentions_the_working_directory(
    cfg: Settings, allowed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(allowed)
    with pytest.raises(InvalidInputError, match="working directory") as caught:
        await load_image(path="nope.png", settings=cfg)
    assert str(allowed) in caught.value.message


@pytest.mark.anyio
async def test_a_file_outside_the_allowed_dirs_is_refused(
    cfg: Settings, allowed: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(PNG_BYTES)
    with pytest.raises(SourceNotAllowedError) as caught:
        await load_image(path=str(outside), settings=cfg)
    assert str(allowed) in caught.value.message
    assert "TRUTHSCAN_ALLOWED_DIRS" in caught.value.message
    assert os.pathsep in caught.value.message


@pytest.mark.anyio
async def test_a_missing_file_outside_the_allowed_dirs_is_refused_not_reported_missing(
    cfg: Settings, tmp_path: Path
) -> None:
    with pytest.raises(SourceNotAllowedError):
        await load_image(path=str(tmp_path / "secret" / "missing.png"), settings=cfg)


@pytest.mark.anyio
async def test_dotdot_escape_is_refused(cfg: Settings, allowed: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.png").write_bytes(PNG_BYTES)
    with pytest.raises(SourceNotAllowedError):
        await load_image(path=str(allowed / ".." / "outside.png"), settings=cfg)


@pytest.mark.anyio
async def test_symlink_escape_is_refused(cfg: Settings, allowed: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.png").write_bytes(PNG_BYTES)
    (allowed / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(SourceNotAllowedError, match="symlinks"):
        await load_image(path=str(allowed / "link.png"), settings=cfg)


@pytest.mark.anyio
async def test_symlink_inside_the_allowed_dir_is_followed(cfg: Settings, allowed: Path) -> None:
    (allowed / "real.png").write_bytes(PNG_BYTES)
    (allowed / "latest.png").symlink_to(allowed / "real.png")
    image = await load_image(path=str(allowed / "latest.png"), settings=cfg)
    assert image.name == "latest.png"
    assert image.path == allowed / "real.png"


@pytest.mark.anyio
async def test_a_directory_is_refused(cfg: Settings, allowed: Path) -> None:
    (allowed / "album.png").mkdir()
    with pytest.raises(InvalidInputError, match="directory"):
        await load_image(path=str(allowed / "album.png"), settings=cfg)


@pytest.mark.anyio
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
async def test_a_fifo_is_refused_without_blocking(cfg: Settings, allowed: Path) -> None:
    fifo = allowed / "pipe.png"
    os.mkfifo(fifo)
    with anyio.fail_after(5), pytest.raises(InvalidInputError, match="FIFO"):
        await load_image(path=str(fifo), settings=cfg)


@pytest.mark.anyio
async def test_an_empty_file_is_refused(cfg: Settings, allowed: Path) -> None:
    (allowed / "empty.png").write_bytes(b"")
    with pytest.raises(ImageSizeError, match="empty"):
        await load_image(path=str(allowed / "empty.png"), settings=cfg)


@pytest.mark.anyio
async def test_a_too_small_file_is_refused(cfg: Settings, allowed: Path) -> None:
    (allowed / "tiny.png").write_bytes(PNG_BYTES[:500])
    with pytest.raises(ImageSizeError, match="1 KB") as caught:
        await load_image(path=str(allowed / "tiny.png"), settings=cfg)
    assert "500 bytes" in caught.value.message


@pytest.mark.anyio
async def test_a_too_large_file_is_refused_without_reading_it(cfg: Settings, allowed: Path) -> None:
    big = allowed / "big.png"
    with big.open("wb") as handle:
        handle.write(PNG_BYTES[:64])
        handle.truncate(MAX_IMAGE_BYTES + 1)  # sparse: no 10 MB actually written
    with pytest.raises(ImageSizeError, match="10 MB") as caught:
        await load_image(path=str(big), settings=cfg)
    assert "10,485,761 bytes" in caught.value.message


@pytest.mark.anyio
async def test_a_file_of_exactly_the_maximum_size_is_accepted(cfg: Settings, allowed: Path) -> None:
    big = allowed / "max.png"
    with big.open("wb") as handle:
        handle.write(PNG_BYTES[:64])
        handle.truncate(MAX_IMAGE_BYTES)
    image = await load_image(path=str(big), settings=cfg)
    assert image.size == MAX_IMAGE_BYTES


@pytest.mark.anyio
async def test_a_wrongly_named_file_gets_the_real_extension(cfg: Settings, allowed: Path) -> None:
    (allowed / "photo.png").write_bytes(JPEG_BYTES)
    image = await load_image(path=str(allowed / "photo.png"), settings=cfg)
    assert image.format == JPEG
    assert image.upload_name == "photo.jpg"
    assert image.media_type == "image/jpeg"


@pytest.mark.anyio
async def test_a_text_file_named_png_is_refused_as_text(cfg: Settings, allowed: Path) -> None:
    (allowed / "notes.png").write_text("These are my notes.\n" * 100)
    with pytest.raises(UnsupportedFormatError, match="looks like text") as caught:
        await load_image(path=str(allowed / "notes.png"), settings=cfg)
    assert "JPEG, PNG, WebP, HEIC/HEIF, AVIF, BMP, TIFF" in caught.value.message


@pytest.mark.anyio
async def test_a_gif_is_refused_as_unsupported(cfg: Settings, allowed: Path) -> None:
    (allowed / "anim.gif").write_bytes(b"GIF89a" + b"\0" * 2000)
    with pytest.raises(UnsupportedFormatError, match="does not accept GIF"):
        await load_image(path=str(allowed / "anim.gif"), settings=cfg)


@pytest.mark.anyio
async def test_iter_chunks_streams_the_exact_validated_bytes(cfg: Settings, allowed: Path) -> None:
    content = png_bytes(300_000, seed=7)
    (allowed / "stream.png").write_bytes(content)
    image = await load_image(path=str(allowed / "stream.png"), settings=cfg)
    chunks = [chunk async for chunk in image.iter_chunks(chunk_size=65_536)]
    assert max(len(c) for c in chunks) <= 65_536
    assert b"".join(chunks) == content
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == image.sha256
    assert await image.read_bytes() == content  # and it can be streamed again


@pytest.mark.anyio
async def test_a_file_that_grows_after_validation_is_caught(cfg: Settings, allowed: Path) -> None:
    target = allowed / "growing.png"
    target.write_bytes(PNG_BYTES)
    image = await load_image(path=str(target), settings=cfg)
    with target.open("ab") as handle:
        handle.write(b"more")
    with pytest.raises(InvalidInputError, match="changed after it was validated"):
        async for _ in image.iter_chunks():
            pass


@pytest.mark.anyio
async def test_a_file_rewritten_with_the_same_size_is_caught(cfg: Settings, allowed: Path) -> None:
    target = allowed / "swapped.png"
    target.write_bytes(png_bytes(4096, seed=1))
    image = await load_image(path=str(target), settings=cfg)
    target.write_bytes(png_bytes(4096, seed=2))
    with pytest.raises(InvalidInputError, match="changed"):
        await image.read_bytes()


@pytest.mark.anyio
async def test_a_file_deleted_after_validation_is_reported(cfg: Settings, allowed: Path) -> None:
    target = allowed / "gone.png"
    target.write_bytes(PNG_BYTES)
    image = await load_image(path=str(target), settings=cfg)
    target.unlink()
    with pytest.raises(InvalidInputError, match="cannot be read"):
        await image.read_bytes()


# --- data ----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plain_base64_is_decoded(cfg: Settings) -> None:
    image = await load_image(data=base64.b64encode(PNG_BYTES).decode(), settings=cfg)
    assert image.kind == "data"
    assert image.name == "inline data"
    assert image.upload_name == "image.png"
    assert image.content == PNG_BYTES
    assert image.path is None
    assert image.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
    assert b"".join([c async for c in image.iter_chunks(1000)]) == PNG_BYTES


@pytest.mark.anyio
async def test_base64_wrapped_in_lines_is_accepted(cfg: Settings) -> None:
    wrapped = base64.encodebytes(PNG_BYTES).decode()  # 76-column lines
    assert "\n" in wrapped
    image = await load_image(data=wrapped, settings=cfg)
    assert image.content == PNG_BYTES


@pytest.mark.anyio
async def test_urlsafe_base64_without_padding_is_accepted(cfg: Settings) -> None:
    content = jpeg_bytes(2000) + b"\xfb\xff\xbf" * 10 + b"xy"  # forces '-' and '_' and padding
    encoded = base64.urlsafe_b64encode(content).decode()
    assert "=" in encoded
    assert "-" in encoded or "_" in encoded
    image = await load_image(data=encoded.rstrip("="), settings=cfg)
    assert image.content == content


@pytest.mark.anyio
async def test_a_data_uri_is_decoded(cfg: Settings) -> None:
    uri = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()
    image = await load_image(data=uri, settings=cfg)
    assert image.format == PNG
    assert image.content == PNG_BYTES


@pytest.mark.anyio
async def test_a_data_uri_declaring_the_wrong_image_type_uses_the_sniffed_one(cfg: Settings) -> None:
    uri = "data:image/png;name=holiday%20pic.png;base64," + base64.b64encode(JPEG_BYTES).decode()
    image = await load_image(data=uri, settings=cfg)
    assert image.format == JPEG
    assert image.media_type == "image/jpeg"
    assert image.upload_name == "holiday_pic.jpg"


@pytest.mark.anyio
async def test_a_non_image_data_uri_is_refused(cfg: Settings) -> None:
    uri = "data:text/plain;base64," + base64.b64encode(b"just some words\n" * 100).decode()
    with pytest.raises(UnsupportedFormatError, match="text/plain"):
        await load_image(data=uri, settings=cfg)


@pytest.mark.anyio
async def test_a_non_base64_data_uri_is_refused(cfg: Settings) -> None:
    with pytest.raises(InvalidInputError, match="base64"):
        await load_image(data="data:image/png,%89PNG", settings=cfg)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "bad",
    [
        "not base64 at all!",
        "QUJD=RA==",  # padding in the middle
        "QUJDR",  # impossible length
        "QUJD+-_/",  # mixed alphabets
        "QUJDRA===",  # too much padding
        "QUJD\u00e9RA==",  # non-ASCII
    ],
)
async def test_invalid_base64_is_refused(cfg: Settings, bad: str) -> None:
    with pytest.raises(InvalidInputError, match="not valid base64"):
        await load_image(data=bad, settings=cfg)


@pytest.mark.anyio
async def test_an_oversized_data_string_is_refused_before_decoding(cfg: Settings) -> None:
    huge = "A" * (MAX_DATA_CHARS + 1)
    started = time.perf_counter()
    with pytest.raises(ImageSizeError, match="would exceed 10 MB"):
        await load_image(data=huge, settings=cfg)
    assert time.perf_counter() - started < 0.05


@pytest.mark.anyio
async def test_base64_of_slightly_more_than_the_maximum_is_refused_by_its_length(cfg: Settings) -> None:
    encoded = "A" * ((MAX_IMAGE_BYTES + 3) // 3 * 4)
    assert len(encoded) < MAX_DATA_CHARS
    with pytest.raises(ImageSizeError, match="would decode to"):
        await load_image(data=encoded, settings=cfg)


@pytest.mark.anyio
async def test_a_url_passed_as_data_gets_a_hint(cfg: Settings) -> None:
    with pytest.raises(InvalidInputError, match="pass it as `url`"):
        await load_image(data="https://example.com/cat.png", settings=cfg)


_data_strings = st.one_of(
    st.text(max_size=400),
    st.binary(max_size=3000).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=3000).map(lambda b: base64.b64encode(PNG_BYTES[:64] + b).decode()),
    st.tuples(st.text(max_size=30), st.binary(max_size=2000)).map(
        lambda t: f"data:{t[0]};base64," + base64.b64encode(b"\xff\xd8\xff" + t[1]).decode()
    ),
)


@settings(max_examples=150, deadline=None)
@given(_data_strings)
def test_arbitrary_data_either_loads_or_is_refused_as_invalid_input(data: str) -> None:
    cfg = Settings(allowed_dirs=[Path(tempfile.gettempdir())], cache_path=None)

    async def attempt() -> None:
        try:
            image = await load_image(data=data, settings=cfg)
        except InvalidInputError:
            return
        assert isinstance(image, LoadedImage)
        assert image.content is not None
        assert image.size == len(image.content)
        await image.aclose()

    anyio.run(attempt)


# --- document ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "77565038-9e3d-4e6a-8c80-e20785be5ee9",
        "77565038-9E3D-4E6A-8C80-E20785BE5EE9",
        " 77565038-9e3d-4e6a-8c80-e20785be5ee9\n",
        "{77565038-9e3d-4e6a-8c80-e20785be5ee9}",
        "urn:uuid:77565038-9e3d-4e6a-8c80-e20785be5ee9",
    ],
)
def test_document_ids_are_canonicalised(value: str) -> None:
    assert validate_document_id(value) == "77565038-9e3d-4e6a-8c80-e20785be5ee9"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "77565038",
        "775650389e3d4e6a8c80e20785be5ee9",
        "77565038-9e3d-4e6a-8c80-e20785be5ee",
        "77565038-9e3d-4e6a-8c80-e20785be5ee9x",
        "g7565038-9e3d-4e6a-8c80-e20785be5ee9",
        "photo.png",
        "../../77565038-9e3d-4e6a-8c80-e20785be5ee9",
        "a" * 5000,
    ],
)
def test_anything_but_a_uuid_is_refused_as_a_document_id(value: str) -> None:
    with pytest.raises(
        InvalidInputError, match="77565038-9e3d-4e6a-8c80-e20785be5ee9, as returned by detect_image"
    ):
        validate_document_id(value)


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


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_files_and_batch_directories_outside_the_allowed_dirs_are_refused_in_the_same_words(
    tmp_path: Path, kind: PathKind
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "photo.png" if kind == "file" else outside
    if kind == "file":
        target.touch()
    with pytest.raises(SourceNotAllowedError) as caught:
        allowed_path(str(target), [allowed], kind)

    message = caught.value.message
    assert message.startswith(f"The {kind} {target} is outside the directories this server may read.")
    assert f"Allowed directories: {allowed.resolve()}." in message
    assert "TRUTHSCAN_ALLOWED_DIRS" in message
