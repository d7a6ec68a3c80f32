"""The TruthScan HTTP API, one method per endpoint, on one shared `httpx2.AsyncClient`.

Knows nothing of MCP or of the detection workflow. Its jobs: send exactly the headers and
bodies of the reference, turn every failure into one of our errors with a message a person
can act on, and retry what is safe to retry. The rule that protects the user's money lives
here: `/detect` is only re-sent when the request provably never reached TruthScan (the
connection could not be made) or TruthScan refused it outright with 429/503.
"""

from __future__ import annotations

import email.utils
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import anyio
import httpx2
import stamina
from pydantic import SecretStr

from truthscan_mcp.errors import (
    BadRequestError,
    ConfigurationError,
    ImageSizeError,
    InvalidKeyError,
    NotEnoughCreditsError,
    NotFoundError,
    RateLimitedError,
    TruthScanError,
    UnavailableError,
    UnsupportedFormatError,
    UploadExpiredError,
)
from truthscan_mcp.models import (
    ApiDocument,
    Credits,
    UnexpectedResponseError,
    parse_credits,
    parse_detect,
    parse_document,
    parse_presign,
)

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
SIMULATED_HEADER = "x-truthscan-simulated"


class Uploadable(Protocol):
    """What `upload` needs of an image: a fresh byte stream per attempt and its facts."""

    @property
    def media_type(self) -> str: ...

    @property
    def size(self) -> int: ...

    def iter_chunks(self, chunk_size: int = ...) -> AsyncIterator[bytes]: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds on retrying: attempts and total time, so a dead service fails in seconds, not minutes."""

    attempts: int = 5
    timeout: float = 30.0
    wait_initial: float = 0.3
    wait_max: float = 5.0
    wait_jitter: float = 0.5
    #: a Retry-After longer than this is not honoured by waiting; the error is raised instead
    max_retry_after: float = 30.0


@dataclass(frozen=True)
class Presigned:
    url: str
    file_path: str


@dataclass(frozen=True)
class HealthAnswer:
    status: str | None
    timestamp: str | None
    latency_ms: float


def make_http_client(*, transport: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """The one connection pool every API call shares (keep-alive saves a TLS handshake per poll)."""
    return httpx2.AsyncClient(
        transport=transport,
        timeout=httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0),
        limits=httpx2.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=4.0),
        follow_redirects=False,
        headers={"User-Agent": "truthscan-mcp", "Accept": "application/json"},
    )


def upload_timeout(size: int, base: httpx2.Timeout | None = None) -> httpx2.Timeout:
    """Scale the write timeout with the body: 10 MB on a slow uplink must not be cut at 30 s.

    The other limits stay those of the shared pool (`base`), so one configuration governs
    how long any answer may take to start arriving.
    """
    base = base or httpx2.Timeout(connect=10.0, read=30.0, write=30.0, pool=10.0)
    write = max(base.write or 0.0, 15.0 + size / (128 * 1024))
    return httpx2.Timeout(connect=base.connect, read=base.read, write=write, pool=base.pool)


def _capped(base: httpx2.Timeout, limit: float) -> httpx2.Timeout:
    """`base` with every limit at most `limit` seconds (None, i.e. unlimited, becomes `limit`)."""

    def cap(value: float | None) -> float:
        return limit if value is None else min(value, limit)

    return httpx2.Timeout(
        connect=cap(base.connect), read=cap(base.read), write=cap(base.write), pool=cap(base.pool)
    )


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_message_of(response: httpx2.Response) -> str | None:
    """The service's own words from `{"error"}`, `{"detail"}` (string or list), or a text body."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip() if response.content else ""
        if not text or text.startswith("<"):
            return None
        return text[:300]
    if isinstance(body, dict):
        obj: dict[str, Any] = body  # pyright: ignore[reportUnknownVariableType]
        for key in ("error", "message", "detail"):
            value = obj.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:300]
            if isinstance(value, list) and value:
                parts: list[str] = []
                for item in value:  # pyright: ignore[reportUnknownVariableType]
                    if isinstance(item, dict):
                        entry: dict[str, Any] = item  # pyright: ignore[reportUnknownVariableType]
                        loc = entry.get("loc")
                        where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
                        msg = str(entry.get("msg") or entry.get("message") or "")
                        parts.append(f"{where}: {msg}" if where else msg)
                    else:
                        parts.append(str(item))  # pyright: ignore[reportUnknownArgumentType]
                return "; ".join(p for p in parts if p)[:300] or None
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return None


