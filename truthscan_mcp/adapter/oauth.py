"""OAuth 2.1 resource server: the SDK's `TokenVerifier` for JWT access tokens, and its settings.

With TRUTHSCAN_OAUTH_ISSUER set, the SDK's own machinery guards `/mcp`: it publishes the
Protected Resource Metadata (RFC 9728), answers 401 with `WWW-Authenticate: Bearer
resource_metadata=…` when no valid token comes, and 403 `insufficient_scope` when the token
lacks a scope of TRUTHSCAN_OAUTH_SCOPES. What the SDK leaves to us is deciding whether a token
is valid, which is this module: a JWT (RFC 9068 access tokens, or any JWT an identity provider
issues for an API) signed by a key of the issuer's JWKS with an asymmetric algorithm, from that
issuer, for this server's audience, within its `nbf`/`exp` window. PyJWT does the JOSE work
(it is already a dependency of the MCP SDK). The token itself goes nowhere: not to TruthScan
(its client sends only the API key), and not to a log (failures log the reason, never the token).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import jwt
from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import ProtectedResourceMetadata

from truthscan_mcp.adapter.issuer import MIN_REFETCH_SECONDS, IssuerKeys
from truthscan_mcp.settings import Settings

logger = logging.getLogger(__name__)

#: Asymmetric algorithms only: a symmetric (HS*) one would let anyone holding the "key" — a public
#: JWKS entry — mint tokens, and `none` signs nothing.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
#: Clock skew tolerated between this server and the identity provider, in seconds.
LEEWAY = 30
#: Tokens longer than this are refused unread (a header or payload made to cost CPU).
MAX_TOKEN_LENGTH = 16 * 1024
BARE_METADATA_PATH = "/.well-known/oauth-protected-resource"


def token_scopes(claims: dict[str, Any]) -> list[str]:
    """`scope` (RFC 9068: space-separated) or `scp` (Azure AD, Okta: a list or a string)."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(item) for item in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return []


class JwtVerifier:
    """Checks a bearer JWT against the issuer's keys and this server's audience (`TokenVerifier`)."""

    def __init__(self, issuer: str, audience: str, keys: IssuerKeys) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keys = keys

    async def verify_token(self, token: str) -> AccessToken | None:
        if len(token) > MAX_TOKEN_LENGTH:
            logger.warning("refused a bearer token: longer than %d characters", MAX_TOKEN_LENGTH)
            return None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            logger.warning("refused a bearer token: not a JWT")
            return None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            logger.warning("refused a bearer token: algorithm %r is not accepted", str(algorithm)[:20])
            return None
        key = await self._keys.key(kid if isinstance(kid, str) else None)
        if key is None:
            logger.warning("refused a bearer token: no key of the issuer has kid %r", str(kid)[:80])
            return None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            # PyJWT's messages name the failed check ("Signature has expired", "Audience doesn't
            # match", "Invalid issuer"), never the token.
            logger.warning("refused a bearer token: %s", exc)
            return None
        return self._access(token, claims)

    def _access(self, token: str, claims: dict[str, Any]) -> AccessToken:
        subject = claims.get("sub")
        client = claims.get("client_id") or claims.get("azp") or subject or "unknown"
        return AccessToken(
            token=token,
            client_id=str(client),
            scopes=token_scopes(claims),
            expires_at=int(claims["exp"]),
            resource=self._audience,
            subject=str(subject) if subject is not None else None,
            claims={"iss": claims.get("iss")},
        )


#: Hex digits of the user scope: 128 bits, far beyond any collision among one team's users.
USER_SCOPE_LENGTH = 32


def user_scope(issuer: str, subject: str) -> str:
    """The opaque scope a user's daily cap and history are kept under: a hash of the issuer and
    the subject (a subject is unique only within its issuer), so no identifier (an e-mail, an
    employee number) lands in the store or a log. JSON keeps the pair unambiguous."""
    digest = hashlib.sha256(json.dumps([issuer, subject]).encode()).hexdigest()
    return digest[:USER_SCOPE_LENGTH]


def current_user(settings: Settings) -> str | None:
    """The scope of the user this request's verified token names, when the cap and the history
    are kept per user (TRUTHSCAN_PER_USER); None otherwise, or without a token (stdio: then the
    request counts with everyone's). A token without `sub` (some client-credentials grants) is
    its client's."""
    if not settings.per_user:
        return None
    token = get_access_token()
    if token is None:
        return None
    issuer = (token.claims or {}).get("iss") or settings.oauth_issuer
    return user_scope(str(issuer), token.subject or token.client_id)


def add_bare_metadata_route(server: MCPServer[Any], auth: AuthSettings) -> None:
    """RFC 9728 puts the metadata of `https://host/mcp` at `/.well-known/oauth-protected-resource/mcp`
    (the SDK serves that one and names it in every 401); clients that look only at the bare path
    (written for servers at the root) find the same document there."""
    if auth.resource_server_url is None or urlsplit(str(auth.resource_server_url)).path in ("", "/"):
        return
    metadata = ProtectedResourceMetadata(
        resource=auth.resource_server_url,
        authorization_servers=[auth.issuer_url],
        scopes_supported=auth.required_scopes,
    )
    server.custom_route(BARE_METADATA_PATH, methods=["GET"])(
        ProtectedResourceMetadataHandler(metadata).handle
    )


def oauth_from(
    settings: Settings, *, min_refetch: float = MIN_REFETCH_SECONDS
) -> tuple[JwtVerifier, AuthSettings] | None:
    """The verifier and the SDK's auth settings, when TRUTHSCAN_OAUTH_ISSUER is set; tests of key
    rotation shorten `min_refetch` instead of waiting out the real one."""
    issuer, audience = settings.oauth_issuer, settings.oauth_audience
    if issuer is None or audience is None:
        return None
    keys = IssuerKeys(issuer, settings.oauth_jwks_url, min_refetch=min_refetch)
    auth = AuthSettings.model_validate(
        {
            "issuer_url": issuer,
            "resource_server_url": audience,
            "required_scopes": list(settings.oauth_scopes),
            # The verifier checks `aud` itself, against the audience exactly as configured.
            "validate_token_resource": False,
        }
    )
    return JwtVerifier(issuer, audience, keys), auth
