"""A team deployment: three stateless replicas on PostgreSQL against one replica on SQLite.

Starts a standalone sandbox (processing 0.1 s, no deep analysis: the servers' own work sets the
rate), a throwaway PostgreSQL cluster on loopback (`tests.support.postgres`: initdb + pg_ctl,
as the `postgres` user when run as root), and `truthscan-mcp serve --transport http --stateless`
replicas. W MCP sessions over streamable HTTP call `detect_image(force=True)` in a loop for a
fixed window (force: every call pays and writes, so the store is exercised on every one), spread
round-robin over the replicas as a load balancer would.

The store's added latency per detection is measured two ways:
- directly: the store calls one paid detection makes (find, claim, record_submission with its
  ledger row, two save_report, release_claim, durations read and written), timed in-process
  against the same PostgreSQL, 300 times, one after another;
- end to end: one client, one replica, sequential detections with the shared store against the
  same replica with no store at all (`TRUTHSCAN_CACHE_PATH=off`); the difference of medians.

    python -m bench.team [--workers 12] [--seconds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
import uuid
from collections.abc import Generator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import anyio

from bench._common import distinct_images, machine, sandbox_process, server_env, structured, table, workdir
from bench.throughput import http_server
from tests.support.postgres import INSTALL_HINT, postgres_bin, postgres_cluster
from truthscan_mcp.cache.postgres import PostgresStore
from truthscan_mcp.detection.schedule import Duration
from truthscan_mcp.detection.store import ContentKey
from truthscan_mcp.models import DetectionReport, ReportSource

REPLICAS = 3


async def worker(url: str, image: Path, until: float, counts: list[int], latencies: list[float]) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(trust_env=False, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        while time.perf_counter() < until:
            started = time.perf_counter()
            result = await client.call_tool(
                "detect_image",
                {"path": str(image), "deep_analysis": False, "force": True, "wait_seconds": 60},
            )
            if not structured(result)["complete"]:
                raise RuntimeError("incomplete report")
            latencies.append(time.perf_counter() - started)
            counts[0] += 1


async def rate(urls: list[str], image: Path, workers: int, seconds: float) -> tuple[float, list[float]]:
    """Detections per second of `workers` sessions spread round-robin over `urls`."""
    counts, latencies = [0], list[float]()
    await worker(urls[0], image, time.perf_counter() + 1.0, [0], [])  # warm every layer once
    until = time.perf_counter() + seconds
    async with anyio.create_task_group() as tg:
        for index in range(workers):
            tg.start_soon(worker, urls[index % len(urls)], image, until, counts, latencies)
    return counts[0] / seconds, latencies


@contextmanager
def replicas(count: int, env: dict[str, str], cwd: Path) -> Generator[list[str]]:
    with ExitStack() as stack:
        yield [stack.enter_context(http_server(env, cwd, "--stateless"))[0] for _ in range(count)]


async def store_calls_ms(url: str, rounds: int) -> list[float]:
    """Milliseconds of the store calls of one paid detection, `rounds` times."""
    store = PostgresStore(url, service="http://127.0.0.1:9")
    await store.open()
    timings: list[float] = []
    try:
        for index in range(rounds):
            digest = hashlib.sha256(f"bench-{index}".encode()).hexdigest()
            key = ContentKey(digest, deep_analysis=False, preview=False)
            document, holder = str(uuid.uuid4()), uuid.uuid4().hex
            source = ReportSource(
                kind="path", name="bench.png", media_type="image/png", bytes=8192, sha256=digest
            )
            pending = DetectionReport(id=document, status="pending", complete=False, source=source)
            done = pending.model_copy(update={"status": "done", "complete": True, "verdict": "Real"})
            started = time.perf_counter()
            await store.find(digest, deep_analysis=False, preview=False)
            await store.claim(key, holder)
            await store.record_submission(document, source, deep_analysis=False, preview=False)
            await store.save_report(pending, deep_analysis=False)
            await store.save_report(done, deep_analysis=False)
            await store.release_claim(key, holder)
            await store.durations("http://127.0.0.1:9")
            await store.record_durations("http://127.0.0.1:9", {"detection": Duration(0.1, 0.05)})
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await store.aclose()
    return timings


async def sequential_ms(url: str, image: Path, count: int) -> list[float]:
    """Milliseconds of `count` detections one after another in one session (after a warm-up)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    latencies: list[float] = []
    async with (
        httpx2.AsyncClient(trust_env=False, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        for index in range(count + 3):
            started = time.perf_counter()
            result = await client.call_tool(
                "detect_image",
                {"path": str(image), "deep_analysis": False, "force": True, "wait_seconds": 60},
            )
            if not structured(result)["complete"]:
                raise RuntimeError("incomplete report")
            if index >= 3:  # the first ones warm the pools and the poll planner
                latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def main_async(args: argparse.Namespace) -> int:
    if postgres_bin() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    with (
        sandbox_process(processing_seconds=0.1, analysis_seconds=0.0, heatmap_seconds=0.0) as sb,
        workdir("bench-team-") as wd,
        postgres_cluster() as cluster,
    ):
        image = distinct_images(1, wd)[0]
        direct = await store_calls_ms(cluster.new_database(), args.rounds)
        print(f"  store calls of one detection: median {statistics.median(direct):.2f} ms", file=sys.stderr)

        sqlite_env = server_env(sb, wd, TRUTHSCAN_CACHE_PATH=str(wd / "one.sqlite3"))
        with replicas(1, sqlite_env, wd) as urls:
            one_rate, one_lat = await rate(urls, image, args.workers, args.seconds)
        print(f"  1 replica, SQLite: {one_rate:.1f}/s", file=sys.stderr)

        team_env = server_env(sb, wd, TRUTHSCAN_CACHE_URL=cluster.new_database())
        with replicas(REPLICAS, team_env, wd) as urls:
            team_rate, team_lat = await rate(urls, image, args.workers, args.seconds)
            with_store = await sequential_ms(urls[0], image, args.sequential)
        print(f"  {REPLICAS} replicas, PostgreSQL: {team_rate:.1f}/s", file=sys.stderr)

        with replicas(1, server_env(sb, wd), wd) as urls:
            without = await sequential_ms(urls[0], image, args.sequential)

    ms = statistics.median
    print(f"\n## A team deployment: {REPLICAS} stateless replicas on PostgreSQL vs 1 on SQLite ({machine()})")
    print(
        f"sandbox processing 0.1 s, no deep analysis; {args.workers} MCP sessions over streamable HTTP "
        f"calling detect_image(force=True) in a loop for {args.seconds:g} s, round-robin over the replicas; "
        "PostgreSQL 15 on loopback (a throwaway cluster, fsync off)\n"
    )
    print(
        table(
            ["deployment", "detections/s", "median latency ms", "p90 latency ms"],
            [
                ["1 replica, SQLite file", one_rate, ms(one_lat) * 1000, _p90(one_lat) * 1000],
                [f"{REPLICAS} replicas, PostgreSQL", team_rate, ms(team_lat) * 1000, _p90(team_lat) * 1000],
            ],
        )
    )
    print("\nThe store's added latency per detection (target: median ≤ 5 ms)\n")
    print(
        table(
            ["measure", "median ms", "p90 ms", "runs"],
            [
                ["store calls of one paid detection, in-process", ms(direct), _p90(direct), len(direct)],
                [
                    "end to end: 1 replica with the PostgreSQL store minus without a store",
                    ms(with_store) - ms(without),
                    "",
                    f"{len(with_store)} + {len(without)}",
                ],
            ],
        )
    )
    return 0


def _p90(values: list[float]) -> float:
    return sorted(values)[int(0.9 * (len(values) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=300, help="store-call rounds for the direct measure")
    parser.add_argument("--sequential", type=int, default=30, help="detections per end-to-end sample")
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
