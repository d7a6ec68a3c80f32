"""What the simulated service answers, before any HTTP framework turns it into bytes.

The service decides *what* happened (a document, an API refusal, a storage refusal, a
file); the HTTP layer alone knows how each one is spelled on the wire. Keeping the two
apart lets the behaviour be read, and changed, without reading Starlette.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class JsonAnswer:
    """A JSON body (`None` is the literal `null` the API sends for an unknown id)."""

    body: object
    status: int = 200


@dataclass(frozen=True, slots=True)
class ApiRefusal:
    """The API's own error, `{"error": message}`."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class StorageRefusal:
    """The object storage's error (S3 XML); `close` ends the connection, as S3 does for
    an upload too large to drain."""

    status: int
    code: str
    message: str
    close: bool = False


@dataclass(frozen=True, slots=True)
class FileAnswer:
    """Raw bytes: a stored image, a heatmap, or the empty body of an accepted upload."""

    data: bytes
    media_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict[str, str])


Answer = JsonAnswer | ApiRefusal | StorageRefusal | FileAnswer
