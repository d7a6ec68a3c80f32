"""Cold start: spawn → `initialize` → `tools/list` over stdio, against importing the MCP SDK.

A desktop app spawns the server on every launch and waits for the handshake, so start-up
time is latency the user sees. The reference is the same interpreter spawned only to import
the SDK our server is built on (`python -c "import mcp.server.mcpserver"`, timed until the
import is done, as the handshake is timed until `tools/list` answers: neither counts the
exit); `import mcp` alone is shown for scale. Each run is a fresh process; the runs alternate.

Bar: the handshake ≤ 1.5x the SDK import.

    python -m bench.coldstart [--reps 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio

from bench._common import machine, table, workdir


def spawn_import(module: str) -> float:
    """Spawn → the import done, signalled on stdout; like the handshake, the exit is not counted
    (tearing down a large module graph takes ~0.1 s that neither a user nor the bar cares about)."""
    started = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, "-c", f"import {module}, sys; sys.stdout.write('ok'); sys.stdout.flush()"],
        stdout=subprocess.PIPE,
    ) as child:
        assert child.stdout is not None
        if child.stdout.read(2) != b"ok":
            raise RuntimeError(f"importing {module} failed")
        elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"importing {module} failed")
    return elapsed


async def handshake(cwd: Path) -> tuple[float, list[str]]:
    from mcp import Client, StdioServerParameters

    # As configured for a desktop app: a key and the result cache on. The API URL is loopback
    # only so that nothing could leave the machine (the handshake sends no API request anyway).
    env = {
        "TRUTHSCAN_API_KEY": "bench-key",
        "TRUTHSCAN_API_URL": "http://127.0.0.1:9",
        "TRUTHSCAN_CACHE_PATH": str(cwd / "cache.sqlite3"),
        "TRUTHSCAN_LOG_LEVEL": "WARNING",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "truthscan_mcp"], env=env, cwd=cwd)
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        tools = await client.list_tools()
        elapsed = time.perf_counter() - started
    return elapsed, [tool.name for tool in tools.tools]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"server": [], "mcp.server.mcpserver": [], "mcp": []}
    with workdir("bench-coldstart-") as wd:
        spawn_import("mcp.server.mcpserver")  # warm the OS page cache and .pyc files first
        anyio.run(handshake, wd)
        for rep in range(args.reps):
            order = ["server", "mcp.server.mcpserver", "mcp"]
            for name in order[rep % 3 :] + order[: rep % 3]:
                if name == "server":
                    elapsed, names = anyio.run(handshake, wd)
                    if "detect_image" not in names:
                        raise RuntimeError(f"tools/list did not list detect_image: {names}")
                else:
                    elapsed = spawn_import(name)
                times[name].append(elapsed)
    reference = statistics.median(times["mcp.server.mcpserver"])
    rows: list[list[object]] = [
        [
            label,
            statistics.median(times[key]) * 1000,
            min(times[key]) * 1000,
            statistics.median(times[key]) / reference,
        ]
        for key, label in (
            ("server", "spawn → initialize → tools/list (python -m truthscan_mcp)"),
            ("mcp.server.mcpserver", 'python -c "import mcp.server.mcpserver"'),
            ("mcp", 'python -c "import mcp"'),
        )
    ]
    ratio = statistics.median(times["server"]) / reference
    print(f"\n## Cold start ({machine()})")
    print(f"{args.reps} runs each, alternating, fresh process each\n")
    print(table(["what", "median ms", "min ms", "vs SDK import"], rows))
    verdict = "MET" if ratio <= 1.5 else "MISSED"
    print(f"\nhandshake / SDK import (medians): {ratio:.3f}x (bar ≤ 1.5) → {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
