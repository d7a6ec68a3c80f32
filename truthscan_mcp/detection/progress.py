"""Progress of one detection, as the caller hears it: phases with a strictly growing fraction.

Its own module because every stage reports through it: the detector, the single-flight
coalescing (followers hear their leader's progress) and the polling loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

logger = logging.getLogger(__name__)

Phase = Literal["validating", "uploading", "submitted", "processing", "deep_analysis", "heatmap", "done"]


@dataclass(frozen=True)
class Progress:
    phase: Phase
    fraction: float
    message: str


ProgressCallback = Callable[[Progress], Awaitable[None]]


async def no_progress(_: Progress) -> None:
    return None


@dataclass
class Tracker:
    """Keeps progress strictly increasing, as MCP requires, whatever the phases report."""

    callback: ProgressCallback
    last: float = 0.0
    #: Trackers of identical calls waiting on this call's detection (see `flight.Flight`): their
    #: clients hear the same progress, so those that reset their timeout on it keep waiting.
    followers: list[Tracker] = field(default_factory=list["Tracker"])

    async def __call__(self, phase: Phase, fraction: float, message: str) -> None:
        fraction = min(max(fraction, self.last + 0.001), 0.999 if phase != "done" else 1.0)
        if fraction <= self.last:
            return
        self.last = fraction
        try:
            await self.callback(Progress(phase, round(fraction, 4), message))
        except Exception:  # a broken progress sink must not break a paid detection
            logger.debug("progress callback failed", exc_info=True)
        for follower in list(self.followers):
            await follower(phase, fraction, message)
