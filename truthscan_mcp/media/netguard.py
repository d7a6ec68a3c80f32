"""SSRF protection for URL image sources.

The URL comes from an AI assistant, which may have read it from an untrusted web page or
document; the server then fetches it from wherever *it* runs — often next to a cloud
metadata endpoint (169.254.169.254) or inside a private network. So every host is resolved
once, every address it resolves to is judged, and the connection goes to one of those vetted
addresses (never to a second, possibly rebound, DNS answer). Redirects pass through the same
check because each hop is a new request through `GuardedTransport`.

How the pinning works with httpx2/httpcore2: `GuardedTransport` rewrites each request's URL
to the vetted IP literal, keeps the ``Host`` header httpx2 already derived from the real URL,
and sets the request extension ``sni_hostname`` to the real hostname. httpcore2 passes that
extension as ``server_hostname`` to the TLS handshake, so SNI is sent for the real name and
the certificate is verified against the real name (``check_hostname`` stays on), while the
TCP connection goes to the pinned IP. One inner connection pool is kept per
(scheme, hostname, port), so a kept-alive TLS connection is never reused for a different
hostname that happens to share the IP. Environment proxies are never used (a proxy would
resolve the name itself and defeat the check).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

import anyio
import httpx2

from truthscan_mcp.errors import SourceFetchError, SourceNotAllowedError

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

ALLOW_PRIVATE_HINT = "set TRUTHSCAN_ALLOW_PRIVATE_URLS=true to allow it (only for trusted networks)"

_V4 = IPv4Network
_V6 = IPv6Network

# Order matters: the first matching network names the reason.
_IPV4_RULES: tuple[tuple[IPv4Network, str], ...] = (
    (_V4("0.0.0.0/32"), "unspecified"),
    (_V4("0.0.0.0/8"), "this-network (0.0.0.0/8)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("169.254.0.0/16"), "link-local (cloud metadata)"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("192.0.0.0/24"), "IETF protocol assignment"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("192.88.99.0/24"), "reserved (6to4 relay anycast)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

_IPV6_RULES: tuple[tuple[IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("64:ff9b:1::/48"), "private (local-use NAT64)"),
    (_V6("100::/64"), "reserved (discard-only)"),
    (_V6("2001:2::/48"), "benchmarking"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("fc00::/7"), "unique local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)

_IPV4_MAPPED = _V6("::ffff:0:0/96")
_IPV4_TRANSLATED = _V6("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = _V6("::/96")
_NAT64 = _V6("64:ff9b::/96")
_GLOBAL_UNICAST = _V6("2000::/3")


def classify_address(ip: IPAddress) -> str | None:
    """Why `ip` must not be fetched from (e.g. "loopback"), or None when it is public.

    IPv6 forms that carry an IPv4 address (mapped, compatible, 6to4, Teredo, NAT64) are
    judged by the IPv4 address they lead to, because that is where the packets end up.
    """
    if isinstance(ip, IPv4Address):
        return _classify_v4(ip)
    return _classify_v6(ip)


def _classify_v4(ip: IPv4Address) -> str | None:
    for network, reason in _IPV4_RULES:
        if ip in network:
            return reason
    if not ip.is_global:  # a safety net for ranges IANA adds later
        return "reserved"
    return None


def _classify_v6(ip: IPv6Address) -> str | None:
    plain = IPv6Address(int(ip))  # drop any %scope: it does not change what the address is
    embedded = _embedded_ipv4(plain)
    if embedded is not None:
        label, v4 = embedded
        inner = _classify_v4(v4)
        return f"{label} of {inner}" if inner is not None else None
    for network, reason in _IPV6_RULES:
        if plain in network:
            return reason
    if plain in _IPV4_COMPATIBLE:
        # ::a.b.c.d with a public a.b.c.d: deprecated, never routed on the internet.
        return "reserved (deprecated IPv4-compatible)"
    if plain not in _GLOBAL_UNICAST or not plain.is_global:
        return "reserved"
    return None


def _embedded_ipv4(ip: IPv6Address) -> tuple[str, IPv4Address] | None:
    low32 = IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_MAPPED:
        return "IPv4-mapped", low32
    if ip in _IPV4_TRANSLATED:
        return "IPv4-translated", low32
    if ip in _NAT64:
        return "NAT64", low32
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:
        # ::a.b.c.d (but not :: or ::1, which are their own thing); a public one falls
        # through to "reserved" in the caller.
        if _classify_v4(low32) is not None:
            return "IPv4-compatible", low32
        return None
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    return None


# --- resolution -----------------------------------------------------------------------------

_LEGACY_IPV4_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes by itself, including inet_aton's legacy forms.

    ``2130706433``, ``0x7f.1`` and ``017700000001`` all mean 127.0.0.1 to the C resolver
    (and so to anything that connects), so they are judged as such instead of being
    treated as names.
    """
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    return _parse_legacy_ipv4(text)


