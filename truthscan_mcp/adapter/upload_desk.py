"""Where the upload page is served: beside /mcp on the HTTP transport, else a loopback listener.

Under stdio there is no HTTP server to put a page on, so the first `request_image` starts one:
uvicorn on 127.0.0.1, on a port the system picks, in the task group of the server's lifespan
(it stops with the server, and a server that never asks for an image never listens). Under the
HTTP transport the page is a route of the same server, `/upload/<id>`, and the link uses the
address the client reached it by.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncGenerator, Generator
from contextlib import asynccontextmanager

import anyio
import uvicorn
from anyio.abc import TaskGroup, TaskStatus
from starlette.requests import Request
from starlette.types import ASGIApp

from truthscan_mcp.adapter.connections import ACCEPT_BATCH, connection_cap, guarded_protocol
from truthscan_mcp.adapter.transports import CLIENT_DRIVEN_LOGGERS, KEEP_ALIVE_SECONDS, MAX_HEADER_BYTES
from truthscan_mcp.adapter.upload_page import upload_routes
from truthscan_mcp.logs import limit_repeats
from truthscan_mcp.media.uploads import UploadStore

logger = logging.getLogger(__name__)


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C and SIGTERM belong to the MCP server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


class UploadDesk:
    """The upload store of one server and the address its page is served at."""

    def __init__(self, store: UploadStore | None = None) -> None:
        self.store = store or UploadStore()
        #: Host patterns of the HTTP transport, once the routes are mounted there (None: any host)
        self.http_hosts: list[str] | None = None
        self.mounted = False
        self._groups: list[TaskGroup] = []
        #: the loopback listener: its port, its server, the task group it runs in
        self._listener: tuple[int, uvicorn.Server, TaskGroup] | None = None
        self._starting = anyio.Lock()

    def mount(self, hosts: list[str] | None) -> ASGIApp:
        """The routes for the HTTP transport (see `UploadMount`); links then point there."""
        self.mounted = True
        self.http_hosts = hosts
        return upload_routes(self.store, lambda: self.http_hosts)

    async def base_url(self, request: object | None) -> str:
        """`http://host:port/` the person's browser reaches the page at."""
        if self.mounted and isinstance(request, Request):
            return str(request.base_url)
        port = await self._ensure_listener()
        return f"http://127.0.0.1:{port}/"

    @asynccontextmanager
    async def serving(self) -> AsyncGenerator[None]:
        """Open for the lifespan of a server: a listener started meanwhile stops with it."""
        async with anyio.create_task_group() as group:
            self._groups.append(group)
            try:
                yield
            finally:
                self._groups.remove(group)
                if self._listener is not None and self._listener[2] is group:
                    self._listener[1].should_exit = True  # graceful: open requests finish
                    self._listener = None
                if not self._groups and not self.mounted:
                    # the stdio server is going away (under HTTP a lifespan may be one request)
                    self.store.close_all()

    async def _ensure_listener(self) -> int:
        async with self._starting:
            if self._listener is None:
                if not self._groups:
                    raise RuntimeError("the upload listener needs a running server (UploadDesk.serving)")
                group = self._groups[-1]
                port, server = await group.start(self._listen)
                self._listener = (port, server, group)
            return self._listener[0]

    async def _listen(self, *, task_status: TaskStatus[tuple[int, uvicorn.Server]]) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(ACCEPT_BATCH)
        sock.setblocking(False)
        port = int(sock.getsockname()[1])
        own = [f"127.0.0.1:{port}", f"localhost:{port}"]
        # Any local program can connect: the HTTP transport's bounds, so that connections held
        # open without a request cannot take the descriptors the MCP server itself needs.
        cap = connection_cap()
        limit_repeats(*CLIENT_DRIVEN_LOGGERS)
        config = uvicorn.Config(
            upload_routes(self.store, lambda: own),
            lifespan="off",
            log_config=None,
            access_log=False,
            log_level="warning",
            http=guarded_protocol(cap),
            limit_concurrency=cap + 1,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            server_header=False,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        )
        server = _QuietServer(config)
        logger.info("upload page listening on http://127.0.0.1:%d/upload/", port)
        task_status.started((port, server))
        try:
            await server.serve(sockets=[sock])
        finally:
            sock.close()
