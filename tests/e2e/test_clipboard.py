"""`clipboard: true` on Linux: a real X11 clipboard (Xvfb) owned by a real `xclip`.

Each test starts Xvfb on a free display and, where it copies something, `xclip -i` in the
foreground (`-quiet`), which owns the clipboard until it is killed, exactly as a desktop app
does after Copy Image. The server reads it through Pillow's ImageGrab, which runs `xclip -o`:
nothing is faked between the copy and the detection. Skips with a hint without Xvfb or xclip
(`apt install xvfb xclip`; CI installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from mcp import Client

from tests.support import (
    AI_PNG,
    CAMERA_JPG,
    PROTOCOL_MODES,
    assert_error,
    child_env,
    live_env,
    make_server,
    make_settings,
    quick_sandbox,
    scrub_truthscan_env,
    stdio_params,
    structured,
    text_of,
)
from tests.support.images import png_bomb
from tests.support.memory import PeakRss, limited_server_command, server_child
from truthscan_mcp.media.clipboard import BITMAP_NOTE

if TYPE_CHECKING:
    from tests.support import SandboxServer

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        shutil.which("Xvfb") is None or shutil.which("xclip") is None,
        reason="needs Xvfb and xclip (apt install xvfb xclip) for a real X11 clipboard",
    ),
]


def _xclip_out(display: str, target: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["xclip", "-selection", "clipboard", "-t", target, "-o"],
        capture_output=True,
        env={**os.environ, "DISPLAY": display},
        timeout=10,
    )


@pytest.fixture
def display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty X display of our own, set as DISPLAY (and no Wayland) for this test."""
    scrub_truthscan_env(monkeypatch)
    # Xvfb picks a free display number itself and writes it to `-displayfd`: no other worker can
    # take the same number between a check and the start.
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", "320x240x24"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as chosen:
        number = chosen.readline().strip()  # written once the server takes connections
    if not number or xvfb.poll() is not None:
        xvfb.kill()
        pytest.fail("Xvfb did not start")
    name = f":{number.decode()}"
    monkeypatch.setenv("DISPLAY", name)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    try:
        yield name
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


