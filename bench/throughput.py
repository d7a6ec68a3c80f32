"""Throughput, CPU and memory per detection: one server process over streamable HTTP.

`python -m truthscan_mcp serve --transport http` (cache off) in its own process, pointed at a
standalone sandbox with short jobs (processing 0.1 s, no deep analysis, heatmap at once), so
the server's own work is what limits the rate. W clients (each an MCP `Client` session over
streamable HTTP, as W assistants would be) call `detect_image` in a loop for a fixed window;
the server's CPU seconds (user + system, psutil) and RSS (sampled every 10 ms) are read over
the same window. Per detection: CPU seconds / detections; peak RSS and its growth over the
warmed-up server.

    python -m bench.throughput [--workers 1,8,32] [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import psutil

from bench._common import (
    REPO,
    _free_port,  # pyright: ignore[reportPrivateUsage]
    distinct_images,
    machine,
    sandbox_process,
    server_env,
    structured,
    table,
    workdir,
)
from bench.memory import PeakSampler

MB = 1024 * 1024


async def worker(url: str, image: Path, until: float, counts: list[int]) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(trust_env=False, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        while time.perf_counter() < until:
            result = await client.call_tool(
                "detect_image",
                {"path": str(image), "deep_analysis": False, "force": True, "wait_seconds": 60},
            )
            if not structured(result)["complete"]:
                raise RuntimeError("incomplete report")
            counts[0] += 1


async def worker_process(url: str, image: Path, seconds: float, sessions: int) -> None:
    """One client process of `sessions` MCP sessions; prints how many detections it finished."""
    import importlib

    importlib.import_module("mcp.client.streamable_http")  # before the window opens: imports are slow

    counts = [0]
    until = time.perf_counter() + seconds
    async with anyio.create_task_group() as tg:
        for _ in range(sessions):
            tg.start_soon(worker, url, image, until, counts)
    print(counts[0])


async def run_clients(url: str, image: Path, seconds: float, workers: int) -> int:
    """`workers` sessions spread over client processes (at most `PER_PROCESS` each), so the
    benchmark's own clients, not one Python process of them, set no ceiling."""
    sizes = [PER_PROCESS] * (workers // PER_PROCESS) + (
        [workers % PER_PROCESS] if workers % PER_PROCESS else []
    )
    totals: list[int] = []

    async def one(sessions: int) -> None:
        done = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "bench.throughput",
                "--client",
                url,
                str(image),
                str(seconds),
                str(sessions),
            ],
            cwd=str(REPO),
        )
        totals.append(int(done.stdout.decode().strip() or 0))

    async with anyio.create_task_group() as tg:
        for sessions in sizes:
            tg.start_soon(one, sessions)
    return sum(totals)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the server did not listen within 30 s")


@contextmanager
def http_server(env: dict[str, str], cwd: Path, *extra: str) -> Generator[tuple[str, psutil.Process]]:
    """`truthscan-mcp serve --transport http [extra…]` on a free loopback port: (MCP URL, its process)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "truthscan_mcp", "serve", "--transport", "http", "--port", str(port), *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **env},
        cwd=cwd,
    )
    try:
        _wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}/mcp", psutil.Process(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


async def main_async(args: argparse.Namespace) -> int:
    levels = [int(x) for x in args.workers.split(",")]
    rows: list[list[object]] = []
    with (
        sandbox_process(processing_seconds=0.1, analysis_seconds=0.0, heatmap_seconds=0.0) as sb,
        workdir("bench-throughput-") as wd,
    ):
        image = distinct_images(1, wd)[0]
        with http_server(server_env(sb, wd), wd) as (url, proc):
            warm = [0]
            await worker(url, image, time.perf_counter() + 1.0, warm)  # imports, pools, first calls
            base_rss = proc.memory_info().rss
            for workers in levels:
                cpu_before = proc.cpu_times()
                started = time.perf_counter()
                with PeakSampler(proc) as sampler:
                    done = await run_clients(url, image, args.seconds, workers)
                wall = time.perf_counter() - started  # includes the client processes' start
                cpu_after = proc.cpu_times()
                cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
                rows.append(
                    [
                        workers,
                        done,
                        done / args.seconds,  # each client process counts over its own window
                        cpu / done if done else float("nan"),
                        cpu / wall,
                        sampler.peak / MB,
                        (sampler.peak - base_rss) / MB,
                    ]
                )
                print(
                    f"  {workers:3d} workers: {done} detections in {wall:.1f}s, cpu {cpu:.2f}s",
                    file=sys.stderr,
                )

    print(f"\n## Throughput, CPU and memory per detection over HTTP ({machine()})")
    print(
        f"one server process (streamable HTTP, stateless); sandbox processing 0.1 s, no deep analysis; "
        f"{args.seconds:g} s per level; each worker one MCP session calling detect_image in a loop, "
        f"{PER_PROCESS} sessions per client process\n"
    )
    print(
        table(
            [
                "workers",
                "detections",
                "detections/s",
                "server CPU s / detection",
                "server CPU use (cores)",
                "peak RSS MB",
                "RSS growth MB",
            ],
            rows,
        )
    )
    return 0


PER_PROCESS = 4


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--client":
        url, image, seconds, sessions = sys.argv[2:]
        anyio.run(worker_process, url, Path(image), float(seconds), int(sessions))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10.0)
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
