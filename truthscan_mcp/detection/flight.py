"""Single flight: identical detections under way in one process are paid for once.

Two calls for the same bytes at the same time (an assistant that retries, two tools of one
host) must not spend two credits. The first call leads a `Flight`; later ones that it serves
join it and wait for its outcome within their own deadlines. What a joined call goes on with
is a `Joined` value, one named case per way a flight can end for it.

Under that, `pay_once` does the same across processes (two apps, two windows sharing one
cache file), through a claim in the store: the process that takes it pays, the others wait
for its document id and follow it for free.
"""

from __future__ import annotations

import copy
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio

from truthscan_mcp.detection.progress import Tracker
from truthscan_mcp.detection.store import ContentKey, ResultStore, StoredResult
from truthscan_mcp.errors import TruthScanError
from truthscan_mcp.models import DetectionReport

logger = logging.getLogger(__name__)

#: How often a claim's holder renews it; well inside the store's lease (15 s), so a live holder's
#: claim never lapses between two renewals, and a dead one's lapses within a lease.
CLAIM_RENEW_EVERY = 4.0
#: How long past its own deadline a call waits on another process that is alive and renewing its
#: claim: about what paying here would take (presign, upload and `/detect`, each capped), so
#: waiting is never slower than paying; only a holder stuck beyond that is paid around.
CLAIM_PATIENCE = 60.0


@dataclass(eq=False)
class Flight:
    """A detection of some bytes under way in this process, which identical calls join rather
    than paying again. Its leader runs it; followers wait for its outcome within their own
    deadlines, and carry on from its document id if the leader stops early."""

    sha256: str
    deep_analysis: bool
    preview: bool
    force: bool
    followers: list[Tracker] = field(default_factory=list[Tracker])
    document_id: str | None = None
    #: set once `document_id` is known (TruthScan accepted, or the cache knew the image)
    submitted: anyio.Event = field(default_factory=anyio.Event)
    done: anyio.Event = field(default_factory=anyio.Event)
    #: the leader's outcome: a report for every caller, or the error it failed with
    report: DetectionReport | None = None
    error: TruthScanError | None = None

    def serves(self, *, deep_analysis: bool, preview: bool, force: bool) -> bool:
        """Whether a call asking for this may join: this detection must give at least what it asks
        for, and a forced call (it asked for a fresh, paid result) joins only another forced one."""
        return (
            (self.deep_analysis or not deep_analysis)
            and (self.preview or not preview)
            and (self.force or not force)
        )

    def mark_submitted(self, document_id: str) -> None:
        self.document_id = document_id
        self.submitted.set()

    def unmark_submitted(self) -> None:
        self.document_id = None
        self.submitted = anyio.Event()


@dataclass(frozen=True)
class Shared:
    """The leader finished (or this call is out of time): its report is this call's answer."""

    report: DetectionReport


@dataclass(frozen=True)
class HandOff:
    """Out of time while the leader still works: answer with the id, to be fetched later."""

    document_id: str
    deep_analysis: bool


@dataclass(frozen=True)
class CarryOn:
    """The leader stopped after paying: carry on from its document, never submit again."""

    document_id: str
    deep_analysis: bool
    preview: bool


@dataclass(frozen=True)
class LeadAnew:
    """The leader stopped before paying: this call leads a detection itself."""


Joined = Shared | HandOff | CarryOn | LeadAnew


class Flights:
    """The detections under way in this process, by the image's SHA-256."""

    def __init__(self) -> None:
        self._by_hash: dict[str, list[Flight]] = {}

    def joinable(self, sha256: str, *, deep_analysis: bool, preview: bool, force: bool) -> Flight | None:
        for flight in self._by_hash.get(sha256, []):
            if not flight.done.is_set() and flight.serves(
                deep_analysis=deep_analysis, preview=preview, force=force
            ):
                return flight
        return None

    @contextmanager
    def lead(self, flight: Flight, track: Tracker) -> Generator[Flight]:
        """Run `flight` for the block: others may join it, and hear `track`'s progress, until it
        ends; a `TruthScanError` of the block becomes the followers' outcome too."""
        flights = self._by_hash.setdefault(flight.sha256, [])
        flights.append(flight)
        track.followers = flight.followers
        try:
            yield flight
        except TruthScanError as exc:
            flight.error = exc
            raise
        finally:
            track.followers = []
            flights.remove(flight)
            if not flights:
                self._by_hash.pop(flight.sha256, None)
            flight.done.set()


