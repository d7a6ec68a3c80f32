"""Clients that never finish their request, and a check that the server closed them: the two
halves of every test that a listener cannot be starved (the HTTP transport, the upload page)."""

from __future__ import annotations

import socket
import time


def half_open(port: int, count: int, *, request_line: bytes) -> list[socket.socket]:
    """`count` connections to 127.0.0.1:`port` that start `request_line` and never finish its headers."""
    opened: list[socket.socket] = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(request_line + b"\r\nHost: 127.0.0.1\r\n")
        opened.append(sock)
    return opened


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closed `sock` (EOF or reset) within `within` seconds."""
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if sock.recv(1024) == b"":
                return True
    except TimeoutError:
        return False
    except OSError:  # reset
        return True
    return False
