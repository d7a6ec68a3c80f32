"""A small OAuth authorization server on loopback: its metadata and JWKS, and tokens it signs.

Real HTTP, real keys (`cryptography`), real JWTs (PyJWT): what the resource server sees from an
identity provider, with the knobs a test needs — rotating the signing key, counting JWKS
fetches, serving its metadata only where OpenID Connect puts it, or under a wrong issuer.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class SigningKey:
    """An EC P-256 key pair and its `kid`."""

    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    private: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": "ES256"}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private, algorithm="ES256", headers={"kid": self.kid})


@dataclass
class IdentityProvider:
    """The authorization server's behaviour; `app()` serves it (set `issuer` once it is bound)."""

    issuer: str = ""
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey()])
    jwks_fetches: int = 0
    #: "oauth" (RFC 8414 path), "openid" (OpenID Connect Discovery path only)
    metadata_at: str = "oauth"
    #: the issuer the metadata claims, when not `issuer` (a look-alike)
    claimed_issuer: str | None = None

    def rotate(self) -> SigningKey:
        """A new signing key replaces the old ones in the JWKS (as after a key compromise)."""
        key = SigningKey()
        self.keys = [key]
        return key

    def token(self, audience: str, *, key: SigningKey | None = None, **claims: Any) -> str:
        """A token from this issuer for `audience`, valid for 5 minutes; `claims` override or add
        (a claim given as None is left out)."""
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": "reporter-7",
            "client_id": "newsroom-assistant",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "scope": "truthscan",
            **claims,
        }
        return (key or self.keys[0]).sign({k: v for k, v in body.items() if v is not None})

    def _metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.claimed_issuer or self.issuer,
            "jwks_uri": f"{self.issuer}/jwks.json",
            "token_endpoint": f"{self.issuer}/token",
            "authorization_endpoint": f"{self.issuer}/authorize",
            "response_types_supported": ["code"],
        }

    async def _oauth_metadata(self, request: Request) -> Response:
        if self.metadata_at != "oauth":
            return JSONResponse({"error": "not here"}, 404)
        return JSONResponse(self._metadata())

    async def _openid_metadata(self, request: Request) -> Response:
        return JSONResponse(self._metadata())

    async def _jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        return JSONResponse({"keys": [key.jwk() for key in self.keys]})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", self._oauth_metadata),
                Route("/.well-known/openid-configuration", self._openid_metadata),
                Route("/jwks.json", self._jwks),
            ]
        )
