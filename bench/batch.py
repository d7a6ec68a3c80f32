"""A batch against parallel calls: `detect_images` of N images vs N `detect_image` calls at once.

The tool description tells the assistant to prefer the batch, so it must not be slower than
what an assistant gets by issuing parallel calls. One MCP `Client` session over stdio to
`python -m truthscan_mcp` (cache off), pointed at a standalone sandbox through a loopback
proxy (`_proxy.py`) that counts requests in flight per endpoint: the batch may hold at most
`TRUTHSCAN_MAX_CONCURRENCY` (4) uploads or `/detect` submissions at once; nothing bounds the
parallel calls. Both without deep analysis (the batch's default), distinct images per run,
alternating, sandbox default timings.

Bars (issue 13): 20 images ≤ 1.3x the parallel calls' wall, 100 images ≤ 1.5x.

    python -m bench.batch [--reps 2] [--sizes 20,100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from bench._common import (
    API_KEY,
    distinct_images,
    machine,
    sandbox_process,
    server_params,
    structured,
    table,
    workdir,
)
from bench._proxy import CountingProxy, counting_proxy

MAX_CONCURRENCY = 4
BARS = {20: 1.3, 100: 1.5}


async def batch_run(client: Any, images: list[Path]) -> None:
    result = await client.call_tool(
        "detect_images", {"paths": [str(p) for p in images], "force": True, "wait_seconds": 300}
    )
    summary = structured(result)
    done = [r for r in summary.get("rows", []) if r.get("complete")]
    if len(done) != len(images):
        raise RuntimeError(f"batch: {len(done)} of {len(images)} complete")


async def parallel_run(client: Any, images: list[Path]) -> None:
    async def one(image: Path) -> None:
        result = await client.call_tool(
            "detect_image", {"path": str(image), "deep_analysis": False, "force": True, "wait_seconds": 300}
        )
        if not structured(result)["complete"]:
            raise RuntimeError(f"incomplete report for {image.name}")

    async with anyio.create_task_group() as tg:
        for image in images:
            tg.start_soon(one, image)


async def main_async(args: argparse.Namespace) -> int:
    from mcp import Client

    sizes = [int(x) for x in args.sizes.split(",")]
    walls: dict[tuple[int, str], list[float]] = {}
    peaks: dict[tuple[int, str], dict[str, int]] = {}
    with sandbox_process() as sb, workdir("bench-batch-") as wd:
        async with counting_proxy(sb.base_url) as (proxy_url, proxy):
            env = {
                "TRUTHSCAN_API_URL": proxy_url,
                "TRUTHSCAN_STORAGE_URL": f"{proxy_url}/storage",
                "TRUTHSCAN_API_KEY": API_KEY,
                "TRUTHSCAN_CACHE_PATH": "off",
                "TRUTHSCAN_ALLOWED_DIRS": str(wd),
                "TRUTHSCAN_LOG_LEVEL": "WARNING",
                "TRUTHSCAN_MAX_CONCURRENCY": str(MAX_CONCURRENCY),
            }
            async with Client(server_params(env, wd), mode="legacy", read_timeout_seconds=600) as client:
                await parallel_run(client, distinct_images(2, wd, tag="warm-"))
                for size in sizes:
                    for rep in range(args.reps):
                        order = ["batch", "parallel"] if rep % 2 == 0 else ["parallel", "batch"]
                        for how in order:
                            images = distinct_images(size, wd, tag=f"{how}{size}-{rep}-")
                            proxy.reset()
                            started = time.perf_counter()
                            await (batch_run if how == "batch" else parallel_run)(client, images)
                            wall = time.perf_counter() - started
                            walls.setdefault((size, how), []).append(wall)
                            peak = _peaks(proxy)
                            seen = peaks.setdefault((size, how), {})
                            for k, v in peak.items():
                                seen[k] = max(seen.get(k, 0), v)
                            print(f"  {size:3d} {how:<8} {wall:7.3f}s peaks {peak}", file=sys.stderr)
                            for image in images:
                                image.unlink()

    rows: list[list[object]] = []
    verdicts: list[str] = []
    for size in sizes:
        for how in ("batch", "parallel"):
            w = walls[(size, how)]
            p = peaks[(size, how)]
            rows.append(
                [
                    f"{size} images",
                    "detect_images (one call)" if how == "batch" else f"detect_image x{size} at once",
                    statistics.median(w),
                    f"{min(w):.3f}–{max(w):.3f}",
                    p.get("upload", 0),
                    p.get("detect", 0),
                    p.get("query", 0),
                ]
            )
        ratio = statistics.median(walls[(size, "batch")]) / statistics.median(walls[(size, "parallel")])
        bounded = max(peaks[(size, "batch")].get(k, 0) for k in ("upload", "detect")) <= MAX_CONCURRENCY
        ok = ratio <= BARS.get(size, 1.5) and bounded
        verdicts.append(
            f"{size} images: batch / parallel = {ratio:.2f}x (bar ≤ {BARS.get(size, 1.5)}); batch uploads "
            f"and submissions in flight ≤ {MAX_CONCURRENCY}: {'yes' if bounded else 'NO'} "
            f"→ {'MET' if ok else 'MISSED'}"
        )
    print(f"\n## Batch vs parallel calls ({machine()})")
    print(
        f"sandbox default timings; {args.reps} runs each, alternating; "
        f"TRUTHSCAN_MAX_CONCURRENCY={MAX_CONCURRENCY}\n"
    )
    print(
        table(
            [
                "images",
                "how",
                "median wall s",
                "range s",
                "max uploads in flight",
                "max /detect in flight",
                "max /query in flight",
            ],
            rows,
        )
    )
    print()
    for line in verdicts:
        print(line)
    return 0


def _peaks(proxy: CountingProxy) -> dict[str, int]:
    return dict(proxy.peak)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--sizes", default="20,100")
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
