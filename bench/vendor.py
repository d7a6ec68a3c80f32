"""Against the vendor's official Python client, `truthscan-image-detector-client` (PyPI).

Its base URL can be set (`ImageDetectionClient(api_key, base_url=...)`), so it runs against
the same standalone sandbox as our server. The storage URL it sends to `/detect` cannot be
set: `ImageDetectionClient._get_cdn_base_url` (truthscan/image_detection/client.py) picks
`https://ai-image-detector-dev.nyc3.digitaloceanspaces.com/` for any base URL that is not
undetectable.ai or truthscan.com. The client never fetches that URL itself and the sandbox
finds uploads by their `uploads/...` path whatever the host, so its detections succeed here;
against a self-hosted or proxied API they would point at the wrong bucket.

Each tool is used the way its user would run it:
- vendor: a script looping over `client.detect(path)` with the README's defaults (0.5 s
  polling, preview on), spawned fresh; and the same call warm, in this process;
- ours: `truthscan-mcp detect` spawned fresh (the terminal user: a list of files, or their
  folder, which goes through the batch workflow), and a running server over stdio (the agent:
  20 `detect_image` calls at once, as an assistant issues parallel tool calls, or one
  `detect_images` call with the 20 paths).
Sandbox at its default timings (processing 1.5 s, analysis 1.0 s, heatmap 1.0 s; run i of n
adds i x 0.5/n s to the processing, so the job's end sweeps the vendor's 0.5 s poll period): the
heatmap settles with the analysis, so the vendor's stop condition (done + analysis ready)
and ours (the same + heatmap not pending) fall at the same moment. Cache off on our side.
Requires `pip install truthscan-image-detector-client` (not a dependency of this project).

    python -m bench.vendor [--reps 3] [--images 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio

from bench._common import (
    API_KEY,
    distinct_images,
    machine,
    sandbox_process,
    server_env,
    server_params,
    structured,
    table,
    workdir,
)

HERE = Path(__file__).resolve().parent
#: Repetition i runs jobs PHASE_SWEEP x i / reps seconds longer than the sandbox's default.
PHASE_SWEEP = 0.5
COUNTED = ("presign", "upload", "detect", "query", "credits", "storage", "heatmap")


def run_process(args: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed ({done.returncode}): {done.stderr[-800:]}")


async def main_async(args: argparse.Namespace) -> int:
    from mcp import Client

    try:
        from truthscan.image_detection import ImageDetectionClient  # pyright: ignore[reportMissingImports]
    except ImportError:
        print("install the vendor client first: pip install truthscan-image-detector-client", file=sys.stderr)
        return 2
    from bench._vendor_detect import Quiet

    results: dict[tuple[str, str], list[tuple[float, dict[str, int]]]] = {}
    with (
        sandbox_process(processing_seconds=1.5, analysis_seconds=1.0, heatmap_seconds=1.0) as sb,
        workdir("bench-vendor-") as wd,
    ):
        env = server_env(sb, wd)
        cli_env = {**os.environ, **env}
        vendor_env = {**os.environ, "TRUTHSCAN_API_KEY": API_KEY}
        vendor: Any = ImageDetectionClient(api_key=API_KEY, base_url=sb.base_url, logger=Quiet())
        one = distinct_images(1, wd, tag="one-")
        folder = wd / "many"
        folder.mkdir()
        many = distinct_images(args.images, folder, tag="many-")

        async with Client(server_params(env, wd), mode="legacy", read_timeout_seconds=300) as client:

            async def mcp_detect(image: Path) -> None:
                result = await client.call_tool(
                    "detect_image", {"path": str(image), "deep_analysis": True, "force": True}
                )
                if not structured(result)["complete"]:
                    raise RuntimeError("incomplete report")

            async def mcp_all(images: list[Path]) -> None:
                async with anyio.create_task_group() as tg:
                    for image in images:
                        tg.start_soon(mcp_detect, image)

            async def mcp_batch(images: list[Path]) -> None:
                result = await client.call_tool(
                    "detect_images",
                    {"paths": [str(i) for i in images], "deep_analysis": True, "force": True},
                )
                if structured(result)["totals"]["complete"] != len(images):
                    raise RuntimeError("incomplete batch")

            async def vendor_warm(images: list[Path]) -> None:
                for image in images:
                    result = await anyio.to_thread.run_sync(vendor.detect, str(image))
                    if result.get("status") != "done":
                        raise RuntimeError(f"vendor: {result.get('status')}")

            async def vendor_script(images: list[Path]) -> None:
                command = [sys.executable, str(HERE / "_vendor_detect.py"), sb.base_url, *map(str, images)]
                await anyio.to_thread.run_sync(run_process, command, vendor_env, wd)

            async def our_cli(images: list[Path]) -> None:
                command = [
                    sys.executable,
                    "-m",
                    "truthscan_mcp",
                    "detect",
                    "--force",
                    "--json",
                    *map(str, images),
                ]
                await anyio.to_thread.run_sync(run_process, command, cli_env, wd)

            contenders: list[tuple[str, str, Callable[[list[Path]], Awaitable[None]], list[Path]]] = [
                ("1 image", "vendor script (fresh process)", vendor_script, one),
                ("1 image", "vendor detect() (warm, in process)", vendor_warm, one),
                ("1 image", "ours: truthscan-mcp detect (fresh process)", our_cli, one),
                ("1 image", "ours: detect_image tool (running server)", mcp_all, one),
                (f"{args.images} images", "vendor script, its loop (fresh process)", vendor_script, many),
                (f"{args.images} images", "ours: truthscan-mcp detect FILES (fresh process)", our_cli, many),
                (
                    f"{args.images} images",
                    "ours: truthscan-mcp detect DIR (fresh process)",
                    our_cli,
                    [folder],
                ),
                (
                    f"{args.images} images",
                    f"ours: detect_images tool, {args.images} paths (running server)",
                    mcp_batch,
                    many,
                ),
                (
                    f"{args.images} images",
                    f"ours: detect_image x{args.images} at once (running server)",
                    mcp_all,
                    many,
                ),
            ]
            await vendor_warm(one)  # warm-up: imports, connections, the server's first call
            await mcp_all(one)
            for rep in range(args.reps):
                # Sweep the job's end across the vendor's 0.5 s polling period: no phase luck.
                sb.configure(processing_seconds=1.5 + rep * PHASE_SWEEP / args.reps)
                for scenario, name, run, images in contenders:
                    before = sb.requests()
                    started = time.perf_counter()
                    await run(images)
                    wall = time.perf_counter() - started
                    after = sb.requests()
                    delta = {k: after[k] - before[k] for k in COUNTED}
                    results.setdefault((scenario, name), []).append((wall, delta))
                    print(f"  rep {rep} {scenario} {name}: {wall:.3f}s {delta}", file=sys.stderr)

    rows: list[list[object]] = []
    for (scenario, name), runs in results.items():
        walls = [w for w, _ in runs]
        counts = {k: statistics.mean(d[k] for _, d in runs) for k in COUNTED}
        rows.append(
            [
                scenario,
                name,
                statistics.median(walls),
                counts["query"],
                sum(counts.values()),
                f"{counts['presign']:g}/{counts['upload']:g}/{counts['detect']:g}",
            ]
        )
    print(f"\n## Against the vendor's Python client ({machine()})")
    print(
        f"sandbox at its default timings (processing 1.5 s + i x {PHASE_SWEEP / args.reps:.3g} s in run i, "
        f"analysis 1.0 s, heatmap 1.0 s); {args.reps} runs each; requests counted by the sandbox\n"
    )
    print(
        table(
            ["images", "client", "median wall s", "/query", "all requests", "presign/upload/detect"],
            rows,
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--images", type=int, default=20)
    return anyio.run(main_async, parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
