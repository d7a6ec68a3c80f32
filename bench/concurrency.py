"""Concurrency: 20 distinct images submitted at once to one server process.

One MCP `Client` session over stdio to `python -m truthscan_mcp` (cache off), pointed at a
standalone sandbox; 20 `detect_image` calls with deep analysis are started together on that
session, each on different image bytes. Compared with one image alone on the same session,
alternating, in the same run.

Bar: the 20 finish within 1.5x the wall time of one.

    python -m bench.concurrency [--reps 5] [--images 20]
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
    distinct_images,
    machine,
    sandbox_process,
    server_env,
    server_params,
    structured,
    table,
    workdir,
)

PROCESSING, ANALYSIS, HEATMAP = 2.0, 0.8, 0.5


async def detect(client: Any, image: Path) -> dict[str, Any]:
    result = await client.call_tool(
        "detect_image", {"path": str(image), "deep_analysis": True, "force": True, "wait_seconds": 60}
    )
    report = structured(result)
    if not report["complete"] or report["analysis_status"] != "done":
        raise RuntimeError(f"incomplete report for {image.name}")
    return report


async def main_async(args: argparse.Namespace) -> int:
    from mcp import Client

    single: list[float] = []
    batch: list[float] = []
    queries_single: list[int] = []
    queries_batch: list[int] = []
    in_flight: list[int] = []
    with (
        sandbox_process(
            processing_seconds=PROCESSING, analysis_seconds=ANALYSIS, heatmap_seconds=HEATMAP
        ) as sb,
        workdir("bench-concurrency-") as wd,
    ):
        async with Client(
            server_params(server_env(sb, wd), wd), mode="legacy", read_timeout_seconds=120
        ) as client:
            await detect(client, distinct_images(1, wd, tag="warm")[0])  # imports, connections
            for rep in range(args.reps):
                one = distinct_images(1, wd, tag=f"one{rep}-")[0]
                many = distinct_images(args.images, wd, tag=f"many{rep}-")
                for kind in ("single", "batch") if rep % 2 == 0 else ("batch", "single"):
                    before = sb.stats()
                    started = time.perf_counter()
                    if kind == "single":
                        await detect(client, one)
                    else:
                        ids: set[str] = set()

                        async def run(image: Path, ids: set[str] = ids) -> None:
                            ids.add((await detect(client, image))["id"])

                        async with anyio.create_task_group() as tg:
                            for image in many:
                                tg.start_soon(run, image)
                        if len(ids) != len(many):
                            raise RuntimeError("the batch did not produce one document per image")
                    wall = time.perf_counter() - started
                    after = sb.stats()
                    queries = after["requests"]["query"] - before["requests"]["query"]
                    if kind == "single":
                        single.append(wall)
                        queries_single.append(queries)
                    else:
                        batch.append(wall)
                        queries_batch.append(queries)
                        in_flight.append(after["max_in_flight"])
                    print(f"  rep {rep} {kind:<6} {wall:6.3f}s {queries:4d} queries", file=sys.stderr)
                    sb.reset()  # also zeroes max_in_flight for the next batch

    ratio = statistics.median(batch) / statistics.median(single)
    print(f"\n## Concurrency ({machine()})")
    print(
        f"sandbox: processing {PROCESSING} s, analysis {ANALYSIS} s, heatmap {HEATMAP} s; "
        f"{args.reps} runs each, alternating; one MCP session\n"
    )
    print(
        table(
            ["run", "median wall s", "min s", "max s", "/query per run", "max requests in flight"],
            [
                [
                    "1 image",
                    statistics.median(single),
                    min(single),
                    max(single),
                    statistics.mean(queries_single),
                    1,
                ],
                [
                    f"{args.images} images at once",
                    statistics.median(batch),
                    min(batch),
                    max(batch),
                    statistics.mean(queries_batch),
                    max(in_flight),
                ],
            ],
        )
    )
    verdict = "MET" if ratio <= 1.5 else "MISSED"
    print(f"\n{args.images} at once / 1 alone (medians): {ratio:.3f}x (bar ≤ 1.5) → {verdict}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--images", type=int, default=20)
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
