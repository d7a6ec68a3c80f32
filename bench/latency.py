"""Latency against the floor, and `/query` calls against the per-job budget, over a sweep of timings.

The floor is a minimal client that does presign → upload → detect and then asks `/query`
every 50 ms until the job has settled: it notices completion at most ~50 ms late. Each MCP
contender is a real MCP `Client` over stdio to a server process (cache off) running
`detect_image`; both stop on the same condition (verdict done, deep analysis settled, heatmap
not pending: `_common.settled`).

Contenders: `learned` is `python -m truthscan_mcp` as shipped (its `Planner` learns, in memory
since the cache is off); `default` is `python -m bench._server` with `BENCH_POLL_SCHEDULE=default`
(a `Planner` that never learns: every job planned as an account's first).

The timings are swept, not tuned to: each row sets the sandbox's verdict time, the deep
analysis after it (or none asked for) and the heatmap after it, over verdicts of 0.3–15 s and
analyses of 0.2–12 s; the `drawn` rows let each sandbox draw every job's timings from those
ranges with a seed (the same draws for every contender), so their history is of other timings.
Each contender has its own sandbox process, which logs when each `/query` about each document
arrived (seconds since its `/detect`): every job is checked against its budget at every moment
(a quarter of what a 50 ms poller would have sent by then, plus 3; beyond 10 s one a second).
Per row the servers start afresh and run one unscored job first (for `learned`, its whole
history); run i of n then adds i/n of one budgeted gap (0.2 s, or 1 s beyond 10 s) to the
verdict, so the ends sweep a whole gap. Rows ending within `SIDE_BY_SIDE_FROM` s run the
contenders one after the other in rotating order, longer ones side by side (each waits nearly
all the time; one after the other the run would take three times as long).

    python -m bench.latency [--reps 2] [--drawn 4] [--seed 20] [--rows 0.5/-,1.2/1.4,...]
"""

from __future__ import annotations

import argparse
import random
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
from truthscan_mcp.detection.schedule import PollBudget

HEATMAP_SECONDS = 0.5
FLOOR_INTERVAL = 0.05
SIDE_BY_SIDE_FROM = 5.0
BUDGET = PollBudget()
#: verdict s / deep analysis s after it ("-": none asked for); the issue's jobs among them
DEFAULT_ROWS = "0.3/-,0.5/-,0.5/0.8,1.2/1.4,2/0.2,3/3,5/0.8,8.2/0.8,9/-,14.2/0.8,15/-,3/12,15/12"
#: the ranges the drawn rows draw from (the issue's sweep)
VERDICTS, ANALYSES, HEATMAPS = (0.3, 15.0), (0.2, 12.0), (0.1, 1.0)


@dataclass(frozen=True)
class Timing:
    """One row of the sweep: what the sandbox is set to for its jobs."""

    verdict: float
    analysis: float | None  # None: no deep analysis asked for
    seed: int | None = None  # drawn: every job draws its own timings from the ranges

    @property
    def label(self) -> str:
        if self.seed is not None:
            return f"drawn #{self.seed}{'' if self.analysis is not None else ' (no deep)'}"
        if self.analysis is None:
            return f"{self.verdict:g} s (no deep)"
        return f"{self.verdict:g} s + {self.analysis:g} s"

    @property
    def end(self) -> float:
        if self.seed is not None:
            return VERDICTS[1]
        return self.verdict + max(self.analysis or 0.0, HEATMAP_SECONDS)

    def config(self, rep: int, reps: int) -> dict[str, Any]:
        if self.seed is not None:
            return {
                "processing_seconds": VERDICTS[0],
                "processing_seconds_max": VERDICTS[1],
                "analysis_seconds": ANALYSES[0],
                "analysis_seconds_max": ANALYSES[1],
                "heatmap_seconds": HEATMAPS[0],
                "heatmap_seconds_max": HEATMAPS[1],
                "seed": self.seed,
            }
        gap = 1.0 if self.end > 10 else 0.2  # one budgeted gap at that age
        return {
            "processing_seconds": self.verdict + max(rep, 0) * gap / reps,
            "analysis_seconds": self.analysis or ANALYSES[0],
            "heatmap_seconds": HEATMAP_SECONDS,
            "processing_seconds_max": None,
            "analysis_seconds_max": None,
            "heatmap_seconds_max": None,
        }


def parse_rows(spec: str, drawn: int, seed: int) -> list[Timing]:
    rows: list[Timing] = []
    for item in spec.split(","):
        verdict, _, analysis = item.partition("/")
        rows.append(Timing(float(verdict), None if analysis in ("", "-") else float(analysis)))
    rng = random.Random(seed)
    for i in range(drawn):  # seeded: a rerun draws the same jobs
        rows.append(Timing(0.0, 0.0 if rng.random() < 0.7 else None, seed=seed + i))
    return rows


