"""The HTTP transport as an OAuth 2.1 resource server, over real HTTP on loopback.

An identity provider (`tests.support.identity`: metadata, JWKS, EC keys) and the server both
run under uvicorn on 127.0.0.1; tokens are real JWTs. Each refusal is checked for what a client
needs to recover: the status, and on 401 the `resource_metadata` that says where to get a token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import jwt
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support import (
    CAMERA_JPG,
    PROTOCOL_MODES,
    TOOL_NAMES,
    SandboxServer,
    free_port,
    live_env,
    make_settings,
    serve_app,
    short_sandbox_config,
)
from tests.support.identity import IdentityProvider, SigningKey
from tests.support.replicas import replica
from truthscan_mcp.adapter.oauth import oauth_from
from truthscan_mcp.adapter.transports import build_http_app
from truthscan_mcp.sandbox import Sandbox
from truthscan_mcp.settings import Settings

pytestmark = pytest.mark.usefixtures("no_user_configuration")


MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "oauth-test", "version": "1"},
    },
}


@dataclass
class Resource:
    """The server under test: its base URL, the audience tokens must name, and its issuer."""

    base_url: str
    audience: str
    idp: IdentityProvider

    def post(self, token: str | None) -> httpx2.Response:
        headers = dict(MCP_HEADERS)
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return httpx2.post(f"{self.base_url}/mcp", json=INITIALIZE, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with serve_app(provider.app()) as base_url:
        provider.issuer = base_url
        yield provider


@contextmanager
def resource_server(
    sandbox: SandboxServer, idp: IdentityProvider, *, min_refetch: float = 30.0, scopes: str = "truthscan"
) -> Generator[Resource]:
    """The HTTP transport with TRUTHSCAN_OAUTH_* pointing at `idp`, on a port known in advance
    (the audience is its own URL)."""
    port = free_port()
    audience = f"http://127.0.0.1:{port}/mcp"
    settings = make_settings(sandbox, oauth_issuer=idp.issuer, oauth_audience=audience, oauth_scopes=scopes)
    app = build_http_app(settings, "127.0.0.1", oauth=oauth_from(settings, min_refetch=min_refetch))
    with serve_app(app, lifespan="on", port=port) as base_url:
        yield Resource(base_url, audience, idp)


@pytest.fixture(scope="module")
def server(sandbox_server: SandboxServer, idp: IdentityProvider) -> Iterator[Resource]:
    with resource_server(sandbox_server, idp) as resource:
        yield resource


def _challenge(response: httpx2.Response) -> str:
    return response.headers.get("www-authenticate", "")


# --- refusals -----------------------------------------------------------------------------------


def test_a_request_without_a_token_gets_401_naming_the_resource_metadata(server: Resource) -> None:
    response = server.post(None)
    assert response.status_code == 401
    challenge = _challenge(response)
    assert challenge.startswith("Bearer ")
    metadata_url = f"{server.base_url}/.well-known/oauth-protected-resource/mcp"
    assert f'resource_metadata="{metadata_url}"' in challenge


def test_the_protected_resource_metadata_names_the_issuer_audience_and_scopes(server: Resource) -> None:
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        response = httpx2.get(f"{server.base_url}{path}", timeout=30)
        assert response.status_code == 200, path
        document = response.json()
        assert document["resource"] == server.audience
        assert document["authorization_servers"] == [server.idp.issuer]
        assert document["scopes_supported"] == ["truthscan"]
        assert document["bearer_methods_supported"] == ["header"]


def test_a_token_signed_by_a_foreign_key_with_a_known_kid_is_refused(server: Resource) -> None:
    impostor = SigningKey(kid=server.idp.keys[0].kid)
    response = server.post(server.idp.token(server.audience, key=impostor))
    assert response.status_code == 401
    assert "resource_metadata=" in _challenge(response)


def test_an_expired_token_is_refused(server: Resource) -> None:
    past = int(time.time()) - 3600
    response = server.post(server.idp.token(server.audience, iat=past - 300, nbf=past - 300, exp=past))
    assert response.status_code == 401


def test_a_token_not_yet_valid_is_refused(server: Resource) -> None:
    future = int(time.time()) + 3600
    response = server.post(server.idp.token(server.audience, nbf=future, exp=future + 300))
    assert response.status_code == 401


def test_a_token_for_another_audience_is_refused(server: Resource) -> None:
    response = server.post(server.idp.token("http://127.0.0.1:1/another-service"))
    assert response.status_code == 401


def test_a_token_from_another_issuer_is_refused(server: Resource) -> None:
    response = server.post(server.idp.token(server.audience, iss="http://127.0.0.1:1/elsewhere"))
    assert response.status_code == 401


def test_a_token_without_an_expiry_is_refused(server: Resource) -> None:
    response = server.post(server.idp.token(server.audience, exp=None))
    assert response.status_code == 401


def test_a_symmetric_or_unsigned_token_is_refused(server: Resource) -> None:
    claims = {
        "iss": server.idp.issuer,
        "aud": server.audience,
        "exp": int(time.time()) + 300,
        "scope": "truthscan",
    }
    # HS256 "signed" with the public JWK as the secret: the classic algorithm-confusion forgery.
    forged = jwt.encode(claims, str(server.idp.keys[0].jwk()), algorithm="HS256")
    unsigned = jwt.encode(claims, "", algorithm="none")
    for token in (forged, unsigned, "not-a-jwt"):
        assert server.post(token).status_code == 401


def test_a_token_without_the_required_scope_gets_403_insufficient_scope(server: Resource) -> None:
    response = server.post(server.idp.token(server.audience, scope="profile email"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in _challenge(response)
    assert response.json()["error"] == "insufficient_scope"


# --- a good token ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("mode", PROTOCOL_MODES)
async def test_a_good_token_serves_mcp_in_both_protocol_eras(
    server: Resource, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = server.idp.token(server.audience, scope="openid truthscan")
    caplog.set_level(logging.DEBUG)
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(f"{server.base_url}/mcp", http_client=http), mode=mode) as client,
    ):
        names = {tool.name for tool in (await client.list_tools()).tools}
        health = await client.call_tool("health", {})
    assert names == TOOL_NAMES
    assert not health.is_error
    assert token not in caplog.text, "a bearer token reached a log"


def test_a_scp_list_claim_carries_scopes_too(server: Resource) -> None:
    response = server.post(server.idp.token(server.audience, scope=None, scp=["truthscan", "read"]))
    assert response.status_code == 200


@dataclass
class Recorder:
    """An ASGI middleware keeping every request's head and body: what TruthScan would receive."""

    app: ASGIApp
    seen: list[bytes] = field(default_factory=list[bytes])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = f"{scope['method']} {scope['path']}\n".encode() + b"\n".join(
            name + b": " + value for name, value in scope["headers"]
        )
        self.seen.append(head)

        async def keep() -> Message:
            message = await receive()
            self.seen.append(message.get("body", b""))
            return message

        await self.app(scope, keep, send)


