"""Sending one request to TruthScan: timeouts, the shared 429 gate, and ONE bounded retry loop.

Every call goes through `Sender.send`, which runs exactly one `stamina.retry_context` whose
budget is the call's whole budget (`RetryBudget`): at most `attempts` requests are sent, and
no attempt starts once `timeout` seconds have passed since the call began — a wait that would
end past that point is not slept, the last error is raised instead. So a call ends within
`timeout` plus the duration of its last attempt (itself bounded by the HTTP timeouts of
`make_http_client`). Reading the answer (`read`) happens inside the same loop, so an unreadable
answer is retried under the same budget instead of starting a loop of its own.

The wait before each retry is computed here (Retry-After when TruthScan gives one, else
exponential backoff with jitter, as stamina would) and handed to stamina through its backoff
hook, because only here is the remaining budget known.

The rule that protects the user's money lives here too: a `/detect` (``detect=True``) is only
re-sent when the request provably never reached TruthScan (the connection could not be made)
or TruthScan refused it outright with 429/503.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import httpx2
import stamina

from truthscan_mcp.api.errors import error_for, refused_before_work, transport_error
from truthscan_mcp.errors import RateLimitedError, UnavailableError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The limits every API request has unless its endpoint says otherwise.
DEFAULT_TIMEOUT = httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)


@dataclass(frozen=True)
class RetryBudget:
    """What one call may spend on retrying: requests sent, and seconds before the last may start."""

    attempts: int
    timeout: float


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying: attempts and total time, so a dead service fails in seconds, not minutes.

    `attempts` and `timeout` are the default `RetryBudget` of a call (see the module docstring
    for what the bound means); the waits between attempts grow from `wait_initial` to
    `wait_max`, plus up to `wait_jitter` of randomness.
    """

    attempts: int = 5
    timeout: float = 30.0
    wait_initial: float = 0.3
    wait_max: float = 5.0
    wait_jitter: float = 0.5
    #: a Retry-After longer than this is not honoured by waiting; the error is raised instead
    max_retry_after: float = 30.0

    @property
    def budget(self) -> RetryBudget:
        return RetryBudget(attempts=self.attempts, timeout=self.timeout)

    def backoff(self, attempt: int) -> float:
        """stamina's formula: the wait after failed attempt number `attempt` (1-based)."""
        exponential = self.wait_initial * 2 ** (attempt - 1)
        return min(self.wait_max, exponential + random.uniform(0, self.wait_jitter))


def make_http_client(*, transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """The one connection pool every API call shares (keep-alive saves a TLS handshake per poll)."""
    return httpx2.AsyncClient(
        transport=transport,
        timeout=DEFAULT_TIMEOUT,
        limits=httpx2.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=4.0),
        follow_redirects=False,
        headers={"User-Agent": "truthscan-mcp", "Accept": "application/json"},
    )


def upload_timeout(size: int, base: httpx2.Timeout | None = None) -> httpx2.Timeout:
    """Scale the write timeout with the body: 10 MB on a slow uplink must not be cut at 30 s.

    The other limits stay those of the shared pool (`base`), so one configuration governs
    how long any answer may take to start arriving.
    """
    base = base or DEFAULT_TIMEOUT
    write = max(base.write or 0.0, 15.0 + size / (128 * 1024))
    return httpx2.Timeout(connect=base.connect, read=base.read, write=write, pool=base.pool)


def capped(base: httpx2.Timeout, limit: float) -> httpx2.Timeout:
    """`base` with every limit at most `limit` seconds (None, i.e. unlimited, becomes `limit`)."""

    def cap(value: float | None) -> float:
        return limit if value is None else min(value, limit)

    return httpx2.Timeout(
        connect=cap(base.connect), read=cap(base.read), write=cap(base.write), pool=cap(base.pool)
    )