@dataclass(frozen=True)
class Job:
    """One scored job: its wall time and the moments of its `/query` calls (since its `/detect`)."""

    wall: float
    ages: list[float]

    @property
    def calls(self) -> int:
        return len(self.ages)

    @property
    def poller(self) -> int:
        """What a 50 ms poller would have sent by this job's last call."""
        return BUDGET.floor_calls(max(self.ages, default=0.0))

    def breach(self) -> str | None:
        """The first moment this job's calls exceed its budget; None if never."""
        late = 0
        for count, t in enumerate(sorted(self.ages), start=1):
            if count > BUDGET.allowed(t) + 1e-9:
                return f"call {count} at {t:.2f} s"
            if t > BUDGET.free_seconds:
                late += 1
                if late > (t - BUDGET.free_seconds) * BUDGET.late_rate + 1e-9:
                    return f"late call {late} at {t:.2f} s"
        return None


@dataclass
class Runs:
    jobs: list[Job] = field(default_factory=list[Job])

    def walls(self) -> list[float]:
        return [j.wall for j in self.jobs]


async def floor_run(
    http: httpx2.AsyncClient, sandbox: SandboxProcess, image: Path, *, deep: bool
) -> tuple[float, str]:
    """presign → upload → detect → /query every 50 ms until settled; the wall time and the id."""
    started = time.perf_counter()
    base = sandbox.base_url
    presign = await http.get(
        f"{base}/get-presigned-url", params={"file_name": image.name}, headers={"apikey": API_KEY}
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
        f"{base}/detect",
        json={
            "key": API_KEY,
            "url": f"{sandbox.storage_url}/{grant['file_path']}",
            "generate_preview": False,
            "generate_analysis_details": deep,
            "document_type": "Image",
        },
    )
    detect.raise_for_status()
    doc_id = str(detect.json()["id"])
    while True:
        answer = await http.post(f"{base}/query", json={"id": doc_id})
        answer.raise_for_status()
        if settled(answer.json()):
            return time.perf_counter() - started, doc_id
        await anyio.sleep(FLOOR_INTERVAL)


async def mcp_run(client: Any, image: Path, *, deep: bool) -> tuple[float, str]:
    started = time.perf_counter()
    result = await client.call_tool(
        "detect_image", {"path": str(image), "deep_analysis": deep, "force": True, "wait_seconds": 120}
    )
    wall = time.perf_counter() - started
    report = structured(result)
    if not report["complete"] or report["heatmap_status"] == "pending":
        raise RuntimeError(f"incomplete report: {report['status']} / {report['analysis_status']}")
    if deep and report["analysis_status"] != "done":
        raise RuntimeError(f"deep analysis not done: {report['analysis_status']}")
    return wall, str(report["id"])


@dataclass
class Contender:
    name: str
    sandbox: SandboxProcess
    image: Path
    spec: str | None
    client: Any = None
    http: httpx2.AsyncClient | None = None

    async def run(self, deep: bool) -> Job:
        if self.http is not None:
            wall, doc_id = await floor_run(self.http, self.sandbox, self.image, deep=deep)
        else:
            wall, doc_id = await mcp_run(self.client, self.image, deep=deep)
        ages = await anyio.to_thread.run_sync(self.sandbox.query_ages, doc_id)
        return Job(wall, ages)


async def run_row(
    row: Timing, contenders: dict[str, Contender], reps: int, runs: dict[tuple[Timing, str], Runs]
) -> None:
    """The row's warm-up and its scored runs, each contender on its own sandbox."""
    names = list(contenders)
    deep = row.analysis is not None
    for rep in range(-1, reps):  # rep -1: the unscored warm-up (the history of `learned`)
        for contender in contenders.values():
            contender.sandbox.configure(**row.config(rep, reps))
        order = names[rep % len(names) :] + names[: rep % len(names)]
        results: dict[str, Job] = {}

        async def one(name: str, into: dict[str, Job] = results) -> None:
            into[name] = await contenders[name].run(deep)

        if row.end >= SIDE_BY_SIDE_FROM:
            async with anyio.create_task_group() as tg:
                for name in order:
                    tg.start_soon(one, name)
        else:
            for name in order:
                await one(name)
        for name in order:
            job = results[name]
            print(
                f"  {row.label:<18}{' warm-up' if rep < 0 else ''} {name:<8} {job.wall:7.3f}s "
                f"{job.calls:4d} /query (a 50 ms poller: {job.poller}) budget: {job.breach() or 'kept'}",
                file=sys.stderr,
            )
            if rep >= 0:
                runs.setdefault((row, name), Runs()).jobs.append(job)


async def start_servers(servers: AsyncExitStack, contenders: dict[str, Contender], wd: Path) -> None:
    from mcp import Client

    for contender in contenders.values():
        if contender.http is not None:
            continue
        env = server_env(contender.sandbox, wd, PYTHONPATH=str(REPO))
        params = server_params(env, wd)
        if contender.spec is not None:
            params.env = {**env, "BENCH_POLL_SCHEDULE": contender.spec}
            params.args = ["-m", "bench._server"]
        contender.client = await servers.enter_async_context(
            Client(params, mode="legacy", read_timeout_seconds=300)
        )


