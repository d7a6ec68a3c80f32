"""A faithful simulator of the TruthScan AI Image Detection API (the "sandbox").

Used in-process for `--sandbox` mode and tests (`Sandbox().app` with httpx2's
ASGITransport), on a loopback socket for end-to-end tests (`serve_in_thread`), and
standalone (`serve`, behind `truthscan-mcp sandbox`). Every answer is marked simulated.

Layers, each importing only those below it: `config`, `state`, `documents`, `timings`,
`faults` and `answers` (data); `simulator` (one instance's memory and controls) and `service` (what each
endpoint does), neither importing Starlette; then the HTTP face — `responses` (wire
dialects), `api` (the route table and `endpoint_for`), `control` (`/_sandbox/`),
`middleware` (faults on the wire), `app` (`Sandbox`) — and `runner` (uvicorn).
"""

from __future__ import annotations

from truthscan_mcp.sandbox.asgi import Sandbox
from truthscan_mcp.sandbox.config import SandboxConfig, SandboxStats
from truthscan_mcp.sandbox.faults import FaultRule
from truthscan_mcp.sandbox.inspect_image import ImageFindings, inspect_image
from truthscan_mcp.sandbox.runner import serve, serve_in_thread
from truthscan_mcp.sandbox.simulator import Simulator
from truthscan_mcp.sandbox.verdict import Verdict, judge

__all__ = [
    "FaultRule",
    "ImageFindings",
    "Sandbox",
    "SandboxConfig",
    "SandboxStats",
    "Simulator",
    "Verdict",
    "inspect_image",
    "judge",
    "serve",
    "serve_in_thread",
]
