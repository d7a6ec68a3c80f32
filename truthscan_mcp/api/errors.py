"""What a failed HTTP exchange with TruthScan means, as one of our errors.

A service's error body is often the most useful part of a message (it says which field it
refused), so it is quoted; but services echo keys back, raw or encoded, so the body arrives here
already redacted (`sending.Answer`), and what is quoted is also cleaned of control characters.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable
from typing import Any, Protocol

import httpx2

from truthscan_mcp.errors import (
    BadRequestError,
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
from truthscan_mcp.redaction import redact
from truthscan_mcp.sanitize import clean_line, truthscan_says


class Response(Protocol):
    """What these functions read of an answer: `sending.Answer` (or an `httpx2.Response`)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> httpx2.Headers: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def retry_after_of(response: Response) -> float | None:
    """Retry-After in seconds, given as a number or an HTTP date; None when absent or unreadable."""
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


def error_message_of(response: Response) -> str | None:
    """The service's own words from `{"error"}`, `{"detail"}` (string or list), or a text body."""
    try:
        body: Any = response.json()
    except (ValueError, UnicodeDecodeError, RecursionError, TruthScanError):
        text = response.text.strip()
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


def error_for(
    endpoint: str,
    response: Response,
    *,
    secrets: Iterable[str] = (),
    key_place: str = "TRUTHSCAN_API_KEY",
) -> TruthScanError:
    """Map a non-2xx answer to our error, with what to do about it.

    What the service said is quoted (it is often the most useful part), minus any `secrets`
    it repeated and any control character: the message goes to the assistant, its logs and the
    user's screen. An unknown status names itself and blames no one: it is TruthScan's answer.
    `key_place` names where the key was given (option, bundle setting or variable).
    """
    status = response.status_code
    message = error_message_of(response)
    said = clean_line(redact(message, secrets), max_length=300) if message is not None else None
    quoted = f" ({truthscan_says(said)})" if said else ""  # its words, never ours
    lowered = (said or "").lower()
    if endpoint == "upload" and status in (400, 403):
        return UploadExpiredError(f"The upload URL was refused (HTTP {status}){quoted}.")
    if status in (401, 402, 403):
        return _refused_key_or_credits(status, quoted, lowered, key_place)
    if status == 429:
        return RateLimitedError(
            f"TruthScan is rate-limiting requests (HTTP 429){quoted}. Wait a little and try again.",
            retry_after=retry_after_of(response),
        )
    if status >= 500:
        what = "is down for maintenance" if status == 503 else f"had a server error (HTTP {status})"
        return UnavailableError(
            f"TruthScan {what}{quoted}. Try again in a few minutes; the health tool shows when it is back.",
            retry_after=retry_after_of(response),
            status=status,
        )
    return _refused_request(endpoint, status, quoted, lowered)


def _refused_key_or_credits(status: int, quoted: str, lowered: str, key_place: str) -> TruthScanError:
    """401, 402 and 403: the key, or the balance (a 403 that speaks of credits)."""
    if status == 401:
        return InvalidKeyError(
            f"TruthScan refused the API key (HTTP 401){quoted}: the key was refused before anything was "
            f"charged. Check {key_place}: it must be the key from the TruthScan developer portal, "
            "active and not expired (regenerate it there if needed)."
        )
    if status == 402:
        return NotEnoughCreditsError(
            f"TruthScan says there are not enough credits for this request (HTTP 402){quoted}. Call "
            "check_credits to see the balance, and add credits in the TruthScan dashboard before retrying."
        )
    if "credit" in lowered:
        return NotEnoughCreditsError(
            "TruthScan says there are not enough credits for this detection. Call check_credits "
            "to see the balance, and add credits in the TruthScan dashboard before retrying."
        )
    return InvalidKeyError(
        f"TruthScan rejected the API key{quoted}. Check {key_place}: it must be the key from "
        "the TruthScan developer portal, active and not expired (regenerate it there if needed)."
    )


def _refused_request(endpoint: str, status: int, quoted: str, lowered: str) -> TruthScanError:
    """A 4xx about the request itself (or a status the API reference does not describe)."""
    if status == 404:
        return NotFoundError(f"TruthScan answered 404 Not Found on {endpoint}{quoted}.")
    if status == 400 and ("format" in lowered or "unsupported" in lowered):
        return UnsupportedFormatError(
            f"TruthScan refused the image format{quoted}. Supported: JPEG, PNG, WebP, HEIC/HEIF, AVIF, "
            "BMP, TIFF; convert the image to one of them."
        )
    if status == 400 and ("too large" in lowered or "size" in lowered):
        return ImageSizeError(f"TruthScan refused the image size{quoted}. Images must be 1 KB to 10 MB.")
    if status in (400, 422):
        return BadRequestError(
            f"TruthScan refused the {endpoint} request (HTTP {status}){quoted}. If it happens again "
            "with other images, TruthScan's API may have changed: the health tool shows its state."
        )
    return BadRequestError(
        f"TruthScan answered the {endpoint} request with HTTP {status}{quoted}, a status its API "
        "reference does not describe. Try again in a while; if it persists, check the health tool "
        "and TruthScan's status page."
    )


def transport_error(endpoint: str, exc: httpx2.TransportError) -> UnavailableError:
    """Connection failures: `sent=False` only when the request cannot have reached TruthScan."""
    never_sent = isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout)
    kind = type(exc).__name__
    what = f"timed out ({kind})" if isinstance(exc, httpx2.TimeoutException) else f"failed ({kind})"
    return UnavailableError(
        f"The connection to TruthScan {what} during {endpoint}. Check the network and try again; "
        "the health tool shows whether TruthScan is reachable.",
        sent=not never_sent,
    )


def refused_before_work(exc: UnavailableError) -> bool:
    """503 is maintenance: TruthScan refused the request before doing anything with it."""
    return exc.status == 503
