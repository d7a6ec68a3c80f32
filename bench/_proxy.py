"""A loopback reverse proxy in front of the sandbox that counts requests in flight per endpoint.

The sandbox's own `max_in_flight` counts every request together; a batch must bound its
uploads and `/detect` submissions (what costs), not its polls, so the benchmark needs them
apart. The presigned upload URL the sandbox hands out is built from the request's host, so
uploads come through the proxy too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import uvicorn

from bench._common import _free_port  # pyright: ignore[reportPrivateUsage]

Scope = dict[str, Any]


def kind_of(path: str) -> str:
    if path.startswith("/storage-upload"):
        return "upload"
    return {"/detect": "detect", "/query": "query", "/get-presigned-url": "presign"}.get(path, "other")


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.http = httpx2.AsyncClient(base_url=upstream, trust_env=False, timeout=120)

    def reset(self) -> None:
        self.peak.clear()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        kind = kind_of(scope["path"])
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.lower() != b"content-length"]
        self.in_flight[kind] += 1
        self.peak[kind] = max(self.peak[kind], self.in_flight[kind])
        try:
            query = scope.get("query_string", b"").decode()
            answer = await self.http.request(
                scope["method"], scope["path"] + (f"?{query}" if query else ""), headers=headers, content=body
            )
        finally:
            self.in_flight[kind] -= 1
        passed = [
            (k.encode(), v.encode())
            for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")
        ]
        await send({"type": "http.response.start", "status": answer.status_code, "headers": passed})
        await send({"type": "http.response.body", "body": answer.content})


@asynccontextmanager
async def counting_proxy(upstream: str) -> AsyncGenerator[tuple[str, CountingProxy]]:
    """The proxy on a free loopback port, served in this event loop; yields (base URL, proxy)."""
    proxy = CountingProxy(upstream)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(proxy, host="127.0.0.1", port=port, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:  # uvicorn offers no event for it  # noqa: ASYNC110
            await anyio.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{port}", proxy
        finally:
            server.should_exit = True
            await proxy.http.aclose()
