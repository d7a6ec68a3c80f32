"""Soak: 300 detections through the MCP server against a standalone sandbox with ~10 % faults.

Run it with:  pytest -m soak tests/soak   (about a minute; it prints its figures)

The server runs in-process (`Client(create_server(...))`), the simulator in its own process
(`truthscan-mcp sandbox --port N`), so memory, file descriptors and threads measured here are
the server's alone. Faults are drawn from a seeded RNG, persistent (`times=-1`) at a chance per
request, over every endpoint and over the kinds a client must survive or report clearly.

Left out on purpose: faults that lose an accepted `/detect` answer (`reset_after_accept`, a
garbled or empty `/detect` body). The client cannot know their id, by nature, so "accepted ==
reports with an id" could not hold; the fault matrix (test_faults.py) covers them one by one.
"""

from __future__ import annotations

import base64
import gc
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from truthscan_mcp.adapter.server import create_server
from truthscan_mcp.sandbox.fake_heatmap import encode_png_rgb
from truthscan_mcp.settings import Settings

pytestmark = [pytest.mark.soak, pytest.mark.anyio]

DETECTIONS = 300
WARM_UP = 40
CONCURRENCY = 8
FAULT_RATE = 0.10
SEED = 20240611
KEY = "soak-key"
COST = 1  # the sandbox's default detection cost
RSS_GROWTH_LIMIT = 20 * 1024 * 1024

#: Fault kinds per endpoint; each endpoint's share of FAULT_RATE is split evenly between them.
FAULT_MIX: dict[str, list[dict[str, Any]]] = {
    "presign": [
        {"kind": "status", "status": 429, "retry_after": 0.1},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502, "body_style": "text"},
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 504, "body_style": "empty"},
        {"kind": "reset"},
        {"kind": "invalid_json"},
        {"kind": "empty_body"},
    ],
    "upload": [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503},
        {"kind": "reset"},
        {"kind": "expired_upload"},
    ],
    "detect": [
        {"kind": "status", "status": 429, "retry_after": 0.1},  # refused: re-sent
        {"kind": "status", "status": 503},  # maintenance: re-sent
        {"kind": "status", "status": 500},  # ambiguous: a clear error, never re-sent
        {"kind": "reset"},  # ambiguous: a clear error, never re-sent
        {"kind": "processing_failed"},
        {"kind": "analysis_failed"},
        {"kind": "heatmap_failed"},
        {"kind": "flat_schema"},
    ],
    "query": [
        {"kind": "status", "status": 429, "retry_after": 0.1},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "status", "status": 503},
        {"kind": "reset"},
        {"kind": "invalid_json"},
        {"kind": "empty_body"},
        {"kind": "null_body"},
        {"kind": "delay", "delay_seconds": 0.3},
    ],
}
#: An error is "clear" when it says what to do next.
CLEAR_HINTS = ("try again", "check_credits", "health tool", "get_result", "detect_image again")


# --- the standalone sandbox --------------------------------------------------------------------


