"""A round-robin load balancer on loopback: each request to the next replica, never the same twice.

The worst case for a stateless deployment: a request that continues another (a 2026-07-28
retry carrying `requestState`, a 2025 call after `initialize`) always lands on a different
replica than the one before. Buffers each answer whole (an SSE response of a stateless POST
ends with its request), which is all these tests need.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx2
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

#: Headers that describe one hop, not the message (RFC 9110 §7.6.1), and the host we rewrite.
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"})


@dataclass
class RoundRobin:
    """Forwards each HTTP request to the next of `upstreams` (base URLs)."""

    upstreams: list[str]
    routed: list[str] = field(default_factory=list[str])

    def __post_init__(self) -> None:
        self._next = itertools.cycle(self.upstreams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        upstream = next(self._next)
        self.routed.append(upstream)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with httpx2.AsyncClient(trust_env=False, timeout=60) as client:
            answer = await client.request(
                request.method, upstream + request.url.path, content=await request.body(), headers=headers
            )
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP | {"content-encoding"}}
        await Response(answer.content, answer.status_code, kept)(scope, receive, send)
