"""The TruthScan HTTP API, one method per endpoint, on one shared `httpx2.AsyncClient`.

Knows nothing of MCP or of the detection workflow. Each method says what it sends (exactly
the headers and bodies of the reference) and how the answer is read (`api/wire.py`); how a
request is sent, retried and mapped to our errors is `api/sending.py` and `api/errors.py`.

An answer is data, never control. Every operation has a total deadline (`Deadlines`: presign,
query and credits 15 s, health 10 s, /detect 30 s, upload 15 s + 1 s per 100 KB, heatmap 15 s,
connect to last byte and every retry together); every body is streamed under a byte cap after
decompression (JSON 2 MB, images 8 MB) and redacted before it is parsed; an id from /detect
must be a UUID; a heatmap is fetched only from the configured API or storage origin, or through
the URL guard, and only kept when its magic bytes say it is an image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

import anyio
import httpx2
from pydantic import SecretStr

from truthscan_mcp.api.errors import refused_before_work
from truthscan_mcp.api.sending import (
    Answer,
    Deadlines,
    Operation,
    RateLimitGate,
    RetryBudget,
    RetryPolicy,
    Sender,
    capped,
    make_http_client,
    read_capped,
    upload_timeout,
)
from truthscan_mcp.api.wire import (
    ApiDocument,
    Presigned,
    parse_credits,
    parse_detect,
    parse_document,
    parse_presign,
)
from truthscan_mcp.errors import ConfigurationError, TruthScanError, UnavailableError, UnexpectedResponseError
from truthscan_mcp.media.formats import sniff_format
from truthscan_mcp.media.netguard import guarded_client
from truthscan_mcp.models import Credits
from truthscan_mcp.settings import ENVIRONMENT_HINTS, SettingHints

__all__ = [
    "Deadlines",
    "HealthAnswer",
    "Presigned",
    "RetryPolicy",
    "TruthScanClient",
    "Uploadable",
    "make_http_client",
]

logger = logging.getLogger(__name__)

SIMULATED_HEADER = "x-truthscan-simulated"
#: /health is asked to answer fast: a health check that hangs for the full budget says nothing.
HEALTH_BUDGET = RetryBudget(attempts=2, timeout=8.0)
#: The most a heatmap or preview may weigh: real ones are a few hundred KB.
MAX_IMAGE_ANSWER_BYTES = 8 * 1024 * 1024
#: The most a heatmap is fetched at to be drawn, shown or embedded in a report (one bound for all three).
MAX_HEATMAP_BYTES = 2 * 1024 * 1024


class Uploadable(Protocol):
    """What `upload` needs of an image: a fresh byte stream per attempt and its facts."""

    @property
    def media_type(self) -> str: ...

    @property
    def size(self) -> int: ...

    def iter_chunks(self, chunk_size: int = ...) -> AsyncIterator[bytes]: ...


class FetchedImage(NamedTuple):
    """An image TruthScan produced (heatmap, preview): its bytes and the type they show."""

    data: bytes
    media_type: str


@dataclass(frozen=True)
class HealthAnswer:
    status: str | None
    timestamp: str | None
    latency_ms: float


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, ValueError, TypeError):
        return None
    scheme = parsed.scheme.lower()
    port = parsed.port or (443 if scheme == "https" else 80)
    return scheme, parsed.host.lower(), port


def _json(endpoint: str, response: Answer, *, allow_null: bool = False) -> Any:
    if not response.text.strip():
        raise UnexpectedResponseError(f"TruthScan answered {endpoint} with an empty body.")
    try:
        body = response.json()
    except UnexpectedResponseError:
        raise UnexpectedResponseError(
            f"TruthScan answered {endpoint} with something that is not JSON it could have meant "
            "(unreadable, too deeply nested or cut short)."
        ) from None
    if body is None and not allow_null:
        raise UnexpectedResponseError(f"TruthScan answered {endpoint} with null.")
    return body


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
        deadlines: Deadlines | None = None,
        allow_private: bool = False,
        hints: SettingHints = ENVIRONMENT_HINTS,
    ) -> None:
        """`deadlines` bound each operation in total (see `Deadlines`; tests pass tiny ones);
        `allow_private` lets a heatmap from outside the configured origins come from a private
        address (TRUTHSCAN_ALLOW_PRIVATE_URLS), as for URL sources."""
        self._http = http
        #: how this server was configured: the words every "change a setting" hint uses
        self.hints = hints
        self.api_url = api_url.rstrip("/")
        self.storage_url = storage_url.rstrip("/")
        self._key = api_key
        self.retry = retry or RetryPolicy()
        self.deadlines = deadlines or Deadlines()
        self._allow_private = allow_private
        #: set once any answer carried the simulator's mark
        self.simulated = False
        self._sender = Sender(
            http, self.retry, secrets=self._secrets, on_answer=self._notice, key_place=hints.key_place()
        )

    @property
    def gate(self) -> RateLimitGate:
        """The shared 429 pause of every request this client sends."""
        return self._sender.gate

    def _secrets(self) -> tuple[str, ...]:
        return () if self._key is None else (self._key.get_secret_value(),)

    def _notice(self, response: httpx2.Response) -> None:
        if response.headers.get(SIMULATED_HEADER, "").lower() == "true":
            self.simulated = True

    def require_key(self) -> str:
        if self._key is None:
            raise ConfigurationError(f"No TruthScan API key is configured. {self.hints.add_key_hint()}")
        return self._key.get_secret_value()

    def storage_url_for(self, file_path: str) -> str:
        return f"{self.storage_url}/{file_path.lstrip('/')}"

    # --- endpoints --------------------------------------------------------------------------

    async def presign(self, file_name: str) -> Presigned:
        key = self.require_key()
        # The name is already reduced to [A-Za-z0-9._-]; quote() only guards the contract.
        url = f"{self.api_url}/get-presigned-url?file_name={quote(file_name, safe='._-')}"
        return await self._sender.send(
            Operation(
                "presign",
                "GET",
                url,
                total=self.deadlines.presign,
                headers={"apikey": key, "Cache-Control": "no-cache"},
            ),
            lambda response: parse_presign(_json("presign", response)),
        )

    async def upload(self, presigned: Presigned, image: Uploadable) -> None:
        seconds = self.deadlines.upload(image.size)
        await self._sender.send(
            Operation(
                "upload",
                "PUT",
                presigned.url,
                total=seconds,
                headers={
                    "Content-Type": image.media_type,
                    "x-amz-acl": "private",
                    "Content-Length": str(image.size),
                },
                content=image.iter_chunks,
                timeout=upload_timeout(seconds, self._http.timeout),
            ),
            lambda _: None,
        )

    async def detect(
        self, file_path: str, *, deep_analysis: bool, preview: bool, heatmap: bool = False
    ) -> str:
        """Submit an uploaded file; its document id. `heatmap` asks TruthScan to make the heatmap
        (`generate_heatmap`), sent only when wanted: its overlay variants are never asked for."""
        key = self.require_key()
        request: dict[str, object] = {
            "key": key,
            "url": self.storage_url_for(file_path),
            "generate_preview": preview,
            "generate_analysis_details": deep_analysis,
            "document_type": "Image",
        }
        if heatmap:
            request["generate_heatmap"] = True
        try:
            response = await self._sender.send(
                Operation(
                    "detect",
                    "POST",
                    f"{self.api_url}/detect",
                    total=self.deadlines.detect,
                    json=request,
                    charges=True,
                ),
                lambda response: response,
            )
        except UnavailableError as exc:
            if not exc.sent or refused_before_work(exc):
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
        # An accepted /detect is never re-sent for an unreadable answer: parse_detect explains.
        try:
            body = _json("detect", response)
        except UnexpectedResponseError:
            body = None
        return parse_detect(body)

    async def query(self, document_id: str) -> ApiDocument | None:
        return await self._sender.send(
            Operation(
                "query", "POST", f"{self.api_url}/query", total=self.deadlines.query, json={"id": document_id}
            ),
            lambda response: parse_document(
                _json("query", response, allow_null=True), queried_id=document_id
            ),
        )

    async def credits(self) -> Credits:
        key = self.require_key()
        credits = await self._sender.send(
            Operation(
                "credits",
                "GET",
                f"{self.api_url}/check-user-credits",
                total=self.deadlines.credits,
                headers={"apikey": key},
            ),
            lambda response: parse_credits(_json("credits", response)),
        )
        return credits.model_copy(update={"simulated": self.simulated})

    async def health(self) -> HealthAnswer:
        started = time.perf_counter()
        body = await self._sender.send(
            Operation(
                "health",
                "GET",
                f"{self.api_url}/health",
                total=self.deadlines.health,
                timeout=capped(self._http.timeout, 5.0),
                budget=HEALTH_BUDGET,
            ),
            lambda response: _health_body(_json("health", response)),
        )
        latency = (time.perf_counter() - started) * 1000
        status = body.get("status")
        stamp = body.get("timestamp")
        return HealthAnswer(
            status=str(status) if status is not None else None,
            timestamp=str(stamp) if stamp is not None else None,
            latency_ms=round(latency, 1),
        )

    def _is_ours(self, url: str) -> bool:
        """Whether `url` is on the configured API or storage origin (scheme, host and port)."""
        origin = _origin(url)
        return origin is not None and origin in {_origin(self.api_url), _origin(self.storage_url)}

    async def fetch_image(self, url: str, *, max_bytes: int = MAX_IMAGE_ANSWER_BYTES) -> FetchedImage | None:
        """A heatmap/preview TruthScan produced, with the media type its magic bytes show;
        None when it is not an image, over `max_bytes`, too slow, or refused by the URL guard.

        The URL comes from an answer, so it is a request forgery waiting to happen: only the
        configured API and storage origins are fetched on the API's own pool; anything else
        goes through the URL guard (public addresses only, unless private ones are allowed).
        The server's Content-Type is never trusted.
        """
        if self._is_ours(url):
            return await self._fetch_image(self._http, url, max_bytes)
        async with guarded_client(allow_private=self._allow_private, timeout=self.deadlines.image) as http:
            return await self._fetch_image(http, url, max_bytes)

    async def _fetch_image(self, http: httpx2.AsyncClient, url: str, max_bytes: int) -> FetchedImage | None:
        data = b""
        with anyio.move_on_after(self.deadlines.image):
            try:
                async with http.stream("GET", url, timeout=httpx2.Timeout(self.deadlines.image)) as response:
                    self._notice(response)
                    if response.status_code != 200:
                        return None
                    data = await read_capped(response, max_bytes, "a heatmap download")
            except (httpx2.HTTPError, TruthScanError) as exc:
                logger.info("heatmap not fetched: %s", type(exc).__name__)
                return None
        fmt = sniff_format(data[:512])
        if fmt is None:
            return None
        return FetchedImage(data, fmt.media_type)


def _health_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise UnexpectedResponseError("TruthScan's health answer was not an object.")
    return body  # pyright: ignore[reportUnknownVariableType]