@pytest.mark.anyio
async def test_bearer_tokens_never_reach_truthscan(idp: IdentityProvider) -> None:
    sandbox = Sandbox(short_sandbox_config())
    recorder = Recorder(sandbox.app)
    with serve_app(recorder) as api_url, resource_server(SandboxServer(sandbox, api_url), idp) as server:
        token = server.idp.token(server.audience)
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
            Client(streamable_http_client(f"{server.base_url}/mcp", http_client=http)) as client,
        ):
            result = await client.call_tool("detect_image", {"path": str(CAMERA_JPG), "deep_analysis": False})
    assert not result.is_error
    assert any(part.startswith(b"POST /detect") for part in recorder.seen), "the detection reached the API"
    assert not any(token.encode() in part for part in recorder.seen)
    assert not any(b"Bearer" in part for part in recorder.seen)


# --- keys -------------------------------------------------------------------------------------------


def test_a_rotated_signing_key_is_fetched_when_a_token_names_it(sandbox_server: SandboxServer) -> None:
    provider = IdentityProvider()
    with serve_app(provider.app()) as issuer:
        provider.issuer = issuer
        with resource_server(sandbox_server, provider, min_refetch=0.5) as resource:
            assert resource.post(provider.token(resource.audience)).status_code == 200
            old = provider.keys[0]
            new = provider.rotate()
            time.sleep(0.6)
            assert resource.post(provider.token(resource.audience, key=new)).status_code == 200
            assert provider.jwks_fetches == 2
            # the retired key is gone from the JWKS, and so from the server's keys
            assert resource.post(provider.token(resource.audience, key=old)).status_code == 401


