"""The one exception hierarchy every layer raises.

Each message is written for the reader who must act on it (usually an AI assistant relaying
it to a person): it says what happened and what to do next. Messages never contain the API
key; callers must not interpolate secrets into them.
"""

from __future__ import annotations

from typing import ClassVar


class TruthScanError(Exception):
    """Base of every error this package raises on purpose."""

    code: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- rejected locally, before anything is spent -------------------------------------------


class InvalidInputError(TruthScanError):
    """An argument, file, URL or inline payload we refuse before any network call."""

    code = "invalid_input"


class UnsupportedFormatError(InvalidInputError):
    code = "unsupported_format"
    #: what the bytes seem to be ("an SVG image"), when there is a good guess: a page sweep
    #: lists the image with that reason instead of failing it
    looks: str | None = None


class ImageSizeError(InvalidInputError):
    code = "bad_size"


class ImageTooSmallError(ImageSizeError):
    """Under the 1 KB TruthScan needs: a page sweep lists such images (tracking pixels, icons)
    as skipped rather than as failures."""


class SourceNotAllowedError(InvalidInputError):
    """A path outside the allowed directories, or a URL to a private address."""

    code = "not_allowed"


class SourceFetchError(InvalidInputError):
    """A URL source could not be downloaded (HTTP error, timeout, too many redirects)."""

    code = "fetch_failed"


class UploadError(InvalidInputError):
    """An upload (`request_image`) refused or not usable: `reason` says which rule, so the
    upload page can answer with the matching HTTP status."""

    code = "upload"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        #: unknown, expired, used, pending, too_large, not_image, too_small
        self.reason = reason


class ClipboardError(InvalidInputError):
    """The clipboard holds no image, or this system has no way to read it."""

    code = "clipboard"


class SpendingRefusedError(TruthScanError):
    """The local credit guard refused before anything was uploaded: the daily cap, a batch's
    `max_detections`, or the person declining. Nothing was spent."""

    code = "spending_refused"


class DailyLimitError(SpendingRefusedError):
    code = "daily_limit"


class ConfigurationError(TruthScanError):
    """The server is not configured for this call (no API key, bad setting)."""

    code = "configuration"


# --- answered by the API --------------------------------------------------------------------


class InvalidKeyError(TruthScanError):
    code = "invalid_key"


class NotEnoughCreditsError(TruthScanError):
    code = "not_enough_credits"


class BadRequestError(TruthScanError):
    """TruthScan refused the request as malformed (400/406/422, …)."""

    code = "bad_request"


class NotFoundError(TruthScanError):
    code = "not_found"


class RateLimitedError(TruthScanError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(TruthScanError):
    """5xx, maintenance, a connection that failed, or an answer we could not read."""

    code = "unavailable"

    def __init__(
        self, message: str, retry_after: float | None = None, *, sent: bool = True, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        #: the HTTP status TruthScan answered with, when it answered at all
        self.status = status
        #: False only when the request provably never reached the service (connect failed).
        self.sent = sent


class UnexpectedResponseError(UnavailableError):
    """TruthScan answered something we cannot read (not JSON, wrong shape)."""

    code = "unexpected_response"


class UploadExpiredError(TruthScanError):
    """The presigned upload URL was refused (403/400): ask for a fresh one."""

    code = "upload_expired"
