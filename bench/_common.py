"""What every benchmark shares: a standalone sandbox process, our MCP server over stdio, images.

The benchmarks measure the product as a user runs it: the MCP server is a separate process
spawned by a real MCP `Client` over stdio, and the sandbox is a third process serving the
simulated API on a loopback port (`truthscan-mcp sandbox --port N`), so neither shares an
interpreter, an event loop or a GIL with the code under test. Nothing here connects anywhere
but 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "truthscan_mcp" / "samples"
AI_SAMPLE = SAMPLES / "ai-generated.png"
CAMERA_SAMPLE = SAMPLES / "camera-photo.jpg"
API_KEY = "bench-key"  # any key but "invalid-key" opens a sandbox account; not a secret


# --- the sandbox as a standalone server ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxProcess:
    """`truthscan-mcp sandbox --port N` in a subprocess, driven through its control plane."""

    def __init__(self, base_url: str, process: subprocess.Popen[bytes]) -> None:
        self.base_url = base_url
        self.process = process
        self._http = httpx2.Client(base_url=base_url, trust_env=False, timeout=30.0)

    @property
    def storage_url(self) -> str:
        return f"{self.base_url}/storage"

    def configure(self, **config: Any) -> dict[str, Any]:
        response = self._http.patch("/_sandbox/config", json=config)
        response.raise_for_status()
        return dict(response.json())

    def reset(self) -> None:
        self._http.post("/_sandbox/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self._http.get("/_sandbox/stats")
        response.raise_for_status()
        return dict(response.json())

    def requests(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.stats()["requests"].items()}

    def query_ages(self, document_id: str) -> list[float]:
        """When each `/query` about the document arrived, in seconds since its `/detect`."""
        response = self._http.get("/_sandbox/queries", params={"id": document_id})
        response.raise_for_status()
        return [float(age) for age in response.json()["ages"]]

    def close(self) -> None:
        self._http.close()


@contextmanager
def sandbox_process(**config: Any) -> Generator[SandboxProcess]:
    port = _free_port()
    env = {**os.environ, "TRUTHSCAN_LOG_LEVEL": "WARNING"}  # WARNING: no access log per request
    process = subprocess.Popen(
        [sys.executable, "-m", "truthscan_mcp", "sandbox", "--host", "127.0.0.1", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    sandbox = SandboxProcess(base_url, process)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {process.returncode}")
            try:
                sandbox.stats()
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start within 20 s") from None
                time.sleep(0.05)
        if config:
            sandbox.configure(**config)
        yield sandbox
    finally:
        sandbox.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- our MCP server over stdio -------------------------------------------------------------------


def server_env(sandbox: SandboxProcess, allowed_dir: Path, **extra: str) -> dict[str, str]:
    """Our server pointed at the standalone sandbox as if it were TruthScan, with no cache."""
    return {
        "TRUTHSCAN_API_URL": sandbox.base_url,
        "TRUTHSCAN_STORAGE_URL": sandbox.storage_url,
        "TRUTHSCAN_API_KEY": API_KEY,
        "TRUTHSCAN_CACHE_PATH": "off",
        "TRUTHSCAN_ALLOWED_DIRS": str(allowed_dir),
        "TRUTHSCAN_LOG_LEVEL": "WARNING",
        **extra,
    }


def server_params(env: dict[str, str], cwd: Path) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp"], env=env, cwd=cwd)


def structured(result: Any) -> dict[str, Any]:
    if result.is_error:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise RuntimeError(f"tool error: {text}")
    value = result.structured_content
    if not isinstance(value, dict):
        raise RuntimeError("the tool result carries no structuredContent")
    return dict(value)  # pyright: ignore[reportUnknownArgumentType]


def text_of(result: Any) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content if block.type == "text")


# --- the completion condition our server waits for ------------------------------------------------


def settled(doc: dict[str, Any] | None) -> bool:
    """Verdict done, deep analysis settled and heatmap not pending — exactly the stop condition of
    `detection.polling.poll` for `deep_analysis=true` (`_pending` empty)."""
    if not doc:
        return False
    status = doc.get("status")
    if status in ("failed", "error"):
        return True
    if status != "done":
        return False
    details: dict[str, Any] = doc.get("result_details") or {}
    analysis = details.get("analysis_results_status")
    if analysis in ("pending", "analyzing"):
        return False
    return details.get("heatmap_status") != "pending"


# --- images -------------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """The same PNG with one more tEXt chunk right after IHDR: new bytes, same pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + _chunk(b"tEXt", key.encode() + b"\x00" + value.encode()) + png[ihdr_end:]


def distinct_images(count: int, directory: Path, *, tag: str = "") -> list[Path]:
    """`count` different valid PNGs (the AI sample with a distinct tEXt chunk each)."""
    base = AI_SAMPLE.read_bytes()
    paths: list[Path] = []
    for i in range(count):
        path = directory / f"img-{tag}{i:03d}.png"
        path.write_bytes(with_text_chunk(base, "Comment", f"bench {tag} {i} {time.time_ns()}"))
        paths.append(path)
    return paths


def big_png(path: Path, size: int, *, seed: int = 0) -> Path:
    """A valid RGB PNG of about `size` bytes (at most): random pixels in stored deflate blocks.

    Random pixels cannot be compressed, so the file is as large as its pixel data; the SD
    `parameters` chunk gives the sandbox an AI signature (so it renders a heatmap too).
    """
    import random

    rng = random.Random(seed)
    width = 1024
    row = 1 + 3 * width
    overhead = 200 + size // 65535 * 5
    height = (size - overhead) // row
    raw = bytearray()
    for _ in range(height):
        raw += b"\x00" + rng.randbytes(3 * width)
    idat = zlib.compress(bytes(raw), 0)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", b"parameters\x00a benchmark image, Steps: 20, Sampler: Euler a, Seed: %d" % seed)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )
    assert len(png) <= size, (len(png), size)
    path.write_bytes(png)
    return path


@contextmanager
def workdir(prefix: str) -> Generator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name).resolve()


# --- tables -------------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (so the output pastes into bench/README.md as is)."""
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')} · {os.cpu_count()} CPUs ({cpu}) · "
        f"Python {sys.version.split()[0]} · load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