def scrub(text: str | None, secrets: Iterable[str]) -> str | None:
    """`text` with every secret masked: services echo keys back in their error bodies."""
    if text is None:
        return None
    for secret in secrets:
        if len(secret) >= 4:
            text = re.sub(re.escape(secret), "***", text, flags=re.IGNORECASE)
    return text


def error_for(endpoint: str, response: httpx2.Response, *, secrets: Iterable[str] = ()) -> TruthScanError:
    """Map a non-2xx answer to our error, with what to do about it.

    What the service said is quoted (it is often the most useful part), minus any `secrets`
    it repeated: the message goes to the assistant, its logs and the user's screen.
    """
    status = response.status_code
    said = scrub(error_message_of(response), secrets)
    quoted = f" ({said})" if said else ""
    lowered = (said or "").lower()
    if endpoint == "upload" and status in (400, 403):
        return UploadExpiredError(f"The upload URL was refused (HTTP {status}){quoted}.")
    if status == 403:
        if "credit" in lowered:
            return NotEnoughCreditsError(
                "TruthScan says there are not enough credits for this detection. Call check_credits "
                "to see the balance, and add credits in the TruthScan dashboard before retrying."
            )
        return InvalidKeyError(
            f"TruthScan rejected the API key{quoted}. Check TRUTHSCAN_API_KEY: it must be the key from "
            "the TruthScan developer portal, active and not expired (regenerate it there if needed)."
        )
    if status == 429:
        return RateLimitedError(
            f"TruthScan is rate-limiting requests (HTTP 429){quoted}. Wait a little and try again.",
            retry_after=_retry_after(response),
        )
    if status >= 500:
        what = "is down for maintenance" if status == 503 else f"had a server error (HTTP {status})"
        return UnavailableError(
            f"TruthScan {what}{quoted}. Try again in a few minutes; the health tool shows when it is back.",
            retry_after=_retry_after(response),
            status=status,
        )
    if status == 404:
        return NotFoundError(f"TruthScan answered 404 Not Found on {endpoint}{quoted}.")
    if status == 400 and ("format" in lowered or "unsupported" in lowered):
        return UnsupportedFormatError(
            f"TruthScan refused the image format{quoted}. Supported: JPEG, PNG, WebP, HEIC/HEIF, AVIF, "
            "BMP, TIFF; convert the image to one of them."
        )
    if status == 400 and ("too large" in lowered or "size" in lowered):
        return ImageSizeError(f"TruthScan refused the image size{quoted}. Images must be 1 KB to 10 MB.")
    return BadRequestError(
        f"TruthScan refused the {endpoint} request (HTTP {status}){quoted}. This is likely a bug in "
        "truthscan-mcp or a change in the API; please report it with this message."
    )


def _transport_error(endpoint: str, exc: httpx2.TransportError) -> UnavailableError:
    """Connection failures: `sent=False` only when the request cannot have reached TruthScan."""
    never_sent = isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout)
    kind = type(exc).__name__
    what = f"timed out ({kind})" if isinstance(exc, httpx2.TimeoutException) else f"failed ({kind})"
    return UnavailableError(
        f"The connection to TruthScan {what} during {endpoint}. Check the network and try again; "
        "the health tool shows whether TruthScan is reachable.",
        sent=not never_sent,
    )


