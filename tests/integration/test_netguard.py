"""SSRF guard: address classification, vetted resolution and the pinned transport.

Every connection made here goes to 127.0.0.1 or ::1 (the `loopback_only` fixture fails the
test otherwise); public-looking names are mapped to loopback by stub resolvers.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import anyio
import anyio.abc
import httpx2
import pytest
from anyio.streams.tls import TLSListener

from tests.support import ConnectLog
from truthscan_mcp.errors import SourceFetchError, SourceNotAllowedError
from truthscan_mcp.media import netguard
from truthscan_mcp.media.netguard import (
    IPAddress,
    classify_address,
    guarded_client,
    parse_ip_literal,
    resolve_public,
)

#: every test here fails on any connection to a non-loopback address (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("loopback_only")


def stub_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[Sequence[IPAddress]]]:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ip_address(a) for a in table[host]]

    return resolve


# --- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("100.64.0.1", "shared address space (CGNAT)"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this-network (0.0.0.0/8)"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.99", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("192.0.0.8", "IETF protocol assignment"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("fc00::1", "unique local"),
        ("fd00:ec2::254", "unique local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001:2::1", "benchmarking"),
        ("100::1", "reserved (discard-only)"),
        ("64:ff9b:1::a", "private (local-use NAT64)"),
        ("4000::1", "reserved"),
        ("::ffff:127.0.0.1", "IPv4-mapped of loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped of link-local (cloud metadata)"),
        ("::ffff:10.1.2.3", "IPv4-mapped of private"),
        ("::ffff:0:7f00:1", "IPv4-translated of loopback"),
        ("::7f00:1", "IPv4-compatible of loopback"),
        ("::8.8.8.8", "reserved (deprecated IPv4-compatible)"),
        ("64:ff9b::a9fe:a9fe", "NAT64 of link-local (cloud metadata)"),
        ("64:ff9b::7f00:1", "NAT64 of loopback"),
        ("2002:7f00:1::", "6to4 of loopback"),
        ("2002:a9fe:a9fe::1", "6to4 of link-local (cloud metadata)"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo of loopback"),
        ("fe80::1%eth0", "link-local"),
    ],
)
def test_non_public_addresses_are_classified_with_their_reason(address: str, reason: str) -> None:
    assert classify_address(ip_address(address)) == reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_not_classified(address: str) -> None:
    assert classify_address(ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("127.0.0.1.", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_ip_literals_in_every_legacy_form_are_recognised(host: str, expected: str) -> None:
    assert parse_ip_literal(host) == ip_address(expected)


@pytest.mark.parametrize(
    "host", ["example.com", "256.1.1.1", "1.2.3.4.5", "08.1.1.1", "0x1g", "", "127.0.0.256"]
)
def test_names_and_invalid_numbers_are_not_ip_literals(host: str) -> None:
    assert parse_ip_literal(host) is None


# --- resolution -------------------------------------------------------------------------------


async def _must_not_resolve(host: str, port: int) -> list[IPAddress]:
    raise AssertionError(f"resolver called for {host}")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "host", ["127.0.0.1", "2130706433", "0x7f.1", "::1", "169.254.169.254", "[::ffff:127.0.0.1]"]
)
async def test_literal_private_hosts_are_refused_without_any_lookup(host: str) -> None:
    with pytest.raises(SourceNotAllowedError) as caught:
        await resolve_public(host, 80, allow_private=False, resolve=_must_not_resolve)
    assert "TRUTHSCAN_ALLOW_PRIVATE_URLS=true" in caught.value.message
    assert "only for trusted networks" in caught.value.message


@pytest.mark.anyio
async def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    with pytest.raises(SourceNotAllowedError, match="loopback"):
        await resolve_public("localhost", 80, allow_private=False)


@pytest.mark.anyio
async def test_one_private_address_among_public_ones_refuses_the_host(loopback_only: ConnectLog) -> None:
    resolve = stub_resolver({"mixed.example": ["93.184.216.34", "10.0.0.1", "2606:4700::1"]})
    with pytest.raises(SourceNotAllowedError) as caught:
        await resolve_public("mixed.example", 443, allow_private=False, resolve=resolve)
    assert "'mixed.example'" in caught.value.message
    assert "10.0.0.1" in caught.value.message
    assert "private" in caught.value.message
    assert loopback_only.hosts == []


@pytest.mark.anyio
async def test_public_addresses_are_returned_in_resolver_order() -> None:
    resolve = stub_resolver({"cdn.example": ["93.184.216.34", "2606:4700::1"]})
    assert await resolve_public("cdn.example", 443, allow_private=False, resolve=resolve) == [
        IPv4Address("93.184.216.34"),
        IPv6Address("2606:4700::1"),
    ]


@pytest.mark.anyio
async def test_private_addresses_pass_when_explicitly_allowed() -> None:
    assert await resolve_public("127.0.0.1", 80, allow_private=True) == [IPv4Address("127.0.0.1")]


@pytest.mark.anyio
async def test_an_unresolvable_host_is_a_fetch_error() -> None:
    with pytest.raises(SourceFetchError, match="Could not resolve"):
        await resolve_public("nowhere.invalid", 80, allow_private=False, resolve=stub_resolver({}))


@pytest.mark.anyio
async def test_a_host_without_addresses_is_a_fetch_error() -> None:
    with pytest.raises(SourceFetchError, match="no addresses"):
        await resolve_public(
            "empty.example", 80, allow_private=False, resolve=stub_resolver({"empty.example": []})
        )


@pytest.mark.anyio
async def test_the_module_level_resolver_can_be_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard, "resolver", stub_resolver({"internal.example": ["192.168.0.10"]}))
    with pytest.raises(SourceNotAllowedError, match=r"192\.168\.0\.10"):
        await resolve_public("internal.example", 80, allow_private=False)


# --- the pinned transport ------------------------------------------------------------------------


@dataclass
class RawServer:
    port: int
    requests: list[bytes] = field(default_factory=list[bytes])
    sni: list[str | None] = field(default_factory=list["str | None"])


async def _serve_one(stream: anyio.abc.ByteStream, server: RawServer) -> None:
    async with stream:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive()
            data += chunk
        server.requests.append(data)
        await stream.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


@contextlib.asynccontextmanager
async def serve_raw(context: ssl.SSLContext | None = None) -> AsyncGenerator[RawServer]:
    """A minimal HTTP (or, given an SSL context, HTTPS) server on 127.0.0.1."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    server = RawServer(listener.extra(anyio.abc.SocketAttribute.local_port))
    served: anyio.abc.Listener[Any] = listener
    if context is not None:

        def record_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
            server.sni.append(name)

        context.sni_callback = record_sni  # pyright: ignore[reportAttributeAccessIssue]
        served = TLSListener(listener, context, standard_compatible=False)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        with contextlib.suppress(anyio.BrokenResourceError, anyio.EndOfStream, ssl.SSLError, OSError):
            await _serve_one(stream, server)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(served.serve, handle)
            try:
                yield server
            finally:
                tg.cancel_scope.cancel()
    finally:
        await served.aclose()


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    async with serve_raw() as server:
        yield server


