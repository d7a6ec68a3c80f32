"""A static web site on a free loopback port, served in the benchmark's event loop: the pages
and images `bench.batch --page` sweeps. Answers each path from a dict (404 otherwise)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import uvicorn

from bench._common import _free_port  # pyright: ignore[reportPrivateUsage]


class Site:
    def __init__(self) -> None:
        #: path → (body, content type)
        self.files: dict[str, tuple[bytes, str]] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, media_type = self.files.get(scope["path"], (b"no such file", "text/plain"))
        status = 200 if scope["path"] in self.files else 404
        headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def static_site() -> AsyncGenerator[tuple[str, Site]]:
    site = Site()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(site, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:  # uvicorn offers no event for it  # noqa: ASYNC110
            await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", site
        finally:
            server.should_exit = True
