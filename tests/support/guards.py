"""Where tests may connect: loopback only everywhere, nowhere at all in the unit tier."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import pytest

LOOPBACK = frozenset({"127.0.0.1", "::1"})


@dataclass
class ConnectLog:
    """Every host a test's code tried to open a TCP connection to, in order."""

    hosts: list[str] = field(default_factory=list[str])


def guard_loopback(monkeypatch: pytest.MonkeyPatch) -> ConnectLog:
    """Record every outgoing TCP connection and fail on any non-loopback target."""
    log = ConnectLog()
    real_connect = cast(Callable[..., Awaitable[Any]], anyio.connect_tcp)

    async def guarded_connect(remote_host: str, remote_port: int, **kwargs: Any) -> Any:
        log.hosts.append(str(remote_host))
        assert str(remote_host) in LOOPBACK, f"test tried to connect to {remote_host}"
        return await real_connect(remote_host, remote_port, **kwargs)

    monkeypatch.setattr(anyio, "connect_tcp", guarded_connect)
    return log


class SocketUsedError(AssertionError):
    """A unit test opened a connection: it belongs in tests/integration/ or tests/e2e/."""


def forbid_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every socket connect fail: blocking, non-blocking (asyncio's `sock_connect` calls
    `socket.connect` too) and `connect_ex`, whatever the address."""

    def refuse(self: socket.socket, address: object) -> Any:
        raise SocketUsedError(f"unit tests open no sockets; this one connected to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