async def wait_for(flight: Flight, track: Tracker, *, deadline: float, include_heatmap: bool) -> Joined:
    """Wait, until `deadline`, for an identical detection another call leads.

    The leader's failure is this call's failure too (raised again): sending the same bytes
    again could pay twice for an ambiguous error.
    """
    await track("submitted", 0.1, "The same image is already being checked; waiting for that result")
    flight.followers.append(track)
    try:
        with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
            await flight.done.wait()
        # Out of time, but a hand-off needs a document id, exactly as the leader's own would.
        while not flight.done.is_set() and flight.document_id is None:
            await _first_of(flight.done, flight.submitted)
    finally:
        flight.followers.remove(track)
    if not flight.done.is_set():
        assert flight.document_id is not None
        return HandOff(flight.document_id, flight.deep_analysis)
    report = flight.report
    if report is not None and report.id is not None:
        enough = report.complete and not (include_heatmap and report.heatmap_status == "pending")
        if enough or anyio.current_time() >= deadline:
            return Shared(report)
        return CarryOn(report.id, flight.deep_analysis, flight.preview)
    if flight.error is not None:
        raise copy.copy(flight.error) from None
    if flight.document_id is not None:
        return CarryOn(flight.document_id, flight.deep_analysis, flight.preview)
    return LeadAnew()


async def _first_of(*events: anyio.Event) -> None:
    async with anyio.create_task_group() as group:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            group.cancel_scope.cancel()

        for event in events:
            group.start_soon(wait, event)


# --- across processes: a claim in the store ------------------------------------------------


async def pay_once(
    store: ResultStore,
    key: ContentKey,
    *,
    deadline: float,
    track: Tracker,
    submit: Callable[[], Awaitable[str]],
    gone: str | None = None,
    renew_every: float = CLAIM_RENEW_EVERY,
    patience: float = CLAIM_PATIENCE,
) -> str | StoredResult:
    """Pay for `key` through `submit` (its document id comes back) unless another process is
    paying for it right now; then its document, recorded by that process, comes back instead.

    A claim seen taken is waited on until `deadline`, and past it for `patience` more (a
    hand-off needs an id, as in-process); a claim still standing after that belongs to a
    holder that is alive but stuck, and this call pays after all rather than wait on it without
    end. A claim that ends without a document (its holder failed before paying, or died and
    its lease ran out) is taken over. When the
    store cannot tell, this call pays: the cache never costs a detection. `gone` is a stored
    document of these bytes that TruthScan no longer knows: never one to follow.
    """
    holder = f"{os.getpid()}-{secrets.token_hex(6)}"
    waited = False
    give_up: float | None = None
    while True:
        taken = await store.claim(key, holder)
        if taken is None:
            return await submit()
        if taken:
            break
        if not waited:
            waited = True
            await track("submitted", 0.1, "Another process is checking this image; waiting for its result")
        if give_up is None:
            give_up = max(deadline, anyio.current_time()) + patience
        outcome = await store.wait_claim(key, until=give_up, skip=gone)
        if isinstance(outcome, StoredResult):
            return outcome
        if outcome is None:
            return await submit()
        if outcome == "held":
            logger.warning("another process has been paying for this image too long; paying here")
            return await submit()
    try:
        # Another process may have paid and released between our look in the cache and the claim.
        found = await store.find(key.sha256, deep_analysis=key.deep_analysis, preview=key.preview)
        if found is not None and found.document_id != gone:
            return found
        return await _renewing(store, key, holder, submit, renew_every)
    finally:
        with anyio.CancelScope(shield=True):
            await store.release_claim(key, holder)


async def _renewing(
    store: ResultStore,
    key: ContentKey,
    holder: str,
    submit: Callable[[], Awaitable[str]],
    renew_every: float,
) -> str:
    """`submit()` while the claim is renewed beside it; its outcome (or error) unwrapped."""
    result: list[str] = []
    error: list[Exception] = []

    async def renew() -> None:
        while True:
            await anyio.sleep(renew_every)
            if await store.renew_claim(key, holder) is False:
                logger.warning("the claim on this image lapsed while paying for it")
                return

    async with anyio.create_task_group() as group:
        group.start_soon(renew)
        try:
            result.append(await submit())
        except Exception as exc:
            # Kept out of the task group, which would wrap it in an exception group.
            error.append(exc)
        finally:
            group.cancel_scope.cancel()
    if error:
        raise error[0]
    return result[0]
