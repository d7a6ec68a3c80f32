"""How many connections the HTTP transport holds, and for how long one may sit without a request.

uvicorn bounds requests, not connections: `limit_concurrency` answers 503 only once a request's
headers have arrived, and nothing closes a connection that never finishes them. A client that
opens connections and sends half a request line can therefore take every file descriptor the
process has (measured: 300 such connections against a 256-descriptor limit held all 256, a
legitimate `health` timed out, and asyncio logged "socket.accept() out of system resource"
about 3,000 times a second). So the HTTP protocol here is uvicorn's h11 protocol with two
additions:

- a header timeout: a connection that has not delivered a complete request head within
  `HEADER_TIMEOUT` seconds of its first byte (or of being opened) is closed;
- a connection cap below the descriptor limit (less a reserve that covers one accept batch,
  `ACCEPT_BATCH`): when a new connection would exceed it, the connection that has waited
  longest without a request in progress (half-open, or idle between keep-alive requests) is
  closed to make room; with every connection busy on a real request, the new one is closed.
  A client that sends its request at once is therefore always served, however many idle
  connections someone else holds.

Both are this process's own defence; on a public bind a reverse proxy in front is still the
place for per-client limits and slow request bodies (README, "Security model").
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, ClassVar, Final, cast

from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

#: Seconds a connection may take to deliver a complete request head.
HEADER_TIMEOUT: Final = 10.0
#: How many connections asyncio accepts in one go (the listen backlog): it accepts a whole batch
#: before the protocol of the first one can close anything, so the cap must leave room for it.
ACCEPT_BATCH: Final = 64
#: Descriptors kept for everything but client connections: one accept batch, the outgoing pool to
#: TruthScan (32), the cache file and its journal, the listening socket, logs, threads' pipes.
RESERVED_DESCRIPTORS: Final = ACCEPT_BATCH + 64
#: The cap where the descriptor limit is unknown (Windows) or very high: beyond this many
#: connections one process is the wrong tool, and a proxy in front should be pooling them.
DEFAULT_MAX_CONNECTIONS: Final = 1000
#: The fewest connections the cap allows, however low the descriptor limit.
MIN_CONNECTIONS: Final = 16


def connection_cap() -> int:
    """The most client connections this process holds: its descriptor limit less a reserve."""
    if sys.platform == "win32":
        return DEFAULT_MAX_CONNECTIONS
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(DEFAULT_MAX_CONNECTIONS, soft - RESERVED_DESCRIPTORS))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a connection cap (see the module)."""

    max_connections: ClassVar[int] = DEFAULT_MAX_CONNECTIONS
    header_timeout: ClassVar[float] = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle_since = self.loop.time()
        self._start_header_timer()
        self._make_room()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._idle():
            if self._header_timer is None:  # the first bytes of a request after a keep-alive pause
                self._start_header_timer()
        else:
            self._stop_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._idle_since = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _idle(self) -> bool:
        """No request in progress: nothing arrived yet, a head is incomplete, or between requests."""
        cycle = cast("RequestResponseCycle | None", self.cycle)  # None until the first request head
        return cycle is None or cycle.response_complete

    def _start_header_timer(self) -> None:
        self._stop_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._idle() and not self.transport.is_closing():
            self.transport.close()

    def _make_room(self) -> None:
        """Keep the connections within the cap: close the longest-idle one, or this one."""
        # Connections already closing leave the set a moment later: they hold no place.
        live = [c for c in self.connections if not c.transport.is_closing()]
        if len(live) <= self.max_connections:
            return
        ours: list[GuardedH11Protocol] = [c for c in live if isinstance(c, GuardedH11Protocol)]
        idle = [c for c in ours if c is not self and c._idle()]
        victim = min(idle, key=lambda c: c._idle_since) if idle else self
        victim.transport.close()


def guarded_protocol(
    max_connections: int, header_timeout: float = HEADER_TIMEOUT
) -> type[GuardedH11Protocol]:
    """The protocol class for `uvicorn.Config(http=...)`, with these limits."""
    limits = {"max_connections": max_connections, "header_timeout": header_timeout}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), limits)
