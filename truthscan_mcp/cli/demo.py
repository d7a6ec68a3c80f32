"""`truthscan-mcp demo`: a real MCP client session, exactly as a desktop app would run one.

It spawns this server over stdio with the SDK's `Client`, then calls every tool on the two
bundled sample images and prints what the assistant would see. Without TRUTHSCAN_API_KEY it
runs on the built-in sandbox: no key, no network, and it says so on every verdict.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio

if TYPE_CHECKING:  # the SDK is imported when the demo runs, not when the command line is built
    from mcp import Client, StdioServerParameters
    from mcp.types import CallToolResult

SAMPLES = ("ai-generated.png", "camera-photo.jpg")


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _text_of(result: Any) -> str:
    return "\n".join(
        getattr(block, "text", f"[{getattr(block, 'type', '?')} block]") for block in result.content
    )


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def run_demo(args: argparse.Namespace | None = None) -> int:
    return anyio.run(_demo, args)


async def _demo(args: argparse.Namespace | None) -> int:
    from mcp import Client

    live = bool(os.environ.get("TRUTHSCAN_API_KEY", "").strip()) and not getattr(args, "sandbox", False)
    workdir = Path(tempfile.mkdtemp(prefix="truthscan-demo-"))
    try:
        for name in SAMPLES:
            with resources.as_file(resources.files("truthscan_mcp.samples") / name) as sample:
                shutil.copyfile(sample, workdir / name)
        params = _server_params(workdir, live)
        _out("truthscan-mcp demo — a real MCP client talking to this server over stdio")
        if live:
            _out("Mode: LIVE TruthScan API (TRUTHSCAN_API_KEY is set): detections spend real credits.")
        else:
            _out("Mode: SANDBOX. Set TRUTHSCAN_API_KEY for the real API. Every verdict below is")
            _out("SIMULATED by the built-in simulator: it shows the workflow, not a real analysis.")
        _out(f"Server: {params.command} {' '.join(params.args)}\n")

        async with Client(params, mode="legacy") as client:
            if not await _session(client, workdir):
                return 1
        if not live:
            _out("All verdicts above were SIMULATED by the sandbox.")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _server_params(workdir: Path, live: bool) -> StdioServerParameters:
    """This server over stdio, configured by nothing of the user's but the live API's key and URLs."""
    from mcp import StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUTHSCAN_")}
    if live:
        env["TRUTHSCAN_API_KEY"] = os.environ["TRUTHSCAN_API_KEY"]
        for key in ("TRUTHSCAN_API_URL", "TRUTHSCAN_STORAGE_URL"):
            if key in os.environ:
                env[key] = os.environ[key]
    env["TRUTHSCAN_ALLOWED_DIRS"] = str(workdir)
    env["TRUTHSCAN_CACHE_PATH"] = str(workdir / "cache.sqlite3")
    env["TRUTHSCAN_REPORTS_DIR"] = str(workdir / "reports")
    env["TRUTHSCAN_LOG_LEVEL"] = "WARNING"
    server_args = ["-m", "truthscan_mcp"] + ([] if live else ["--sandbox"])
    return StdioServerParameters(command=sys.executable, args=server_args, env=env)


async def _session(client: Client, workdir: Path) -> bool:
    """Every tool, in the order a person would meet them; False when a detection failed."""
    info = client.server_info
    _out(f"Connected to {info.name if info else '?'} {info.version if info else ''}")
    tools = await client.list_tools()
    # what the model is offered: app-only tools (MCP Apps visibility ["app"]) are for the page
    offered = [t.name for t in tools.tools if _model_visible(t.meta)]
    _out("Tools: " + ", ".join(offered) + "\n")

    for name in ("health", "check_credits"):
        result = await client.call_tool(name, {})
        _out(f"> {name}()")
        _out(_indent(_text_of(result)) + "\n")

    result = await client.call_tool("check_provenance", {"path": str(workdir / SAMPLES[0])})
    _out(f"> check_provenance(path={SAMPLES[0]!r}) — free: what the file itself declares")
    _out(_indent(_text_of(result)) + "\n")

    first_id: str | None = None
    for sample in SAMPLES:
        result = await _detect_sample(client, workdir, sample)
        if result.structured_content and first_id is None:
            first_id = result.structured_content.get("id")
        if result.is_error:
            return False
    if first_id:
        await _result_and_report(client, first_id)

    result = await client.call_tool("detect_image", {"path": str(workdir / SAMPLES[0])})
    _out(f"> detect_image(path={SAMPLES[0]!r}) again — same bytes")
    _out(_indent(_text_of(result)) + "\n")

    result = await client.call_tool("detect_images", {"directory": str(workdir)})
    _out("> detect_images(directory=<the two samples>) — a batch; both are known already")
    _out(_indent(_text_of(result)) + "\n")

    await _hand_over(client, workdir / SAMPLES[1])

    result = await client.call_tool("detect_image", {"path": str(workdir / "missing.png")})
    _out("> detect_image(path='missing.png') — what an error looks like")
    _out(_indent(_text_of(result)) + f"\n    (isError: {result.is_error})\n")
    return True


async def _hand_over(client: Client, image: Path) -> None:
    """request_image, then the image dropped on its page as a person's browser sends it."""
    import httpx2

    result = await client.call_tool("request_image", {"note": "the photo you were sent"})
    _out("> request_image(note='the photo you were sent') — for an image the model cannot pass")
    _out(_indent(_text_of(result)) + "\n")
    upload: dict[str, Any] = result.structured_content or {}
    if result.is_error or "upload_url" not in upload:
        return
    content = await anyio.Path(image).read_bytes()
    async with httpx2.AsyncClient() as http:
        sent = await http.post(upload["upload_url"], content=content, headers={"X-Upload-Name": image.name})
    _out(f"    (the demo drops {image.name} on that page, as a person would: HTTP {sent.status_code})\n")
    result = await client.call_tool("detect_image", {"upload": upload["upload_id"]})
    _out(f"> detect_image(upload={upload['upload_id']!r}) — the image the person handed over")
    _out(_indent(_text_of(result)) + "\n")