def _own_clipboard(display: str, data: bytes, target: str) -> subprocess.Popen[bytes]:
    """An xclip that owns the clipboard of `display` with `data` as `target`, once it offers it."""
    with tempfile.TemporaryFile() as errors:  # the child keeps its own descriptor of it
        owner = subprocess.Popen(
            ["xclip", "-quiet", "-selection", "clipboard", "-t", target, "-i"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env={**os.environ, "DISPLAY": display},
        )
        assert owner.stdin is not None
        owner.stdin.write(data)
        owner.stdin.close()
        deadline = time.monotonic() + 30
        while target.encode() not in _xclip_out(display, "TARGETS").stdout:  # owned once it offers it
            if owner.poll() is not None or time.monotonic() > deadline:
                owner.kill()
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip()
                code = owner.poll()
                pytest.fail(f"xclip did not take the clipboard of {display} (exit code {code}): {said}")
            time.sleep(0.05)
        return owner


@contextmanager
def copied(display: str, data: bytes, target: str) -> Generator[None]:
    """`data` on the clipboard as `target`, owned by an xclip that runs until the block ends."""
    owner = _own_clipboard(display, data, target)
    try:
        yield
    finally:
        owner.kill()
        owner.wait()


def server() -> Client:
    return Client(make_server(make_settings(None), sandbox=quick_sandbox()))


@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_copied_image_is_detected_from_the_clipboard(display: str, mode: str) -> None:
    with copied(display, AI_PNG.read_bytes(), "image/png"):
        async with Client(
            make_server(make_settings(None), sandbox=quick_sandbox()),
            mode=mode,  # pyright: ignore[reportArgumentType]
        ) as client:
            result = await client.call_tool("detect_image", {"clipboard": True, "wait_seconds": 30})
    report = structured(result)
    assert report["complete"] is True
    assert report["verdict"] is not None
    assert report["source"]["kind"] == "clipboard"
    assert report["source"]["media_type"] == "image/png"
    assert BITMAP_NOTE in report["warnings"]
    assert "bitmap carries no file metadata" in text_of(result)
    # the pixels without the file: the sandbox's Stable Diffusion signature is gone with the metadata
    assert report["provenance"]["finding"] == "none"


async def test_a_copied_jpeg_is_checked_as_the_pixels_it_shows(display: str) -> None:
    with copied(display, CAMERA_JPG.read_bytes(), "image/jpeg"):
        async with server() as client:
            result = await client.call_tool("detect_image", {"clipboard": True, "wait_seconds": 30})
    report = structured(result)
    assert report["source"]["kind"] == "clipboard"
    assert report["source"]["media_type"] == "image/png"
    assert report["verdict"] is not None
    assert BITMAP_NOTE in report["warnings"]


async def test_an_empty_clipboard_says_to_copy_the_image_first(display: str) -> None:
    async with server() as client:
        result = await client.call_tool("detect_image", {"clipboard": True})
        provenance = await client.call_tool("check_provenance", {"clipboard": True})
    assert_error(result, "copy the image first (right-click → Copy Image)")
    assert_error(provenance, "copy the image first")


async def test_a_clipboard_holding_text_says_to_copy_the_image_first(display: str) -> None:
    with copied(display, b"just some words", "UTF8_STRING"):
        async with server() as client:
            result = await client.call_tool("detect_image", {"clipboard": True})
    assert_error(result, "copy the image first")


async def test_without_a_clipboard_tool_the_error_says_what_to_install(
    display: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a system with neither wl-paste nor xclip
    async with server() as client:
        result = await client.call_tool("detect_image", {"clipboard": True})
    assert_error(result, "install wl-clipboard", "xclip")


async def test_check_provenance_of_a_copied_bitmap_says_it_carries_no_metadata(display: str) -> None:
    with copied(display, AI_PNG.read_bytes(), "image/png"):
        async with server() as client:
            result = await client.call_tool("check_provenance", {"clipboard": True})
    provenance = structured(result)
    # the file declares Stable Diffusion; its pixels on the clipboard declare nothing
    assert provenance["finding"] == "none"
    assert provenance["source"]["kind"] == "clipboard"
    assert BITMAP_NOTE in provenance["evidence"]


async def test_the_clipboard_over_stdio(display: str) -> None:
    env = child_env(TRUTHSCAN_SANDBOX="1", TRUTHSCAN_CACHE_PATH="off", DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    with copied(display, AI_PNG.read_bytes(), "image/png"):
        async with Client(stdio_params(env=env)) as client:
            result = await client.call_tool("detect_image", {"clipboard": True, "wait_seconds": 60})
    report = structured(result)
    assert report["source"]["kind"] == "clipboard"
    assert report["complete"] is True


# --- a copied image beyond the pixel budget ------------------------------------------------------

#: What reading the clipboard may add to the server's resident memory: a full-size decode of the
#: bomb takes 0.5 GB (and its PNG re-encoding more); reading its header takes next to nothing.
RSS_GROWTH_LIMIT = 192 * 1024 * 1024


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS is POSIX only")
async def test_a_copied_image_over_the_pixel_budget_is_refused_before_it_is_decoded(
    display: str, sandbox: SandboxServer
) -> None:
    # 13000×13000 (169 MP): just under Pillow's own refusal, so only our budget stands in the way
    env = live_env(sandbox, TRUTHSCAN_CACHE_PATH="off", TRUTHSCAN_LOG_LEVEL="WARNING", DISPLAY=display)
    env.pop("WAYLAND_DISPLAY", None)
    params = stdio_params(env=env)
    params.args = limited_server_command()
    detects = sandbox.sandbox.stats.accepted_detects
    with copied(display, png_bomb(), "image/png"):
        async with Client(params) as client:
            await client.list_tools()
            rss = PeakRss(server_child().pid)
            try:
                with anyio.fail_after(60):
                    result = await client.call_tool("detect_image", {"clipboard": True, "wait_seconds": 20})
            finally:
                growth = rss.stop()
            health = await client.call_tool("health", {})
    print(f"clipboard bomb: server RSS +{growth / 2**20:.0f} MB")  # the measurement, with -s
    assert_error(result, "13000×13000 pixels", "169 megapixels", "more than the 32 megapixels", "as a path")
    assert growth < RSS_GROWTH_LIMIT, f"the server grew by {growth / 2**20:.0f} MB"
    assert sandbox.sandbox.stats.accepted_detects == detects  # nothing spent
    assert not health.is_error  # and it keeps serving
