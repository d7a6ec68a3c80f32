"""The resources, and the lifespans they read from.

The SDK gives a static resource (the history) no request context, so it cannot reach the
lifespan's state the way a tool does. `Lifespans` is the server's named holder of that state:
it opens the app stack for each lifespan the SDK runs and lets the history read whichever is
open (all of them share one cache file).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from truthscan_mcp import __version__
from truthscan_mcp.api.sending import RetryPolicy
from truthscan_mcp.app import AppContext, open_app, read_history
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.errors import InvalidInputError, NotFoundError, TruthScanError
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from truthscan_mcp.sandbox import Sandbox

logger = logging.getLogger(__name__)


class Lifespans:
    """The app stacks of the lifespans now open, newest last, for one server."""

    def __init__(
        self,
        settings: Settings,
        *,
        sandbox: Sandbox | None = None,
        retry: RetryPolicy | None = None,
        schedule: Planner | None = None,
    ) -> None:
        self._settings = settings
        self._sandbox = sandbox
        self._retry = retry
        self._schedule = schedule
        self._open: list[AppContext] = []

    @asynccontextmanager
    async def __call__(self, _: Any) -> AsyncGenerator[AppContext]:
        settings = self._settings
        async with open_app(settings, self._sandbox, retry=self._retry, schedule=self._schedule) as app:
            logger.info(
                "truthscan-mcp %s ready (%s)",
                __version__,
                "sandbox" if settings.sandbox else app.settings.api_url,
            )
            self._open.append(app)
            try:
                yield app
            finally:
                self._open.remove(app)

    async def history(self) -> str:
        if not self._open:
            raise ResourceError("The server is still starting; read the history again in a moment.")
        return (await read_history(self._open[-1])).model_dump_json(indent=2)


async def result(id: str, ctx: Context[AppContext]) -> str:
    try:
        report = await ctx.request_context.lifespan_context.detector.get_result(id)
    except (InvalidInputError, NotFoundError) as exc:
        raise ResourceNotFoundError(exc.message) from None
    except TruthScanError as exc:
        raise ResourceError(exc.message) from None
    return report.model_dump_json(indent=2)