async def _detect_sample(client: Client, workdir: Path, sample: str) -> CallToolResult:
    events: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        events.append(f"{progress:.0f}% {message or ''}")

    arguments: dict[str, Any] = {"path": str(workdir / sample), "deep_analysis": True, "wait_seconds": 60}
    result = await client.call_tool("detect_image", arguments, progress_callback=on_progress)
    _out(f"> detect_image(path={sample!r}, deep_analysis=True)")
    _out(f"    progress: {len(events)} notifications, e.g. " + " | ".join(events[:1] + events[-2:]))
    _out(_indent(_text_of(result)) + "\n")
    return result


async def _result_and_report(client: Client, first_id: str) -> None:
    result = await client.call_tool("get_result", {"id": first_id})
    _out(f"> get_result(id={first_id!r})")
    _out(_indent(_text_of(result)) + "\n")
    result = await client.call_tool("export_report", {"id": first_id})
    _out(f"> export_report(id={first_id!r}) — an evidence report (HTML + JSON sidecar)")
    _out(_indent(_text_of(result)))
    _out("    (written into the demo's temporary folder, removed at the end; by default")
    _out("    reports go to TRUTHSCAN_REPORTS_DIR, 'TruthScan reports' in your documents)\n")


def _model_visible(meta: dict[str, Any] | None) -> bool:
    """Whether the model is offered a tool (MCP Apps `_meta.ui.visibility`; yes when unsaid)."""
    ui = (meta or {}).get("ui")
    if not isinstance(ui, dict):
        return True
    visibility = cast(dict[str, object], ui).get("visibility")
    return not isinstance(visibility, list) or "model" in cast(list[object], visibility)
