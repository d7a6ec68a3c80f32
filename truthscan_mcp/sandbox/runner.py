"""Running the sandbox on a real socket: in a background thread for tests, or standalone.

In-process (ASGITransport) tests never touch a socket, so they cannot show what a client
does with timeouts, dropped connections or concurrent requests. A real uvicorn server on a
loopback port can, and binding the socket ourselves (port 0 → a free port) lets many test
sessions run side by side without guessing ports.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn

from truthscan_mcp.sandbox.asgi import Sandbox
from truthscan_mcp.sandbox.config import SandboxConfig

logger = logging.getLogger("truthscan_mcp.sandbox")

_STARTUP_TIMEOUT = 15.0
_SHUTDOWN_TIMEOUT = 10.0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every keep-alive response waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _base_url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(sandbox: Sandbox, *, access_log: bool) -> uvicorn.Server:
    config = uvicorn.Config(
        sandbox.app,
        http="h11",  # the reset fault is verified against h11's connection handling
        loop="asyncio",
        lifespan="off",
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)


@contextmanager
def serve_in_thread(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> Generator[str, None, None]:
    """Run a real uvicorn server in a daemon thread on a free port; yield its base URL like
    http://127.0.0.1:54321; shut down cleanly on exit."""
    sock = _bind(host, port)
    server = _server(sandbox, access_log=False)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="truthscan-sandbox", daemon=True
    )
    thread.start()
    try:
        for _ in range(int(_STARTUP_TIMEOUT / 0.01)):
            if server.started or not thread.is_alive():
                break
            thread.join(0.01)
        if not server.started:
            raise RuntimeError("the sandbox server did not start")
        yield _base_url(host, sock)
    finally:
        server.should_exit = True
        thread.join(_SHUTDOWN_TIMEOUT)
        sock.close()


def serve(host: str = "127.0.0.1", port: int = 8787, config: SandboxConfig | None = None) -> None:
    """Blocking: run the standalone simulator (used by `truthscan-mcp sandbox --port N`)."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    sandbox = Sandbox(config)
    sock = _bind(host, port)
    base = _base_url(host, sock)
    logger.info("TruthScan sandbox (simulated API, no real detection) listening on %s", base)
    logger.info(
        "Point the server at it with: TRUTHSCAN_API_URL=%s TRUTHSCAN_STORAGE_URL=%s/storage", base, base
    )
    logger.info("Try: curl -s -H 'apikey: demo-key' '%s/get-presigned-url?file_name=example.jpg'", base)
    logger.info(
        "Any key but %s is accepted; control plane under %s/_sandbox/",
        sorted(sandbox.config.invalid_keys),
        base,
    )
    try:
        _server(sandbox, access_log=True).run(sockets=[sock])
    finally:
        sock.close()
