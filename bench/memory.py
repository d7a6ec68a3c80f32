"""Memory: peak RSS growth of the server process while it uploads big images.

For each run a fresh `python -m truthscan_mcp` (MCP over stdio, cache off) is spawned and
warmed up with one small detection (so imports and connection pools are not counted); then
its RSS is sampled every ~10 ms (psutil on the server's pid) while it detects either one
image of just under 10 MB, or 20 different 5 MB images at once. Images are `path` sources in
an allowed directory, so the upload streams from the file. The sandbox runs in another
process and does not count. Growth = peak sampled RSS - RSS just before the call.

Bars: one 10 MB upload ≤ 40 MB; 20 concurrent 5 MB uploads ≤ 150 MB.

    python -m bench.memory [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import psutil

from bench._common import (
    big_png,
    distinct_images,
    machine,
    sandbox_process,
    server_env,
    server_params,
    structured,
    table,
    workdir,
)

MB = 1024 * 1024
TEN_MB = 10 * MB - 64 * 1024  # "just under 10 MB": the API's limit is 10 MiB
FIVE_MB = 5 * MB


class PeakSampler:
    """Samples a process's RSS on a thread; `peak` is the largest seen since `start`."""

    def __init__(self, process: psutil.Process, interval: float = 0.01) -> None:
        self._process = process
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.baseline = process.memory_info().rss
        self.peak = self.baseline
        self.samples = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._process.memory_info().rss
            self.peak = max(self.peak, rss)
            self.samples += 1
            time.sleep(self._interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def server_process() -> psutil.Process:
    """The `python -m truthscan_mcp` child the stdio transport spawned."""
    found = [
        child
        for child in psutil.Process().children(recursive=True)
        if "truthscan_mcp" in " ".join(child.cmdline()) and "sandbox" not in child.cmdline()
    ]
    if len(found) != 1:
        raise RuntimeError(f"expected one server process, found {len(found)}")
    return found[0]


def vm_hwm(process: psutil.Process) -> int:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


async def detect(client: Any, image: Path) -> None:
    result = await client.call_tool(
        "detect_image", {"path": str(image), "deep_analysis": True, "force": True, "wait_seconds": 60}
    )
    report = structured(result)
    if (
        report["status"] != "done"
        or not report["complete"]
        or report["source"]["bytes"] != (await anyio.Path(image).stat()).st_size
    ):
        raise RuntimeError(f"no complete verdict for {image.name}: {report['status']}, {report['warnings']}")


async def measure(sb: Any, wd: Path, images: list[Path]) -> tuple[int, int, int]:
    """(growth, VmHWM growth, samples) for detecting `images` at once in a fresh server."""
    from mcp import Client

    async with Client(
        server_params(server_env(sb, wd), wd), mode="legacy", read_timeout_seconds=120
    ) as client:
        await detect(client, distinct_images(1, wd, tag=f"warm{time.time_ns()}-")[0])
        process = server_process()
        hwm_before = vm_hwm(process)
        with PeakSampler(process) as sampler:
            async with anyio.create_task_group() as tg:
                for image in images:
                    tg.start_soon(detect, client, image)
        hwm_growth = vm_hwm(process) - hwm_before
        return sampler.growth, hwm_growth, sampler.samples


async def main_async(args: argparse.Namespace) -> int:
    results: dict[str, list[tuple[int, int, int]]] = {"one": [], "twenty": []}
    with (
        sandbox_process(processing_seconds=0.5, analysis_seconds=0.3, heatmap_seconds=0.2) as sb,
        workdir("bench-memory-") as wd,
    ):
        for rep in range(args.reps):
            one = [big_png(wd / f"ten-{rep}.png", TEN_MB, seed=rep)]
            twenty = [big_png(wd / f"five-{rep}-{i}.png", FIVE_MB, seed=1000 * rep + i) for i in range(20)]
            results["one"].append(await measure(sb, wd, one))
            results["twenty"].append(await measure(sb, wd, twenty))
            for path in [*one, *twenty]:
                path.unlink()
            print(f"  rep {rep}: {results['one'][-1]} {results['twenty'][-1]}", file=sys.stderr)
            sb.reset()  # drop the stored uploads: the sandbox keeps them in memory

    rows: list[list[object]] = []
    verdicts: list[str] = []
    for key, label, bar in (
        ("one", f"1 x {TEN_MB / MB:.2f} MB", 40),
        ("twenty", "20 x 5.00 MB at once", 150),
    ):
        growth = [r[0] / MB for r in results[key]]
        hwm = [r[1] / MB for r in results[key]]
        rows.append(
            [
                label,
                statistics.median(growth),
                max(growth),
                statistics.median(hwm),
                min(r[2] for r in results[key]),
                bar,
            ]
        )
        worst = max(growth)
        verdicts.append(
            f"{label}: worst growth {worst:.1f} MB (bar ≤ {bar} MB) → {'MET' if worst <= bar else 'MISSED'}"
        )
    print(f"\n## Memory ({machine()})")
    print(f"fresh server per run, warmed up with one small detection; {args.reps} runs each\n")
    print(
        table(
            [
                "upload",
                "median RSS growth MB",
                "max RSS growth MB",
                "median VmHWM growth MB",
                "min samples",
                "bar MB",
            ],
            rows,
        )
    )
    print()
    for line in verdicts:
        print(line)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
