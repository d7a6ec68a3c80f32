"""What the SQLite and the PostgreSQL store do alike around their shared tables: wait on another
process's claim, and name the ledger scope a user's detections count under. One copy, so the two
stores cannot drift apart on what "free", "held" or a user's scope means."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio

from truthscan_mcp.detection.store import ClaimWait, StoredResult

#: one read of a claim: the finished document, True while another holds it, False once it is
#: free, None when the store cannot answer
ClaimState = StoredResult | bool | None


async def wait_for_claim(
    read_state: Callable[[], Awaitable[ClaimState]], *, until: float, poll: float
) -> StoredResult | ClaimWait | None:
    """Read the claim every `poll` seconds until a document appears, the claim ends or `until`."""
    while True:
        state = await read_state()
        if state is None:
            return None
        if state is False:
            return "free"
        if state is not True:
            return state
        if anyio.current_time() >= until:
            return "held"
        await anyio.sleep(min(poll, max(0.0, until - anyio.current_time())))


def user_scope(scope: str, user: str | None) -> str:
    """The ledger scope a user's detections are counted under (their own, with per-user caps)."""
    return scope if user is None else f"{scope} user:{user}"
