"""Running the server on a transport: stdio (what desktop apps spawn) or streamable HTTP.

The HTTP transport is stateless with SSE responses (JSON responses would drop progress
notifications), binds to loopback by default, and refuses to listen anywhere else without a
bearer token (of at least 32 characters), which it then checks in constant time on every
request. The `Origin` header is checked on every bind, with or without a token, as the MCP
specification requires: a browser page from anywhere but loopback or the origins listed in
TRUTHSCAN_HTTP_ALLOWED_ORIGINS gets 403, so a token stolen into a web page is no key to it.
A page from an allowed origin gets real CORS: its preflight is answered (without the token,
which browsers never send with one) and every answer, refusals included, carries
`Access-Control-Allow-Origin`. Being stateless, the transport offers no standalone event
stream: `GET /mcp` is 405 at once (the SDK would otherwise hold a stream open that no message
can ever reach). The server bounds its connections and closes any that do not send a request
head in time (`connections`), and repeated log lines are rate-limited, so no client can take
its descriptors or fill its stderr. With TRUTHSCAN_OAUTH_ISSUER, the SDK's resource-server
machinery checks OAuth tokens instead of the static one (`oauth`); `GET /healthz` answers any
load balancer's probe before every check.
"""

from __future__ import annotations

import hmac
import importlib.util
import ipaddress
import logging
import re
from typing import TYPE_CHECKING

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from mcp.server.auth.provider import TokenVerifier
    from mcp.server.auth.settings import AuthSettings

    OAuth = tuple[TokenVerifier, AuthSettings]

logger = logging.getLogger(__name__)

