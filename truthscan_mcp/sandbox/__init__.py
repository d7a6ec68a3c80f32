"""A faithful simulator of the TruthScan AI Image Detection API (the "sandbox").

Used in-process for `--sandbox` mode and tests (`Sandbox().app` with httpx2's
ASGITransport), on a loopback socket for end-to-end tests (`serve_in_thread`), and
standalone (`serve`, behind `truthscan-mcp sandbox`). Every answer is marked simulated.
"""

from __future__ import annotations

from truthscan_mcp.sandbox.app import Sandbox, create_app
from truthscan_mcp.sandbox.config import SandboxConfig, SandboxStats
from truthscan_mcp.sandbox.faults import FaultRule
from truthscan_mcp.sandbox.inspect_image import ImageFindings, inspect_image
from truthscan_mcp.sandbox.runner import serve, serve_in_thread
from truthscan_mcp.sandbox.verdict import Verdict, judge

__all__ = [
    "FaultRule",
    "ImageFindings",
    "Sandbox",
    "SandboxConfig",
    "SandboxStats",
    "Verdict",
    "create_app",
    "inspect_image",
    "judge",
    "serve",
    "serve_in_thread",
]
