"""The resources, and the lifespans they read from.

The SDK gives a static resource (the history) no request context, so it cannot reach the
lifespan's state the way a tool does. `Lifespans` is the server's named holder of that state:
it opens the app stack for each lifespan the SDK runs and lets the history read whichever is
open (all of them share one cache file).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourceUpdated
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from truthscan_mcp import __version__
from truthscan_mcp.adapter.oauth import current_user
from truthscan_mcp.adapter.render import render_report
from truthscan_mcp.adapter.upload_desk import UploadDesk
from truthscan_mcp.api.sending import Deadlines, RetryPolicy
from truthscan_mcp.app import AppContext, open_app, read_history
from truthscan_mcp.detection.images import ImageSink
from truthscan_mcp.detection.schedule import Planner
from truthscan_mcp.errors import InvalidInputError, NotFoundError, TruthScanError
from truthscan_mcp.settings import Settings

if TYPE_CHECKING:
    from truthscan_mcp.sandbox import Sandbox

logger = logging.getLogger(__name__)


@asynccontextmanager
async def _nothing() -> AsyncGenerator[None]:
    yield


class Lifespans:
    """The app stacks of the lifespans now open, newest last, for one server."""

    def __init__(
        self,
        settings: Settings,
        *,
        sandbox: Sandbox | None = None,
        retry: RetryPolicy | None = None,
        schedule: Planner | None = None,
        deadlines: Deadlines | None = None,
        images: ImageSink | None = None,
        uploads: UploadDesk | None = None,
    ) -> None:
        self._settings = settings
        self._sandbox = sandbox
        self._retry = retry
        self._schedule = schedule
        self._deadlines = deadlines
        self._images = images
        self._uploads = uploads
        self._open: list[AppContext] = []

    @asynccontextmanager
    async def __call__(self, _: Any) -> AsyncGenerator[AppContext]:
        settings = self._settings
        async with open_app(
            settings,
            self._sandbox,
            retry=self._retry,
            schedule=self._schedule,
            deadlines=self._deadlines,
            images=self._images,
            uploads=self._uploads.store if self._uploads is not None else None,
            upload_pages=self._uploads,
        ) as app:
            logger.info(
                "truthscan-mcp %s ready (%s)",
                __version__,
                "sandbox" if settings.sandbox else app.settings.api_url,
            )
            self._open.append(app)
            try:
                async with self._uploads.serving() if self._uploads is not None else _nothing():
                    yield app
            finally:
                self._open.remove(app)

    async def history(self) -> str:
        if not self._open:
            raise ResourceError("The server is still starting; read the history again in a moment.")
        app = self._open[-1]
        return (await read_history(app, current_user(app.settings))).model_dump_json(indent=2)


async def result(id: str, ctx: Context[AppContext]) -> str:
    try:
        report = await ctx.request_context.lifespan_context.detector.get_result(id)
    except (InvalidInputError, NotFoundError) as exc:
        raise ResourceNotFoundError(exc.message) from None
    except TruthScanError as exc:
        raise ResourceError(exc.message) from None
    # the same report a tool answers with, its text as `summary` included
    return report.model_copy(update={"summary": render_report(report)}).model_dump_json(indent=2)


HISTORY_URI = "truthscan://history"


class HistoryNotifier:
    """Tells subscribed clients that the history changed, in both eras of the protocol.

    2026-era clients listen on `subscriptions/listen` streams, fed from `bus` (the server's
    subscription bus); earlier clients send `resources/subscribe`, and the SDK's `MCPServer`
    serves no such method, so this registers the connections that ask and notifies each on its
    own channel (the request that subscribed is long over by then). Held weakly: a connection
    that has ended is forgotten with it, and one that fails a notification is dropped.
    """

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()

    async def subscribe(
        self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        # Any URI is accepted (refusing one helps nobody); only the history ever changes.
        if str(params.uri) == HISTORY_URI:
            self._connections.add(_connection_of(ctx))
        return EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        if str(params.uri) == HISTORY_URI:
            self._connections.discard(_connection_of(ctx))
        return EmptyResult()

    async def changed(self) -> None:
        await self.bus.publish(ResourceUpdated(uri=HISTORY_URI))
        for connection in list(self._connections):
            try:
                await connection.send_resource_updated(HISTORY_URI)
            except Exception:  # a closed connection: whatever it raises, it will not listen again
                logger.debug("dropping a history subscriber that can no longer be reached")
                self._connections.discard(connection)


def _connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection:
    # The per-request session is built anew for every request; its connection is what lasts.
    return ctx.session._connection  # pyright: ignore[reportPrivateUsage]