def _parse_legacy_ipv4(text: str) -> IPv4Address | None:
    parts = text.split(".")
    if text.endswith(".") and len(parts) > 1:
        parts = parts[:-1]  # "127.0.0.1." is the same address
    if not 1 <= len(parts) <= 4 or not all(_LEGACY_IPV4_PART.match(p) for p in parts):
        return None
    values: list[int] = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = last
    for index, value in enumerate(head):
        number |= value << (8 * (3 - index))
    return IPv4Address(number)


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host`, in its order, deduplicated."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        address = str(sockaddr[0])
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            continue
        if ip not in addresses:
            addresses.append(ip)
    return addresses


#: The resolver `resolve_public` uses; tests replace it to map names without any DNS.
resolver: Resolver = system_resolve


async def resolve_public(
    host: str,
    port: int,
    *,
    allow_private: bool,
    resolve: Resolver | None = None,
    private_hint: str = ALLOW_PRIVATE_HINT,
) -> list[IPAddress]:
    """The addresses of `host` to connect to, all of them vetted.

    Refuses the host when ANY address is not public: an attacker who controls DNS can mix
    one internal address among public ones and hope the connection picks it.
    """
    literal = parse_ip_literal(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        lookup = resolve if resolve is not None else resolver
        try:
            addresses = list(await lookup(host, port))
        except (OSError, UnicodeError) as exc:
            raise SourceFetchError(
                f"Could not resolve the host {host!r} ({_reason_text(exc)}). "
                "Check the URL, or download the image and pass it as `path` or `data`."
            ) from None
        if not addresses:
            raise SourceFetchError(f"The host {host!r} has no addresses. Check the URL.")
    if allow_private:
        return addresses
    for ip in addresses:
        reason = classify_address(ip)
        if reason is None:
            continue
        if literal is not None:
            what = f"{ip} is not a public internet address; it is {reason}"
        else:
            what = (
                f"the host {host!r} resolves to {ip}, which is not a public internet address; it is {reason}"
            )
        raise SourceNotAllowedError(
            f"Refusing to fetch this URL: {what}. If you trust this network, {private_hint}."
        )
    return addresses


def _reason_text(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror) and exc.args:
        return str(exc.args[-1])
    return str(exc) or type(exc).__name__


# --- the transport -----------------------------------------------------------------------------


class GuardedTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport that connects only to vetted, pinned addresses.

    Every request — including each redirect hop, which the caller sends as a new request —
    is resolved and judged here, immediately before connecting, to the address that was
    judged. No request leaves this transport for a refused address.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        verify: ssl.SSLContext | bool = True,
        resolve: Resolver | None = None,
        max_attempts: int = 3,
        private_hint: str = ALLOW_PRIVATE_HINT,
    ) -> None:
        self._allow_private = allow_private
        self._private_hint = private_hint
        self._verify = verify
        self._resolve = resolve
        self._max_attempts = max(1, max_attempts)
        self._pools: dict[tuple[str, str, int], httpx2.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise SourceNotAllowedError(f"Only http and https URLs can be fetched, not {url.scheme}:.")
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await resolve_public(
            host,
            port,
            allow_private=self._allow_private,
            resolve=self._resolve,
            private_hint=self._private_hint,
        )
        pool = self._pool_for(url.scheme, host, port)
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = host
        last_error: httpx2.ConnectError | None = None
        for ip in addresses[: self._max_attempts]:
            pinned = httpx2.Request(
                request.method,
                url.copy_with(host=str(ip)),
                headers=request.headers,  # carries Host: <the real hostname>
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await pool.handle_async_request(pinned)
            except httpx2.ConnectError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def _pool_for(self, scheme: str, host: str, port: int) -> httpx2.AsyncHTTPTransport:
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            verify = _default_tls() if self._verify is True else self._verify
            pool = httpx2.AsyncHTTPTransport(verify=verify, trust_env=True)
            self._pools[key] = pool
        return pool

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.aclose()


@functools.cache
def _default_tls() -> ssl.SSLContext:
    """The system's default TLS context (as httpx2 builds it for ``verify=True``), built once per
    process: loading the CA bundle costs 10–40 ms, and a fresh guard (one per URL source, one per
    image of a page sweep) would otherwise pay it on every download, even of an http URL."""
    return httpx2.create_ssl_context(True, trust_env=True)


def guarded_client(
    *,
    allow_private: bool,
    timeout: float,
    verify: ssl.SSLContext | bool = True,
    resolve: Resolver | None = None,
    headers: dict[str, str] | None = None,
    private_hint: str = ALLOW_PRIVATE_HINT,
) -> httpx2.AsyncClient:
    """An AsyncClient whose every request goes through `GuardedTransport`.

    ``trust_env=False`` matters: with it on, httpx2 would mount proxies from HTTP(S)_PROXY
    in front of the transport, and a proxy resolves names itself, bypassing the check.
    Redirects are left to the caller so that each hop is visible (and re-checked here).
    """
    return httpx2.AsyncClient(
        transport=GuardedTransport(
            allow_private=allow_private, verify=verify, resolve=resolve, private_hint=private_hint
        ),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx2.Timeout(timeout),
        headers=headers,
    )