MAX_HTTP_BODY = 16 * 1024 * 1024  # a 10 MB image as base64 plus JSON-RPC framing
#: shorter tokens can be guessed or were typed by hand; 32 URL-safe characters carry ~190 bits
MIN_TOKEN_LENGTH = 32
MAKE_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
#: Response headers a browser page may read: the session and protocol version a client must echo,
#: and the challenge of a 401.
EXPOSED_HEADERS = ("Mcp-Session-Id", "Mcp-Protocol-Version", "WWW-Authenticate")
#: Largest request head (request line and headers) h11 buffers before answering 400.
MAX_HEADER_BYTES = 16 * 1024
#: Seconds an idle keep-alive connection stays open between requests.
KEEP_ALIVE_SECONDS = 5
#: Loggers a client (or an outage) can make repeat themselves: accept errors, malformed requests,
#: refused bearer tokens, the shared store's pool reconnecting while the database is down.
CLIENT_DRIVEN_LOGGERS = (
    "asyncio",
    "uvicorn.error",
    "truthscan_mcp.adapter.oauth",
    "mcp.server.auth.middleware.bearer_auth",
    "psycopg.pool",
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _loopback_names(host: str) -> list[str]:
    bare = host.strip("[]")
    return ["127.0.0.1", "localhost", "[::1]", f"[{bare}]" if ":" in bare else bare]


def _loopback_origins(host: str) -> list[str]:
    bare = host.strip("[]")
    names = ["127.0.0.1", "localhost", "[::1]", f"[{bare}]" if ":" in bare else bare]
    return [f"http://{name}:*" for name in names] + [f"http://{name}" for name in names]


def origin_allowed(origin: str, allowed: list[str]) -> bool:
    """`origin` matches an entry exactly, or an entry `scheme://host:*` with any port."""
    origin = origin.strip().rstrip("/").lower()
    for entry in allowed:
        if origin == entry:
            return True
        if entry.endswith(":*") and origin.startswith(entry[:-1]) and origin[len(entry) - 1 :].isdigit():
            return True
    return False


def require_strong_token(settings: Settings) -> None:
    """Refuse, at start, a token short enough to guess, saying how to make a good one."""
    if settings.http_token is not None and len(settings.http_token.get_secret_value()) < MIN_TOKEN_LENGTH:
        raise SystemExit(
            f"truthscan-mcp: TRUTHSCAN_HTTP_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters. "
            f"Make one with: {MAKE_TOKEN}"
        )


async def _refuse(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class OriginMiddleware:
    """Answer 403 to any request whose `Origin` is not allowed; requests without one pass (to
    the token check, when there is one: only browsers send Origin, and they cannot be trusted
    to keep a token to themselves)."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self._allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == b"origin" and not origin_allowed(value.decode("latin-1"), self._allowed):
                    logger.warning("refused an HTTP request from a foreign Origin")
                    await _refuse(
                        send,
                        403,
                        b'{"error": "this Origin is not allowed (add it to TRUTHSCAN_HTTP_ALLOWED_ORIGINS)"}',
                    )
                    return
        await self.app(scope, receive, send)


class NoStreamMiddleware:
    """`GET /mcp` is 405 with `Allow: POST`: a stateless transport offers no standalone stream.

    The MCP specification lets a server answer the GET either with an event stream or with 405.
    The SDK opens the stream even in stateless mode, where no server message can ever be routed
    to it, so each GET held a connection and a descriptor until the client left (500 of them:
    +39 MB and 500 descriptors).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].rstrip("/") == MCP_PATH:
            body = b'{"error": "this stateless server offers no event stream at GET /mcp: POST requests"}'
            await _refuse(send, 405, body, [(b"allow", b"POST")])
            return
        await self.app(scope, receive, send)


class HealthMiddleware:
    """`GET /healthz` is 200 `ok` for load-balancer probes: no token, no Origin check, no word
    about the version, the configuration or TruthScan (a probe needs to know only that the
    process answers HTTP; anything more would be told to whoever asks)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
            body = b"ok" if scope["method"] == "GET" else b""
            headers = [
                (b"content-type", b"text/plain"),
                (b"content-length", b"2"),
                (b"cache-control", b"no-store"),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _origin_pattern(allowed: list[str]) -> str:
    """`origin_allowed`'s matching as one regular expression, for Starlette's CORS middleware."""
    parts = [re.escape(e[:-1]) + r"[0-9]+" if e.endswith(":*") else re.escape(e) for e in allowed]
    return "(?i:" + "|".join(parts or ["(?!)"]) + ")/?"


def cors(app: ASGIApp, allowed: list[str]) -> ASGIApp:
    """CORS for the allowed origins (the others never get this far: `OriginMiddleware`)."""
    from starlette.middleware.cors import CORSMiddleware

    return CORSMiddleware(
        app,
        allow_origin_regex=_origin_pattern(allowed),
        allow_methods=["POST"],
        # Any header the page asks for: the origin is trusted, and MCP clients send headers whose
        # names vary (`Mcp-Param-*`) besides Content-Type, Accept, Authorization, Mcp-Session-Id,
        # Mcp-Protocol-Version, Mcp-Method and Mcp-Name.
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )


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
            await _refuse(send, 401, body, [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)


def _shared_key(settings: Settings) -> bytes | None:
    """Replicas on one shared store seal `requestState` with one key (`cache.postgres_keys`)."""
    if settings.cache_url is None or importlib.util.find_spec("psycopg") is None:
        return None
    from truthscan_mcp.cache.postgres_keys import shared_request_state_key

    return shared_request_state_key(settings.cache_url.get_secret_value())


def build_http_app(settings: Settings, host: str, *, oauth: OAuth | None = None) -> ASGIApp:
    """The HTTP app; `oauth` (from `oauth.oauth_from`, by default built from `settings`) lets
    tests of key rotation shorten its refetch interval."""
    from mcp.server.transport_security import TransportSecuritySettings

    from truthscan_mcp.adapter.oauth import add_bare_metadata_route, oauth_from
    from truthscan_mcp.adapter.server import create_server
    from truthscan_mcp.adapter.upload_desk import UploadDesk
    from truthscan_mcp.adapter.upload_page import UploadMount

    require_strong_token(settings)
    desk = UploadDesk()
    oauth = oauth or oauth_from(settings)
    server = create_server(settings, uploads=desk, oauth=oauth, request_state_key=_shared_key(settings))
    if oauth is not None:
        add_bare_metadata_route(server, oauth[1])
    origins = list(settings.http_allowed_origins)
    if is_loopback(host):
        # Explicit, because the SDK enables these checks by itself only for 127.0.0.1, localhost
        # and ::1: any other loopback bind (127.0.0.2, [::1]) would answer a rebound host name.
        bare = host.strip("[]")
        names = ["127.0.0.1", "localhost", "[::1]", f"[{bare}]" if ":" in bare else bare]
        origins += _loopback_origins(host)
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=[f"{name}:*" for name in names] + names,
            allowed_origins=origins,
        )
    else:
        # Remote clients name this host however they reach it; the bearer token (static or OAuth)
        # guards it instead.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app: ASGIApp = server.streamable_http_app(
        stateless_http=True,
        json_response=False,
        host=host,
        transport_security=security,
        max_request_body_size=MAX_HTTP_BODY,
    )
    app = NoStreamMiddleware(app)
    if settings.http_token is not None:
        app = BearerTokenMiddleware(app, settings.http_token.get_secret_value())
    # Outside the token check: a preflight carries no token, and a 401 must be readable by the page.
    app = cors(app, origins)
    # Outermost: a foreign page is refused before its token (if it has one) is even looked at.
    app = OriginMiddleware(app, origins)
    # Before everything: a load balancer's probe has neither a token nor an Origin.
    app = HealthMiddleware(app)
    # The upload page of request_image: a person's browser has neither the token nor an allowed
    # Origin; the page checks its own Host and Origin, and the single-use id is its credential.
    upload_hosts = (
        [f"{name}:*" for name in _loopback_names(host)] + _loopback_names(host) if is_loopback(host) else None
    )
    return UploadMount(app, desk.mount(upload_hosts))


def serve(
    settings: Settings,
    *,
    transport: str = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
    stateless: bool = False,
) -> None:
    if transport == "stdio":
        from truthscan_mcp.adapter.server import create_server

        create_server(settings).run("stdio")
        return
    require_strong_token(settings)
    if not is_loopback(host) and settings.http_token is None and settings.oauth_issuer is None:
        raise SystemExit(
            f"truthscan-mcp: refusing to serve HTTP on {host} without a token. Set TRUTHSCAN_HTTP_TOKEN "
            "(clients then send 'Authorization: Bearer <token>'), or TRUTHSCAN_OAUTH_ISSUER and "
            "TRUTHSCAN_OAUTH_AUDIENCE for a team's identity provider, or bind to 127.0.0.1."
        )
    if settings.cache_url is not None and importlib.util.find_spec("psycopg") is None:
        from truthscan_mcp.app import POSTGRES_MISSING

        raise SystemExit(f"truthscan-mcp: {POSTGRES_MISSING}")
    if stateless and settings.cache_url is None:
        logger.warning(
            "--stateless with a local cache: results and the single-flight claim stay on this machine, "
            "so replicas may pay twice for one image and get_result works only here. "
            "Set TRUTHSCAN_CACHE_URL=postgresql://… to share them."
        )
    import uvicorn

    from truthscan_mcp.adapter.connections import ACCEPT_BATCH, connection_cap, guarded_protocol
    from truthscan_mcp.logs import limit_repeats

    app = build_http_app(settings, host)
    cap = connection_cap()
    limit_repeats(*CLIENT_DRIVEN_LOGGERS)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,
        http=guarded_protocol(cap),
        # The protocol keeps connections within `cap`; this bounds requests in progress as well.
        limit_concurrency=cap + 1,
        backlog=ACCEPT_BATCH,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # No `server: uvicorn` on every answer (the /healthz probe included): nothing to fingerprint.
        server_header=False,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
    )
    logger.debug("HTTP connections capped at %d", cap)
    shown = f"[{host.strip('[]')}]" if ":" in host else host  # an IPv6 literal needs brackets in a URL
    logger.info("serving MCP over streamable HTTP at http://%s:%d/mcp", shown, port)
    anyio.run(uvicorn.Server(config).serve)
