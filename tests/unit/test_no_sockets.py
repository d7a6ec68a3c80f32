"""The unit tier's own rule: a test here that opens a connection fails, whichever API it uses."""

from __future__ import annotations

import socket

import anyio
import pytest

from tests.support.guards import SocketUsedError


def test_a_blocking_connection_fails_the_test() -> None:
    with pytest.raises(SocketUsedError, match="unit tests open no sockets"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


@pytest.mark.anyio
async def test_an_event_loop_connection_fails_the_test() -> None:
    # anyio races the addresses in a task group, so the refusal arrives inside a group
    with pytest.raises(ExceptionGroup) as caught:
        await anyio.connect_tcp("127.0.0.1", 9)
    assert caught.group_contains(SocketUsedError, match="unit tests open no sockets")
