"""`Sandbox`: a faithful, fault-injectable simulator of the TruthScan API as one ASGI app.

The real service cannot be reached from tests, costs credits, and never fails on cue. The
sandbox answers the same endpoints with the same shapes — in-process through httpx2's
ASGITransport or on a real socket through uvicorn — so the client is exercised end to end,
including its retries, against failures chosen by the test. The behaviour lives in the
framework-free `Simulator` and `sandbox.service`; this module only adds the HTTP app.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from truthscan_mcp.sandbox.api import api_routes, endpoint_for
from truthscan_mcp.sandbox.config import SandboxConfig
from truthscan_mcp.sandbox.control import ControlPlane
from truthscan_mcp.sandbox.middleware import SandboxMiddleware
from truthscan_mcp.sandbox.simulator import Simulator

__all__ = ["Sandbox", "endpoint_for"]


class Sandbox(Simulator):
    """A `Simulator` with its HTTP face, `app` (the public API plus the `/_sandbox/` control plane)."""

    def __init__(self, config: SandboxConfig | None = None, *, instance_id: str | None = None) -> None:
        super().__init__(config, instance_id=instance_id)
        self.app: Starlette = Starlette(
            routes=[*api_routes(self), *ControlPlane(self).routes()],
            middleware=[Middleware(SandboxMiddleware, sandbox=self)],
            exception_handlers={HTTPException: _http_exception, Exception: _server_error},
        )


async def _http_exception(request: Request, exc: Exception) -> Response:
    """FastAPI's shape for 404/405: `{"detail": "Not Found"}`."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, exc.status_code, exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    # Sent by Starlette's outermost error middleware, outside ours: mark it here.
    return JSONResponse({"error": "Internal Server Error"}, 500, {"X-TruthScan-Simulated": "true"})