class RateLimitGate:
    """A 429 is about the account, not one request: it pauses every request of one client.

    Without this, a batch's other workers would keep firing into the limit and collect 429s
    of their own. The pause is what TruthScan asked for (Retry-After), or the retry backoff
    of that attempt when it did not say; a Retry-After beyond the policy's bound is not waited
    for (the request fails instead), so it pauses no one either. Concurrent 429s only ever
    extend the pause (max), never shorten it. Times are on the `anyio.current_time()` clock.
    """

    def __init__(self) -> None:
        #: no request is sent before this instant, by any task sharing the gate
        self.not_before: float = -math.inf

    def close_for(self, wait: float) -> None:
        until = anyio.current_time() + wait
        if until > self.not_before:
            self.not_before = until
            logger.info("rate-limited by TruthScan: pausing every request for %.2fs", wait)

    async def wait_turn(self, limit: float) -> None:
        """Wait out the pause, but never past `limit` (the end of the caller's budget): another
        429 may extend the pause while waiting, hence the loop."""
        while True:
            wait = min(self.not_before, limit) - anyio.current_time()
            if wait <= 0:
                return
            await anyio.sleep(wait)


class Sender:
    """Sends requests on the shared `AsyncClient` under a `RetryPolicy` and one `RateLimitGate`."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        policy: RetryPolicy,
        *,
        secrets: Callable[[], Iterable[str]],
        on_answer: Callable[[httpx2.Response], None],
        key_place: str = "TRUTHSCAN_API_KEY",
    ) -> None:
        self.http = http
        self.policy = policy
        self.gate = RateLimitGate()
        self._secrets = secrets
        self._on_answer = on_answer
        self._key_place = key_place

    async def send(
        self,
        endpoint: str,
        method: str,
        url: str,
        read: Callable[[httpx2.Response], T],
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: Callable[[], AsyncIterator[bytes]] | None = None,
        timeout: httpx2.Timeout | None = None,
        detect: bool = False,
        budget: RetryBudget | None = None,
    ) -> T:
        """`read(response)` of the first answer that is a 2xx and readable, within the budget."""
        policy = self.policy
        budget = budget or policy.budget
        deadline = anyio.current_time() + budget.timeout
        attempt_number = 0

        def backoff_hook(exc: Exception) -> bool | float:
            """How long to wait before the next attempt, or False to raise `exc` now."""
            if isinstance(exc, RateLimitedError):
                wait = exc.retry_after
            elif isinstance(exc, UnavailableError):
                if detect and exc.sent and not refused_before_work(exc):
                    return False  # it may have been accepted: never pay twice
                wait = exc.retry_after
            else:
                return False
            if wait is None:
                wait = policy.backoff(attempt_number)
            elif wait > policy.max_retry_after:
                return False
            else:
                wait = max(wait, 0.05)
            if anyio.current_time() + wait >= deadline:
                return False  # the next attempt would start after the budget: fail now
            return wait

        async for attempt in stamina.retry_context(
            on=backoff_hook, attempts=budget.attempts, timeout=budget.timeout
        ):
            with attempt:
                attempt_number = attempt.num
                await self.gate.wait_turn(deadline)
                if attempt.num > 1:
                    logger.info("retrying %s (attempt %d)", endpoint, attempt.num)
                try:
                    # A /detect attempt, once on the wire, may charge: it is shielded so a cancelled
                    # caller still hears the id it paid for. The back-off between attempts is not.
                    response: httpx2.Response | None = None
                    with anyio.CancelScope(shield=detect):
                        response = await self.http.request(
                            method,
                            url,
                            headers=headers,
                            json=json,
                            content=content() if content is not None else None,
                            timeout=timeout if timeout is not None else httpx2.USE_CLIENT_DEFAULT,
                        )
                    assert response is not None  # a shield without a deadline swallows nothing
                except httpx2.TransportError as exc:
                    raise transport_error(endpoint, exc) from None
                self._on_answer(response)
                if response.status_code >= 300:
                    error = error_for(endpoint, response, secrets=self._secrets(), key_place=self._key_place)
                    if isinstance(error, RateLimitedError):
                        self._hold_off(error, attempt.num)
                    raise error
                return read(response)
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def _hold_off(self, exc: RateLimitedError, attempt: int) -> None:
        policy = self.policy
        wait = exc.retry_after
        if wait is None:
            wait = min(policy.wait_max, policy.wait_initial * 2 ** (attempt - 1))
        if wait <= policy.max_retry_after:
            self.gate.close_for(wait)
