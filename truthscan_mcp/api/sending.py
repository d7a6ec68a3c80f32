"""Sending one request to TruthScan: timeouts, the shared 429 gate, and ONE bounded retry loop.

A call is built as data first — an `Operation` (endpoint, method, url, body, timeouts, budget,
whether it `charges`) — and then sent, as httpx builds a `Request` and then sends it. Every call
goes through `Sender.send`, which runs exactly one `stamina.retry_context` whose
budget is the call's whole budget (`RetryBudget`): at most `attempts` requests are sent, and
no attempt starts once `timeout` seconds have passed since the call began — a wait that would
end past that point is not slept, the last error is raised instead. So a call ends within
`timeout` plus the duration of its last attempt (itself bounded by the HTTP timeouts of
`make_http_client`). Reading the answer (`read`) happens inside the same loop, so an unreadable
answer is retried under the same budget instead of starting a loop of its own.

The wait before each retry is computed here (Retry-After when TruthScan gives one, else
exponential backoff with jitter, `RetryPolicy.backoff`, the one formula) and handed to stamina
through its backoff hook, because only here is the remaining budget known. A scheduled retry is
reported through stamina's instrumentation (the retry context is named after the endpoint; the
process's logging installs the hook that writes it, see `logs`).

The rule that protects the user's money lives here too: an operation that `charges` (`/detect`)
is only re-sent when the request provably never reached TruthScan (the connection could not be made)
or TruthScan refused it outright with 429/503.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpx2
import stamina

from truthscan_mcp.api.errors import error_for, refused_before_work, transport_error
from truthscan_mcp.errors import RateLimitedError, UnavailableError, UnexpectedResponseError
from truthscan_mcp.redaction import redact

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The limits every API request has unless its endpoint says otherwise.
DEFAULT_TIMEOUT = httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)
#: The most a JSON answer may weigh once decompressed: real documents are a few KB.
MAX_JSON_BYTES = 2 * 1024 * 1024
#: How deep a JSON answer may nest: real documents are 4 levels deep.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class Deadlines:
    """The total time one API operation may take: connect, headers, body and every retry of it.

    A per-read timeout alone lets a server that drips one byte a second keep a call alive
    forever; these bound the whole operation whatever the network does. The product's caps
    (documented in README's "Security model"): presign, query and credits 15 s each, health
    10 s, /detect 30 s, an upload 15 s plus one second per 100 KB of image, a heatmap 15 s.
    Tests pass tiny ones, as they pass a fast `RetryPolicy`.
    """

    presign: float = 15.0
    query: float = 15.0
    credits: float = 15.0
    health: float = 10.0
    detect: float = 30.0
    upload_base: float = 15.0
    #: the slowest uplink an upload is given time for, in bytes per second
    upload_rate: float = 100 * 1024
    image: float = 15.0

    def upload(self, size: int) -> float:
        """The one upload formula: the whole upload's deadline, and its write timeout too."""
        return self.upload_base + size / self.upload_rate


@dataclass(frozen=True)
class Answer:
    """An API answer as read by `Sender`: status, headers and the body text, already redacted.

    The body is read as a stream under a byte cap (after decompression) and every form of the
    key is masked in it before anyone parses it, so no report, log line, error or cache row
    derived from an answer can carry the key.
    """

    status_code: int
    headers: httpx2.Headers
    text: str
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def content(self) -> bytes:
        return self.text.encode()

    def json(self) -> Any:
        """The body as JSON, with every string redacted again (a key JSON-escaped twice in the
        body is once-escaped after decoding). Any JSON whatsoever — nested 100 000 deep, a list,
        wrong types — is either a value or `UnexpectedResponseError`, never a `RecursionError`."""
        try:
            value = json.loads(self.text)
        except (ValueError, RecursionError):
            raise UnexpectedResponseError("TruthScan sent an answer that is not valid JSON.") from None
        return _scrubbed(value, self.secrets, 0)


def _scrubbed(value: Any, secrets: tuple[str, ...], depth: int) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise UnexpectedResponseError(f"TruthScan sent an answer nested deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return [_scrubbed(item, secrets, depth + 1) for item in items]
    if isinstance(value, dict):
        obj: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        return {redact(k, secrets): _scrubbed(v, secrets, depth + 1) for k, v in obj.items()}
    return value


class OversizedAnswerError(UnexpectedResponseError):
    """An answer past its byte cap: asking again would only download the same flood again,
    so, unlike an answer cut short, it is not retried."""


def _decoded(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


async def read_capped(response: httpx2.Response, max_bytes: int, what: str) -> bytes:
    """The decoded body, or `UnexpectedResponseError` as soon as it passes `max_bytes`
    (httpx2 inflates compressed bodies in bounded pieces, so a bomb is stopped early)."""
    chunks: list[bytes] = []
    total = 0
    try:
        async for chunk in response.aiter_bytes():
            total += len(chunk)
            if total > max_bytes:
                raise OversizedAnswerError(
                    f"TruthScan's answer to {what} was larger than {max_bytes // 1024:,} KB, far more than "
                    "any real answer; it was not read further."
                )
            chunks.append(chunk)
    except httpx2.DecodingError:
        raise UnexpectedResponseError(f"TruthScan's answer to {what} could not be decompressed.") from None
    return b"".join(chunks)


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

    def backoff(self, attempt: int, *, jitter: bool = True) -> float:
        """stamina's formula: the wait after failed attempt number `attempt` (1-based); without
        `jitter`, the pause a 429 without Retry-After closes the shared gate for."""
        exponential = self.wait_initial * 2 ** (attempt - 1)
        return min(self.wait_max, exponential + (random.uniform(0, self.wait_jitter) if jitter else 0.0))


def make_http_client(*, transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """The one connection pool every API call shares (keep-alive saves a TLS handshake per poll)."""
    return httpx2.AsyncClient(
        transport=transport,
        timeout=DEFAULT_TIMEOUT,
        limits=httpx2.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=4.0),
        follow_redirects=False,
        headers={"User-Agent": "truthscan-mcp", "Accept": "application/json"},
    )


def upload_timeout(seconds: float, base: httpx2.Timeout | None = None) -> httpx2.Timeout:
    """Scale the write timeout with the body: 10 MB on a slow uplink must not be cut at 30 s.
    `seconds` is the upload's deadline (`Deadlines.upload`, the one formula).

    The other limits stay those of the shared pool (`base`), so one configuration governs
    how long any answer may take to start arriving.
    """
    base = base or DEFAULT_TIMEOUT
    write = max(base.write or 0.0, seconds)
    return httpx2.Timeout(connect=base.connect, read=base.read, write=write, pool=base.pool)


@dataclass(frozen=True)
class Operation:
    """One request to TruthScan as data: what `Sender.send` sends, retries and bounds."""

    endpoint: str
    method: str
    url: str
    #: bounds the whole operation: connecting, sending, the headers, the body and every retry
    total: float
    headers: Mapping[str, str] | None = None
    json: Any = None
    content: Callable[[], AsyncIterator[bytes]] | None = None
    #: the HTTP limits of each attempt; None: the shared pool's
    timeout: httpx2.Timeout | None = None
    #: None: the policy's
    budget: RetryBudget | None = None
    #: sending it may spend a credit: re-sent only when it provably never reached TruthScan or
    #: was refused outright, and an attempt on the wire is shielded from the caller's cancel
    charges: bool = False
    max_bytes: int = MAX_JSON_BYTES


def timed_out(endpoint: str, seconds: float, *, sent: bool = True) -> UnavailableError:
    return UnavailableError(
        f"TruthScan did not finish answering {endpoint} within {seconds:g} s. Check the network and "
        "try again; the health tool shows whether TruthScan is reachable.",
        sent=sent,
    )


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

    async def send(self, operation: Operation, read: Callable[[Answer], T]) -> T:
        """`read(answer)` of the first answer that is a 2xx and readable, within the budget.

        `operation.total` bounds the whole operation: past it the attempt under way is cut and
        `UnavailableError` raised.
        """
        op = operation
        budget = op.budget or self.policy.budget
        budget = RetryBudget(attempts=budget.attempts, timeout=min(budget.timeout, op.total))
        started = anyio.current_time()
        deadline = started + op.total  # the operation's, cutting even an attempt under way
        retry_deadline = started + budget.timeout  # no attempt starts after it
        attempts = [0]
        secrets = tuple(self._secrets())
        backoff_hook = self._backoff_hook(op, attempts, retry_deadline)
        async for attempt in stamina.retry_context(
            on=backoff_hook, attempts=budget.attempts, timeout=budget.timeout, name=f"TruthScan {op.endpoint}"
        ):
            with attempt:
                attempts[0] = attempt.num
                await self.gate.wait_turn(retry_deadline)
                answer: Answer | None = None
                # An attempt that charges, once on the wire, may spend a credit: it is shielded so a
                # cancelled caller still hears the id it paid for — but never past the operation's
                # deadline, which the scope's own deadline enforces even under the shield.
                with anyio.CancelScope(shield=op.charges, deadline=deadline):
                    answer = await self._exchange(op, secrets)
                if answer is None:  # the scope's deadline passed (an outside cancel propagates)
                    raise timed_out(op.endpoint, op.total)
                if answer.status_code >= 300:
                    error = error_for(op.endpoint, answer, key_place=self._key_place)
                    if isinstance(error, RateLimitedError):
                        self._hold_off(error, attempt.num)
                    raise error
                return read(answer)
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    def _backoff_hook(
        self, op: Operation, attempts: list[int], retry_deadline: float
    ) -> Callable[[BaseException], bool | float]:
        """stamina's `on=`: how long to wait before the next attempt, or False to raise now.
        `attempts[0]` is the number of the attempt that just failed."""
        policy = self.policy

        def backoff_hook(exc: BaseException) -> bool | float:
            if isinstance(exc, RateLimitedError):
                wait = exc.retry_after
            elif isinstance(exc, OversizedAnswerError):
                return False
            elif isinstance(exc, UnavailableError):
                if op.charges and exc.sent and not refused_before_work(exc):
                    return False  # it may have been accepted: never pay twice
                wait = exc.retry_after
            else:
                return False
            if wait is None:
                wait = policy.backoff(attempts[0])
            elif wait > policy.max_retry_after:
                return False
            else:
                wait = max(wait, 0.05)
            if anyio.current_time() + wait >= retry_deadline:
                return False  # the next attempt would start after the budget: fail now
            return wait

        return backoff_hook

    async def _exchange(self, op: Operation, secrets: tuple[str, ...]) -> Answer:
        """One request and its whole body, streamed under `max_bytes`, redacted before parsing."""
        try:
            async with self.http.stream(
                op.method,
                op.url,
                headers=op.headers,
                json=op.json,
                content=op.content() if op.content is not None else None,
                timeout=op.timeout if op.timeout is not None else httpx2.USE_CLIENT_DEFAULT,
            ) as response:
                self._on_answer(response)
                body = await read_capped(response, op.max_bytes, op.endpoint)
                text = _decoded(body, response.charset_encoding)
                return Answer(response.status_code, response.headers, redact(text, secrets), secrets)
        except httpx2.TransportError as exc:
            raise transport_error(op.endpoint, exc) from None

    def _hold_off(self, exc: RateLimitedError, attempt: int) -> None:
        policy = self.policy
        wait = exc.retry_after
        if wait is None:
            wait = policy.backoff(attempt, jitter=False)
        if wait <= policy.max_retry_after:
            self.gate.close_for(wait)