def test_tokens_with_unknown_kids_cannot_make_the_server_flood_the_issuer(
    sandbox_server: SandboxServer,
) -> None:
    provider = IdentityProvider()
    with serve_app(provider.app()) as issuer:
        provider.issuer = issuer
        with resource_server(sandbox_server, provider) as resource:
            assert resource.post(provider.token(resource.audience)).status_code == 200
            for _ in range(20):
                assert resource.post(provider.token(resource.audience, key=SigningKey())).status_code == 401
            assert provider.jwks_fetches == 1


def test_the_issuer_metadata_is_found_at_the_openid_configuration_too(sandbox_server: SandboxServer) -> None:
    provider = IdentityProvider(metadata_at="openid")
    with serve_app(provider.app()) as issuer:
        provider.issuer = issuer
        with resource_server(sandbox_server, provider) as resource:
            assert resource.post(provider.token(resource.audience)).status_code == 200


def test_metadata_naming_another_issuer_is_not_trusted_for_keys(sandbox_server: SandboxServer) -> None:
    provider = IdentityProvider(claimed_issuer="http://127.0.0.1:1/look-alike")
    with serve_app(provider.app()) as issuer:
        provider.issuer = issuer
        with resource_server(sandbox_server, provider) as resource:
            assert resource.post(provider.token(resource.audience)).status_code == 401
            assert provider.jwks_fetches == 0


# --- configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "issuer",
    ["http://idp.example.org", "http://10.0.0.5/realms/news", "ftp://127.0.0.1/", "idp.example.org"],
)
def test_an_issuer_that_is_not_https_is_refused_unless_on_loopback(issuer: str) -> None:
    with pytest.raises(ValidationError, match="https://"):
        make_settings(None, oauth_issuer=issuer, oauth_audience="https://truthscan.example.org/mcp")


def test_an_issuer_without_an_audience_is_refused_saying_what_to_set() -> None:
    with pytest.raises(ValidationError, match="TRUTHSCAN_OAUTH_AUDIENCE"):
        make_settings(None, oauth_issuer="https://idp.example.org")


def test_oauth_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHSCAN_OAUTH_ISSUER", "https://idp.example.org/realms/news")
    monkeypatch.setenv("TRUTHSCAN_OAUTH_AUDIENCE", "https://truthscan.example.org/mcp")
    monkeypatch.setenv("TRUTHSCAN_OAUTH_SCOPES", "truthscan  newsroom")
    settings = Settings()
    assert settings.oauth_issuer == "https://idp.example.org/realms/news"
    assert settings.oauth_scopes == ["truthscan", "newsroom"]


def test_the_required_scope_defaults_to_truthscan() -> None:
    assert Settings().oauth_scopes == ["truthscan"]


def test_oauth_and_the_static_token_are_not_both_accepted() -> None:
    with pytest.raises(ValidationError, match="unset one of them"):
        make_settings(
            None,
            oauth_issuer="https://idp.example.org",
            oauth_audience="https://truthscan.example.org/mcp",
            http_token="x" * 40,
        )


def test_healthz_needs_no_token_under_oauth(server: Resource) -> None:
    response = httpx2.get(f"{server.base_url}/healthz", timeout=30)
    assert response.status_code == 200
    assert response.text == "ok"


def test_a_flood_of_bad_tokens_logs_a_few_lines_and_never_a_token(
    idp: IdentityProvider, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    port = free_port()
    env = live_env(
        sandbox_server,
        TRUTHSCAN_OAUTH_ISSUER=idp.issuer,
        TRUTHSCAN_OAUTH_AUDIENCE=f"http://127.0.0.1:{port}/mcp",
        TRUTHSCAN_LOG_LEVEL="DEBUG",
    )
    expired = idp.token(f"http://127.0.0.1:{port}/mcp", exp=int(time.time()) - 3600)
    with replica(env, tmp_path, port=port) as server, httpx2.Client(timeout=30) as http:
        statuses = {
            http.post(
                server.url, json=INITIALIZE, headers={**MCP_HEADERS, "authorization": f"Bearer {token}"}
            ).status_code
            for token in [f"garbage-token-{n:04d}" for n in range(40)] + [expired] * 40
        }
    log = server.stderr()
    assert statuses == {401}
    assert log.count("refused a bearer token") <= 4, log
    assert "garbage-token-" not in log
    assert expired not in log
