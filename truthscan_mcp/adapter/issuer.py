"""The authorization server's signing keys: its metadata discovered, its JWKS fetched and cached.

A token names the key that signed it (`kid`). Keys are cached for `KEYS_TTL`; a `kid` the cache
does not know makes one refetch (the issuer rotated its keys), at most once every
`MIN_REFETCH_SECONDS`, so a stream of tokens with made-up `kid`s cannot turn this server into a
flood of requests to the identity provider. The metadata is looked for where RFC 8414 puts it
(`/.well-known/oauth-authorization-server`, inserted before the issuer's path), then where
OpenID Connect Discovery puts it (`/.well-known/openid-configuration`, appended); its `issuer`
must be the configured one exactly (RFC 8414 §3.3), or a look-alike could hand out keys.
Plain http is refused for every URL but loopback ones (a development identity provider).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError

from truthscan_mcp.settings import is_loopback_url

logger = logging.getLogger(__name__)

#: How long fetched keys are trusted before the JWKS is read again.
KEYS_TTL = 3600.0
#: The shortest gap between two JWKS fetches caused by unknown `kid`s.
MIN_REFETCH_SECONDS = 30.0
#: Bound on a metadata or JWKS document (a JWKS is a few KB).
MAX_DOCUMENT_BYTES = 512 * 1024
FETCH_TIMEOUT = 10.0


class IssuerError(Exception):
    """The authorization server's metadata or keys could not be had; the message says which."""


def require_secure(url: str, what: str) -> None:
    """https, or plain http on loopback only: keys fetched in the clear can be swapped on the way."""
    if url.startswith("https://") or (url.startswith("http://") and is_loopback_url(url)):
        return
    raise IssuerError(f"{what} {url!r} is not https (plain http is accepted only on loopback)")


def metadata_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may be: RFC 8414 first, then OpenID Connect Discovery."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]


async def _get_json(url: str) -> Any:
    require_secure(url, "URL")
    async with httpx2.AsyncClient(timeout=FETCH_TIMEOUT, follow_redirects=False) as client:
        response = await client.get(url, headers={"accept": "application/json"})
    if response.status_code != 200:
        raise IssuerError(f"{url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise IssuerError(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return response.json()
    except ValueError as exc:
        raise IssuerError(f"{url} did not answer JSON") from exc


async def discover_jwks_url(issuer: str) -> str:
    """The `jwks_uri` of the issuer's metadata, checked to come from that very issuer."""
    failures: list[str] = []
    for url in metadata_urls(issuer):
        try:
            document = await _get_json(url)
        except (IssuerError, httpx2.HTTPError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        if not isinstance(document, dict):
            failures.append(f"{url}: not a JSON object")
            continue
        metadata: dict[str, Any] = document  # pyright: ignore[reportUnknownVariableType]
        if metadata.get("issuer") != issuer:
            raise IssuerError(f"{url} names issuer {metadata.get('issuer')!r}, not {issuer!r}")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise IssuerError(f"{url} has no jwks_uri: set TRUTHSCAN_OAUTH_JWKS_URL")
        require_secure(jwks_uri, "jwks_uri")
        return jwks_uri
    raise IssuerError("no authorization server metadata found (" + "; ".join(failures) + ")")


@dataclass
class IssuerKeys:
    """The issuer's current signing keys by `kid`, fetched lazily and refreshed on rotation."""

    issuer: str
    jwks_url: str | None = None
    min_refetch: float = MIN_REFETCH_SECONDS
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, PyJWK] = field(default_factory=dict[str, PyJWK])
    _fetched_at: float | None = None
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def key(self, kid: str | None) -> PyJWK | None:
        """The key for `kid` (the only key when the token names none and there is one), or None."""
        async with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at > KEYS_TTL
            unknown = self._pick(kid) is None
            may_refetch = self._fetched_at is None or now - self._fetched_at >= self.min_refetch
            if stale or (unknown and may_refetch):
                await self._refresh(now)
            return self._pick(kid)

    def _pick(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _refresh(self, now: float) -> None:
        self._fetched_at = now  # a failed fetch is rate-limited too
        try:
            if self.jwks_url is None:
                self.jwks_url = await discover_jwks_url(self.issuer)
            document = await _get_json(self.jwks_url)
            key_set = PyJWKSet.from_dict(document)
        except (IssuerError, httpx2.HTTPError, PyJWKError, PyJWKSetError, TypeError) as exc:
            # The keys we had stay in use: an identity provider's hiccup must not lock everyone out.
            logger.warning("could not refresh the OAuth issuer's signing keys: %s", exc)
            return
        self._keys = {key.key_id or f"#{index}": key for index, key in enumerate(key_set.keys)}
        logger.info("OAuth signing keys loaded from %s: %d key(s)", self.jwks_url, len(self._keys))
