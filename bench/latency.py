"""Latency against the floor: how late does our server notice a finished job, and at what cost?

The floor is a minimal client that does presign → upload → detect and then asks `/query`
every 50 ms until the job has settled: it notices completion at most ~50 ms late, and pays
for it with ~20 requests a second. Our server (a real MCP `Client` over stdio to
`python -m truthscan_mcp`, pointed at a standalone sandbox, cache off) runs `detect_image`
with deep analysis on the same image, interleaved with the floor, on jobs of several lengths
(so no schedule wins by the luck of where its polls fall). Both stop on the same condition:
verdict done, deep analysis settled, heatmap not pending (`_common.settled`).

Bar: mean wall time ≤ 1.10x the floor's, with ≤ 1/4 of its `/query` calls.

    python bench/latency.py [--reps 5] [--processing 2,3,4] [--compare 0.25,0.2,0.1,2.0]

`--compare first,share,min,max` adds a column for the pre-tuning formula with those numbers
(the server launched through bench/_server.py), measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    API_KEY,
    SandboxProcess,
    distinct_images,
    machine,
    sandbox_process,
    server_env,
    server_params,
    settled,
    structured,
    table,
    workdir,
)

LAUNCHER = str(Path(__file__).resolve().parent / "_server.py")
ANALYSIS_SECONDS = 0.8
HEATMAP_SECONDS = 0.5
FLOOR_INTERVAL = 0.05
#: Repetition i of a length L runs a job of L + i x PHASE_SWEEP / reps seconds.
PHASE_SWEEP = 0.5


@dataclass
class Runs:
    walls: list[float] = field(default_factory=list[float])
    queries: list[int] = field(default_factory=list[int])


async def floor_run(http: httpx2.AsyncClient, sandbox: SandboxProcess, image: Path) -> float:
    """presign → upload → detect → /query every 50 ms until settled; the wall time."""
    started = time.perf_counter()
    presign = await http.get(
        f"{sandbox.base_url}/get-presigned-url",
        params={"file_name": image.name},
        headers={"apikey": API_KEY},
    )
    presign.raise_for_status()
    grant = presign.json()
    upload = await http.put(
        grant["presigned_url"],
        content=await anyio.Path(image).read_bytes(),
        headers={"Content-Type": "image/png", "x-amz-acl": "private"},
    )
    upload.raise_for_status()
    detect = await http.post(
        f"{sandbox.base_url}/detect",
        json={
            "key": API_KEY,
            "url": f"{sandbox.storage_url}/{grant['file_path']}",
            "generate_preview": False,
            "generate_analysis_details": True,
            "document_type": "Image",
        },
    )
    detect.raise_for_status()
    doc_id = detect.json()["id"]
    while True:
        answer = await http.post(f"{sandbox.base_url}/query", json={"id": doc_id})
        answer.raise_for_status()
        if settled(answer.json()):
            return time.perf_counter() - started
        await anyio.sleep(FLOOR_INTERVAL)


async def mcp_run(client: Any, image: Path) -> float:
    started = time.perf_counter()
    result = await client.call_tool(
        "detect_image", {"path": str(image), "deep_analysis": True, "force": True, "wait_seconds": 60}
    )
    wall = time.perf_counter() - started
    report = structured(result)
    if not report["complete"] or report["analysis_status"] != "done" or report["heatmap_status"] == "pending":
        raise RuntimeError(f"incomplete report: {report['status']} / {report['analysis_status']}")
    return wall


async def main_async(args: argparse.Namespace) -> int:
    from mcp import Client

    lengths = [float(x) for x in args.processing.split(",")]
    with (
        sandbox_process(analysis_seconds=ANALYSIS_SECONDS, heatmap_seconds=HEATMAP_SECONDS) as sandbox,
        workdir("bench-latency-") as wd,
    ):
        image = distinct_images(1, wd)[0]
        env = server_env(sandbox, wd)
        contenders: dict[str, Any] = {}
        async with AsyncExitStack() as stack, httpx2.AsyncClient(trust_env=False, timeout=30) as http:
            contenders["ours"] = await stack.enter_async_context(
                Client(server_params(env, wd), mode="legacy", read_timeout_seconds=120)
            )
            for spec in args.compare:
                params = server_params({**env, "BENCH_POLL_SCHEDULE": spec}, wd)
                params.args = [LAUNCHER]
                contenders[f"before({spec})"] = await stack.enter_async_context(
                    Client(params, mode="legacy", read_timeout_seconds=120)
                )
            names = ["floor", *contenders]
            runs: dict[tuple[float, str], Runs] = {}

            async def one(name: str) -> tuple[float, int]:
                before = sandbox.requests()["query"]
                if name == "floor":
                    wall = await floor_run(http, sandbox, image)
                else:
                    wall = await mcp_run(contenders[name], image)
                return wall, sandbox.requests()["query"] - before

            sandbox.configure(processing_seconds=0.3)  # warm-up: connections, imports, first calls
            for name in names:
                await one(name)
            for length in lengths:
                for rep in range(args.reps):
                    # Sweep the job's end across one poll interval: no schedule wins by phase luck.
                    sandbox.configure(processing_seconds=length + rep * PHASE_SWEEP / args.reps)
                    order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate: no fixed slot
                    for name in order:
                        wall, queries = await one(name)
                        entry = runs.setdefault((length, name), Runs())
                        entry.walls.append(wall)
                        entry.queries.append(queries)
                        print(
                            f"  P={length:g}s {name:<28} {wall:6.3f}s {queries:3d} queries", file=sys.stderr
                        )

    rows: list[list[object]] = []
    verdicts: list[str] = []
    for name in names[1:]:
        all_ours: list[float] = []
        all_floor: list[float] = []
        all_q: list[int] = []
        all_fq: list[int] = []
        for length in lengths:
            floor, ours = runs[(length, "floor")], runs[(length, name)]
            all_ours += ours.walls
            all_floor += floor.walls
            all_q += ours.queries
            all_fq += floor.queries
            rows.append(_row(f"{length:g} s", name, floor, ours))
        total = _row("all", name, Runs(all_floor, all_fq), Runs(all_ours, all_q))
        rows.append(total)
        wall_ratio = statistics.mean(all_ours) / statistics.mean(all_floor)
        query_ratio = sum(all_q) / sum(all_fq)
        ok = wall_ratio <= 1.10 and query_ratio <= 0.25
        verdicts.append(
            f"{name}: mean wall {wall_ratio:.3f}x the floor (bar ≤ 1.10), /query calls "
            f"{query_ratio:.3f}x (bar ≤ 0.25) → {'MET' if ok else 'MISSED'}"
        )
    print(f"\n## Latency vs the floor ({machine()})")
    print(
        f"sandbox: processing {args.processing} s (+ i x {PHASE_SWEEP / args.reps:g} s in run i), "
        f"analysis {ANALYSIS_SECONDS} s, heatmap {HEATMAP_SECONDS} s after the verdict; "
        f"{args.reps} runs each; the floor polls every {FLOOR_INTERVAL * 1000:.0f} ms\n"
    )
    print(
        table(
            [
                "processing",
                "client",
                "floor median s",
                "ours median s",
                "ours mean / floor mean",
                "floor /query",
                "ours /query",
                "query ratio",
            ],
            rows,
        )
    )
    print()
    for line in verdicts:
        print(line)
    return 0


def _row(label: str, name: str, floor: Runs, ours: Runs) -> list[object]:
    return [
        label,
        name,
        statistics.median(floor.walls),
        statistics.median(ours.walls),
        statistics.mean(ours.walls) / statistics.mean(floor.walls),
        statistics.mean(floor.queries),
        statistics.mean(ours.queries),
        sum(ours.queries) / sum(floor.queries),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--processing", default="2,3,4", help="sandbox processing seconds, comma-separated")
    parser.add_argument("--compare", action="append", default=[], metavar="FIRST,SHARE,MIN,MAX")
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
