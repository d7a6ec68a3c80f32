"""The request-state key every replica of a team deployment shares, kept in the shared store.

In the 2026-07-28 protocol era a tool that asks the person something (the credit guard's "spend
N detections?") answers `input_required` with a `requestState` sealed by the server, and the
client sends it back with the answer — to whichever replica the load balancer picks. The SDK
seals it with a key of its own process unless told otherwise, so another replica refuses it
("Invalid or expired requestState"). The first replica to start creates a random 32-byte key in
`truthscan_secrets`; every replica reads the same one. No new setting, and nothing to
distribute: whoever can read the store's tables could read every result anyway. Rotation:
delete the row and restart the replicas (a question asked during the restart is asked again).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import anyio
import psycopg
from psycopg import AsyncConnection

from truthscan_mcp.cache.database import CacheUnusableError
from truthscan_mcp.cache.postgres import redacted
from truthscan_mcp.cache.postgres_schema import migrate

logger = logging.getLogger(__name__)

KEY_NAME = "request_state"
CONNECT_TIMEOUT = 5


async def _key(url: str) -> bytes:
    async with await AsyncConnection.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO truthscan_secrets (name, value, created_at) "
            "VALUES (%s, %s, extract(epoch from clock_timestamp())) ON CONFLICT (name) DO NOTHING",
            (KEY_NAME, os.urandom(32)),
        )
        cursor = await conn.execute("SELECT value FROM truthscan_secrets WHERE name = %s", (KEY_NAME,))
        row = await cursor.fetchone()
    if row is None:
        raise CacheUnusableError("the request-state key could not be read back")
    return bytes(row[0])


def shared_request_state_key(url: str) -> bytes | None:
    """The replicas' shared key, or None (with a warning) when the store cannot give it: the
    replica then seals with a key of its own, and only questions answered on it succeed.
    Runs in a thread of its own, so it works whether or not the caller has an event loop."""
    try:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(anyio.run, _key, url).result()
    except (psycopg.Error, OSError, CacheUnusableError) as exc:
        logger.warning(
            "The shared store %s gave no request-state key (%s): a question this replica asks "
            "(the 2026-07-28 era's input_required) can be answered only on this replica.",
            redacted(url),
            exc,
        )
        return None