async def main_async(args: argparse.Namespace) -> int:
    rows = parse_rows(args.rows, args.drawn, args.seed)
    specs: dict[str, str | None] = {"learned": None, "default": "default"}
    specs = {k: v for k, v in specs.items() if k in args.contenders.split(",")}
    runs: dict[tuple[Timing, str], Runs] = {}
    with ExitStack() as stack, workdir("bench-latency-") as wd:
        image = distinct_images(1, wd)[0]
        contenders = {
            name: Contender(name, stack.enter_context(sandbox_process()), image, spec)
            for name, spec in {"floor": None, **specs}.items()
        }
        async with httpx2.AsyncClient(trust_env=False, timeout=30) as http:
            contenders["floor"].http = http
            for row in rows:
                async with AsyncExitStack() as servers:
                    await start_servers(servers, contenders, wd)
                    await run_row(row, contenders, args.reps, runs)
    report(rows, list(specs), runs, args)
    return 0


def report(rows: list[Timing], names: list[str], runs: dict[tuple[Timing, str], Runs], args: Any) -> None:
    print(f"\n## Latency and poll budget over a sweep of timings ({machine()})")
    print(
        f"verdict / deep analysis after it as set per row (drawn rows: verdict {VERDICTS[0]:g}–"
        f"{VERDICTS[1]:g} s, analysis {ANALYSES[0]:g}–{ANALYSES[1]:g} s, heatmap {HEATMAPS[0]:g}–"
        f"{HEATMAPS[1]:g} s after the verdict, seeded); heatmap {HEATMAP_SECONDS} s after the verdict "
        f"otherwise; {args.reps} scored runs per row after one warm-up; the floor polls every "
        f"{FLOOR_INTERVAL * 1000:.0f} ms; side by side from {SIDE_BY_SIDE_FROM:g} s\n"
    )
    table_rows: list[list[object]] = []
    verdicts: list[str] = []
    for name in names:
        ratios: list[float] = []
        jobs: list[Job] = []
        for row in rows:
            floor, ours = runs[(row, "floor")], runs[(row, name)]
            ratio = statistics.median(ours.walls()) / statistics.median(floor.walls())
            ratios.append(ratio)
            jobs += ours.jobs
            table_rows.append(_row(row, name, floor, ours, ratio))
        verdicts.append(_verdict(name, jobs, ratios))
    headers = [
        "timing", "client", "runs", "floor median s", "ours median s", "ratio", "ours − floor s",
        "floor /query", "ours /query", "50 ms poller's", "budget at the end", "worst calls / poller",
        "within budget at every moment",
    ]  # fmt: skip
    print(table(headers, table_rows))
    print()
    for line in verdicts:
        print(line)


def _row(row: Timing, name: str, floor: Runs, ours: Runs, ratio: float) -> list[object]:
    f_med, o_med = statistics.median(floor.walls()), statistics.median(ours.walls())
    breaches = [b for b in (j.breach() for j in ours.jobs) if b is not None]
    return [
        row.label,
        name,
        len(ours.jobs),
        f_med,
        o_med,
        ratio,
        f"{o_med - f_med:+.3f}",
        statistics.mean(j.calls for j in floor.jobs),
        statistics.mean(j.calls for j in ours.jobs),
        statistics.mean(j.poller for j in ours.jobs),
        statistics.mean(BUDGET.allowed(max(j.ages)) for j in ours.jobs),
        max(j.calls / j.poller for j in ours.jobs),
        "yes" if not breaches else f"NO: {breaches[0]}",
    ]


def _verdict(name: str, jobs: list[Job], ratios: list[float]) -> str:
    kept = sum(1 for j in jobs if j.breach() is None)
    worst = max(jobs, key=lambda j: (j.calls - BUDGET.head_start) / j.poller)
    worst_share = (worst.calls - BUDGET.head_start) / worst.poller
    mean_ratio = statistics.mean(ratios)
    met = kept == len(jobs) and worst_share <= BUDGET.share and mean_ratio <= 1.05
    return (
        f"{name}: within budget at every moment: {kept}/{len(jobs)} jobs; worst job {worst.calls} "
        f"calls where a 50 ms poller sent {worst.poller} ({worst.calls / worst.poller:.3f}x; "
        f"{worst_share:.3f}x + {BUDGET.head_start}, bar ≤ {BUDGET.share}x + {BUDGET.head_start}); "
        f"mean latency ratio {mean_ratio:.3f} (≤ 1.05), worst row {max(ratios):.3f} "
        f"→ {'MET' if met else 'MISSED'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default=DEFAULT_ROWS, help="verdict/analysis seconds, '-' for none")
    parser.add_argument("--drawn", type=int, default=3, help="rows of seeded random timings")
    parser.add_argument("--seed", type=int, default=20, help="seed of the drawn rows")
    parser.add_argument("--reps", type=int, default=2, help="scored runs per row")
    parser.add_argument("--contenders", default="learned,default", help="learned, default (comma-separated)")
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
