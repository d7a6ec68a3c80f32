"""Waiting on state another thread changes, and timing a block."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from tests.support.servers import SandboxServer
    from truthscan_mcp.sandbox import SandboxStats


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.01) -> None:
    """Block until `predicate()` holds (outside an event loop: server threads, subprocesses)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `condition()` holds: it reads state another thread changes, so it is polled."""
    with anyio.fail_after(timeout):
        while not condition():  # noqa: ASYNC110 - no event to wait on across threads
            await anyio.sleep(0.01)


async def wait_until_idle(server: SandboxServer, timeout: float = 5.0) -> SandboxStats:
    """Stats once no request is being served (a delayed fault may still be sleeping)."""
    await eventually(lambda: server.sandbox.stats.in_flight == 0, timeout)
    return server.sandbox.stats


async def assert_quiet(server: SandboxServer, seconds: float = 0.5) -> None:
    """Nothing is still talking to the sandbox: no request arrives during a quiet period."""
    before = await wait_until_idle(server)
    await anyio.sleep(seconds)
    after = server.sandbox.stats
    assert after.requests == before.requests, "requests kept arriving after the call ended"
    assert after.in_flight == 0


class Stopwatch:
    """Wall-clock time of a block, for asserting lower bounds (upper bounds are flaky on CI)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self.started = self._clock()
        return self

    def __exit__(self, *_: object) -> None:
        self.elapsed = self._clock() - self.started