class TruthScanClient:
    """One method per API endpoint; owns no connections (the caller owns the `AsyncClient`)."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        api_url: str,
        storage_url: str,
        api_key: SecretStr | None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self.api_url = api_url.rstrip("/")
        self.storage_url = storage_url.rstrip("/")
        self._key = api_key
        self.retry = retry or RetryPolicy()
        #: set once any answer carried the simulator's mark
        self.simulated = False
        #: counts of requests sent per endpoint (attempts, not calls): for logs and tests
        self.sent: dict[str, int] = {}
        #: The shared back-off after a 429 (see `_hold_off`): no request is sent before this
        #: instant (`anyio.current_time()` clock), by any task using this client.
        self.not_before: float = -math.inf
        #: how many request attempts waited for that back-off: for logs and tests
        self.held: int = 0

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def _secrets(self) -> tuple[str, ...]:
        return () if self._key is None else (self._key.get_secret_value(),)

    def require_key(self) -> str:
        if self._key is None:
            raise ConfigurationError(
                "No TruthScan API key is configured. Set TRUTHSCAN_API_KEY in the MCP server's "
                "environment (get a key from the TruthScan developer portal), or run with --sandbox "
                "to try the simulator."
            )
        return self._key.get_secret_value()

    # --- the retry core ---------------------------------------------------------------------

    def _hook(self, *, detect: bool) -> Callable[[Exception], bool | float]:
        policy = self.retry

        def on(exc: Exception) -> bool | float:
            if isinstance(exc, RateLimitedError):
                wait = exc.retry_after
            elif isinstance(exc, UnavailableError):
                if detect and exc.sent and not self._refused_unavailable(exc):
                    return False  # it may have been accepted: never pay twice
                wait = exc.retry_after
            else:
                return False
            if wait is None:
                return True
            if wait > policy.max_retry_after:
                return False
            return max(wait, 0.05)

        return on

    @staticmethod
    def _refused_unavailable(exc: UnavailableError) -> bool:
        """503 is maintenance: TruthScan refused the request before doing anything with it."""
        return exc.status == 503

    def _hold_off(self, exc: RateLimitedError, attempt: int) -> None:
        """A 429 is about the account, not one request: pause every task using this client.

        Without this, a batch's other workers would keep firing into the limit and collect
        429s of their own. The pause is what TruthScan asked for (Retry-After), or the retry
        backoff of this attempt when it did not say; a Retry-After beyond the policy's bound
        is not waited for (the request fails instead), so it pauses no one either. Concurrent
        429s only ever extend the pause (max), never shorten it.
        """
        policy = self.retry
        wait = exc.retry_after
        if wait is None:
            wait = min(policy.wait_max, policy.wait_initial * 2 ** (attempt - 1))
        if wait > policy.max_retry_after:
            return
        until = anyio.current_time() + wait
        if until > self.not_before:
            self.not_before = until
            logger.info("rate-limited by TruthScan: pausing every request for %.2fs", wait)

    async def _wait_turn(self, limit: float) -> None:
        """Wait out the shared back-off, but never past `limit` (the end of this call's retry
        budget): another 429 may extend the pause while waiting, hence the loop."""
        held = False
        while (wait := min(self.not_before, limit) - anyio.current_time()) > 0:
            if not held:
                held = True
                self.held += 1
            await anyio.sleep(wait)

    async def _send(
        self,
        endpoint: str,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        content: Callable[[], AsyncIterator[bytes]] | None = None,
        timeout: httpx2.Timeout | None = None,
        detect: bool = False,
        attempts: int | None = None,
        retry_timeout: float | None = None,
    ) -> httpx2.Response:
        policy = self.retry
        budget = retry_timeout if retry_timeout is not None else policy.timeout
        limit = anyio.current_time() + budget
        async for attempt in stamina.retry_context(
            on=self._hook(detect=detect),
            attempts=attempts or policy.attempts,
            timeout=budget,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                await self._wait_turn(limit)
                self.sent[endpoint] = self.sent.get(endpoint, 0) + 1
                if attempt.num > 1:
                    logger.info("retrying %s (attempt %d)", endpoint, attempt.num)
                try:
                    # A /detect attempt, once on the wire, may charge: it is shielded so a cancelled
                    # caller still hears the id it paid for. The back-off between attempts is not.
                    response: httpx2.Response | None = None
                    with anyio.CancelScope(shield=detect):
                        response = await self._http.request(
                            method,
                            url,
                            headers=headers,
                            json=json,
                            content=content() if content is not None else None,
                            timeout=timeout if timeout is not None else httpx2.USE_CLIENT_DEFAULT,
                        )
                    assert response is not None  # a shield without a deadline swallows nothing
                except httpx2.TransportError as exc:
                    raise _transport_error(endpoint, exc) from None
                if response.headers.get(SIMULATED_HEADER, "").lower() == "true":
                    self.simulated = True
                if response.status_code >= 300:
                    error = error_for(endpoint, response, secrets=self._secrets())
                    if isinstance(error, RateLimitedError):
                        self._hold_off(error, attempt.num)
                    raise error
                return response
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover

    @staticmethod
    def _json(endpoint: str, response: httpx2.Response, *, allow_null: bool = False) -> Any:
        if not response.content.strip():
            raise UnexpectedResponseError(f"TruthScan answered {endpoint} with an empty body.")
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            raise UnexpectedResponseError(
                f"TruthScan answered {endpoint} with something that is not JSON."
            ) from None
        if body is None and not allow_null:
            raise UnexpectedResponseError(f"TruthScan answered {endpoint} with null.")
        return body

    async def _get_json(self, endpoint: str, method: str, url: str, **kw: Any) -> Any:
        """Idempotent calls: an unreadable answer is retried like a 5xx."""
        allow_null = kw.pop("allow_null", False)
        policy = self.retry
        async for attempt in stamina.retry_context(
            on=UnexpectedResponseError,
            attempts=3,
            timeout=policy.timeout,
            wait_initial=policy.wait_initial,
            wait_max=policy.wait_max,
            wait_jitter=policy.wait_jitter,
        ):
            with attempt:
                response = await self._send(endpoint, method, url, **kw)
                return self._json(endpoint, response, allow_null=allow_null)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- endpoints --------------------------------------------------------------------------

    async def presign(self, file_name: str) -> Presigned:
        key = self.require_key()
        # The name is already reduced to [A-Za-z0-9._-]; quote() only guards the contract.
        url = f"{self.api_url}/get-presigned-url?file_name={quote(file_name, safe='._-')}"
        body = await self._get_json(
            "presign", "GET", url, headers={"apikey": key, "Cache-Control": "no-cache"}
        )
        presigned_url, path = parse_presign(body)
        return Presigned(url=presigned_url, file_path=path)

    async def upload(self, presigned: Presigned, image: Uploadable) -> None:
        await self._send(
            "upload",
            "PUT",
            presigned.url,
            headers={
                "Content-Type": image.media_type,
                "x-amz-acl": "private",
                "Content-Length": str(image.size),
            },
            content=image.iter_chunks,
            timeout=upload_timeout(image.size, self._http.timeout),
        )

    def storage_url_for(self, file_path: str) -> str:
        return f"{self.storage_url}/{file_path.lstrip('/')}"

    async def detect(self, file_path: str, *, deep_analysis: bool, preview: bool) -> str:
        key = self.require_key()
        try:
            response = await self._send(
                "detect",
                "POST",
                f"{self.api_url}/detect",
                json={
                    "key": key,
                    "url": self.storage_url_for(file_path),
                    "generate_preview": preview,
                    "generate_analysis_details": deep_analysis,
                    "document_type": "Image",
                },
                detect=True,
            )
        except UnavailableError as exc:
            if not exc.sent or self._refused_unavailable(exc):
                raise
            # "Try again" would be bad advice here: the first attempt may have been charged.
            what = exc.message.split(". ", 1)[0].rstrip(".")
            raise UnavailableError(
                f"{what}. The submission may have reached TruthScan and been accepted, so it was not "
                "re-sent (that could charge twice): run check_credits to see whether a credit was "
                "spent before running detect_image again.",
                retry_after=exc.retry_after,
                status=exc.status,
            ) from None
        try:
            body = self._json("detect", response)
        except UnexpectedResponseError:
            body = None
        return parse_detect(body)

    async def query(self, document_id: str) -> ApiDocument | None:
        body = await self._get_json(
            "query", "POST", f"{self.api_url}/query", json={"id": document_id}, allow_null=True
        )
        return parse_document(body, queried_id=document_id)

    async def credits(self) -> Credits:
        key = self.require_key()
        body = await self._get_json(
            "credits", "GET", f"{self.api_url}/check-user-credits", headers={"apikey": key}
        )
        return parse_credits(body).model_copy(update={"simulated": self.simulated})

    async def health(self) -> HealthAnswer:
        started = time.perf_counter()
        body = await self._get_json(
            "health",
            "GET",
            f"{self.api_url}/health",
            attempts=2,
            retry_timeout=8.0,
            timeout=_capped(self._http.timeout, 5.0),
        )
        latency = (time.perf_counter() - started) * 1000
        if not isinstance(body, dict):
            raise UnexpectedResponseError("TruthScan's health answer was not an object.")
        obj: dict[str, Any] = body  # pyright: ignore[reportUnknownVariableType]
        status = obj.get("status")
        stamp = obj.get("timestamp")
        return HealthAnswer(
            status=str(status) if status is not None else None,
            timestamp=str(stamp) if stamp is not None else None,
            latency_ms=round(latency, 1),
        )

    async def fetch_image(self, url: str, *, max_bytes: int) -> tuple[bytes, str] | None:
        """Download a heatmap/preview TruthScan produced; None when over the cap or not an image."""
        try:
            async with self._http.stream("GET", url, timeout=httpx2.Timeout(15.0)) as response:
                if response.headers.get(SIMULATED_HEADER, "").lower() == "true":
                    self.simulated = True
                if response.status_code != 200:
                    return None
                media_type = response.headers.get("content-type", "image/png").split(";")[0].strip()
                chunks: list[bytes] = []
                total = 0
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > max_bytes:
                        return None
                    chunks.append(chunk)
        except httpx2.HTTPError:
            return None
        return b"".join(chunks), media_type