@pytest.mark.anyio
async def test_a_name_is_connected_to_its_vetted_address_with_the_real_host_header(
    raw_server: RawServer, loopback_only: ConnectLog
) -> None:
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[IPAddress]:
        calls.append(host)
        # A rebinding resolver: the second answer would be a different address.
        return [IPv4Address("127.0.0.1")] if len(calls) == 1 else [IPv4Address("10.9.9.9")]

    async with guarded_client(allow_private=True, timeout=5, resolve=resolve) as client:
        response = await client.get(f"http://pinned.example:{raw_server.port}/img.png")
    assert response.text == "ok"
    assert calls == ["pinned.example"]
    assert loopback_only.hosts == ["127.0.0.1"]
    assert f"host: pinned.example:{raw_server.port}".encode() in raw_server.requests[0].lower()


@pytest.mark.anyio
async def test_the_next_address_is_tried_when_a_vetted_one_refuses_the_connection(
    raw_server: RawServer, loopback_only: ConnectLog
) -> None:
    resolve = stub_resolver({"two.example": ["::1", "127.0.0.1"]})  # nothing listens on ::1
    async with guarded_client(allow_private=True, timeout=5, resolve=resolve) as client:
        response = await client.get(f"http://two.example:{raw_server.port}/")
    assert response.status_code == 200
    assert loopback_only.hosts == ["::1", "127.0.0.1"]


@pytest.mark.anyio
async def test_the_transport_refuses_before_connecting(loopback_only: ConnectLog) -> None:
    async with guarded_client(allow_private=False, timeout=5) as client:
        with pytest.raises(SourceNotAllowedError, match="loopback"):
            await client.get("http://127.0.0.1:9/")
    assert loopback_only.hosts == []


@pytest.mark.anyio
async def test_environment_proxies_are_ignored(
    monkeypatch: pytest.MonkeyPatch, raw_server: RawServer
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.1.1.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.1.1.1:3128")
    async with guarded_client(allow_private=True, timeout=5) as client:
        response = await client.get(f"http://127.0.0.1:{raw_server.port}/")
    assert response.status_code == 200


# --- TLS through the pinned connection --------------------------------------------------------------


@dataclass
class Pki:
    ca_pem: bytes
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem.decode())


def _make_pki(hostname: str, tmp_dir: Any) -> Pki:
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "truthscan test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = tmp_dir / "server.pem"
    key_file = tmp_dir / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_file, key_file)
    return Pki(ca_cert.public_bytes(serialization.Encoding.PEM), server_context)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return _make_pki("images.example.test", tmp_path_factory.mktemp("pki"))


@pytest.mark.anyio
async def test_https_keeps_sni_and_certificate_checks_for_the_real_hostname(
    pki: Pki, loopback_only: ConnectLog
) -> None:
    resolve = stub_resolver({"images.example.test": ["127.0.0.1"]})
    async with (
        serve_raw(pki.server_context) as server,
        guarded_client(allow_private=True, timeout=5, verify=pki.client_context(), resolve=resolve) as client,
    ):
        response = await client.get(f"https://images.example.test:{server.port}/img.png")
    assert response.text == "ok"
    assert server.sni == ["images.example.test"]
    assert loopback_only.hosts == ["127.0.0.1"]
    assert f"host: images.example.test:{server.port}".encode() in server.requests[0].lower()


@pytest.mark.anyio
async def test_https_certificate_is_verified_against_the_requested_name_not_the_ip(pki: Pki) -> None:
    resolve = stub_resolver({"other.example.test": ["127.0.0.1"]})
    async with (
        serve_raw(pki.server_context) as server,
        guarded_client(allow_private=True, timeout=5, verify=pki.client_context(), resolve=resolve) as client,
    ):
        with pytest.raises(httpx2.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
            await client.get(f"https://other.example.test:{server.port}/img.png")
    assert server.sni == ["other.example.test"]
    assert server.requests == []
