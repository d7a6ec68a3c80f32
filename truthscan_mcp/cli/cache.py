"""`truthscan-mcp cache stats|clear`: the cache file, reported to a person on the terminal.

The only part of the cache that prints: reports go to stdout, problems to stderr. The server
never imports it (stdout belongs to the stdio transport there).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from truthscan_mcp.cache.database import CacheUnusableError, NotACacheError, cache_stats, clear_cache
from truthscan_mcp.media.formats import human_size
from truthscan_mcp.sanitize import counted


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_shared_cache_command(url: str, action: str, *, as_json: bool = False) -> int:
    """`cache stats|clear` on a team's PostgreSQL store (TRUTHSCAN_CACHE_URL)."""
    try:
        import anyio
        import psycopg

        from truthscan_mcp.cache import postgres_schema
        from truthscan_mcp.cache.postgres import redacted
    except ImportError:
        from truthscan_mcp.app import POSTGRES_MISSING

        sys.stderr.write(f"truthscan-mcp: {POSTGRES_MISSING}\n")
        return 1
    where = redacted(url)

    async def run() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10) as conn:
            if action == "clear":
                results, history = await postgres_schema.clear(conn)
                return {"results": results, "history": history}
            results, paid, cached, first, last, size = await postgres_schema.counts(conn)
            return {
                "results": results,
                "paid": paid,
                "cached": cached,
                "first_at": first,
                "last_at": last,
                "size_bytes": size,
            }

    try:
        found = anyio.run(run)
    except (psycopg.Error, OSError, CacheUnusableError) as exc:
        sys.stderr.write(f"truthscan-mcp: the shared store {where} cannot be used: {exc}\n")
        return 1
    if as_json:
        sys.stdout.write(json.dumps({**found, "store": where}) + "\n")
    elif action == "clear":
        sys.stdout.write(
            f"Removed {counted(found['results'], 'stored result')} and "
            f"{counted(found['history'], 'history entry', 'history entries')} from {where}.\n"
        )
    else:
        sys.stdout.write(
            f"Shared store: {where}\n"
            f"  stored results: {found['results']}\n"
            f"  detections: {found['paid']} paid, {found['cached']} answered from the store (no credits)\n"
            f"  size in the database: {human_size(found['size_bytes'])}\n"
            f"  first: {_when(found['first_at'])}, last: {_when(found['last_at'])}\n"
        )
    return 0


def run_cache_command(path: Path | None, action: str, *, as_json: bool = False) -> int:
    """`truthscan-mcp cache stats|clear`: reports on stdout, problems on stderr, exit 1 on failure."""
    out = sys.stdout
    if path is None:
        out.write("The result cache is off (TRUTHSCAN_CACHE_PATH=off); there is nothing to show or clear.\n")
        return 0
    try:
        if action == "clear":
            cleared = clear_cache(path)
            if as_json:
                out.write(json.dumps({**cleared.__dict__, "path": str(path)}) + "\n")
            elif not cleared.bytes_before:
                out.write(f"No cache at {path}; nothing to remove.\n")
            else:
                out.write(
                    f"Removed {counted(cleared.results, 'stored result')} and "
                    f"{counted(cleared.history, 'history entry', 'history entries')} from {path} "
                    f"({human_size(cleared.bytes_before)} -> {human_size(cleared.bytes_after)}).\n"
                )
            return 0
        stats = cache_stats(path)
    except NotACacheError as exc:
        sys.stderr.write(
            f"truthscan-mcp: {path} is not a truthscan-mcp cache ({exc}); left it alone. Check "
            "--cache-path (or TRUTHSCAN_CACHE_PATH); if the file is an old cache you no longer need, "
            "delete it yourself.\n"
        )
        return 1
    except (sqlite3.Error, OSError, CacheUnusableError) as exc:
        sys.stderr.write(f"truthscan-mcp: the result cache {path} cannot be used: {exc}\n")
        return 1
    if as_json:
        out.write(json.dumps({**stats.__dict__, "path": str(path)}) + "\n")
    elif not stats.exists:
        out.write(f"Result cache: {path}\n  empty (no detection has been cached yet)\n")
    else:
        out.write(
            f"Result cache: {path}\n"
            f"  stored results: {stats.results}\n"
            f"  detections: {stats.paid} paid, {stats.cached} answered from the cache (no credits)\n"
            f"  size on disk: {human_size(stats.size_bytes)}\n"
            f"  first: {_when(stats.first_at)}, last: {_when(stats.last_at)}\n"
        )
    return 0