@dataclass
class StandaloneSandbox:
    base_url: str
    control: httpx2.Client

    def stats(self) -> dict[str, Any]:
        return self.control.get("/_sandbox/stats").raise_for_status().json()

    def add_faults(self, rules: list[dict[str, Any]]) -> None:
        self.control.post("/_sandbox/faults", json=rules).raise_for_status()

    def clear_faults(self) -> None:
        self.control.delete("/_sandbox/faults").raise_for_status()


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneSandbox]:
    """`truthscan-mcp sandbox` in its own process, on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("soak") / "sandbox.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "truthscan_mcp",
                "sandbox",
                "--port",
                str(port),
                "--processing-seconds",
                "0.2",
                "--analysis-seconds",
                "0.1",
                "--heatmap-seconds",
                "0.05",
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx2.Client(base_url=base_url, timeout=5) as control:
            deadline = time.monotonic() + 20
            while True:
                try:
                    control.get("/health").raise_for_status()
                    break
                except httpx2.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(f"the sandbox did not start: {log.read_text()}") from None
                    time.sleep(0.05)
            control.patch("/_sandbox/config", json={"seed": SEED}).raise_for_status()
            yield StandaloneSandbox(base_url, control)
    finally:
        process.terminate()
        process.wait(10)


# --- the run -----------------------------------------------------------------------------------


def fault_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for endpoint, kinds in FAULT_MIX.items():
        for kind in kinds:
            rules.append({"endpoint": endpoint, "times": -1, "probability": FAULT_RATE / len(kinds), **kind})
    return rules


def distinct_images(directory: Path, count: int) -> list[dict[str, str]]:
    """`count` different PNGs (so none is coalesced or cached), half as files, half inline."""
    rng = random.Random(SEED)
    sources: list[dict[str, str]] = []
    for index in range(count):
        png = encode_png_rgb(24, 24, rng.randbytes(24 * 24 * 3))
        if index % 2:
            sources.append({"data": base64.b64encode(png).decode()})
        else:
            path = directory / f"soak-{index:03d}.png"
            path.write_bytes(png)
            sources.append({"path": str(path)})
    return sources


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter[str])
    ids: list[str] = field(default_factory=list[str])
    unclear: list[str] = field(default_factory=list[str])
    errors: Counter[str] = field(default_factory=Counter[str])
    seconds: list[float] = field(default_factory=list[float])

    def record(self, result: CallToolResult, seconds: float) -> None:
        self.seconds.append(seconds)
        text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
        if result.is_error:
            if any(hint in text.lower() for hint in CLEAR_HINTS):
                self.outcomes["clear error"] += 1
                self.errors[text.removeprefix("Error executing tool detect_image: ").split(". ")[0]] += 1
            else:
                self.unclear.append(text)
            return
        report: dict[str, Any] = result.structured_content or {}
        if report.get("id"):
            self.ids.append(report["id"])
        if report.get("status") == "failed":
            self.outcomes["failed document, reported"] += 1
        elif report.get("complete") and report.get("verdict"):
            self.outcomes["verdict"] += 1
        elif not report.get("complete") and report.get("id") and report.get("next_step"):
            self.outcomes["handed off (id + next_step)"] += 1
        else:
            self.unclear.append(f"unexpected report: {report}")


async def detect_all(client: Client, sources: list[dict[str, str]], tally: Tally) -> None:
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(source: dict[str, str]) -> None:
        async with limiter:
            started = time.perf_counter()
            result = await client.call_tool("detect_image", {**source, "wait_seconds": 20})
            tally.record(result, time.perf_counter() - started)

    async with anyio.create_task_group() as tg:
        for source in sources:
            tg.start_soon(one, source)


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def open_fds() -> int:
    return psutil.Process().num_fds()


async def test_soak_300_detections_with_random_faults(
    standalone: StandaloneSandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    standalone.control.post("/_sandbox/reset").raise_for_status()
    sources = distinct_images(tmp_path, DETECTIONS)
    settings = Settings.model_validate(
        {
            "api_key": KEY,
            "api_url": standalone.base_url,
            "storage_url": f"{standalone.base_url}/storage",
            "allowed_dirs": [tmp_path],
            "cache_path": None,
            "log_level": "WARNING",
        }
    )
    tally = Tally()
    fds_before, threads_before, tasks_before = (
        open_fds(),
        threading.active_count(),
        len(anyio.get_running_tasks()),
    )
    started = time.perf_counter()

    async with Client(create_server(settings)) as client:
        await detect_all(client, sources[:WARM_UP], tally)  # fills the pool and the caches
        rss_warm, fds_warm, threads_warm = rss(), open_fds(), threading.active_count()
        standalone.add_faults(fault_rules())
        await detect_all(client, sources[WARM_UP:], tally)
        standalone.clear_faults()
        rss_end, fds_end, threads_end = rss(), open_fds(), threading.active_count()
        stats = standalone.stats()
        # Still answering after all that.
        after = await client.call_tool("check_credits", {})
        assert not after.is_error

    elapsed = time.perf_counter() - started
    await anyio.sleep(0.2)
    fds_after, tasks_after = open_fds(), len(anyio.get_running_tasks())
    seconds = sorted(tally.seconds)

    figures = [
        ("detections", f"{len(tally.seconds)} ({WARM_UP} warm-up, then {DETECTIONS - WARM_UP} with faults)"),
        *[(f"  {outcome}", str(count)) for outcome, count in sorted(tally.outcomes.items())],
        ("  unclear or lost", str(len(tally.unclear))),
        *[(f"    error: {message[:48]}", str(count)) for message, count in tally.errors.most_common()],
        ("requests to the sandbox", ", ".join(f"{k} {v}" for k, v in stats["requests"].items() if v)),
        ("accepted /detect", f"{stats['accepted_detects']} (reports with an id: {len(set(tally.ids))})"),
        ("credits spent", f"{stats['credits_spent']} (= accepted × {COST})"),
        ("in flight at the end", str(stats["in_flight"])),
        ("wall time", f"{elapsed:.1f} s, concurrency {CONCURRENCY}"),
        ("per call p50 / p95 / max", f"{_p(seconds, 50):.2f} / {_p(seconds, 95):.2f} / {seconds[-1]:.2f} s"),
        (
            "RSS after warm-up → end",
            f"{rss_warm / 2**20:.1f} → {rss_end / 2**20:.1f} MB (+{(rss_end - rss_warm) / 2**20:.1f} MB)",
        ),
        ("open fds before / warm / end / closed", f"{fds_before} / {fds_warm} / {fds_end} / {fds_after}"),
        ("threads before / warm / end", f"{threads_before} / {threads_warm} / {threads_end}"),
        ("anyio tasks before / after", f"{tasks_before} / {tasks_after}"),
    ]
    with capsys.disabled():
        width = max(len(name) for name, _ in figures)
        print("\n\nsoak figures\n" + "\n".join(f"  {name:<{width}}  {value}" for name, value in figures))

    assert tally.unclear == []
    assert len(tally.seconds) == DETECTIONS
    assert len(tally.ids) == len(set(tally.ids)), "two reports share a document id"
    assert stats["accepted_detects"] == len(tally.ids), "an accepted detection was lost, or paid twice"
    assert stats["credits_spent"] == stats["accepted_detects"] * COST
    assert stats["in_flight"] == 0
    assert tally.outcomes["verdict"] > DETECTIONS * 0.7
    assert rss_end - rss_warm < RSS_GROWTH_LIMIT
    assert fds_after <= fds_before, "connections or files outlived the server"
    assert fds_end <= fds_warm + CONCURRENCY, "connections pile up while serving"
    assert threads_end <= threads_warm + 2
    assert tasks_after == tasks_before, "a task outlived the session"


def _p(values: list[float], percent: int) -> float:
    return values[min(len(values) - 1, round(len(values) * percent / 100))]


if __name__ == "__main__":  # pragma: no cover - `python tests/test_soak.py` works too
    raise SystemExit(pytest.main(["-m", "soak", os.path.abspath(__file__)]))
