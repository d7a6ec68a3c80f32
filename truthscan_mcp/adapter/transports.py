"""Running the server on a transport: stdio (what desktop apps spawn) or streamable HTTP.

The HTTP transport is stateless with SSE responses (JSON responses would drop progress
notifications), binds to loopback by default, and refuses to listen anywhere else without a
bearer token, which it then checks in constant time on every request.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from truthscan_mcp.settings import Settings

logger = logging.getLogger(__name__)

MAX_HTTP_BODY = 16 * 1024 * 1024  # a 10 MB image as base64 plus JSON-RPC framing


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerTokenMiddleware:
    """Reject every HTTP request without `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                given = value
                break
        # The scheme is case-insensitive (RFC 9110 §11.1); only the token is secret.
        scheme, _, credentials = given.partition(b" ")
        if not (scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token)):
            body = (
                b'{"error": "missing or wrong bearer token '
                b'(send Authorization: Bearer <TRUTHSCAN_HTTP_TOKEN>)"}'
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b"Bearer"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def build_http_app(settings: Settings, host: str) -> ASGIApp:
    from mcp.server.transport_security import TransportSecuritySettings

    from truthscan_mcp.adapter.server import create_server

    server = create_server(settings)
    if is_loopback(host):
        # Explicit, because the SDK enables these checks by itself only for 127.0.0.1, localhost
        # and ::1: any other loopback bind (127.0.0.2, [::1]) would answer a rebound host name.
        bare = host.strip("[]")
        names = ["127.0.0.1", "localhost", "[::1]", f"[{bare}]" if ":" in bare else bare]
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[f"{name}:*" for name in names] + names,
            allowed_origins=[f"http://{name}:*" for name in names] + [f"http://{name}" for name in names],
        )
    else:
        # Remote clients name this host however they reach it; the bearer token guards it instead.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app: ASGIApp = server.streamable_http_app(
        stateless_http=True,
        json_response=False,
        host=host,
        transport_security=security,
        max_request_body_size=MAX_HTTP_BODY,
    )
    if settings.http_token is not None:
        app = BearerTokenMiddleware(app, settings.http_token.get_secret_value())
    return app


def serve(settings: Settings, *, transport: str = "stdio", host: str = "127.0.0.1", port: int = 8000) -> None:
    if transport == "stdio":
        from truthscan_mcp.adapter.server import create_server

        create_server(settings).run("stdio")
        return
    if not is_loopback(host) and settings.http_token is None:
        raise SystemExit(
            f"truthscan-mcp: refusing to serve HTTP on {host} without a token. Set TRUTHSCAN_HTTP_TOKEN "
            "(clients then send 'Authorization: Bearer <token>'), or bind to 127.0.0.1."
        )
    import uvicorn

    app = build_http_app(settings, host)
    config = uvicorn.Config(app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None)
    logger.info("serving MCP over streamable HTTP at http://%s:%d/mcp", host, port)
    anyio.run(uvicorn.Server(config).serve)
