"""Latency against the floor at every job length: how late is a finished job noticed, at what cost?

The floor is a minimal client that does presign → upload → detect and then asks `/query`
every 50 ms until the job has settled: it notices completion at most ~50 ms late, for ~20
requests a second. Each MCP contender is a real MCP `Client` over stdio to a server process
(cache off) running `detect_image` with deep analysis; both stop on the same condition
(verdict done, deep analysis settled, heatmap not pending: `_common.settled`).

Contenders: `learned` is `python -m truthscan_mcp` as shipped (its `Planner` learns, in memory
since the cache is off); `default` is `python -m bench._server` with `BENCH_POLL_SCHEDULE=default`
(a `Planner` that never learns: the schedule of an account's first job, handed to
`create_server(schedule=...)`); `--compare SPEC` adds `bench._server` with that spec (e.g.
`every:0.25`).

Each contender has its own sandbox process (so `/query` calls are counted per contender and
per job, including those beyond the job's first 10 s) and a fresh server per job length,
warmed up by one unscored job of that length (for `learned`, its whole history: an account
whose jobs are about that long). Job length L: processing L s, then deep analysis 0.8 s and
heatmap 0.5 s after the verdict (the shape of the issue's figures). Run i of n adds
i/n x one poll interval of the default schedule, so the ends sweep a whole interval and no
schedule wins by phase luck. Up to 8 s the contenders run one after the other in rotating
order; from 15 s on they run side by side (each waits most of the time; sequential runs
would take three times as long).

    python -m bench.latency [--lengths 0.5,1,2,4,8,15,30,60] [--reps 5,5,5,3,3,2,2,2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2

from bench._common import (
    API_KEY,
    REPO,
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

ANALYSIS_SECONDS = 0.8
HEATMAP_SECONDS = 0.5
FLOOR_INTERVAL = 0.05
CONCURRENT_FROM = 15.0
FREE_SECONDS = 10.0


@dataclass
class Runs:
    walls: list[float] = field(default_factory=list[float])
    queries: list[int] = field(default_factory=list[int])
    #: calls after the job's first 10 s, and the seconds beyond 10 s the job lasted
    late_queries: list[int] = field(default_factory=list[int])
    late_seconds: list[float] = field(default_factory=list[float])


def sweep_interval(length: float) -> float:
    """One poll interval of the default schedule at that age (8 % of it, 50 ms to 0.25 s, then 2 s
    beyond the first 10 s), so the ends sweep a whole gap whatever schedule is measured."""
    age = length + ANALYSIS_SECONDS
    return 2.0 if age > FREE_SECONDS else min(0.25, max(0.05, 0.08 * age))


async def floor_run(http: httpx2.AsyncClient, sandbox: SandboxProcess, image: Path) -> float:
    """presign → upload → detect → /query every 50 ms until settled; the wall time."""
    started = time.perf_counter()
    presign = await http.get(
        f"{sandbox.base_url}/get-presigned-url", params={"file_name": image.name}, headers={"apikey": API_KEY}
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
        "detect_image", {"path": str(image), "deep_analysis": True, "force": True, "wait_seconds": 120}
    )
    wall = time.perf_counter() - started
    report = structured(result)
    if not report["complete"] or report["analysis_status"] != "done" or report["heatmap_status"] == "pending":
        raise RuntimeError(f"incomplete report: {report['status']} / {report['analysis_status']}")
    return wall


class Contender:
    def __init__(self, name: str, sandbox: SandboxProcess, image: Path, spec: str | None) -> None:
        self.name = name
        self.sandbox = sandbox
        self.image = image
        self.spec = spec
        self.client: Any = None
        self.http: httpx2.AsyncClient | None = None

    async def run(self) -> tuple[float, int, int, float]:
        """One job: wall, /query calls, calls after its first 10 s, seconds beyond 10 s."""
        before = self.sandbox.requests()["query"]
        at_ten: list[int] = []
        done = anyio.Event()

        async def snapshot() -> None:
            with anyio.move_on_after(FREE_SECONDS):
                await done.wait()
            if not done.is_set():
                at_ten.append(await anyio.to_thread.run_sync(lambda: self.sandbox.requests()["query"]))

        wall = 0.0
        async with anyio.create_task_group() as tg:
            tg.start_soon(snapshot)
            if self.http is not None:
                wall = await floor_run(self.http, self.sandbox, self.image)
            else:
                wall = await mcp_run(self.client, self.image)
            done.set()
        total = self.sandbox.requests()["query"]
        late = total - at_ten[0] if at_ten else 0
        return wall, total - before, late, max(0.0, wall - FREE_SECONDS)


async def main_async(args: argparse.Namespace) -> int:
    from mcp import Client

    lengths = [float(x) for x in args.lengths.split(",")]
    reps = [int(x) for x in args.reps.split(",")]
    specs: dict[str, str | None] = {"learned": None, "default": "default"}
    for spec in args.compare:
        specs[f"schedule({spec})"] = spec
    specs = {k: v for k, v in specs.items() if k in args.contenders.split(",") or k.startswith("schedule(")}
    names = ["floor", *specs]
    runs: dict[tuple[float, str], Runs] = {}
    with ExitStack() as stack, workdir("bench-latency-") as wd:
        image = distinct_images(1, wd)[0]
        sandboxes = {
            name: stack.enter_context(
                sandbox_process(analysis_seconds=ANALYSIS_SECONDS, heatmap_seconds=HEATMAP_SECONDS)
            )
            for name in names
        }
        contenders = {name: Contender(name, sandboxes[name], image, specs.get(name)) for name in names}
        async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
            contenders["floor"].http = http
            for length, n in zip(lengths, reps, strict=True):
                async with AsyncExitStack() as servers:
                    for name, spec in specs.items():
                        env = server_env(sandboxes[name], wd, PYTHONPATH=str(REPO))
                        params = server_params(env, wd)
                        if spec is not None:
                            params.env = {**env, "BENCH_POLL_SCHEDULE": spec}
                            params.args = ["-m", "bench._server"]
                        contenders[name].client = await servers.enter_async_context(
                            Client(params, mode="legacy", read_timeout_seconds=300)
                        )
                    side_by_side = length >= CONCURRENT_FROM
                    for rep in range(-1, n):  # rep -1: the unscored warm-up (the history of `learned`)
                        processing = length + max(rep, 0) * sweep_interval(length) / n
                        for sandbox in sandboxes.values():
                            sandbox.configure(processing_seconds=processing)
                        order = names[rep % len(names) :] + names[: rep % len(names)]
                        results: dict[str, tuple[float, int, int, float]] = {}

                        async def one(
                            name: str, into: dict[str, tuple[float, int, int, float]] = results
                        ) -> None:
                            into[name] = await contenders[name].run()

                        if side_by_side:
                            async with anyio.create_task_group() as tg:
                                for name in order:
                                    tg.start_soon(one, name)
                        else:
                            for name in order:
                                await one(name)
                        for name in order:
                            wall, queries, late, late_s = results[name]
                            print(
                                f"  L={length:g}s{' warm-up' if rep < 0 else ''} {name:<10} "
                                f"{wall:7.3f}s {queries:4d} queries ({late} after 10 s)",
                                file=sys.stderr,
                            )
                            if rep < 0:
                                continue
                            entry = runs.setdefault((length, name), Runs())
                            entry.walls.append(wall)
                            entry.queries.append(queries)
                            entry.late_queries.append(late)
                            entry.late_seconds.append(late_s)

    print(f"\n## Latency vs the floor at every job length ({machine()})")
    print(
        f"job length L = processing; deep analysis {ANALYSIS_SECONDS} s and heatmap {HEATMAP_SECONDS} s "
        f"after the verdict; runs per length {args.reps}; ends swept over one poll interval; "
        f"the floor polls every {FLOOR_INTERVAL * 1000:.0f} ms; side by side from {CONCURRENT_FROM:g} s\n"
    )
    rows: list[list[object]] = []
    verdicts: list[str] = []
    for name in names[1:]:
        ratios: list[float] = []
        ok_lengths = True
        total_q = total_fq = 0
        late_q = 0
        late_s = 0.0
        for length in lengths:
            floor, ours = runs[(length, "floor")], runs[(length, name)]
            f_med, o_med = statistics.median(floor.walls), statistics.median(ours.walls)
            ratio = o_med / f_med
            ratios.append(ratio)
            ok = ratio <= 1.10 and o_med - f_med <= 0.30
            ok_lengths &= ok
            total_q += sum(ours.queries)
            total_fq += sum(floor.queries)
            late_q += sum(ours.late_queries)
            late_s += sum(ours.late_seconds)
            rows.append(
                [
                    f"{length:g} s",
                    name,
                    len(ours.walls),
                    f_med,
                    f"{min(floor.walls):.3f}–{max(floor.walls):.3f}",
                    o_med,
                    f"{min(ours.walls):.3f}–{max(ours.walls):.3f}",
                    ratio,
                    f"{o_med - f_med:+.3f}",
                    statistics.mean(floor.queries),
                    statistics.mean(ours.queries),
                    _rate(ours),
                    "yes" if ok else "NO",
                ]
            )
        mean_ratio = statistics.mean(ratios)
        q_ratio = total_q / total_fq
        late_rate = late_q / late_s if late_s else 0.0
        met = ok_lengths and mean_ratio <= 1.05 and q_ratio <= 0.25 and late_rate <= 1.0
        verdicts.append(
            f"{name}: every length ≤ 1.10x and ≤ +0.30 s: {'yes' if ok_lengths else 'NO'}; mean ratio "
            f"{mean_ratio:.3f} (≤ 1.05); /query calls {q_ratio:.3f}x the floor's (≤ 0.25); "
            f"{late_rate:.2f} calls/s beyond 10 s (≤ 1) → {'MET' if met else 'MISSED'}"
        )
    print(
        table(
            [
                "length",
                "client",
                "runs",
                "floor median s",
                "floor range",
                "ours median s",
                "ours range",
                "ratio",
                "ours − floor s",
                "floor /query",
                "ours /query",
                "ours calls/s after 10 s",
                "bar",
            ],
            rows,
        )
    )
    print()
    for line in verdicts:
        print(line)
    return 0


def _rate(runs: Runs) -> str:
    seconds = sum(runs.late_seconds)
    return f"{sum(runs.late_queries) / seconds:.2f}" if seconds else "–"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lengths", default="0.5,1,2,4,8,15,30,60", help="job lengths in seconds")
    parser.add_argument("--reps", default="5,5,5,3,3,2,2,2", help="scored runs per length")
    parser.add_argument("--contenders", default="learned,default", help="learned, default (comma-separated)")
    parser.add_argument("--compare", action="append", default=[], metavar="SPEC", help="e.g. every:0.25")
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
